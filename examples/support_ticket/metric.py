"""Label-set metric of support_ticket: the reply names exactly one of the four teams, the right one.

"billing", "The billing team." and "Billing - double charge" score 1; a reply that names no team,
lists several ("billing, shipping, account or technical") or names the wrong one scores 0.
"""

from __future__ import annotations

import re

LABELS = frozenset({"billing", "shipping", "account", "technical"})


def score(answer: str, record: dict) -> float:
    named = {word for word in re.findall(r"[a-z]+", answer.lower()) if word in LABELS}
    return 1.0 if named == {record["output"]} else 0.0
