"""Out-of-distribution agreement, and the embeddings it and the representation metrics read."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.options.option import Option, table
from pytest_compressguard.options.values import data_spec, pooling, positive_int


@dataclass(frozen=True)
class OodPart:
    train_data: str | None = None
    ood_data: str | None = None
    ood_k: int = 10
    pooling: str = "cls"
    embedding_output: str = "last_hidden_state"


OPTIONS = table(
    OodPart,
    Option(
        "--train-data",
        "train_data",
        "in-distribution training texts (same formats): the Deep-KNN bank for OOD agreement.",
        data_spec,
        metavar="PATH",
    ),
    Option(
        "--ood-data",
        "ood_data",
        "texts to test for being out of distribution (same formats); needs --train-data.",
        data_spec,
        metavar="PATH",
    ),
    Option(
        "--ood-k",
        "ood_k",
        "Deep-KNN: score = distance to the k-th nearest training embedding.",
        positive_int,
        metavar="K",
    ),
    Option(
        "--pooling",
        "pooling",
        "embedding of a text: cls (the [CLS] vector of the last hidden state) or mean "
        "(masked mean).",
        pooling,
        metavar="cls|mean",
    ),
    Option(
        "--embedding-output",
        "embedding_output",
        "name of the ONNX output holding the last hidden state.",
        metavar="NAME",
    ),
)
