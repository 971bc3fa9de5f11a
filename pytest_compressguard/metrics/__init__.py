"""Pure metric functions of numpy arrays."""

from pytest_compressguard.metrics.prediction import (
    accuracy,
    error_overlap,
    flips,
    kl_divergence,
    label_loyalty,
    probability_loyalty,
)

__all__ = [
    "accuracy",
    "error_overlap",
    "flips",
    "kl_divergence",
    "label_loyalty",
    "probability_loyalty",
]
