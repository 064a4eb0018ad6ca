"""Benchmarks: BBH, MMLU, GSM8K, WebNLG, WSC with the original's splits and scoring settings."""
