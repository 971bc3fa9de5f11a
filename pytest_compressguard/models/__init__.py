"""Models behind one protocol: ``predict_proba(texts) -> (N, C) float64``."""

from .base import Model, align_labels
from .resolve import load_model
from .spec import ALIASES, ModelSpec, parse_spec

__all__ = ["ALIASES", "Model", "ModelSpec", "align_labels", "load_model", "parse_spec"]
