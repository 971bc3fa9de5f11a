"""Exact k-nearest-neighbour search by cosine similarity: FAISS finds candidates, float64
rescoring decides.

The similarity of rows a and b is ``(a . b) / (|a| |b|)`` computed in float64 from the given
(float32) embeddings. Neighbours are ranked by descending similarity, ties by ascending index.
FAISS (``IndexFlatIP`` on L2-normalised float32 rows) returns a few more candidates than asked
for; they are rescored in float64, and a query whose k-th similarity is not clear of the
float32 rounding bound of the last candidate is searched again, deeper. The result is therefore
the exact float64 ranking, and memory stays O(queries x depth): no N x N matrix is ever built.
"""

from __future__ import annotations

import numpy as np

#: Rows of queries rescored at once; bounds the (rows, depth, H) float64 gather to ~64 MiB.
_RESCORE_BYTES = 64 << 20


def _as_matrix(x: np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{what}: expected a non-empty (N, H) matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{what}: the embeddings contain NaN or infinite values")
    return x


def _norms(x64: np.ndarray, what: str) -> np.ndarray:
    norms = np.sqrt(np.einsum("nh,nh->n", x64, x64))
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(
            f"{what}: the embedding of example {int(zero[0])} is all zeros; "
            "its cosine similarity is undefined"
        )
    return norms


def _rescore(
    q64: np.ndarray, qn: np.ndarray, b64: np.ndarray, bn: np.ndarray, cand: np.ndarray
) -> np.ndarray:
    """Float64 cosine of each query row with its candidate bank rows."""
    out = np.empty(cand.shape, dtype=np.float64)
    step = max(1, _RESCORE_BYTES // max(1, cand.shape[1] * b64.shape[1] * 8))
    for start in range(0, len(cand), step):
        rows = slice(start, start + step)
        dots = np.einsum("qdh,qh->qd", b64[cand[rows]], q64[rows])
        out[rows] = dots / (qn[rows, None] * bn[cand[rows]])
    return out


def nearest(queries: np.ndarray, bank: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest bank rows of each query by cosine similarity.

    With ``bank=None`` the queries are their own bank and row i never counts itself.
    Returns ``(indices, similarities)``, both (Q, k), ranked by descending float64 cosine
    similarity with ties broken by ascending index.

    >>> x = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [1.0, 0.0]])
    >>> nearest(x, None, 2)[0]
    array([[3, 1],
           [0, 3],
           [1, 0],
           [0, 1]])
    """
    import faiss

    self_search = bank is None
    q = _as_matrix(queries, "queries")
    b = q if self_search else _as_matrix(bank, "bank")
    if q.shape[1] != b.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} dimensions and the bank {b.shape[1]}")
    available = len(b) - (1 if self_search else 0)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > available:
        raise ValueError(
            f"k={k} needs at least {k + (1 if self_search else 0)} examples, but there are {len(b)}"
        )
    q64 = q.astype(np.float64)
    qn = _norms(q64, "queries")
    b64, bn = (
        (q64, qn) if self_search else (b.astype(np.float64), _norms(b.astype(np.float64), "bank"))
    )
    index = faiss.IndexFlatIP(b.shape[1])
    index.add(np.ascontiguousarray(b64 / bn[:, None], dtype=np.float32))
    q32 = np.ascontiguousarray(q64 / qn[:, None], dtype=np.float32)
    # |float32 cosine - float64 cosine| <= H * 2^-24 for unit vectors; doubled for safety.
    slack = 2.0 * (b.shape[1] + 4) * 2.0**-24
    own = 1 if self_search else 0
    depth = min(len(b), k + own + max(8, k // 2))
    out_idx = np.empty((len(q), k), dtype=np.int64)
    out_sim = np.empty((len(q), k), dtype=np.float64)
    pending = np.arange(len(q))
    while pending.size:
        ip32, cand = index.search(q32[pending], depth)
        sims = _rescore(q64[pending], qn[pending], b64, bn, cand)
        if self_search:
            sims[cand == pending[:, None]] = -np.inf
        order = np.lexsort((cand, -sims), axis=-1)
        cand = np.take_along_axis(cand, order, axis=-1)[:, :k]
        sims = np.take_along_axis(sims, order, axis=-1)[:, :k]
        done = np.full(len(pending), True) if depth == len(b) else sims[:, -1] > ip32[:, -1] + slack
        out_idx[pending[done]] = cand[done]
        out_sim[pending[done]] = sims[done]
        pending = pending[~done]
        depth = min(len(b), depth * 2)
    return out_idx, out_sim
