"""The generic Ray runner (``gpo.scale.ray_runner``) on a real local Ray instance: each worker's
setup runs once, units go largest first, a worker that dies is replaced and its unit retried,
the tally sums every worker's reports, and a unit's own error reaches the driver as itself.

Every ``run_units`` starts Ray in a fresh temporary folder and stops it; HOME points into the
test's temporary folder.
"""

from __future__ import annotations

import os
import sys

import pytest

from gpo.errors import DataError
from gpo.scale.ray_runner import RayOptions, UnitSpec, WorkerContext, run_units

pytestmark = [pytest.mark.real, pytest.mark.timeout(300)]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    (tmp_path / "ray").mkdir()
    yield
    assert not (tmp_path / ".ray").exists()  # the auth token stayed in memory


def _setup() -> dict:
    return {"pid": os.getpid(), "loaded": 1}


def _run(state: dict, unit: UnitSpec, context: WorkerContext) -> dict:
    if unit.payload == "die" and context.placement.attempt == 1:
        os._exit(1)  # the worker process dies mid-unit
    if unit.payload == "fail":
        raise DataError(f"{unit.key}: bad data")
    totals = context.tally({"units": float(state.setdefault("done", 0) + 1)})
    state["done"] += 1
    return {"pid": state["pid"], "placement": context.placement.to_dict(), "totals": totals}


def test_units_run_largest_first_and_a_dead_worker_is_replaced() -> None:
    units = [UnitSpec("small", 1, "ok"), UnitSpec("dies", 5, "die"), UnitSpec("big", 9, "ok")]
    order: list[str] = []
    results = run_units(
        units, _setup, _run, RayOptions(workers=1), lambda u, r: order.append(u.key)
    )
    assert set(results) == {"small", "dies", "big"}
    assert order == ["big", "dies", "small"]  # one worker: strictly largest first
    died = results["dies"]["placement"]
    assert died["attempt"] == 2 and died["worker"] == 1  # retried on the replacement worker
    assert results["big"]["pid"] != died["pid"]  # the first worker process is gone
    assert results["small"]["totals"]["units"] == 3.0  # 1 (dead worker's report) + 2


def test_a_unit_error_reaches_the_driver_as_itself() -> None:
    units = [UnitSpec("good", 1, "ok"), UnitSpec("bad", 2, "fail")]
    seen: list[str] = []
    with pytest.raises(DataError, match="bad: bad data"):
        run_units(units, _setup, _run, RayOptions(workers=2), lambda u, r: seen.append(u.key))
    assert seen == ["good"]  # the unit already in flight still finished and was reported
