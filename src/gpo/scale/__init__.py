"""Scale-out: the tasks of a run, or the cells of a grid, on Ray workers."""
