"""Multiple-choice sets: lm-evaluation-harness's prompt/continuation split, the reader's
one-sentence errors, and the class distribution over a row's choices."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import rel_entr, softmax

from pytest_compressguard.core.errors import DataError
from pytest_compressguard.data.choices import load_choices, split
from pytest_compressguard.metrics import tokens
from pytest_compressguard.metrics.prediction import kl_per_example


def words(text):
    """A word-level encoder: each space-led word is a token (as GPT-2's BPE treats " word")."""
    vocab = {}
    out = []
    for piece in text.replace(" ", "\0 ").split("\0"):
        if piece:
            out.append(vocab.setdefault(piece, hash(piece) % 1000))
    return out


def test_trailing_spaces_move_to_the_continuation():
    context, continuation = split("The answer is ", "Paris", words)
    assert context == words("The answer is")
    assert continuation == words("The answer is Paris")[len(context) :]
    assert continuation == [hash(" Paris") % 1000]  # " Paris", not "Paris"


def test_the_continuation_is_the_whole_past_the_context_even_when_tokens_merge():
    def merging(text):  # "ab" is one token, so the context's last token merges away
        return [ord(c) for c in text.replace("ab", "\x01")]

    context, continuation = split("xa", "b", merging)
    assert context == [ord("x"), ord("a")]
    assert continuation == []  # lm-evaluation-harness's slice, past len(context)
    context, continuation = split("x", "ab", merging)
    assert continuation == [1]


def write(tmp_path, rows, name="mc.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_a_set_reads_from_jsonl_and_csv(tmp_path):
    rows = [
        {"text": "Sky is", "choices": [" blue", " green"], "label": 1},
        {"text": "Two and two", "choices": [" four", " five", " six"], "label": 0},
    ]
    data = load_choices(write(tmp_path, rows))
    assert data.prompts == ("Sky is", "Two and two")
    assert data.choices == ((" blue", " green"), (" four", " five", " six"))
    assert data.labels.tolist() == [1, 0]
    csv_path = tmp_path / "mc.csv"
    csv_path.write_text(
        'text,choices,label\nSky is,"["" blue"", "" green""]",1\n'
        'Two and two,"["" four"", "" five"", "" six""]",0\n'
    )
    assert load_choices(str(csv_path)).fingerprint == data.fingerprint
    rows[0]["label"] = 0
    assert load_choices(write(tmp_path, rows, "other.jsonl")).fingerprint != data.fingerprint


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"text": "a", "choices": "b c", "label": 0}, "'choices' is not a JSON list of strings"),
        ({"text": "a", "choices": [1, 2], "label": 0}, "'choices' is not a list of strings"),
        ({"text": "a", "choices": ["b"], "label": 0}, "fewer than two choices"),
        ({"text": "a", "choices": ["b", "c"], "label": 2}, "not the index of one of its 2"),
        ({"text": "a", "choices": ["b", "c"], "label": -1}, "not the index of one of its 2"),
        ({"text": " ", "choices": ["b", "c"], "label": 0}, "has an empty 'text'"),
        ({"prompt": "a", "choices": ["b", "c"], "label": 0}, "no column 'text'"),
    ],
)
def test_bad_rows_are_one_sentence(tmp_path, row, message):
    with pytest.raises(DataError, match=message):
        load_choices(write(tmp_path, [row]))


def test_choice_probabilities_are_a_softmax_padded_with_zeros():
    rows = [np.array([-3.0, -1.0]), np.array([-2.0, -2.5, -9.0])]
    probs = tokens.choice_probabilities(rows)
    assert probs.shape == (2, 3)
    np.testing.assert_allclose(probs[0], [*softmax(rows[0]), 0.0])
    np.testing.assert_allclose(probs[1], softmax(rows[1]))
    # a padded choice adds nothing to KL and is never the top class
    other = tokens.choice_probabilities([np.array([-1.0, -3.0]), np.array([-2.0, -2.0, -2.0])])
    kl = kl_per_example(probs, other)
    expected = rel_entr(softmax(rows[0]), softmax([-1.0, -3.0])).sum()
    assert kl[0] == pytest.approx(expected, rel=1e-9)
    assert probs.argmax(axis=1).tolist() == [1, 0]
