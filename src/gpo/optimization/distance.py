"""The measured size of an update: word-level edit distance between two prompts.

GPO's learning rate asks the optimizer to change at most K words; this is the measure used to
log every candidate's step and, with ``--enforce_step_size``, to hold it to K.
"""

from __future__ import annotations


def word_edit_distance(a: str, b: str) -> int:
    """Word-level Levenshtein distance (the measured size of an update), via nltk.

    nltk is imported here, not at module load: its import costs seconds at start-up.
    """
    from nltk.metrics.distance import edit_distance

    return int(edit_distance(a.split(), b.split()))
