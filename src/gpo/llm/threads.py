"""CPU threads of the local backends (the scorer and optimizer on llama.cpp or transformers).

Measured (benchmarks/thread_benchmark.py, README "Threads"): llama.cpp threads spin while they
wait, so a process that takes every core collapses when anything else is busy on the machine,
while half the cores stays close to the idle best. The default is therefore half the cores
(at least 1), for generation and for prompt processing alike; ``--n_threads`` overrides both.
At start the chosen count is logged, and one line names the flag when the load average says
the cores are already busy.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def cpu_count() -> int:
    """CPUs this process may run on (the affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_threads(cores: int | None = None) -> int:
    """Half the cores, at least 1: never catastrophically slow beside a busy neighbour."""
    return max(1, (cores or cpu_count()) // 2)


def load_average() -> float | None:
    """The 1-minute load average, or None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def busy_cores_message(
    n_threads: int, load: float | None, cores: int, flag: str = "--n_threads"
) -> str | None:
    """One line when other work already keeps the cores busy, naming the flag; else None.

    Busy means the load average leaves fewer idle cores than the threads asked for.
    """
    if load is None or load < 1.0:
        return None
    idle = max(0.0, cores - load)
    if n_threads <= max(1.0, idle):
        return None
    suggestion = max(1, int(idle)) if idle >= 1 else 1
    return (
        f"the CPU cores are busy (load average {load:.1f} on {cores} cores) and {n_threads} "
        f"threads will wait on each other; {flag}={suggestion} is usually much faster here"
    )


def log_threads(backend: str, n_threads: int, n_threads_batch: int | None = None) -> None:
    """Log the thread count at start, and the busy-cores line when it applies."""
    batch = "" if n_threads_batch is None else f", {n_threads_batch} for prompt processing"
    log.info("%s: %d CPU thread(s)%s (--n_threads)", backend, n_threads, batch)
    message = busy_cores_message(max(n_threads, n_threads_batch or 0), load_average(), cpu_count())
    if message:
        log.warning("%s", message)
