"""Scale-out runner: independent units of work on a Ray cluster (the edge of the system).

GPO's tasks (and the cells of an experiment grid) are independent units. ``run_units`` starts
``workers`` Ray actors; each calls ``setup()`` once (loading its models) and then runs unit after
unit with ``run(state, unit, context)``, the largest units first. Results come back to the driver
in completion order through ``on_result``, so run-level files are written by the driver only.

* A worker that dies (killed process, lost node) is replaced; its unit is sent again (to any
  worker) up to ``max_attempts`` times. Units must therefore be resumable: GPO's checkpoints make
  a retried task continue from its last completed step.
* A unit that raises stops the dispatch of new units; the units in flight finish, then the first
  error is raised again in the driver (as its own exception type).
* ``WorkerContext.tally`` sums numbers reported by every worker (e.g. tokens used), so that a
  budget holds across workers.

Without ``address`` a local Ray instance is started for the run (in a fresh temporary folder,
no dashboard, no usage stats) and stopped at the end; with ``address`` (``auto`` or host:port)
the run joins that cluster and leaves it running. Only this module imports Ray.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from gpo.errors import ConfigError, GPOError

log = logging.getLogger(__name__)

S = TypeVar("S")  # a worker's loaded state (its models)
R = TypeVar("R")  # the result of one unit


@dataclass(frozen=True)
class UnitSpec:
    """One independent unit of work: a unique key, a size (larger runs first) and a payload
    (anything picklable the unit function needs)."""

    key: str
    size: float
    payload: Any = None


@dataclass(frozen=True)
class RayOptions:
    workers: int
    address: str | None = None  # None: start a local instance for the run
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    max_attempts: int = 3  # runs of one unit whose worker died
    start_timeout: float = 120.0  # seconds to start or join the cluster
    env: dict[str, str] = field(default_factory=dict)  # extra worker environment


@dataclass(frozen=True)
class Placement:
    """Where a unit ran: Ray node, host, worker process, worker number and attempt."""

    node_id: str
    node_ip: str
    hostname: str
    pid: int
    worker: int
    attempt: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "node_ip": self.node_ip,
            "hostname": self.hostname,
            "pid": self.pid,
            "worker": self.worker,
            "attempt": self.attempt,
        }


class WorkerContext:
    """What a unit function gets from the runner besides its worker's state."""

    def __init__(self, placement: Placement, tally: Any) -> None:
        self.placement = placement
        self._tally = tally

    def tally(self, values: dict[str, float]) -> dict[str, float]:
        """Report this worker's running totals; returns the sums over every worker (a dead
        worker's last report stays counted)."""
        import ray

        worker = f"{self.placement.node_id}:{self.placement.pid}"
        return ray.get(self._tally.report.remote(worker, values))


class _Tally:
    """A Ray actor: the latest totals reported by each worker, summed on request."""

    def __init__(self) -> None:
        self.latest: dict[Any, dict[str, float]] = {}

    def report(self, worker: Any, values: dict[str, float]) -> dict[str, float]:
        self.latest[worker] = dict(values)
        sums: dict[str, float] = {}
        for reported in self.latest.values():
            for name, value in reported.items():
                sums[name] = sums.get(name, 0.0) + value
        return sums


class _Worker:
    """A Ray actor holding one worker's loaded state; runs one unit at a time."""

    def __init__(self, setup: Callable[[], Any], number: int, tally: Any) -> None:
        self.number = number
        self.tally = tally
        self.setup_error: BaseException | None = None
        try:
            self.state = setup()
        except Exception as exc:  # re-raised by run(), as the unit's own error
            self.setup_error = exc

    def run(self, fn: Callable[[Any, UnitSpec, WorkerContext], Any], unit: UnitSpec, attempt: int):
        if self.setup_error is not None:
            raise self.setup_error
        import ray

        placement = Placement(
            node_id=ray.get_runtime_context().get_node_id(),
            node_ip=ray.util.get_node_ip_address(),
            hostname=socket.gethostname(),
            pid=os.getpid(),
            worker=self.number,
            attempt=attempt,
        )
        return fn(self.state, unit, WorkerContext(placement, self.tally))


