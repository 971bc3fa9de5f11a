"""The causal-LM example's JSON against an independent computation with transformers.

Run ``bash scripts/llm_example.sh`` first. Each model is loaded here by transformers alone
(the safetensors teacher, the GGUF file through ``gguf_file=``, the re-quantized copy, and
torch's dynamic int8 of the teacher); each document and each choice runs alone (no padding,
no batches), KL is torch's ``kl_div`` on float64 log-softmax, greedy continuations are
arg-max steps of full forward passes, and the choices are scored as lm-evaluation-harness
does (tests/lm_reference.py). Prints every metric, ours and the reference's, and the largest
relative difference.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import lm_reference as ref  # noqa: E402

BUILD = ROOT / "examples" / "llm" / "build"
PROMPT, GENERATE, MAX_LENGTH = 32, 16, 128


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    report = json.loads((BUILD / "report.json").read_text())
    with (BUILD / "docs.csv").open() as f:
        texts = [row["text"] for row in csv.DictReader(f)]
    rows = [json.loads(line) for line in (BUILD / "cloze.jsonl").read_text().splitlines()]
    labels = [r["label"] for r in rows]
    tok = AutoTokenizer.from_pretrained(BUILD / "smollm2")
    teacher = ref.load(BUILD / "smollm2")
    gguf = (BUILD / "smollm2.gguf").resolve()
    students = {
        "smollm2.gguf": lambda: AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name
        ).eval(),
        "smollm2-q4": lambda: ref.load(BUILD / "smollm2-q4"),
        "int8:": lambda: ref.load(BUILD / "smollm2", int8=True),
    }
    start = time.perf_counter()
    models = {key: make() for key, make in students.items()}
    want_docs = ref.document_metrics_of(teacher, models, tok, texts, PROMPT, GENERATE, MAX_LENGTH)
    p_teacher = ref.choice_probabilities(teacher, tok, rows, MAX_LENGTH)
    worst = {"token": 0.0, "choice": 0.0}
    for key, model in models.items():
        p_student = ref.choice_probabilities(model, tok, rows, MAX_LENGTH)
        want_mc = ref.choice_metrics(p_teacher, p_student, labels)
        for eval_set, expected, kind in (
            ("docs", want_docs[key], "token"),
            ("cloze", want_mc, "choice"),
        ):
            (record,) = [
                c
                for c in report["comparisons"]
                if key in c["student"] and c["eval_set"] == eval_set
            ]
            for name, value in expected.items():
                ours = record["metrics"][name]
                rel = abs(ours - value) / max(abs(value), 1e-12) if ours != value else 0.0
                worst[kind] = max(worst[kind], rel)
                print(f"{key:14} {eval_set:6} {name:22} ours {ours:.6f}  reference {value:.6f}"
                      f"  rel {rel:.1e}")  # fmt: skip
    print(f"checked in {time.perf_counter() - start:.0f} s")
    print(f"largest relative difference: token metrics {worst['token']:.1e}, "
          f"choice metrics {worst['choice']:.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
