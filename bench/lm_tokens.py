"""The causal-LM token pass against a plain loop, and its peak memory.

The plain loop is what any script would do: for each batch, the teacher's and the student's
teacher-forced logits, a float64 log-softmax of both over the whole vocabulary, and the mean
KL. The token pass (``tasks.lm_scoring.score_documents``) does the same passes in the same
batches and also keeps per position both NLLs, the top-1 agreement and both models' top 3,
holding at most 512 positions of log-probabilities at once. Both run side by side, alternating,
on SmolLM2-135M (examples/llm/build: run ``bash scripts/llm_example.sh`` first) against its
4-bit copy, on the example's documents repeated to ``--tokens`` scored positions; then the
token pass's peak resident memory over ``--memory`` scored positions is measured alone in a
fresh process (Linux: the peak of the loading is reset before the pass).

    python bench/lm_tokens.py --tokens 20000 [--memory 100000]
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "examples" / "llm" / "build"
MAX_LENGTH = 128


def documents(tokens: int, tokenizer) -> list[str]:
    with (BUILD / "docs.csv").open() as f:
        base = [row["text"] for row in csv.DictReader(f)]
    texts, scored = [], 0
    while scored < tokens:
        for text in base:
            n = len(tokenizer(text, truncation=True, max_length=MAX_LENGTH)["input_ids"]) - 1
            texts.append(text)
            scored += n
            if scored >= tokens:
                break
    return texts


def models():
    from pytest_compressguard.models.causal_lm import load_causal_lm
    from pytest_compressguard.models.spec import parse_spec

    return tuple(
        load_causal_lm(parse_spec(str(BUILD / name)), max_length=MAX_LENGTH)
        for name in ("smollm2", "smollm2-q4")
    )


def plain(teacher, student, ids) -> float:
    """Two forward passes per batch and a float64 KL over the full vocabulary."""
    import torch

    total, count = 0.0, 0
    for batch in teacher.batches(ids):
        chunk = [ids[i] for i in batch]
        for lt, ls in zip(teacher.logits(chunk), student.logits(chunk), strict=True):
            logp_t = torch.log_softmax(torch.from_numpy(lt[:-1]).double(), -1)
            logp_s = torch.log_softmax(torch.from_numpy(ls[:-1]).double(), -1)
            kl = (logp_t.exp() * (logp_t - logp_s)).sum(-1)
            total, count = total + float(kl.sum()), count + len(kl)
    return total / count


def ours(teacher, student, ids) -> float:
    from pytest_compressguard.tasks.lm_scoring import score_documents

    return float(score_documents(teacher, student, ids).scores.kl.mean())


def one(kind: str, tokens: int) -> None:
    """Run one pass alone and print its peak resident memory (a child process)."""
    teacher, student = models()
    ids = teacher.token_ids(documents(tokens, teacher.tokenizer))
    Path("/proc/self/clear_refs").write_text("5")  # the peak so far (the load's) forgotten
    loaded = _status("VmRSS")
    (ours if kind == "ours" else plain)(teacher, student, ids)
    print(f"{_status('VmHWM') / 2**20:.2f} {loaded / 2**20:.2f}")


def _status(field: str) -> int:
    """A /proc/self/status memory figure in KiB."""
    line = next(
        x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field)
    )
    return int(line.split()[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--memory", type=int, default=100_000)
    parser.add_argument("--one", choices=("ours", "plain"))
    args = parser.parse_args()
    if args.one:
        return one(args.one, args.memory)
    import torch

    teacher, student = models()
    ids = teacher.token_ids(documents(args.tokens, teacher.tokenizer))
    positions = sum(len(x) - 1 for x in ids)
    times: dict[str, list[float]] = {"ours": [], "plain": []}
    for _ in range(2):
        for name, run in (("plain", plain), ("ours", ours)):
            start = time.perf_counter()
            kl = run(teacher, student, ids)
            times[name].append(time.perf_counter() - start)
            print(f"{name}: {times[name][-1]:.1f} s, mean KL {kl:.6f}", flush=True)
    best = {name: min(t) for name, t in times.items()}
    print(
        f"{positions} positions of {len(ids)} texts, {torch.get_num_threads()} threads: "
        f"token pass {best['ours']:.1f} s, plain loop {best['plain']:.1f} s, "
        f"ratio {best['ours'] / best['plain']:.3f}"
    )
    for kind in ("ours",) if args.memory else ():
        out = subprocess.run(
            [sys.executable, __file__, "--one", kind, "--memory", str(args.memory)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        peak, loaded = float(out[-2]), float(out[-1])
        print(f"{kind}: peak resident memory {peak:.2f} GiB during the pass over {args.memory} "
              f"scored positions, {loaded:.2f} GiB resident before it (both models and "
              "the token ids)")  # fmt: skip


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
