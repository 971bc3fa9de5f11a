"""Evaluation data: formats, columns, labels, sampling, and the errors for bad input."""

from __future__ import annotations

import json

import pytest

from pytest_compressguard.core.errors import DataError
from pytest_compressguard.data.texts import load_dataset

NAMES = ("negative", "positive")


def test_csv_tsv_jsonl_read_the_same(tmp_path):
    rows = [("good film", "positive"), ('a "quoted", bad one', "negative")]
    (tmp_path / "d.csv").write_text(
        "text,label\n" + "".join(f'"{t.replace(chr(34), 2 * chr(34))}",{y}\n' for t, y in rows)
    )
    (tmp_path / "d.tsv").write_text("text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows))
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in rows)
    )
    loaded = [load_dataset(str(tmp_path / f"d.{ext}")) for ext in ("csv", "tsv", "jsonl")]
    assert {d.texts for d in loaded} == {tuple(t for t, _ in rows)}
    assert len({d.fingerprint for d in loaded}) == 1
    assert list(loaded[0].label_indices(NAMES, 2)) == [1, 0]


def test_renamed_columns_and_integer_labels(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"sentence": "fine", "y": 1}\n{"sentence": "grim", "y": 0}\n')
    data = load_dataset(str(path), text_column="sentence", label_column="y")
    assert list(data.label_indices(NAMES, 2)) == [1, 0]
    assert list(data.label_indices(None, 2)) == [1, 0]


def test_label_names_are_matched_before_indices(tmp_path):
    path = tmp_path / "stars.csv"
    path.write_text("text,label\na,1\nb,5\n")
    stars = ("1", "2", "3", "4", "5")
    assert list(load_dataset(str(path)).label_indices(stars, 5)) == [0, 4]
    # names that do not cover every label: the labels are read as indices
    assert list(load_dataset(str(path)).label_indices(("a", "b", "c", "d", "e", "f"), 6)) == [1, 5]


def test_case_insensitive_names(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\na,POSITIVE\nb,Negative\n")
    assert list(load_dataset(str(path)).label_indices(NAMES, 2)) == [1, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,label\n", "holds no examples"),
        (
            "sentence,label\nx,1\n",
            r"has no column 'text' \(columns: sentence, label\); name the "
            "right one with --text-column",
        ),
        ("text,gold\nx,1\n", "--label-column"),
        ("text,label\nx,\n", "example 0 has no"),
    ],
)
def test_bad_files(tmp_path, content, message):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        load_dataset(str(path))


@pytest.mark.parametrize("label", ["neutral", "2", "-1", "1.0"])
def test_unknown_labels(tmp_path, label):
    path = tmp_path / "d.csv"
    path.write_text(f"text,label\nx,positive\ny,{label}\n")
    with pytest.raises(
        DataError, match=rf"label '{label}' in .*example 1.* not one of the teacher"
    ):
        load_dataset(str(path)).label_indices(NAMES, 2)


def test_names_mixed_with_indices(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nx,positive\ny,0\n")
    with pytest.raises(DataError, match="mix class names and indices"):
        load_dataset(str(path)).label_indices(NAMES, 2)


def test_bad_jsonl_and_missing_file(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": 1}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not JSON"):
        load_dataset(str(path))
    with pytest.raises(DataError, match="no such file"):
        load_dataset(str(tmp_path / "absent.csv"))


def test_max_examples_is_a_seeded_sample_in_file_order(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{i % 2}\n" for i in range(100)))
    a = load_dataset(str(path), max_examples=10, seed=3)
    b = load_dataset(str(path), max_examples=10, seed=3)
    c = load_dataset(str(path), max_examples=10, seed=4)
    assert a == b and a.texts != c.texts and len(a) == 10
    positions = [int(t[1:]) for t in a.texts]
    assert positions == sorted(positions)
    assert load_dataset(str(path), max_examples=500) == load_dataset(str(path))


def test_hf_spec_without_datasets_or_network_is_one_sentence(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_datasets(name, *args, **kwargs):
        if name == "datasets":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_datasets)
    with pytest.raises(DataError, match=r"needs the datasets package: pip install "):
        load_dataset("hf:glue:sst2:validation")
