"""CPU thread defaults of the local backends and the busy-cores line (gpo.llm.threads)."""

from __future__ import annotations

import logging

import pytest

from gpo.llm import threads
from gpo.llm.options import BackendOptions


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 1), (3, 1), (8, 4), (64, 32)])
def test_default_is_half_the_cores(cores, expected):
    assert threads.default_threads(cores) == expected


def test_backend_options_default_follows_the_measured_rule():
    assert BackendOptions().n_threads == threads.default_threads()
    assert BackendOptions().n_threads_batch is None


def test_busy_cores_line_names_the_flag():
    line = threads.busy_cores_message(2, 3.7, 2)
    assert line is not None and "--n_threads=1" in line and "3.7" in line
    assert "\n" not in line
    assert threads.busy_cores_message(1, 3.7, 2) is None  # already the safe setting
    assert threads.busy_cores_message(2, 0.2, 2) is None  # idle cores
    assert threads.busy_cores_message(4, 2.5, 8) is None  # enough idle cores
    assert "--n_threads=3" in (threads.busy_cores_message(8, 5.0, 8) or "")
    assert threads.busy_cores_message(2, None, 2) is None  # no load average on this platform


def test_start_up_log(monkeypatch, caplog):
    monkeypatch.setattr(threads, "load_average", lambda: 3.0)
    monkeypatch.setattr(threads, "cpu_count", lambda: 2)
    with caplog.at_level(logging.INFO, logger="gpo.llm.threads"):
        threads.log_threads("llama.cpp", 2, 2)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("llama.cpp: 2 CPU thread(s), 2 for prompt processing")
    assert len(messages) == 2 and "--n_threads=1" in messages[1]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gpo.llm.threads"):
        threads.log_threads("torch", 1)
    assert [r.levelname for r in caplog.records] == ["INFO"]
