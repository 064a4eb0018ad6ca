"""Where a run is tracked: ``--mlflow_tracking_uri`` / ``--mlflow`` / ``--mlflow_experiment``.

Plain data (no MLflow import), carried by the run's request to the driver, each experiment cell
and each Ray worker. ``parent_run_id`` nests the run under another MLflow run (an experiment
grid's run is the parent of each cell's run). ``--mlflow`` means MLflow's own default local store,
the SQLite file ``mlflow.db`` in the current folder (MLflow 3 keeps its ``./mlruns`` file store in
maintenance mode and its UI refuses it), or ``./mlruns`` where only mlflow-skinny (no SQL store)
is installed. ``view_command`` is the command that opens a store in MLflow's UI.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from gpo.errors import ConfigError

DEFAULT_SQLITE_STORE = "sqlite:///mlflow.db"  # what --mlflow means (MLflow's own default)
DEFAULT_FILE_STORE = "file:./mlruns"  # what --mlflow means with mlflow-skinny only
SQL_STORE_MODULES = ("sqlalchemy", "alembic")  # MLflow's SQL store (the full mlflow has them)
SQLITE_PREFIX = "sqlite:///"
DEFAULT_EXPERIMENT = "gpo"


@dataclass(frozen=True)
class MlflowSettings:
    """An MLflow tracking URI (credentials allowed: never logged), the MLflow experiment's
    name, and the run to nest under (None: a top-level run)."""

    tracking_uri: str
    experiment: str = DEFAULT_EXPERIMENT
    parent_run_id: str | None = None

    def __repr__(self) -> str:
        return f"MlflowSettings({shown_uri(self.tracking_uri)!r}, {self.experiment!r})"

    @property
    def is_file_store(self) -> bool:
        scheme = urlsplit(self.tracking_uri).scheme
        return scheme in ("", "file") or len(scheme) == 1  # a path (C: on Windows)


def shown_uri(uri: str) -> str:
    """The URI without user:password@ and query (for messages)."""
    parts = urlsplit(uri)
    if parts.password is None and parts.username is None and not parts.query:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"


def default_store() -> str:
    """What ``--mlflow`` means: the SQLite store ``mlflow.db`` when MLflow's SQL store can run
    (SQLAlchemy and Alembic, which the full ``mlflow`` brings), else the file store."""
    if all(importlib.util.find_spec(m) is not None for m in SQL_STORE_MODULES):
        return DEFAULT_SQLITE_STORE
    return DEFAULT_FILE_STORE


def absolute_file_uri(uri: str) -> str:
    """``file:./mlruns``, ``sqlite:///mlflow.db`` (or a bare path) with an absolute path, so
    experiment cells and Ray workers started elsewhere write to the same store."""
    if uri.startswith(SQLITE_PREFIX):
        path = uri[len(SQLITE_PREFIX) :]
        if not path or path.startswith(("/", ":memory:")):
            return uri
        return SQLITE_PREFIX + os.path.abspath(os.path.expanduser(path))
    parts = urlsplit(uri)
    if parts.scheme not in ("", "file") or parts.netloc:
        return uri
    path = uri[len("file:") :] if parts.scheme == "file" else uri
    return "file:" + os.path.abspath(os.path.expanduser(path))


def mlflow_settings(
    tracking_uri: str | None, file_store: bool, experiment: str
) -> MlflowSettings | None:
    """The flags' tracking settings (None: not tracked); ConfigError before any model loads when
    they conflict or MLflow is not installed."""
    if tracking_uri and file_store:
        raise ConfigError(
            f"--mlflow means --mlflow_tracking_uri={DEFAULT_SQLITE_STORE} (MLflow's local "
            "store); give one of the two"
        )
    uri = tracking_uri or (default_store() if file_store else None)
    if uri is None:
        return None
    if not experiment.strip():
        raise ConfigError("--mlflow_experiment must name an MLflow experiment, e.g. gpo")
    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "MLflow tracking needs the MLflow client: pip install -e '.[mlflow]' "
            "(mlflow-skinny), or drop --mlflow/--mlflow_tracking_uri"
        )
    return MlflowSettings(absolute_file_uri(uri), experiment.strip())


def view_command(settings: MlflowSettings, cwd: str | None = None) -> str:
    """How to look at the tracked runs: the ``mlflow ui`` command for a local store (its path
    short when it is in ``cwd``, the current folder by default), the address of a server."""
    uri = settings.tracking_uri
    if uri.startswith(SQLITE_PREFIX):
        scheme, path = SQLITE_PREFIX, uri[len(SQLITE_PREFIX) :]
    elif settings.is_file_store:
        scheme, path = "file:", uri.removeprefix("file:")
    elif urlsplit(uri).scheme in ("http", "https"):
        return f"open {shown_uri(uri)}"
    else:
        return shown_uri(uri)  # databricks, ...: that service's own pages
    if os.path.dirname(path) == os.path.abspath(cwd or os.getcwd()):
        path = os.path.basename(path) if scheme == SQLITE_PREFIX else f"./{os.path.basename(path)}"
    command = f"mlflow ui --backend-store-uri {scheme}{path}"
    if scheme == "file:":  # MLflow 3 opens its file store only when asked to by name
        command = f"MLFLOW_ALLOW_FILE_STORE=true {command}"
    if not _has_distribution("mlflow"):  # mlflow-skinny has no UI
        command += " (after pip install -e '.[mlflow-server]')"
    return command


def _has_distribution(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
