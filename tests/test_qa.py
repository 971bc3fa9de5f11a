"""Extractive QA windows and answers against transformers' run_qa post-processing, transcribed
below in its own style (features as dicts, predictions as dicts)."""

from __future__ import annotations

import collections
import json
import random

import numpy as np
import pytest

from pytest_compressguard.models import qa
from tests import tiny

# -- utils_qa.postprocess_qa_predictions (version_2_with_negative=True), as written there ----


def run_qa_postprocess(
    examples,
    features,
    all_start_logits,
    all_end_logits,
    n_best_size=20,
    max_answer_length=30,
    null_score_diff_threshold=0.0,
):
    features_per_example = collections.defaultdict(list)
    for i, feature in enumerate(features):
        features_per_example[feature["example_id"]].append(i)
    all_predictions, scores_diff_json, all_nbest = {}, {}, {}
    for example_index, example in enumerate(examples):
        min_null_prediction = None
        prelim_predictions = []
        for feature_index in features_per_example[example_index]:
            start_logits = all_start_logits[feature_index]
            end_logits = all_end_logits[feature_index]
            offset_mapping = features[feature_index]["offset_mapping"]
            feature_null_score = start_logits[0] + end_logits[0]
            if min_null_prediction is None or min_null_prediction["score"] > feature_null_score:
                min_null_prediction = {
                    "offsets": (0, 0),
                    "score": feature_null_score,
                    "start_logit": start_logits[0],
                    "end_logit": end_logits[0],
                }
            start_indexes = np.argsort(start_logits, kind="stable")[
                -1 : -n_best_size - 1 : -1
            ].tolist()
            end_indexes = np.argsort(end_logits, kind="stable")[-1 : -n_best_size - 1 : -1].tolist()
            for start_index in start_indexes:
                for end_index in end_indexes:
                    if (
                        start_index >= len(offset_mapping)
                        or end_index >= len(offset_mapping)
                        or offset_mapping[start_index] is None
                        or len(offset_mapping[start_index]) < 2
                        or offset_mapping[end_index] is None
                        or len(offset_mapping[end_index]) < 2
                    ):
                        continue
                    if end_index < start_index or end_index - start_index + 1 > max_answer_length:
                        continue
                    prelim_predictions.append(
                        {
                            "offsets": (
                                offset_mapping[start_index][0],
                                offset_mapping[end_index][1],
                            ),
                            "score": start_logits[start_index] + end_logits[end_index],
                            "start_logit": start_logits[start_index],
                            "end_logit": end_logits[end_index],
                        }
                    )
        prelim_predictions.append(min_null_prediction)
        null_score = min_null_prediction["score"]
        predictions = sorted(prelim_predictions, key=lambda x: x["score"], reverse=True)[
            :n_best_size
        ]
        if not any(p["offsets"] == (0, 0) for p in predictions):
            predictions.append(min_null_prediction)
        context = example["context"]
        for pred in predictions:
            offsets = pred.pop("offsets")
            pred["text"] = context[offsets[0] : offsets[1]]
        if len(predictions) == 0 or (len(predictions) == 1 and predictions[0]["text"] == ""):
            predictions.insert(
                0, {"text": "empty", "start_logit": 0.0, "end_logit": 0.0, "score": 0.0}
            )
        scores = np.array([pred.pop("score") for pred in predictions])
        exp_scores = np.exp(scores - np.max(scores))
        probs = exp_scores / exp_scores.sum()
        for prob, pred in zip(probs, predictions, strict=True):
            pred["probability"] = prob
        i = 0
        while predictions[i]["text"] == "":
            i += 1
        best_non_null_pred = predictions[i]
        score_diff = (
            null_score - best_non_null_pred["start_logit"] - best_non_null_pred["end_logit"]
        )
        scores_diff_json[example_index] = float(score_diff)
        all_predictions[example_index] = (
            "" if score_diff > null_score_diff_threshold else best_non_null_pred["text"]
        )
        all_nbest[example_index] = [(p["text"], float(p["probability"])) for p in predictions]
    return all_predictions, scores_diff_json, all_nbest


