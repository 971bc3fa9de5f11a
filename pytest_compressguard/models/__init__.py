"""Models behind one protocol: ``predict_proba(texts) -> (N, C) float64``."""

from pytest_compressguard.models.base import Model, align_labels
from pytest_compressguard.models.resolve import load_model
from pytest_compressguard.models.spec import ALIASES, ModelSpec, parse_spec

__all__ = ["ALIASES", "Model", "ModelSpec", "align_labels", "load_model", "parse_spec"]
