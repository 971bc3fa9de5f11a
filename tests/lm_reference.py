"""Independent computations of the causal-LM metrics with transformers and torch: each
text's own forward pass, torch's KL, greedy decoding by arg-max steps, and
lm-evaluation-harness's multiple-choice scoring transcribed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch

from tests import tiny
from tests.test_causal_lm_model import tiny_llama

#: The options every LM gate of the tests runs with (the tiny Llamas know 64 positions).
OPTIONS = ("--max-length=40", "--prompt-tokens=6", "--generate-tokens=4")
PROMPT, GENERATE, MAX_LENGTH = 6, 4, 40


def documents(n: int, seed: int) -> list[str]:
    """Texts of 1 to 14 words of the tiny vocabulary (3 to 16 tokens with [CLS] and [SEP])."""
    rng = random.Random(seed)
    words = tiny.FILLER + tiny.POSITIVE + tiny.NEGATIVE
    return [" ".join(rng.choice(words) for _ in range(rng.randint(1, 14))) for _ in range(n)]


def choices(n: int, seed: int) -> list[dict]:
    """Multiple-choice rows: a prompt, two to four continuations, the right one's index."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        prompt = " ".join(rng.choice(tiny.FILLER) for _ in range(rng.randint(2, 6)))
        k = rng.randint(2, 4)
        options = [" " + rng.choice(tiny.POSITIVE + tiny.NEGATIVE) for _ in range(k)]
        options[rng.randrange(k)] += " " + rng.choice(tiny.FILLER)  # one of two tokens
        rows.append(
            {"text": prompt + rng.choice(["", " "]), "choices": options, "label": rng.randrange(k)}
        )
    return rows


def build(root: Path) -> dict[str, Path]:
    """The teacher, an identical copy, a noisy student, a documents CSV and an MC JSONL."""
    found = {
        "teacher": tiny_llama(root / "teacher"),
        "copy": tiny_llama(root / "copy"),
        "noisy": tiny_llama(root / "noisy", noise=0.05),
    }
    docs = root / "docs.csv"
    tiny.write_csv(docs, [(t, 0) for t in documents(40, seed=5)])
    mc = root / "mc.jsonl"
    mc.write_text("".join(json.dumps(r) + "\n" for r in choices(30, seed=6)))
    return {**found, "docs": docs, "mc": mc}


def load(folder, int8: bool = False):
    """A causal LM loaded by transformers (``int8``: torch's dynamic int8 of every Linear)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    if int8:
        model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    return model


def _logp(model, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        logits = model(torch.tensor([ids])).logits[0]
    return torch.log_softmax(logits.double(), dim=-1)


def document_metrics(
    t, s, tok, texts, prompt=PROMPT, generate=GENERATE, max_length=MAX_LENGTH
) -> dict[str, float]:
    """token_kl, token_kl_p99, top1_agreement, perplexity_ratio and generation_agreement of
    the loaded pair ``t``, ``s`` on ``texts`` (tokenized by ``tok``), each text run alone."""
    return document_metrics_of(t, {"s": s}, tok, texts, prompt, generate, max_length)["s"]


def document_metrics_of(
    t, students, tok, texts, prompt=PROMPT, generate=GENERATE, max_length=MAX_LENGTH
) -> dict[str, dict[str, float]]:
    """:func:`document_metrics` of the teacher against each of ``students`` (by name), the
    teacher run once per text."""
    found = {name: {"kl": [], "same": [], "nll": [], "gen": []} for name in students}
    nll_t = []
    for text in texts:
        ids = tok(text, truncation=True, max_length=max_length)["input_ids"]
        lt = _logp(t, ids)[:-1]
        target = torch.tensor(ids[1:])[:, None]
        nll_t.extend((-lt.gather(1, target)[:, 0]).tolist())
        long_enough = len(ids) >= prompt
        t_gen = greedy(t, ids[:prompt], generate) if long_enough else None
        for name, s in students.items():
            ls, f = _logp(s, ids)[:-1], found[name]
            kl = torch.nn.functional.kl_div(ls, lt, log_target=True, reduction="none").sum(-1)
            f["kl"].extend(kl.tolist())
            f["same"].extend((lt.argmax(-1) == ls.argmax(-1)).tolist())
            f["nll"].extend((-ls.gather(1, target)[:, 0]).tolist())
            if long_enough:
                f["gen"].append(t_gen == greedy(s, ids[:prompt], generate))
    return {
        name: {
            "token_kl": float(np.mean(f["kl"])),
            "token_kl_p99": float(np.percentile(f["kl"], 99)),
            "top1_agreement": float(np.mean(f["same"])),
            "perplexity_ratio": float(np.exp(np.mean(f["nll"]) - np.mean(nll_t))),
            "generation_agreement": float(np.mean(f["gen"])),
        }
        for name, f in found.items()
    }


def greedy(model, prompt: list[int], generate: int = GENERATE) -> list[int]:
    """``generate`` arg-max steps after ``prompt``, each a full forward pass over the text so
    far (no cache: a dynamically quantized model's numbers depend on what one call holds)."""
    ids = list(prompt)
    for _ in range(generate):
        ids.append(int(_logp(model, ids)[-1].argmax()))
    return ids[len(prompt) :]


def choice_probabilities(model, tok, rows, max_length=MAX_LENGTH) -> np.ndarray:
    """lm-evaluation-harness's loglikelihood of each choice, softmaxed per row (zero-padded)."""

    def enc(text):
        return tok(text, add_special_tokens=False)["input_ids"]

    out = np.zeros((len(rows), max(len(r["choices"]) for r in rows)))
    for i, row in enumerate(rows):
        scores = []
        for choice in row["choices"]:
            context, continuation = row["text"], choice
            n_spaces = len(context) - len(context.rstrip())
            if n_spaces > 0:
                continuation = context[-n_spaces:] + continuation
                context = context[:-n_spaces]
            whole, context_enc = enc(context + continuation), enc(context)
            continuation_enc = whole[len(context_enc) :]
            inp = (context_enc + continuation_enc)[-(max_length + 1) :][:-1]
            logp = _logp(model, inp)[-len(continuation_enc) :]
            scores.append(float(logp[torch.arange(len(continuation_enc)), continuation_enc].sum()))
        e = np.exp(np.array(scores) - max(scores))
        out[i, : len(scores)] = e / e.sum()
    return out


def choice_metrics(p_teacher: np.ndarray, p_student: np.ndarray, labels) -> dict[str, float]:
    """label_loyalty, accuracy_drop and flips of two models' choice distributions."""
    labels = np.asarray(labels)
    pred_t, pred_s = p_teacher.argmax(1), p_student.argmax(1)
    right_t, right_s = pred_t == labels, pred_s == labels
    return {
        "label_loyalty": float((pred_t == pred_s).mean()),
        "accuracy_drop": float(right_t.mean() - right_s.mean()),
        "flips": float((right_t != right_s).mean()),
    }
