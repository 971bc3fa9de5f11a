"""A promotion gate: may a compressed copy of the teacher replace it?

Run by scripts/demo.sh with the teacher, three int8 students and the demo's dev set.
"""

from pytest_compressguard import assert_error_overlap


def test_student_makes_the_teachers_mistakes(guard):
    assert_error_overlap(guard, min=0.6)


def test_student_is_loyal(guard):
    guard.assert_label_loyalty(min=0.9)
    guard.assert_probability_loyalty(min=0.85)
    guard.assert_accuracy_drop(max=0.03)


def test_student_does_not_flip_much(guard):
    guard.assert_flips(max=0.1)
    guard.assert_kl_divergence(max=0.05)


def test_student_sees_the_data_like_the_teacher(guard):
    guard.assert_knn_agreement(min=0.7, k=10)
    guard.assert_cka(min=0.9)


def test_student_flags_the_same_inputs_as_unfamiliar(guard):
    guard.assert_ood_agreement(min=0.5)


def test_student_is_not_significantly_worse(guard):
    guard.assert_label_loyalty(min=0.85, confidence=0.95)  # the interval's lower bound decides
    guard.assert_no_significant_accuracy_loss(alpha=0.05)
    guard.assert_worst_class_drop(max=0.05)
    guard.assert_ece_increase(max=0.05)


def test_student_is_worth_it(guard):
    guard.assert_size_ratio(max=0.5)
