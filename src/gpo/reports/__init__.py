"""Reports read back from run and experiment folders: report.md and plots, the method comparison
table, what the chosen prompts are, several experiments side by side."""
