"""GSM8K: grade-school maths word problems, a single task scored as a number (GPO_REFERENCE 2.1).

Records are ``{"input", "solution", "output"}``; ``output`` is the integer answer and the
``solution`` rationale is never used. The task is labelled "gsm8k" (bug 10.3 fixed); the second
round asks for the final answer as just one number.
"""

from __future__ import annotations

from gpo.data.base import AnswerKind
from gpo.data.common import NUMBER_REQUEST, SingleTaskBenchmark, integer_answer

GSM8K_REQUEST = NUMBER_REQUEST


class GSM8K(SingleTaskBenchmark):
    """The GSM8K benchmark (one task, integer answers in ``output``)."""

    name = "gsm8k"
    folder = "reasoning/GSM8K"
    answer_kind = AnswerKind.NUMBER
    parse_answer = staticmethod(integer_answer)
    request = GSM8K_REQUEST
