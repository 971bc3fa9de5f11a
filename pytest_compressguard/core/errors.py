"""Errors that carry one clear sentence for the user."""

from __future__ import annotations


class CompressGuardError(Exception):
    """Base class: the message is meant to be shown as it is, without a traceback."""


class ModelSpecError(CompressGuardError):
    """A model spec that cannot name a model (unknown prefix, missing path)."""


class ModelLoadError(CompressGuardError):
    """A model that cannot be loaded or cannot give what is asked of it."""


class SnapshotSettingsError(ModelLoadError):
    """A snapshot written with other output settings than the session's (known before any
    test runs: a usage error)."""


class DataError(CompressGuardError):
    """Evaluation data that cannot be read or does not fit the models."""


class LabelMismatchError(CompressGuardError):
    """Teacher and student disagree on the label set."""


class MissingOutputError(ModelLoadError):
    """A model that cannot give an output a metric needs (no head, no hidden states)."""


class CompressGuardWarning(UserWarning):
    """Something that weakens a gate without breaking it (too few examples to trust it)."""