@dataclass
class _Pending:
    unit: UnitSpec
    attempt: int
    worker: int


class WorkerDied(GPOError):
    """A unit's worker died more often than the runner retries."""


def run_units(
    units: Sequence[UnitSpec],
    setup: Callable[[], S],
    run: Callable[[S, UnitSpec, WorkerContext], R],
    options: RayOptions,
    on_result: Callable[[UnitSpec, R], None],
) -> dict[str, R]:
    """Run every unit on Ray workers; returns the results by unit key."""
    keys = [u.key for u in units]
    if len(set(keys)) != len(keys):
        raise ValueError("unit keys must be unique")
    if not units:
        return {}
    with ray_session(options) as ray:
        workers = _usable_workers(ray, options, len(units))
        return _Scheduler(ray, options, workers, setup, run, on_result).run(units)


class _Scheduler(Generic[S, R]):
    """Keeps every worker busy with the largest unit left; replaces workers that die."""

    def __init__(self, ray, options, workers, setup, run, on_result) -> None:
        self.ray = ray
        self.options = options
        self.setup = setup
        self.fn = run
        self.on_result = on_result
        resources = {"num_cpus": options.cpus_per_worker, "num_gpus": options.gpus_per_worker}
        self.actor_class = ray.remote(max_restarts=0, max_task_retries=0, **resources)(_Worker)
        self.tally = ray.remote(num_cpus=0)(_Tally).remote()
        self.actors: dict[int, Any] = {}
        self.numbers = iter(range(1_000_000))
        for _ in range(workers):
            self._start_worker()

    def _start_worker(self) -> int:
        number = next(self.numbers)
        self.actors[number] = self.actor_class.remote(self.setup, number, self.tally)
        return number

    def run(self, units: Sequence[UnitSpec]) -> dict[str, R]:
        queue = sorted(units, key=lambda u: -u.size)  # largest first (stable for ties)
        attempts = {u.key: 0 for u in units}
        pending: dict[Any, _Pending] = {}
        idle = list(self.actors)
        results: dict[str, R] = {}
        error: BaseException | None = None
        try:
            while queue or pending:
                while queue and idle and error is None:
                    unit, number = queue.pop(0), idle.pop(0)
                    attempts[unit.key] += 1
                    ref = self.actors[number].run.remote(self.fn, unit, attempts[unit.key])
                    pending[ref] = _Pending(unit, attempts[unit.key], number)
                if not pending:
                    break
                [ref], _ = self.ray.wait(list(pending), num_returns=1)
                job = pending.pop(ref)
                outcome = self._collect(ref, job, queue, attempts)
                if isinstance(outcome, _Died):
                    self.ray.kill(self.actors.pop(job.worker), no_restart=True)
                    if queue and error is None:
                        idle.append(self._start_worker())
                    continue
                idle.append(job.worker)
                if isinstance(outcome, _Failed):
                    error = error or outcome.error
                    continue
                results[job.unit.key] = outcome.value
                self.on_result(job.unit, outcome.value)
        finally:
            for actor in self.actors.values():
                with contextlib.suppress(Exception):
                    self.ray.kill(actor, no_restart=True)
            with contextlib.suppress(Exception):
                self.ray.kill(self.tally, no_restart=True)
        if error is not None:
            raise error
        return results

    def _collect(self, ref, job: _Pending, queue: list[UnitSpec], attempts: dict[str, int]):
        exceptions = self.ray.exceptions
        try:
            return _Done(self.ray.get(ref))
        except exceptions.RayActorError as exc:
            if attempts[job.unit.key] >= self.options.max_attempts:
                return _Failed(
                    WorkerDied(
                        f"{job.unit.key}: its worker died {attempts[job.unit.key]} times "
                        f"(last: {str(exc).splitlines()[0]}); continue with --resume"
                    )
                )
            log.warning(
                "%s: worker %d died during attempt %d; sending it to another worker",
                job.unit.key,
                job.worker,
                job.attempt,
            )
            queue.insert(0, job.unit)
            return _Died()
        except exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            return _Failed(cause if isinstance(cause, BaseException) else exc)


