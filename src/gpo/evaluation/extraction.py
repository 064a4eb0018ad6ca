"""Answer extraction: turn the scorer's free-text reply into a comparable answer string.

Implements the original's prediction normalisation (GPO_REFERENCE 4.2) rule by rule, including the
quirks that change scores (each marked "Kept quirk"). The function is total: any string in, a
string out, so a reply that cannot be parsed is graded 0 instead of crashing the run.
"""

from __future__ import annotations

import re
import string

# Markers after which the answer follows. "#### " (GSM8K style) is always tried first.
_ANSWER_IS_MARKERS = ("answer is ", "answer: ", "answer is: ")
_FALLBACK_MARKERS = ("is: ", "are: ")
# Markers before which the answer stands ("(B) is the correct answer").
_ANSWER_AHEAD_MARKERS = (
    " is the correct answer",
    " is the right answer",
    " is the final answer",
    " is the answer",
)
_BRACKETED_LETTER = re.compile(r"\([A-Za-z]\)")
# A run of digits with no digit after it on the same line ("." stops at a newline).
_LAST_DIGITS_ON_LINE = re.compile(r"\d+(?!.*\d)")
_NUMBER_WORDS = {
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
}
_NUMBER_NOISE = str.maketrans("", "", "$,%€£:")
_ALL_PUNCTUATION = str.maketrans("", "", string.punctuation)


def _cut_at_markers(prediction: str, p: str) -> tuple[str, bool]:
    """Steps 2-4: keep the text after answer-behind markers and before answer-ahead markers."""
    # Kept quirk (GPO_REFERENCE 10.9): the marker set is chosen on the raw, case-sensitive
    # prediction, although the search below runs on the lower-cased text.
    if any(m in prediction for m in _ANSWER_IS_MARKERS):
        markers = ("#### ", *_ANSWER_IS_MARKERS)
    else:
        markers = ("#### ", *_FALLBACK_MARKERS)
    indicated = False
    for marker in markers:
        if marker in p:
            p = p.split(marker)[-1]  # text after the last occurrence
            indicated = True
    for marker in _ANSWER_AHEAD_MARKERS:
        if marker in p:
            p = p.split(marker)[0]  # text before the first occurrence
            indicated = True
    return p, indicated


def _has_digit(token: str) -> bool:
    """Python's Unicode ``isdigit``: "ft²" counts ("²" is a digit to Python, not to ``\\d``)."""
    return any(c.isdigit() for c in token)


def _last_digit_run(p: str) -> str:
    """The original's fallback: the first run of digits with no digit after it on its line.

    ``.`` does not cross a newline, so in "34\\n343" this is "34" (the last run of the first
    line that has digits), not "343". Without any ``\\d`` digit the text is returned as is.
    """
    found = _LAST_DIGITS_ON_LINE.search(p)
    return found.group(0) if found else p


def _extract_number(p: str, answer_indicated: bool, num_decimals: int) -> str:
    """Step 6: the numeric answer, rounded to ``num_decimals`` decimals."""
    p = " ".join(_NUMBER_WORDS.get(word, word) for word in p.split(" "))
    p = p.split("=")[-1]  # the value after the last "="
    p = p.translate(_NUMBER_NOISE).strip()
    tokens = p.split(" ")
    # With an answer marker the number comes first ("the answer is 5 apples, not 6"); without
    # one the last number in the reply is taken.
    scan = tokens if answer_indicated else tokens[::-1]
    # Kept quirk: digits and letters are Python's Unicode isdigit/isalpha, as in the original,
    # so "34.5é" gives "34" and "34 ft²" gives "ft²" (a superscript is a digit, not a letter).
    p = next((t for t in scan if _has_digit(t)), scan[0])
    while p and p[-1].isalpha():
        p = p[:-1]
    if p.endswith("-"):
        p = p[:-1]
    try:
        value = float(p)
    except ValueError:
        return _last_digit_run(p)
    # Kept quirk: Python's round() is round-half-even, so "2.5" becomes "2" and "3.5" "4".
    return f"{round(value, num_decimals):.{num_decimals}f}"


def normalize_prediction(
    prediction: str,
    is_multiple_choice: bool,
    treat_as_number: bool,
    num_decimals: int = 0,
    treat_as_bool: bool = False,
) -> str:
    """The normalised answer of a scorer reply (GPO_REFERENCE 4.2)."""
    p = prediction.lower().strip()
    p, answer_indicated = _cut_at_markers(prediction, p)
    if is_multiple_choice:
        match = _BRACKETED_LETTER.search(p)  # the first "(x)", not the last
        if match:
            p = match.group(0)
    if treat_as_number:
        p = _extract_number(p, answer_indicated, num_decimals)
    if treat_as_bool:
        # Kept quirk (GPO_REFERENCE 10.9): the intended "first word before a period, if it is a
        # boolean word" step never fires in the original (it tests a list for membership in a
        # list of word pairs), so the only effect is deleting ASCII punctuation.
        p = p.translate(_ALL_PUNCTUATION).strip()
    return p
