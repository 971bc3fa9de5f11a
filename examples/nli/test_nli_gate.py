"""A promotion gate for a compressed NLI (or paraphrase) model, on an in-domain dev set and an
adversarial challenge set. Run it on your own models (see README.md):

    pytest examples/nli --teacher=./nli-teacher --student=./nli-distil \
        --student=onnx-int8:./nli-teacher \
        --eval-data=dev=sick_test.tsv --eval-data=advglue=advglue_mnli.jsonl \
        --text-column=sentence_A --text-pair-column=sentence_B --label-column=entailment_label
"""

import pytest


def test_student_agrees_with_the_teacher(guard):
    """Every student, on every eval set."""
    guard.assert_label_loyalty(min=0.85, confidence=0.95)
    guard.assert_accuracy_drop(max=0.03)
    guard.assert_negative_flip_rate(max=0.05)


def test_student_sees_the_pairs_like_the_teacher(guard):
    guard.assert_knn_agreement(min=0.5, k=10)
    guard.assert_cka(min=0.9)


@pytest.mark.compressguard(data="advglue")
def test_student_is_not_more_fragile(guard):
    """Only on the adversarial set: the student may not lose more than the teacher there."""
    guard.assert_accuracy_drop(max=0.05)
    guard.assert_error_overlap(min=0.5)


def test_student_is_worth_it(guard):
    guard.assert_size_ratio(max=0.5)
