"""The search for the smallest int8 student that passes a behavioural gate (work in progress:
the operator groups and the requirements it searches for)."""
