"""The search for the smallest int8 student that passes a behavioural gate: operator groups,
requirements, candidates, the passes, dropped layers, the command and its report."""
