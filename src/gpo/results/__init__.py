"""Run folders, per-instruction CSVs, results_dict.json, steps.jsonl, checkpoints and export."""
