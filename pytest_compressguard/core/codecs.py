"""Array codecs of model outputs: ``.npz`` archives of plain arrays, read without pickle."""

from __future__ import annotations

import io

import numpy as np

from pytest_compressguard.core.types import Answer, Encoded, QAOutputs

OUTPUTS = ("probabilities", "embeddings")


def to_bytes(encoded: Encoded) -> bytes:
    """The outputs as an ``.npz`` archive (absent outputs left out)."""
    buffer = io.BytesIO()
    arrays = {name: getattr(encoded, name) for name in OUTPUTS}
    np.savez(buffer, **{name: a for name, a in arrays.items() if a is not None})
    return buffer.getvalue()


def arrays_to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Named arrays as an ``.npz`` archive."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def arrays_from_bytes(data: bytes) -> dict[str, np.ndarray]:
    """Named arrays read back from :func:`arrays_to_bytes` (no pickle)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def from_bytes(data: bytes) -> Encoded:
    """Outputs read back from :func:`to_bytes` (no pickle)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        found = {name: arrays[name] if name in arrays else None for name in OUTPUTS}
    return Encoded(found["probabilities"], found["embeddings"])


def qa_to_bytes(found: QAOutputs) -> bytes:
    """A question answerer's outputs as an ``.npz`` archive of plain arrays (no pickle)."""
    candidates = [c for a in found.answers for c in a.candidates]
    buffer = io.BytesIO()
    np.savez(
        buffer,
        embeddings=found.embeddings,
        text=np.array([a.text for a in found.answers], dtype=str),
        null_odds=np.array([a.null_odds for a in found.answers], dtype=np.float64),
        counts=np.array([len(a.candidates) for a in found.answers], dtype=np.int64),
        candidate_text=np.array([t for t, _ in candidates], dtype=str),
        candidate_probability=np.array([p for _, p in candidates], dtype=np.float64),
    )
    return buffer.getvalue()


def qa_from_bytes(data: bytes) -> QAOutputs:
    """A question answerer's outputs read back from :func:`qa_to_bytes` (no pickle)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as a:
        ends = np.cumsum(a["counts"])
        texts, probabilities = a["candidate_text"].tolist(), a["candidate_probability"].tolist()
        answers = [
            Answer(
                str(text),
                float(odds),
                tuple(zip(texts[end - count : end], probabilities[end - count : end], strict=True)),
            )
            for text, odds, count, end in zip(
                a["text"].tolist(),
                a["null_odds"].tolist(),
                a["counts"].tolist(),
                ends.tolist(),
                strict=True,
            )
        ]
        return QAOutputs(answers, a["embeddings"])