@dataclass(frozen=True)
class _Done:
    value: Any


@dataclass(frozen=True)
class _Failed:
    error: BaseException


@dataclass(frozen=True)
class _Died:
    pass


def _usable_workers(ray, options: RayOptions, units: int) -> int:
    """As many workers as asked, but no more than units or than the cluster can hold at once
    (an actor that cannot be placed would hold its unit forever)."""
    total = ray.cluster_resources()
    fits = [int(total.get("CPU", 0) // options.cpus_per_worker)]
    if options.gpus_per_worker > 0:
        gpus = total.get("GPU", 0)
        if gpus < options.gpus_per_worker:
            raise ConfigError(
                f"--gpus_per_worker={options.gpus_per_worker:g} but the Ray cluster has "
                f"{gpus:g} GPUs; lower it or join a cluster with GPUs (--ray_address)"
            )
        fits.append(int(gpus // options.gpus_per_worker))
    workers = min(options.workers, units, *fits)
    if workers < 1:
        raise ConfigError(f"the Ray cluster has no room for a worker ({dict(total)})")
    if workers < options.workers:
        log.info(
            "%d workers (asked %d; %d units, cluster %s)", workers, options.workers, units, total
        )
    return workers


def _reachable(address: str, timeout: float) -> bool:
    host, _, port = address.rpartition(":")
    host = host.removeprefix("ray://") or "127.0.0.1"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def worker_env(options: RayOptions) -> dict[str, str]:
    """The workers' environment: the driver's copy of gpo first on their import path."""
    source = str(Path(__file__).resolve().parents[2])  # src/ of src/gpo/scale/ray_runner.py
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, "RAY_USAGE_STATS_ENABLED": "0", **options.env}


def _token_in_memory() -> None:
    """Ray's token authentication stays on for the local instance, but its token lives in this
    process's environment (inherited by Ray's processes) instead of ``~/.ray/auth_token``:
    a run writes nothing to the home directory. A token the user set up is left alone."""
    configured = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE")
    if any(name in os.environ for name in configured):
        return
    if (Path.home() / ".ray" / "auth_token").exists():
        return
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(16)  # the edge; never logged
    with contextlib.suppress(ImportError, AttributeError):  # Ray caches the token it first read
        from ray._raylet import AuthenticationTokenLoader

        AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def ray_session(options: RayOptions) -> Iterator[Any]:
    """Start (or join) Ray for the run; stop what was started, remove its temporary folder."""
    if options.address not in (None, "auto") and not _reachable(options.address, 5.0):
        raise ConfigError(
            f"--ray_address={options.address}: no Ray cluster answers there; start one "
            "(ray start --head) or drop --ray_address for a local instance"
        )
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # the edge: never phone home
    import ray

    temp_dir = None
    kwargs: dict[str, Any] = {
        "runtime_env": {"env_vars": worker_env(options)},
        "log_to_driver": True,
        "logging_level": logging.WARNING,
    }
    if options.address is None:
        _token_in_memory()
        # a short path: Ray's unix sockets live under it (108-byte limit)
        temp_dir = tempfile.mkdtemp(prefix="gpo-ray-", dir="/tmp")
        cpus = max(os.cpu_count() or 1, int(options.workers * options.cpus_per_worker + 0.999))
        kwargs.update(num_cpus=cpus, include_dashboard=False, _temp_dir=temp_dir)
    else:
        kwargs["address"] = options.address
    started = time.monotonic()
    try:
        ray.init(**kwargs)
    except Exception as exc:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        first = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise ConfigError(f"cannot start or join Ray ({first}); check --ray_address") from None
    log.info("Ray ready in %.1fs: %s", time.monotonic() - started, ray.cluster_resources())
    try:
        yield ray
    finally:
        ray.shutdown()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
