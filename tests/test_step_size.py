"""Step-size schedules (GPO_REFERENCE 5.3 step 4, quirk 10.12): golden tables and hand cases."""

from __future__ import annotations

import math

import pytest

from gpo.errors import ConfigError
from gpo.optimization.step_size import StepSizeSchedule, schedule

# GPO: consine 50 -> 10, no warm-up, K for t = 1..T (GPO_REFERENCE 5.3 step 4, with its erratum:
# T=39 t=26 is 20; this table used to pin the reference's wrong 19).
GPO_TABLES = {
    18: "49 48 47 45 42 40 36 33 30 26 23 20 17 14 12 11 10 10",
    12: "49 47 44 40 35 30 24 20 15 12 10 10",
    9: "48 45 40 33 26 20 14 11 10",
    39: "49 49 49 48 48 47 46 45 44 43 42 41 40 38 37 35 34 32 30 29 27 25 24 22 21 20 18 17 "
    "16 15 14 13 12 11 11 10 10 10 10",
}


@pytest.mark.parametrize("total", sorted(GPO_TABLES))
@pytest.mark.parametrize("name", ["consine", "cosine"])
def test_gpo_cosine_tables(total: int, name: str) -> None:
    got = [schedule(name, t, total, 50, 10, False, 0) for t in range(1, total + 1)]
    assert got == [int(x) for x in GPO_TABLES[total].split()]


def test_cosine_evaluates_the_fraction_before_pi() -> None:
    # The original computes cos(pi * (t / T)): at t=26 of 39 that is -0.4999999999999998, so
    # K = int(20.000000000000004) = 20. This test used to pin 19, the value of pi * t / T, from
    # a wrong table in the reference (now corrected there).
    assert math.cos(math.pi * (26 / 39)) == -0.4999999999999998
    assert schedule("consine", 26, 39, 50, 10, False, 0) == 20


def _original_cosine(t: int, total: int, init: int, final: int, warmup: bool, w: int) -> int:
    """The original's cosine expression, written out: the fraction first, then pi."""
    if warmup and t < w:
        return int(init * t / w)
    d = (t - w) / (total - w) if warmup else t / total
    return int(final + (init - final) * 0.5 * (1 + math.cos(math.pi * d)))


@pytest.mark.parametrize(
    ("total", "warmup_steps", "t", "k"), [(40, 14, 27, 30), (100, 6, 53, 30), (40, 1, 27, 20)]
)
def test_cosine_with_warmup_evaluates_the_fraction_before_pi(
    total: int, warmup_steps: int, t: int, k: int
) -> None:
    # Points where pi * (t - W) / (T - W) would give one word less.
    assert schedule("consine", t, total, 50, 10, True, warmup_steps) == k


@pytest.mark.parametrize("warmup", [False, True])
@pytest.mark.parametrize("total", [9, 12, 18, 39, 40, 100])
def test_cosine_matches_the_original_expression_with_and_without_warmup(
    total: int, warmup: bool
) -> None:
    got = [schedule("consine", t, total, 50, 10, warmup, 5) for t in range(1, total + 1)]
    want = [_original_cosine(t, total, 50, 10, warmup, 5) for t in range(1, total + 1)]
    assert got == want


def test_fixed_without_and_with_warmup() -> None:
    assert [schedule("fixed", t, 6, 30, 30, False, 5) for t in (1, 3, 6)] == [30, 30, 30]
    # warm-up W=4: int(30*t/4) for t < 4, then 30
    got = [schedule("fixed", t, 6, 30, 0, True, 4) for t in range(1, 7)]
    assert got == [7, 15, 22, 30, 30, 30]


def test_linear_with_warmup_by_hand() -> None:
    # init 50, final 10, T=10, W=2: rate = 40/8 = 5; t<2: int(50*t/2); else int(50 - 5*(t-2))
    got = [schedule("linear", t, 10, 50, 10, True, 2) for t in range(1, 11)]
    assert got == [25, 50, 45, 40, 35, 30, 25, 20, 15, 10]


def test_linear_without_warmup_keeps_w_in_rate_quirk() -> None:
    # Quirk 10.12 kept: rate = (50-10)/(10-5) = 8 with the default W=5, t unshifted:
    # int(50 - 8t) goes below final and negative (int truncates toward zero).
    got = [schedule("linear", t, 10, 50, 10, False, 5) for t in range(1, 11)]
    assert got == [42, 34, 26, 18, 10, 2, -6, -14, -22, -30]


def test_linear_without_warmup_w0_is_plain_linear() -> None:
    got = [schedule("linear", t, 4, 50, 10, False, 0) for t in range(1, 5)]
    assert got == [40, 30, 20, 10]


def test_cosine_with_warmup_by_hand() -> None:
    # T=6, W=2: t=1 -> int(50*1/2)=25; t>=2: d=(t-2)/4, K=int(10+40*0.5*(1+cos(pi d)))
    got = [schedule("consine", t, 6, 50, 10, True, 2) for t in range(1, 7)]
    assert got == [25, 50, 44, 30, 15, 10]


def test_truncation_never_reaches_initial_without_warmup() -> None:
    assert max(schedule("consine", t, 18, 50, 10, False, 0) for t in range(1, 19)) == 49


def test_unknown_schedule_and_zero_span() -> None:
    with pytest.raises(ConfigError, match="decay_strategy"):
        schedule("step", 1, 10, 50, 10, False, 0)
    with pytest.raises(ConfigError, match="warmup_steps"):
        schedule("linear", 1, 5, 50, 10, False, 5)


def test_schedule_object() -> None:
    s = StepSizeSchedule("cosine", initial=50, final=10, warmup=False, warmup_steps=0)
    assert [s.step_size(t, 9) for t in range(1, 10)] == [48, 45, 40, 33, 26, 20, 14, 11, 10]
    with pytest.raises(ConfigError):
        StepSizeSchedule("-", initial=50)