def run_qa_features(tokenizer, examples, max_length, doc_stride):
    """run_qa's prepare_validation_features (right padding), padded to max_length."""
    tokenized = tokenizer(
        [e["question"].lstrip() for e in examples],
        [e["context"] for e in examples],
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    features = []
    for i in range(len(tokenized["input_ids"])):
        sequence_ids = tokenized.sequence_ids(i)
        features.append(
            {
                "example_id": tokenized["overflow_to_sample_mapping"][i],
                "offset_mapping": [
                    (o if sequence_ids[k] == 1 else None)
                    for k, o in enumerate(tokenized["offset_mapping"][i])
                ],
                "input_ids": tokenized["input_ids"][i],
                "token_type_ids": tokenized["token_type_ids"][i],
                "attention_mask": tokenized["attention_mask"][i],
            }
        )
    return features


# -- data ----------------------------------------------------------------------------------


def contexts(n, seed, words=(8, 60)):
    rng = random.Random(seed)
    vocabulary = tiny.FILLER + tiny.POSITIVE + tiny.NEGATIVE
    out = []
    for _ in range(n):
        text = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(*words)))
        out.append(
            qa.Question(
                question=" " + rng.choice(tiny.FILLER) + " ?", context=text.capitalize() + "."
            )
        )
    return out


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return tiny.tokenizer(tmp_path_factory.mktemp("qa-tok"))


def test_long_contexts_are_cut_into_overlapping_windows_with_their_offsets(tokenizer):
    questions = contexts(12, seed=1, words=(40, 90))
    found = qa.windows(tokenizer, questions, max_length=32, doc_stride=8)
    assert len(found) > len(questions)  # long contexts give several windows
    for w in range(len(found)):
        q = questions[found.question[w]]
        ids, offsets = found.features["input_ids"][w], found.offsets[w]
        assert len(ids) <= 32 and len(offsets) == len(ids)
        for token, offset in zip(ids, offsets, strict=True):
            if offset is not None:  # a context token: its offsets give back its text
                piece = tokenizer.convert_ids_to_tokens(token).removeprefix("##")
                if piece != "[UNK]":  # the final "." is no word of the tiny vocabulary
                    assert q.context[offset[0] : offset[1]].lower() == piece
    for q in range(len(questions)):  # together the windows cover the whole context, in order
        covered = [
            o for w in range(len(found)) if found.question[w] == q for o in found.offsets[w] if o
        ]
        starts = sorted({o[0] for o in covered})
        assert starts[0] == 0 and max(o[1] for o in covered) == len(questions[q].context) - 1 + 1


def test_a_left_padding_tokenizer_puts_the_context_first(tmp_path):
    """run_qa's order when the tokenizer pads on the left: (context, question), the context
    truncated; its tokens are sequence 0 and keep their offsets, the question's do not."""
    left = tiny.tokenizer(tmp_path)
    left.padding_side = "left"
    questions = [qa.Question("  good film", "the plot was dull")]
    found = qa.windows(left, questions, max_length=32, doc_stride=8)
    tokens = left.convert_ids_to_tokens(found.features["input_ids"][0])
    assert tokens == ["[CLS]", "the", "plot", "was", "dull", "[SEP]", "good", "film", "[SEP]"]
    assert found.offsets[0] == [None, (0, 3), (4, 8), (9, 12), (13, 17), None, None, None, None]
    # the best span is "dull" (token 4), not "film" (token 7, in the question)
    starts = np.array([0.0, 0, 0, 0, 5, 0, 0, 9, 0])
    got = qa.answers(questions, found, [starts], [starts])[0]
    assert got.text == "dull"


def test_answers_equal_run_qa_on_random_logits(tokenizer):
    rng = np.random.default_rng(0)
    questions = contexts(25, seed=2, words=(3, 90))
    examples = [{"question": q.question, "context": q.context} for q in questions]
    abstained = set()
    for n_best, longest, threshold in ((20, 30, 0.0), (3, 4, 1.5), (1, 2, -2.0)):
        reference = run_qa_features(tokenizer, examples, max_length=40, doc_stride=10)
        found = qa.windows(tokenizer, questions, max_length=40, doc_stride=10)
        assert [f["example_id"] for f in reference] == found.question
        # logits over each window's own tokens; run_qa's padded tail gets logits far below them
        starts = [rng.normal(size=len(ids)) * 3 for ids in found.features["input_ids"]]
        ends = [rng.normal(size=len(ids)) * 3 for ids in found.features["input_ids"]]
        padded = lambda xs: [np.concatenate([x, np.full(40 - len(x), -1e4)]) for x in xs]  # noqa: E731
        want, odds, nbest = run_qa_postprocess(
            examples, reference, padded(starts), padded(ends), n_best, longest, threshold
        )
        got = qa.answers(
            questions,
            found,
            starts,
            ends,
            n_best=n_best,
            max_answer_length=longest,
            null_threshold=threshold,
        )
        assert [a.text for a in got] == [want[i] for i in range(len(questions))]
        assert [a.null_odds for a in got] == pytest.approx(
            [odds[i] for i in range(len(questions))], abs=1e-12
        )
        for i, a in enumerate(got):
            assert [t for t, _ in a.candidates] == [t for t, _ in nbest[i]]
            assert [p for _, p in a.candidates] == pytest.approx(
                [p for _, p in nbest[i]], abs=1e-12
            )
        abstained |= {a.text == "" for a in got}
    assert abstained == {True, False}  # both decisions were taken


