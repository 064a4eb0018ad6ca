"""The experiment grid: presets x tasks x seeds as run folders in one experiment folder."""
