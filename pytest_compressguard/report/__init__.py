"""Reports built from recorded comparisons: never recompute a metric."""
