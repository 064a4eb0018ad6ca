"""Where a run is tracked: ``--mlflow_tracking_uri`` / ``--mlflow`` / ``--mlflow_experiment``.

Plain data (no MLflow import), carried by the run's request to the driver, each experiment cell
and each Ray worker. ``parent_run_id`` nests the run under another MLflow run (an experiment
grid's run is the parent of each cell's run).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from gpo.errors import ConfigError

DEFAULT_FILE_STORE = "file:./mlruns"  # what --mlflow means
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


def absolute_file_uri(uri: str) -> str:
    """``file:./mlruns`` (or a bare path) as an absolute ``file:`` URI, so experiment cells and
    Ray workers started elsewhere write to the same store."""
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
            f"--mlflow means --mlflow_tracking_uri={DEFAULT_FILE_STORE}; give one of the two"
        )
    uri = tracking_uri or (DEFAULT_FILE_STORE if file_store else None)
    if uri is None:
        return None
    if not experiment.strip():
        raise ConfigError("--mlflow_experiment must name an MLflow experiment, e.g. gpo")
    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError(
            "MLflow tracking needs the MLflow client: pip install 'gpo[mlflow]' "
            "(mlflow-skinny), or drop --mlflow/--mlflow_tracking_uri"
        )
    return MlflowSettings(absolute_file_uri(uri), experiment.strip())
