"""Command-line edge: absl flags -> frozen RunConfig -> subcommands."""
