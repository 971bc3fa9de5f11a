"""Brute-force reference computations of the representation and OOD metrics, written from the
definitions without the plugin's code (full N x N matrices: fine for test-sized data)."""

from __future__ import annotations

import numpy as np


def cosine_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a @ b.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1))


def knn_sets(x: np.ndarray, k: int) -> list[set[int]]:
    """The k most cosine-similar other rows of each row; ties by ascending index."""
    sims = cosine_matrix(x, x)
    out = []
    for i, row in enumerate(sims):
        ranked = sorted((j for j in range(len(x)) if j != i), key=lambda j: (-row[j], j))
        out.append(set(ranked[:k]))
    return out


def knn_jaccard(t: np.ndarray, s: np.ndarray, k: int) -> np.ndarray:
    return np.array(
        [len(a & b) / len(a | b) for a, b in zip(knn_sets(t, k), knn_sets(s, k), strict=True)]
    )


def cka_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA from N x N Gram matrices: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L))."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    k = h @ (np.asarray(x, np.float64) @ np.asarray(x, np.float64).T) @ h
    l_ = h @ (np.asarray(y, np.float64) @ np.asarray(y, np.float64).T) @ h
    return float(np.sum(k * l_) / np.sqrt(np.sum(k * k) * np.sum(l_ * l_)))


def kth_distance(queries: np.ndarray, bank: np.ndarray, k: int) -> np.ndarray:
    q = np.asarray(queries, np.float64)
    b = np.asarray(bank, np.float64)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    d = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * (q @ b.T)))
    return np.sort(d, axis=1)[:, k - 1]


def ood_flags(bank, held_out, candidates, k):
    threshold = np.percentile(kth_distance(held_out, bank, k), 95)
    return kth_distance(candidates, bank, k) > threshold


def auroc(negatives, positives) -> float:
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return float(wins / (len(positives) * len(negatives)))


def ood_metrics(teacher: dict, student: dict, k: int) -> dict[str, float]:
    """teacher/student: {"bank", "eval", "ood"} embeddings."""
    out = {}
    flags = {}
    for name, e in (("teacher", teacher), ("student", student)):
        flags[name] = ood_flags(e["bank"], e["eval"], e["ood"], k)
        out[f"{name}_ood_rate"] = float(flags[name].mean())
        out[f"{name}_ood_auroc"] = auroc(
            kth_distance(e["eval"], e["bank"], k), kth_distance(e["ood"], e["bank"], k)
        )
    a = set(np.flatnonzero(flags["teacher"]))
    b = set(np.flatnonzero(flags["student"]))
    out["ood_agreement"] = len(a & b) / len(a | b) if a | b else 1.0
    return out


def torch_int8(model):
    """A transformers model with its Linear layers dynamically quantized by torch directly
    (the reference for the ``int8:`` backends)."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """scipy's Jensen-Shannon distance (base 2) of two distributions, 0 where scipy gives nan.

    scipy takes the square root of the divergence, a sum of entropy terms that rounds a few
    1e-17 below 0 when the distributions differ by ~1e-9 (a model against its own ONNX
    export): nan, with "invalid value encountered in sqrt". That divergence is 0 to rounding.
    """
    from scipy.spatial.distance import jensenshannon

    assert np.isfinite(p).all() and np.isfinite(q).all()
    with np.errstate(invalid="ignore"):
        found = float(jensenshannon(p, q, base=2))
    return 0.0 if np.isnan(found) else found
