"""Per-session state: settings, loading, comparisons, snapshot writing."""
