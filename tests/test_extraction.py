"""Answer normalisation, one case per rule of GPO_REFERENCE 4.2 (including the kept quirks)."""

from __future__ import annotations

import pytest

from gpo.evaluation.extraction import normalize_prediction

MC = {"is_multiple_choice": True, "treat_as_number": False}
NUM = {"is_multiple_choice": False, "treat_as_number": True}
BOOL = {"is_multiple_choice": False, "treat_as_number": False, "treat_as_bool": True}
TEXT = {"is_multiple_choice": False, "treat_as_number": False}

# (rule, prediction, settings, expected)
CASES = [
    ("lower+strip", "  Hello World  ", TEXT, "hello world"),
    ("marker 'answer is '", "So the answer is (B).", MC, "(b)"),
    ("marker 'answer: '", "Reasoning...\nanswer: 42", NUM, "42"),
    ("marker 'answer is: '", "the answer is: valid", TEXT, "valid"),
    ("marker '#### '", "5 + 5 = 10 so\n#### 12 apples", NUM, "12"),
    ("fallback marker 'is: '", "The result is: (C)", MC, "(c)"),
    ("fallback marker 'are: '", "The sorted words are: apple banana", TEXT, "apple banana"),
    ("marker: text after the last occurrence", "answer is 3. No, the answer is 4", NUM, "4"),
    # Kept quirk: the marker set is chosen on the raw, case-sensitive text. "ANSWER IS" does not
    # select the answer-is markers, so the fallback "is: " cuts the lower-cased text instead.
    ("case-sensitive marker choice", "ANSWER IS 5, so x is: 7", NUM, "7"),
    ("case-insensitive search would give 5", "answer is 5, so x is: 7", NUM, "5"),
    ("answer-ahead marker", "(A) is the correct answer, not (B)", MC, "(a)"),
    ("answer-ahead 'is the right answer'", "(D) is the right answer", MC, "(d)"),
    ("answer-ahead 'is the final answer'", "(E) is the final answer.", MC, "(e)"),
    ("answer-ahead marks the answer (first number)", "12 is the answer, not 13", NUM, "12"),
    ("MC: first bracketed letter", "(B) or maybe (C)", MC, "(b)"),
    ("MC: no bracketed letter leaves text", "B", MC, "b"),
    ("MC: only single letters count", "(AB) then (c)", MC, "(c)"),
    ("number words", "There are three apples", NUM, "3"),
    ("number words: twelve", "twelve", NUM, "12"),
    ("number word with punctuation is not mapped", "It is twelve.", NUM, "twelve."),
    ("text after the last '='", "2 * 3 = 6 and 6 + 1 = 7.", NUM, "7"),
    ("currency and thousands", "It costs $1,235 in total", NUM, "1235"),
    ("euro", "€12", NUM, "12"),
    ("pound and percent", "£7 or 50%", NUM, "50"),
    ("colon deleted", "time 1:30", NUM, "130"),
    ("indicated: first digit token", "The answer is 5 apples and 6 pears", NUM, "5"),
    ("not indicated: last digit token", "5 apples and 6 pears", NUM, "6"),
    ("trailing letters stripped", "the answer is 10km", NUM, "10"),
    ("trailing letters then one '-'", "the answer is 12-dollars", NUM, "12"),
    ("one trailing '-'", "5-", NUM, "5"),
    ("round-half-even 2.5", "2.5", NUM, "2"),
    ("round-half-even 3.5", "3.5", NUM, "4"),
    ("rounding 2.6", "2.6", NUM, "3"),
    ("float formatting", "18.00", NUM, "18"),
    ("negative number", "It is -4", NUM, "-4"),
    ("last-digits fallback", "the answer is 10-20", NUM, "20"),
    ("last-digits fallback fraction", "3/4", NUM, "4"),
    ("no digits, not indicated: last token", "i do not know", NUM, ""),
    ("no digits, indicated: first token", "the answer is none. 7", NUM, "7"),
    ("empty reply", "", NUM, ""),
    # The fallback (no float) is the first digit run with no digit after it on its line: the
    # pattern's "." does not cross a newline, so a space-free token spanning lines gives the
    # last run of its first line with digits.
    ("last-digits fallback stops at a newline", "34\n343", NUM, "34"),
    ("last-digits fallback after a marker", "The answer is 34.\n\n37", NUM, "34"),
    ("last-digits fallback on the first line with digits", "x\n12-3\n4", NUM, "3"),
    # Letters and digits are Python's Unicode isalpha/isdigit, as in the original.
    ("Unicode trailing letter stripped", "34.5é", NUM, "34"),
    ("superscript counts as a digit (kept)", "34 ft²", NUM, "ft²"),
    ("bool: punctuation deleted", "True.", BOOL, "true"),
    ("bool: quotes deleted", "'valid'", BOOL, "valid"),
    # Kept quirk: the "first boolean word" step is dead; the rest of the sentence stays.
    ("bool: dead first-word step", "No. Because it rains.", BOOL, "no because it rains"),
    ("bool: marker then punctuation", "So the answer is: Yes!", BOOL, "yes"),
    ("MC + marker with capital 'Answer: '", "Answer: (D)", MC, "(d)"),
]


@pytest.mark.parametrize(("rule", "prediction", "settings", "expected"), CASES)
def test_normalize_prediction(rule: str, prediction: str, settings: dict, expected: str) -> None:
    assert normalize_prediction(prediction, **settings) == expected, rule


def test_num_decimals() -> None:
    assert normalize_prediction("pi is 3.14159", False, True, num_decimals=2) == "3.14"
    assert normalize_prediction("2.675", False, True, num_decimals=1) == "2.7"


@pytest.mark.parametrize(
    "garbage", ["", "   ", "=", "####", "$$$", "-", "((()))", "answer is ", "1e400", "\n\n"]
)
def test_total_on_garbage(garbage: str) -> None:
    for settings in (MC, NUM, BOOL, TEXT):
        assert isinstance(normalize_prediction(garbage, **settings), str)
