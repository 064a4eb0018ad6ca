"""WebNLG: data-to-text generation scored by ROUGE-L against references (GPO_REFERENCE 2.1-2.3).

Records are ``{"id", "input", "output"}``; ``output`` is a list of 1-5 reference texts. The task
is labelled "webnlg" (bug 10.3 fixed). WebNLG is the one dataset without a second round: the
first answer is scored as it is.
"""

from __future__ import annotations

from gpo.data.base import AnswerKind
from gpo.data.common import SingleTaskBenchmark, reference_list_answer


class WebNLG(SingleTaskBenchmark):
    """The WebNLG benchmark (one task, reference lists in ``output``; no second round)."""

    name = "webnlg"
    folder = "common-nlp/WebNLG"
    answer_kind = AnswerKind.ROUGE
    parse_answer = staticmethod(reference_list_answer)
    request = None
