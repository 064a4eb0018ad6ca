"""Scoring an instruction on a benchmark split: prompt assembly, answer extraction, grading."""
