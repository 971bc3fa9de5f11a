"""Evaluation data: CSV, TSV (GLUE's, SICK's .txt), JSONL, a JSON list of records or a
Hugging Face dataset -> Dataset of texts or text pairs."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from pytest_compressguard.core.errors import DataError
from pytest_compressguard.core.fingerprints import rows_fingerprint
from pytest_compressguard.core.types import Text

FORMATS = (".csv", ".tsv", ".txt", ".jsonl", ".json")


@dataclass(frozen=True)
class Dataset:
    """Texts (or text pairs) and their gold labels, as written in the source (a name or an
    index).

    ``fingerprint`` is the SHA-256 of the rows and ``texts_fingerprint`` that of the texts
    alone, so two specs with the same texts share model outputs. ``labels`` is None for data
    read without labels; ``unlabelled`` then says why.
    """

    spec: str
    texts: tuple[Text, ...]
    labels: tuple[str, ...] | None
    fingerprint: str
    unlabelled: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    @cached_property
    def texts_fingerprint(self) -> str:
        """SHA-256 of the texts alone: the key of the model outputs computed on them."""
        return rows_fingerprint(self.texts, None)

    def label_indices(self, names: Sequence[str] | None, num_labels: int) -> np.ndarray:
        """Gold labels as indices into a model's label set.

        Labels are read as class names when every one of them is a name of ``names``;
        otherwise each must be an integer index in ``[0, num_labels)``.
        """
        if self.labels is None:
            raise DataError(self.unlabelled or f"{self.spec} has no gold labels")
        lowered = {name.lower(): i for i, name in enumerate(names or ())}
        by_name = [lowered.get(label.lower()) for label in self.labels]
        by_index = [_index(label, num_labels) for label in self.labels]
        if names is not None and None not in by_name:
            return np.array(by_name, dtype=np.int64)
        if None not in by_index:
            return np.array(by_index, dtype=np.int64)
        known = ", ".join(names) if names else f"indices 0..{num_labels - 1}"
        for row, (label, name, index) in enumerate(
            zip(self.labels, by_name, by_index, strict=True)
        ):
            if name is None and index is None:
                raise DataError(
                    f"label {label!r} in {self.spec} (example {row}) is not one of the "
                    f"teacher's labels ({known})"
                )
        raise DataError(
            f"the labels of {self.spec} mix class names and indices; use one kind ({known})"
        )


def _index(label: str, num_labels: int) -> int | None:
    """The label as a class index, or None when it is no integer in range."""
    try:
        index = int(label)
    except ValueError:
        return None
    return index if 0 <= index < num_labels and str(index) == label else None


def read_json(path: Path) -> Any:
    """A JSON file's document, with one-sentence errors (missing, not UTF-8, not JSON)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} is not JSON ({exc.msg}, line {exc.lineno})") from None


def json_records(path: Path, document: Any) -> list[dict]:
    """A JSON document that must be a list of objects, one per example."""
    if not isinstance(document, list) or not all(isinstance(row, dict) for row in document):
        raise DataError(f"{path}: expected a JSON list of objects (one per example)")
    return document


