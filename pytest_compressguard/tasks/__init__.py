"""One module per task: how its examples are read, run through a model, compared, explained."""
