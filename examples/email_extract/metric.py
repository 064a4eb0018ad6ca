"""Extraction metric of email_extract: the reply is the email address, not the message again.

Scores 1 when every email address in the reply is the right one and the reply is short (at most
10 words, so "The address is x@y.org." counts but an echo of the whole message does not).
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
MAX_WORDS = 10


def score(answer: str, record: dict) -> float:
    found = {e.lower() for e in EMAIL.findall(answer)}
    short = len(answer.split()) <= MAX_WORDS
    return 1.0 if found == {record["output"]} and short else 0.0
