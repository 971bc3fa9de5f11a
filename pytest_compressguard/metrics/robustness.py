"""Robustness to adversarial attack (Li et al. 2020, BERT-Attack; Rai et al. §6; Xu et al. 2021).

Inputs are per-example arrays over the attacked examples: ``labels`` (gold), ``before`` (the
prediction on the original text), ``after`` (the prediction on the adversarial text; for an
example that was not attacked or not broken, the prediction on the text it ends with) and
``success`` (the attack changed a correct prediction).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def attack_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Share of examples predicted correctly: before the attack (``predicted=before``) or
    after it (``predicted=after``).

    >>> attack_accuracy(np.array([0, 1, 1]), np.array([0, 1, 0]))
    0.6666666666666666
    """
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    if labels.size == 0:
        raise ValueError("no attacked examples")
    return float(np.mean(labels == predicted))


def attack_drop(before: float, after: float) -> float:
    """Relative accuracy drop (before - after) / before: the paper's "% change" as a fraction.

    >>> attack_drop(0.9, 0.45)
    0.5
    """
    if before <= 0:
        raise ValueError("the model gets no attacked example right, so its drop is undefined")
    return (before - after) / before


def success_rate(labels: np.ndarray, before: np.ndarray, success: np.ndarray) -> float:
    """Share of the attacked examples (those predicted correctly before) whose attack succeeds.

    >>> success_rate(np.array([0, 1, 1]), np.array([0, 1, 0]), np.array([True, False, False]))
    0.5
    """
    correct = np.asarray(labels) == np.asarray(before)
    if not correct.any():
        raise ValueError("the model gets no attacked example right: nothing was attacked")
    return float(np.asarray(success)[correct].mean())


def transfer_rate(
    labels: np.ndarray,
    teacher_success: np.ndarray,
    student_before: np.ndarray,
    student_on_teacher_adversarial: np.ndarray,
) -> float:
    """Share of the teacher's successful adversarial examples that also fool the student, among
    those whose original text the student classifies correctly.

    ``student_on_teacher_adversarial[i]`` is the student's prediction on the teacher's
    adversarial text of example i (only read where ``teacher_success``).

    >>> transfer_rate(np.array([1, 1, 1]), np.array([True, True, False]),
    ...               np.array([1, 1, 1]), np.array([0, 1, 1]))
    0.5
    """
    labels = np.asarray(labels)
    usable = np.asarray(teacher_success) & (np.asarray(student_before) == labels)
    if not usable.any():
        raise ValueError(
            "no adversarial example of the teacher can be transferred (the teacher's attack "
            "never succeeded on an example the student gets right)"
        )
    return float(np.mean(np.asarray(student_on_teacher_adversarial)[usable] != labels[usable]))


def perturbed_share(words_changed: np.ndarray, words: np.ndarray, success: np.ndarray) -> float:
    """Mean share of words changed, over the successful attacks.

    >>> perturbed_share(np.array([1, 2, 0]), np.array([10, 4, 5]), np.array([True, True, False]))
    0.3
    """
    success = np.asarray(success)
    if not success.any():
        raise ValueError("no attack succeeded, so no adversarial example has changed words")
    return float(np.mean(np.asarray(words_changed)[success] / np.asarray(words)[success]))


def pair_attack_metric(attack: Any, name: str) -> float:
    """An attack metric of the catalogue from both models' attack results (a
    :class:`~pytest_compressguard.inputs.PairAttack`): ``{model}_attack_{what}``,
    ``attack_drop_gap``, ``transfer_rate`` or ``attack_success_rate``."""
    if name == "attack_success_rate":
        return pair_attack_metric(attack, "student_attack_success_rate")
    if name == "attack_drop_gap":
        return pair_attack_metric(attack, "student_attack_drop") - pair_attack_metric(
            attack, "teacher_attack_drop"
        )
    if name == "transfer_rate":
        t = attack.arrays("teacher")
        return transfer_rate(
            t["label"], t["success"], attack.arrays("student")["before"], attack.transferred
        )
    model, _, what = name.partition("_attack_")
    x = attack.arrays(model)
    before = attack_accuracy(x["label"], x["before"])
    after = attack_accuracy(x["label"], x["after"])
    if what == "accuracy_before":
        return before
    if what == "accuracy_after":
        return after
    if what == "drop":
        return attack_drop(before, after)
    if what == "drop_absolute":
        return before - after
    if what == "success_rate":
        return success_rate(x["label"], x["before"], x["success"])
    if what == "perturbed_words":
        return perturbed_share(x["words_changed"], x["words"], x["success"])
    if what != "queries":
        raise KeyError(f"unknown attack metric {name!r}")
    if not x["attacked"].any():
        raise ValueError(f"the {model} gets no attacked example right: nothing was attacked")
    return float(x["queries"][x["attacked"]].mean())
