"""Names that both ``gpo.data`` and ``gpo.evaluation`` read, owned here, below both.

A custom task's ``task.json`` names its metric and may name its instruction position; the data
layer checks those names when it reads the task (before any model loads), the evaluation layer
implements them (``gpo.evaluation.metrics.BUILTIN``, ``gpo.evaluation.prompts``). The two layers
are siblings and never import each other, so the names live one layer down.
"""

from __future__ import annotations

# Where the task prompt sits in the scorer's input (``--instruction_pos``, task.json's
# ``instruction_pos``); ``gpo.evaluation.prompts`` builds each.
INSTRUCTION_POSITIONS = ("before_Q", "Q_begin", "Q_end", "A_begin")

# The metrics a task.json may name without Python code; ``gpo.evaluation.metrics.BUILTIN``
# grades each (a test checks that it implements every name, and no other).
BUILTIN_METRICS = ("exact", "contains", "choice", "number", "rouge_l")
