"""Tiny BERT classifiers and data built in seconds, for tests (no network, no shared data)."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

POSITIVE = ["good", "great", "fine", "lovely", "superb", "nice"]
NEGATIVE = ["bad", "awful", "poor", "terrible", "dull", "grim"]
FILLER = [
    "the",
    "a",
    "movie",
    "film",
    "plot",
    "cast",
    "was",
    "is",
    "really",
    "quite",
    "very",
    "and",
    "story",
    "acting",
    "music",
    "ending",
    "but",
    "so",
]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PIECES = ["##ly", "##s"]  # so that a word can split into sub-words ("goodly" = good ##ly)
LABELS = {0: "negative", 1: "positive"}
PAIR_LABELS = {0: "contradiction", 1: "entailment"}


def sentence(rng: random.Random) -> tuple[str, int]:
    """A few filler words and one or two sentiment words; the label is the last one's."""
    words = [rng.choice(FILLER) for _ in range(rng.randint(2, 6))]
    label = rng.randint(0, 1)
    if rng.random() < 0.3:  # a distractor of the other polarity, earlier in the sentence
        words.insert(rng.randint(0, len(words)), rng.choice(NEGATIVE if label else POSITIVE))
    words.append(rng.choice(POSITIVE if label else NEGATIVE))
    words += [rng.choice(FILLER) for _ in range(rng.randint(0, 2))]
    return " ".join(words), label


def examples(n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [sentence(rng) for _ in range(n)]


def ood_texts(n: int, seed: int) -> list[str]:
    """Texts unlike the task: unknown words (the tokenizer's [UNK]) or filler words only."""
    rng = random.Random(seed)
    unknown = ["zebra", "quantum", "tariff", "volcano", "senate", "enzyme", "orbit", "ledger"]
    return [
        " ".join(rng.choice(unknown if i % 2 else FILLER) for _ in range(rng.randint(3, 8)))
        for i in range(n)
    ]


def write_csv(path: Path, rows: list[tuple[str, int]], names: bool = True) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for text, label in rows:
            writer.writerow([text, LABELS[label] if names else label])
    return path


def tokenizer(folder: Path):
    import inspect

    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + POSITIVE + NEGATIVE + FILLER + PIECES) + "\n")
    # transformers 5 names the argument ``vocab``; 4.x named it ``vocab_file``
    key = (
        "vocab"
        if "vocab" in inspect.signature(BertTokenizerFast.__init__).parameters
        else ("vocab_file")
    )
    return BertTokenizerFast(**{key: str(vocab)}, do_lower_case=True)


def _config(tok, *, layers: int, hidden: int, positions: int = 32, **extra):
    """A small BertConfig over the tokenizer's vocabulary."""
    from transformers import BertConfig

    return BertConfig(
        vocab_size=tok.vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden,
        max_position_embeddings=positions,
        **extra,
    )


def _train(model, tok, folder: Path, steps: int, loss) -> Path:
    """AdamW (lr 3e-3) on ``loss(step)`` for each step, then save model and tokenizer."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        loss(step).backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def train_classifier(
    folder: Path,
    *,
    layers: int,
    hidden: int,
    steps: int,
    seed: int,
    id2label: dict[int, str] | None = None,
    pairs: bool = False,
) -> Path:
    """Train a random-init BERT on the generated task (with ``pairs``, the pair task of
    :func:`pair_examples`, each pair encoded as the tokenizer encodes a pair) and save it with
    its tokenizer."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    tok = tokenizer(folder)
    names = id2label or (PAIR_LABELS if pairs else LABELS)
    config = _config(
        tok,
        layers=layers,
        hidden=hidden,
        num_labels=2,
        id2label=names,
        label2id={v: k for k, v in names.items()},
    )
    model = BertForSequenceClassification(config)
    data = pair_examples(steps * 16, seed) if pairs else examples(steps * 16, seed)

    def loss(step: int):
        chunk = data[step * 16 : (step + 1) * 16]
        columns = list(zip(*chunk, strict=True))
        batch = tok(*(list(c) for c in columns[:-1]), padding=True, return_tensors="pt")
        return model(**batch, labels=torch.tensor(columns[-1])).loss

    return _train(model, tok, folder, steps, loss)


def export_onnx(hf_dir: Path, folder: Path) -> Path:
    """The model as ONNX (output ``logits``) with its tokenizer and config beside it."""
    from pytest_compressguard.models.compress import export_onnx as export
    from pytest_compressguard.models.hf import HFClassifier
    from pytest_compressguard.models.spec import parse_spec

    folder.mkdir(parents=True, exist_ok=True)
    model = HFClassifier(parse_spec(str(hf_dir)))
    export(model, folder / "model.onnx")
    model.tokenizer.save_pretrained(folder)
    (folder / "config.json").write_text(json.dumps(model.config.to_dict()))
    return folder


def train_mlm(folder: Path, *, steps: int = 150, seed: int = 0) -> Path:
    """A 1-layer BertForMaskedLM over the task's vocabulary, trained on generated sentences
    (15% of the words masked), saved with its tokenizer: the attack's masked LM."""
    import torch
    from transformers import BertForMaskedLM

    torch.manual_seed(seed)
    tok = tokenizer(folder)
    model = BertForMaskedLM(_config(tok, layers=1, hidden=32))
    data = [t for t, _ in examples(steps * 16, seed + 1000)]
    generator = torch.Generator().manual_seed(seed)

    def loss(step: int):
        batch = tok(data[step * 16 : (step + 1) * 16], padding=True, return_tensors="pt")
        labels = batch["input_ids"].clone()
        special = torch.tensor(
            [tok.get_special_tokens_mask(row, already_has_special_tokens=True) for row in labels]
        ).bool()
        chosen = (torch.rand(labels.shape, generator=generator) < 0.15) & ~special
        labels[~chosen] = -100
        inputs = batch["input_ids"].masked_fill(chosen, tok.mask_token_id)
        return model(input_ids=inputs, attention_mask=batch["attention_mask"], labels=labels).loss

    return _train(model, tok, folder, steps, loss)


