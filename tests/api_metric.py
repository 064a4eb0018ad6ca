"""A Python metric for the API's real tests: importable by name (``python:api_metric:first_word``)
by the test process and by main.py in a subprocess alike."""

from __future__ import annotations


def first_word(answer: str, record: dict) -> float:
    """1.0 when the reply's first word is the record's label (any case), else 0.0."""
    words = answer.strip().lower().replace(".", " ").split()
    return float(bool(words) and words[0] == str(record["output"]).lower())
