"""An experiment's cells checked before any model loads, and its dry run: planned calls,
tokens and the scorer's wall time for 1, 8 and 64 replicas."""

from __future__ import annotations

import math
from collections.abc import Sequence

from gpo.config import RunConfig
from gpo.data.registry import get_benchmark
from gpo.errors import ConfigError
from gpo.results.experiment_folder import BASELINE, CellSpec
from gpo.runs.build import load_tasks, resolve_specs
from gpo.runs.plan import CHARS_PER_TOKEN, PLAN_COUNTS, task_plan
from gpo.runs.request import RunRequest

REPLICAS = (1, 8, 64)


def validate_cells(cells: Sequence[CellSpec], template: RunRequest) -> dict[str, dict[str, int]]:
    """Check every cell as main.py would (before any model loads); return each cell's plan."""
    from gpo.experiments.grid import cell_request
    from gpo.runs.optimize import prepare

    plans = {}
    for c in cells:
        request = cell_request(c, template, None)
        if c.kind == BASELINE:
            config = c.config
            specs = resolve_specs(config, request, need_optimizer=False)
            data = load_tasks(config, get_benchmark(c.dataset, config.data_dir), [c.task])[c.task]
            plans[c.cell_id] = baseline_plan(config, data, specs[0].second_round)
        else:
            config, _, specs, data, _ = prepare(request)
            plans[c.cell_id] = task_plan(config, data[c.task], specs[0].second_round)
    return plans


def baseline_plan(config: RunConfig, data, second_round: bool) -> dict[str, int]:
    rounds = 2 if second_round and data.spec.second_round else 1
    chars = sum(len(e.question) + len(config.initial_instruction) + 1 for e in data.test)
    completion = config.scorer.max_tokens + (
        config.scoring.second_round_max_tokens if rounds == 2 else 0
    )
    return {
        "steps": 0,
        "scorer_requests": rounds * len(data.test),
        "scorer_prompt_tokens": rounds * chars // CHARS_PER_TOKEN,
        "scorer_completion_tokens_max": len(data.test) * completion,
        "optimizer_requests": 0,
        "optimizer_prompt_tokens": 0,
        "optimizer_completion_tokens_max": 0,
        "parallel_width": len(data.test),
    }


def cell_width(cell: CellSpec, plan: dict[str, int]) -> int:
    """Scorer requests one step can send at once: N candidates x the eval split."""
    if "parallel_width" in plan:
        return plan["parallel_width"]
    n = cell.config.opt.num_generated_instructions_in_each_step
    per_step = plan["scorer_requests"] // max(1, plan["steps"] * n + 1)
    return max(1, n * per_step)


def wall_estimate(
    cells: Sequence[CellSpec], plans: dict[str, dict[str, int]], tps: float, replicas: int
) -> float:
    """Seconds of scorer work with ``replicas`` replicas of ``tps`` tokens/s each: the grid's
    tokens spread over the replicas, but never faster than the slowest cell, whose steps run in
    sequence and whose one step spreads over at most N x |eval| requests."""
    total, slowest = 0.0, 0.0
    for c in cells:
        p = plans[c.cell_id]
        tokens = p["scorer_prompt_tokens"] + p["scorer_completion_tokens_max"]
        total += tokens
        slowest = max(slowest, tokens / (tps * min(replicas, cell_width(c, p))))
    return max(total / (tps * replicas), slowest)


def plan_lines(
    cells: Sequence[CellSpec], plans: dict[str, dict[str, int]], tps: float | None
) -> list[str]:
    keys = PLAN_COUNTS
    methods = list(dict.fromkeys(c.method for c in cells))
    lines = [
        f"dry run: {len(cells)} cells; no model loaded. Tokens are estimates (about "
        f"{CHARS_PER_TOKEN} characters per prompt token, completions at their max_tokens).",
        f"{'method':10}{'cells':>7}" + "".join(f"{k:>32}" for k in keys),
    ]
    total = dict.fromkeys(keys, 0)
    for m in methods:
        mine = [plans[c.cell_id] for c in cells if c.method == m]
        sums = {k: sum(p[k] for p in mine) for k in keys}
        lines.append(f"{m:10}{len(mine):>7}" + "".join(f"{sums[k]:>32}" for k in keys))
        for k in keys:
            total[k] += sums[k]
    lines.append(f"{'TOTAL':10}{len(cells):>7}" + "".join(f"{total[k]:>32}" for k in keys))
    if tps is None:
        lines.append(
            "wall time: pass --scorer_tokens_per_second=<tokens/s of one scorer replica> for an "
            "estimate (the usage table of a run's report.md shows the measured rate)"
        )
        return lines
    if not tps > 0 or math.isinf(tps):
        raise ConfigError("--scorer_tokens_per_second must be a positive number")
    for r in REPLICAS:
        seconds = wall_estimate(cells, plans, tps, r)
        lines.append(
            f"estimated scorer wall time with {r:>2} replica(s) at {tps:g} tokens/s each: "
            f"{seconds / 3600:.2f} h ({seconds:.0f} s)"
        )
    lines.append("(scorer work only; the optimizer's calls and model loading come on top)")
    return lines
