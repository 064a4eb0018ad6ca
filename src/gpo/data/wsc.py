"""WSC: Winograd schema pronoun resolution as two-option multiple choice (GPO_REFERENCE 2.1-2.3).

Records are ``{"input", "output"}``; the question asks what a quoted pronoun refers to and lists
"(A) ..." and "(B) ...". The task is labelled "wsc" (bug 10.3 fixed); the second round asks for
one option, (A) or (B).
"""

from __future__ import annotations

from gpo.data.base import AnswerKind
from gpo.data.common import SingleTaskBenchmark, string_answer

WSC_REQUEST = "Therefore, state your final answer as one option, (A) or (B)."


class WSC(SingleTaskBenchmark):
    """The WSC benchmark (one task, answers "(A)"/"(B)" in ``output``)."""

    name = "wsc"
    folder = "common-nlp/WSC"
    answer_kind = AnswerKind.MULTIPLE_CHOICE
    parse_answer = staticmethod(string_answer)
    request = WSC_REQUEST