def test_a_question_without_any_valid_span_keeps_run_qas_placeholder(tokenizer):
    questions = [qa.Question("good ?", "Fine.")]
    found = qa.windows(tokenizer, questions, max_length=16, doc_stride=4)
    n = len(found.features["input_ids"][0])
    starts = np.zeros(n)
    ends = np.zeros(n)
    got = qa.answers(questions, found, [starts], [ends], max_answer_length=1, n_best=1)[0]
    # n_best=1 keeps only [CLS]'s null: run_qa then adds its "empty" placeholder (score 0)
    assert [t for t, _ in got.candidates] == ["empty", ""]
    # and its best non-null answer is that placeholder: null odds 0, not above the threshold
    assert got.text == "empty" and got.null_odds == 0.0


# -- data ----------------------------------------------------------------------------------

SQUAD = {
    "version": "v2.0",
    "data": [
        {
            "title": "A",
            "paragraphs": [
                {
                    "context": "Normandy is a region in France.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "Where is Normandy?",
                            "answers": [
                                {"text": "France", "answer_start": 24},
                                {"text": "in France", "answer_start": 21},
                            ],
                            "is_impossible": False,
                        },
                        {
                            "id": "q2",
                            "question": "Who named France?",
                            "answers": [],
                            "plausible_answers": [{"text": "Normandy", "answer_start": 0}],
                            "is_impossible": True,
                        },
                    ],
                }
            ],
        },
        {
            "title": "B",
            "paragraphs": [
                {
                    "context": "Paris is big.",
                    "qas": [
                        {
                            "id": "q3",
                            "question": "What is big?",
                            "answers": [{"text": "Paris", "answer_start": 0}],
                        }
                    ],
                }
            ],
        },
    ],
}


def test_squad_json_jsonl_and_record_lists_read_alike(tmp_path):
    from pytest_compressguard.data.questions import load_questions

    (tmp_path / "dev.json").write_text(json.dumps(SQUAD))
    records = [
        {
            "id": "q1",
            "question": "Where is Normandy?",
            "context": "Normandy is a region in France.",
            "answers": {"text": ["France", "in France"], "answer_start": [24, 21]},
        },
        {
            "id": "q2",
            "question": "Who named France?",
            "context": "Normandy is a region in France.",
            "answers": {"text": [], "answer_start": []},
        },
        {
            "id": "q3",
            "question": "What is big?",
            "context": "Paris is big.",
            "answers": {"text": ["Paris"], "answer_start": [0]},
        },
    ]
    (tmp_path / "dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (tmp_path / "list.json").write_text(json.dumps(records))
    found = [
        load_questions(str(tmp_path / name)) for name in ("dev.json", "dev.jsonl", "list.json")
    ]
    for data in found:
        assert data.ids == ("q1", "q2", "q3")
        assert data.answers == (("France", "in France"), (), ("Paris",))
        assert data.questions[2] == qa.Question("What is big?", "Paris is big.")
    assert len({d.fingerprint for d in found}) == 1
    sample = load_questions(str(tmp_path / "dev.json"), max_examples=2, seed=3)
    assert len(sample) == 2 and len(set(sample.ids)) == 2 and list(sample.ids) == sorted(sample.ids)


def test_bad_qa_data_is_a_clear_error(tmp_path):
    from pytest_compressguard.core.errors import DataError
    from pytest_compressguard.data.questions import load_questions

    broken = json.loads(json.dumps(SQUAD))
    del broken["data"][0]["paragraphs"][0]["qas"][0]["answers"]
    (tmp_path / "broken.json").write_text(json.dumps(broken))
    with pytest.raises(
        DataError, match="is not SQuAD JSON: a question or paragraph lacks 'answers'"
    ):
        load_questions(str(tmp_path / "broken.json"))
    (tmp_path / "flat.jsonl").write_text(
        '{"id": 1, "question": "q", "context": "c", "answers": ["c"]}\n'
    )
    with pytest.raises(DataError, match=r"example 0: answers must be \{\"text\""):
        load_questions(str(tmp_path / "flat.jsonl"))
    (tmp_path / "sst.csv").write_text("text,label\na,b\n")
    with pytest.raises(DataError, match="question-answering data must be SQuAD JSON"):
        load_questions(str(tmp_path / "sst.csv"))
    (tmp_path / "none.jsonl").write_text("\n")
    with pytest.raises(DataError, match="holds no questions"):
        load_questions(str(tmp_path / "none.jsonl"))
