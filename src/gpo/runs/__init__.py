"""How a run is put together: validation (preflight), the composition root (build, runtime), the
optimization and evaluation commands, the dry-run planner and the paper's presets."""
