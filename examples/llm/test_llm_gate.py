"""A causal-LM gate: token-level fidelity on documents, answer-level on a cloze set."""

import pytest


@pytest.mark.compressguard(data="docs")
def test_predicts_the_next_token_like_the_teacher(guard):
    guard.assert_token_kl(max=0.1)
    guard.assert_token_kl_p99(max=1.0)
    guard.assert_top1_agreement(min=0.85)
    guard.assert_perplexity_ratio(max=1.05)
    guard.assert_generation_agreement(min=0.5)


@pytest.mark.compressguard(data="cloze")
def test_answers_like_the_teacher(guard):
    guard.assert_label_loyalty(min=0.9)
    guard.assert_flips(max=0.1)
    guard.assert_accuracy_drop(max=0.05)
