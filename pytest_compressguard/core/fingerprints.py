"""Content hashes: of files (memoized by stat) and of example texts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from pytest_compressguard.core.types import Text


def hash_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the names and bytes of files, in sorted order.

    A session asks for the same model's hash several times (its description, the output
    cache key, an ``onnx-int8:`` build key, an attack's parts); the files are read once per
    process while their path, size, modification time and inode stay the same."""
    stats = []
    for path in sorted(paths):
        found = path.stat()
        stats.append((str(path), found.st_size, found.st_mtime_ns, found.st_ino))
    return _hash_files(tuple(stats))


@lru_cache(maxsize=64)
def _hash_files(stats: tuple[tuple[str, int, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, *_ in stats:
        path = Path(name)
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def rows_fingerprint(texts: Sequence[Text], labels: Sequence[str] | None) -> str:
    """SHA-256 of the texts and their labels (None: the texts alone)."""
    digest = hashlib.sha256()
    for i, text in enumerate(texts):
        digest.update(json.dumps([text, None if labels is None else labels[i]]).encode())
    return digest.hexdigest()


def texts_fingerprint(texts: Sequence[Text]) -> str:
    """The SHA-256 of texts, as :attr:`Dataset.texts_fingerprint` computes it."""
    return rows_fingerprint(texts, None)
