"""kNN agreement at N = 20,000, H = 384: the plugin's FAISS path against brute-force numpy.

Both paths find, for every example, its k nearest other examples by cosine similarity (ties by
index) under a teacher's and a student's embeddings, and the mean Jaccard index of the two sets.

- faiss: ``knn_sets`` + ``set_jaccard`` of ``pytest_compressguard.metrics.representation``
  (IndexFlatIP candidates, float64 rescoring; never an N x N matrix).
- numpy: float64 cosine similarities of a block of 256 rows against all N rows at a time, top k
  by (similarity, index).

Each path runs in its own child process, so that its peak RSS is its own; the figure printed is
the peak RSS above the process's RSS once the embeddings are in memory. The embeddings are
synthetic but shaped like sentence embeddings: clustered, with a large shared component (BERT
[CLS] vectors are anisotropic: most pairs have cosine similarity far above 0). The student's are
the teacher's, perturbed and partly re-mixed.

    python bench/knn.py [--n 20000] [--dim 384] [--k 10]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def embeddings(n: int, dim: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shared = 4.0 * rng.normal(size=dim)
    centres = rng.normal(size=(50, dim)) * 1.5
    teacher = shared + centres[rng.integers(0, 50, size=n)] + rng.normal(size=(n, dim))
    mix = np.eye(dim) + 0.3 * rng.normal(size=(dim, dim)) / np.sqrt(dim)
    student = teacher @ mix + 0.8 * rng.normal(size=(n, dim))
    return teacher.astype(np.float32), student.astype(np.float32)


def numpy_sets(x: np.ndarray, k: int, block: int = 256) -> np.ndarray:
    """Brute force: blockwise float64 cosine against all rows, top k by (-cos, index)."""
    x64 = x.astype(np.float64)
    unit = x64 / np.linalg.norm(x64, axis=1, keepdims=True)
    n = len(x)
    out = np.empty((n, k), dtype=np.int64)
    for start in range(0, n, block):
        rows = np.arange(start, min(n, start + block))
        sims = unit[rows] @ unit.T
        sims[np.arange(len(rows)), rows] = -np.inf
        top = np.argpartition(-sims, k, axis=1)[:, : k + 1]
        for r, row in enumerate(rows):
            boundary = np.sort(sims[r, top[r]])[::-1][k - 1]
            cand = np.flatnonzero(sims[r] >= boundary)  # every row tied at the boundary
            ranked = cand[np.lexsort((cand, -sims[r, cand]))]
            out[row] = ranked[:k]
    return out


def child(path: str, n: int, dim: int, k: int, out: Path) -> None:
    from pytest_compressguard.metrics.representation import knn_sets, set_jaccard

    teacher, student = embeddings(n, dim)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB, embeddings loaded
    start = time.perf_counter()
    find = knn_sets if path == "faiss" else numpy_sets
    t_sets, s_sets = find(teacher, k), find(student, k)
    jaccard = set_jaccard(t_sets, s_sets)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(out / f"{path}-teacher.npy", t_sets)
    np.save(out / f"{path}-student.npy", s_sets)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_above_embeddings_mib": (peak - baseline) / 1024,
                "embeddings_mib": (teacher.nbytes + student.nbytes) / 2**20,
                "agreement": float(jaccard.mean()),
                "variance": float(jaccard.var()),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--child", choices=("faiss", "numpy"))
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n, args.dim, args.k, Path(args.out))
        return
    out = Path(tempfile.mkdtemp())
    results = {}
    for path in ("faiss", "numpy"):
        command = [sys.executable, __file__, "--child", path, "--out", str(out)]
        command += ["--n", str(args.n), "--dim", str(args.dim), "--k", str(args.k)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        results[path] = json.loads(done.stdout.strip().splitlines()[-1])
    same = all(
        np.array_equal(np.load(out / f"faiss-{m}.npy"), np.load(out / f"numpy-{m}.npy"))
        for m in ("teacher", "student")
    )
    f, b = results["faiss"], results["numpy"]
    print(f"kNN agreement, N={args.n}, H={args.dim}, k={args.k} (teacher and student sets)")
    print(f"{'path':<8}{'seconds':>10}{'peak RSS above embeddings (MiB)':>34}{'agreement':>12}")
    for name, r in results.items():
        print(
            f"{name:<8}{r['seconds']:>10.2f}{r['peak_above_embeddings_mib']:>34.0f}"
            f"{r['agreement']:>12.6f}"
        )
    print(f"embeddings themselves: {f['embeddings_mib']:.0f} MiB")
    print(f"identical neighbour sets: {same}")
    print(f"time ratio faiss / numpy: {f['seconds'] / b['seconds']:.3f}")
    print(
        f"faiss peak above embeddings: {f['peak_above_embeddings_mib']:.0f} MiB "
        f"(target < 1024 MiB): {'ok' if f['peak_above_embeddings_mib'] < 1024 else 'OVER'}"
    )
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