def pair_examples(n: int, seed: int) -> list[tuple[str, str, int]]:
    """(text, pair, label): one sentiment word in the first text and two in the second; the
    label is the majority polarity of the three, so when the second text's words split, the
    first text decides: a label that needs both texts."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        polarities = [rng.randint(0, 1) for _ in range(3)]
        texts = []
        for polar in (polarities[:1], polarities[1:]):
            words = [rng.choice(FILLER) for _ in range(rng.randint(1, 4))]
            for p in polar:
                words.insert(rng.randint(0, len(words)), rng.choice(POSITIVE if p else NEGATIVE))
            texts.append(" ".join(words))
        rows.append((texts[0], texts[1], int(sum(polarities) >= 2)))
    return rows


def write_pairs(path: Path, rows: list[tuple[str, str, int]], columns=("premise", "hypothesis")):
    """Pairs as CSV/TSV (by suffix), JSONL or a JSON list; labels as names."""
    records = [{columns[0]: a, columns[1]: b, "label": PAIR_LABELS[y]} for a, b, y in rows]
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    elif path.suffix == ".json":
        path.write_text(json.dumps(records), encoding="utf-8")
    else:
        with path.open("w", newline="", encoding="utf-8") as handle:
            delimiter = "," if path.suffix == ".csv" else "\t"
            writer = csv.DictWriter(handle, [*columns, "label"], delimiter=delimiter)
            writer.writeheader()
            writer.writerows(records)
    return path


QA_MARKER = "was"


def qa_examples(n: int, seed: int, words: tuple[int, int] = (4, 14)) -> list[tuple[str, str, str]]:
    """(question, context, answer): the answer is the word after the marker "was"; a context
    without the marker makes the question unanswerable (answer "")."""
    rng = random.Random(seed)
    vocabulary = [w for w in FILLER + POSITIVE + NEGATIVE if w != QA_MARKER]
    rows = []
    for _ in range(n):
        context = [rng.choice(vocabulary) for _ in range(rng.randint(*words))]
        answer = ""
        if rng.random() < 0.6:
            at = rng.randint(0, len(context) - 1)
            answer = context[at]
            context.insert(at, QA_MARKER)
        rows.append((rng.choice(["what", "what is it"]), " ".join(context), answer))
    return rows


def train_qa(folder: Path, *, layers: int, hidden: int, steps: int, seed: int) -> Path:
    """A random-init BertForQuestionAnswering trained on :func:`qa_examples` (an unanswerable
    question points at [CLS]), saved with its tokenizer."""
    import torch
    from transformers import BertForQuestionAnswering

    torch.manual_seed(seed)
    tok = tokenizer(folder)
    model = BertForQuestionAnswering(_config(tok, layers=layers, hidden=hidden, positions=64))
    data = qa_examples(steps * 16, seed)

    def loss(step: int):
        chunk = data[step * 16 : (step + 1) * 16]
        batch = tok(
            [q for q, _, _ in chunk],
            [c for _, c, _ in chunk],
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        starts, ends = [], []
        for i, (_, context, answer) in enumerate(chunk):
            position = 0
            if answer:
                marker = context.split().index(QA_MARKER)
                begin = len(" ".join(context.split()[: marker + 1])) + 1
                ids = batch.sequence_ids(i)
                position = next(
                    t
                    for t, (o, s) in enumerate(
                        zip(batch["offset_mapping"][i].tolist(), ids, strict=True)
                    )
                    if s == 1 and o[0] == begin
                )
            starts.append(position)
            ends.append(position)
        batch.pop("offset_mapping")
        return model(
            **batch, start_positions=torch.tensor(starts), end_positions=torch.tensor(ends)
        ).loss

    return _train(model, tok, folder, steps, loss)


def write_squad(path: Path, rows: list[tuple[str, str, str]], title: str = "tiny") -> Path:
    """SQuAD 2.0 JSON: one paragraph per row, question ids q0, q1, ...; an empty answer makes
    the question unanswerable (no answers, ``is_impossible``)."""
    paragraphs = []
    for i, (question, context, answer) in enumerate(rows):
        answers = [{"text": answer, "answer_start": context.index(answer)}] if answer else []
        paragraphs.append(
            {
                "context": context,
                "qas": [
                    {
                        "id": f"q{i}",
                        "question": question,
                        "answers": answers,
                        "is_impossible": not answer,
                    }
                ],
            }
        )
    path.write_text(
        json.dumps({"version": "v2.0", "data": [{"title": title, "paragraphs": paragraphs}]})
    )
    return path


def write_qa_jsonl(path: Path, rows: list[tuple[str, str, str]], answers: bool = True) -> Path:
    """QA records as JSONL (``id``, ``question``, ``context`` and, with ``answers``, the
    ``squad_v2`` layout of answers)."""
    with path.open("w") as out:
        for i, (question, context, answer) in enumerate(rows):
            record = {"id": f"r{i}", "question": question, "context": context}
            if answers:
                record["answers"] = {
                    "text": [answer] if answer else [],
                    "answer_start": [context.index(answer)] if answer else [],
                }
            out.write(json.dumps(record) + "\n")
    return path
