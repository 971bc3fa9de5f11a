"""What every causal-LM backend shares: token ids of texts, batches in input order, padding
on the right, and embeddings of texts as their mean last hidden state."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from pytest_compressguard.core.types import Encoded

#: Why a causal LM gives no class probabilities of a text, for ``missing``.
NO_PROBABILITIES = (
    "{spec} is a causal LM: it gives class probabilities on a multiple-choice eval set (a "
    "--choices-column), not of a text"
)


def padded(ids: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A batch of id arrays padded on the right with zeros, and its attention mask."""
    width = max(len(x) for x in ids)
    batch = np.zeros((len(ids), width), dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for row, x in enumerate(ids):
        batch[row, : len(x)] = x
        mask[row, : len(x)] = 1
    return batch, mask


class LanguageModel:
    """The shared part of a causal-LM backend (it sets ``tokenizer``, ``max_length``,
    ``batch_size``, ``per_example``, ``missing`` and gives ``hidden_means``)."""

    labels: tuple[str, ...] | None = None
    num_labels: int | None = None
    tokenizer: Any
    max_length: int
    batch_size: int
    per_example: bool
    missing: dict[str, str]

    def hidden_means(self, ids: Sequence[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def token_ids(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's token ids as its tokenizer gives them by default, truncated to
        ``max_length``."""
        found = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return [np.asarray(ids, dtype=np.int64) for ids in found["input_ids"]]

    def batches(self, ids: Sequence[np.ndarray]) -> Iterator[range]:
        """The index ranges of the batches ``ids`` run in, in order (one text each for a
        dynamically quantized model, whose activation scales would otherwise mix texts)."""
        size = 1 if self.per_example else self.batch_size
        for start in range(0, len(ids), size):
            yield range(start, min(start + size, len(ids)))

    def encode(
        self, texts: Sequence[str], *, probabilities: bool = False, embeddings: bool = True
    ) -> Encoded:
        """The texts' :meth:`hidden_means` (a causal LM has no class probabilities of a text)."""
        if probabilities:
            raise ValueError(self.missing["probabilities"])
        vectors = self.hidden_means(self.token_ids(texts)) if embeddings else None
        return Encoded(probabilities=None, embeddings=vectors)