def read_rows(path: Path) -> tuple[list[dict], list[str]]:
    """The records of a CSV, TSV (.tsv, .txt), JSONL or JSON-list file and their columns."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        rows = json_records(path, read_json(path))
        return rows, list(dict.fromkeys(key for row in rows for key in row))
    try:
        if suffix == ".jsonl":
            rows = []
            with path.open(encoding="utf-8") as handle:
                for lineno, line in enumerate(handle, 1):
                    if not line.strip():
                        continue
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise DataError(f"{path}: line {lineno} is not JSON ({exc.msg})") from None
                    if not isinstance(row, dict):
                        raise DataError(f"{path}: line {lineno} is not a JSON object")
                    rows.append(row)
            columns = list(dict.fromkeys(key for row in rows for key in row))
            return rows, columns
        with path.open(encoding="utf-8", newline="") as handle:
            if suffix in (".tsv", ".txt"):
                reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            else:
                reader = csv.DictReader(handle)
            rows = list(reader)
            return rows, list(reader.fieldnames or [])
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text") from None


def read_hf(spec: str, split_spec: str) -> tuple[list[dict], list[str]]:
    """The rows and column names of ``hf:DATASET[:CONFIG]:SPLIT`` (the datasets extra)."""
    parts = split_spec.split(":")
    name, config, split = (parts[0], None, parts[1]) if len(parts) == 2 else parts
    try:
        import datasets
    except ImportError:
        raise DataError(
            f"{spec} needs the datasets package: pip install 'pytest-compressguard[datasets]'"
        ) from None
    try:
        data = datasets.load_dataset(name, config, split=split)
    except Exception as exc:  # datasets raises many types: offline, unknown, bad split
        first_line = str(exc).splitlines()[0] if str(exc) else ""
        raise DataError(
            f"cannot load {spec}: {type(exc).__name__}: {first_line} "
            "(Hugging Face datasets need a network or a local cache)"
        ) from None
    columns = list(data.column_names)
    return [dict(row) for row in data], columns


def read_table(spec: str) -> tuple[list[dict], list[str]]:
    """The rows and columns of a data file or ``hf:`` split (one sentence when it has none)."""
    if spec.startswith("hf:"):
        rows, columns = read_hf(spec, spec[3:])
    else:
        path = Path(spec).expanduser()
        if path.suffix.lower() not in FORMATS:
            raise DataError(f"{spec}: unknown data format; expected one of {', '.join(FORMATS)}")
        rows, columns = read_rows(path)
    if not rows:
        raise DataError(f"{spec} holds no examples")
    return rows, columns


def load_dataset(
    spec: str,
    *,
    text_column: str = "text",
    pair_column: str | None = None,
    label_column: str | None = "label",
    max_examples: int | None = None,
    seed: int = 0,
    labels: str = "required",
) -> Dataset:
    """Read examples (text pairs with ``pair_column``); with ``max_examples``, keep a seeded
    sample in file order.

    ``labels``: ``"required"`` (a missing label column is an error), ``"optional"`` (read them
    when the column exists: prediction metrics then say they are missing) or ``"ignored"``.
    """
    if labels not in ("required", "optional", "ignored"):
        raise ValueError(f"labels must be required, optional or ignored, got {labels!r}")
    rows, columns = read_table(spec)
    if text_column not in columns:
        raise DataError(
            f"{spec} has no column {text_column!r} (columns: {', '.join(columns)}); "
            "name the right one with --text-column"
        )
    if pair_column is not None and pair_column not in columns:
        raise DataError(
            f"{spec} has no column {pair_column!r} (columns: {', '.join(columns)}); "
            "name the second text's column with --text-pair-column"
        )
    missing_labels = (
        f"{spec} has no column {label_column!r} (columns: {', '.join(columns)}); prediction "
        "metrics need gold labels: name the right column with --label-column"
    )
    with_labels = labels != "ignored" and label_column in columns
    if labels == "required" and not with_labels:
        raise DataError(missing_labels)
    texts: list[Text] = []
    golds = []
    for row_number, row in enumerate(rows):
        text = row.get(text_column)
        pair = row.get(pair_column) if pair_column is not None else ""
        label = row.get(label_column) if with_labels else ""
        if (
            text is None
            or pair is None
            or label is None
            or (with_labels and str(label).strip() == "")
        ):
            column = text_column if text is None else pair_column if pair is None else label_column
            raise DataError(f"{spec}: example {row_number} has no {column!r}")
        texts.append((str(text), str(pair)) if pair_column is not None else str(text))
        golds.append(str(label).strip())
    if max_examples is not None and max_examples < len(texts):
        keep = np.sort(np.random.default_rng(seed).choice(len(texts), max_examples, replace=False))
        texts = [texts[i] for i in keep]
        golds = [golds[i] for i in keep]
    gold = tuple(golds) if with_labels else None
    return Dataset(
        spec=spec,
        texts=tuple(texts),
        labels=gold,
        fingerprint=rows_fingerprint(texts, gold),
        unlabelled="" if with_labels else missing_labels,
    )
