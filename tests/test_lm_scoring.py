"""The streamed teacher-forced pass of an LM pair against torch over each text's full
logits: chunk edges, int8 batches, single-token texts and tokenizer mismatches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pytest_compressguard.core.errors import DataError
from pytest_compressguard.models.causal_lm import load_causal_lm
from pytest_compressguard.models.spec import parse_spec
from pytest_compressguard.tasks.lm_scoring import same_tokens, score_documents
from tests.test_causal_lm_model import TEXTS, tiny_llama


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm-pair")
    return tiny_llama(root / "teacher"), tiny_llama(root / "noisy", noise=0.05)


def by_torch(teacher_dir, student_dir, texts):
    """Per position KL, teacher top-3 and NLLs from each text's own unbatched forward."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(teacher_dir)
    t = AutoModelForCausalLM.from_pretrained(teacher_dir).eval().double()
    s = AutoModelForCausalLM.from_pretrained(student_dir).eval().double()
    kl, top, nll = [], [], []
    for text in texts:
        ids = torch.tensor(tok(text)["input_ids"])[None]
        with torch.inference_mode():
            lt = torch.log_softmax(t(ids).logits[0, :-1], -1)
            ls = torch.log_softmax(s(ids).logits[0, :-1], -1)
        kl.append((lt.exp() * (lt - ls)).sum(-1).numpy())
        top.append(torch.topk(lt, 3).indices.numpy())
        nll.append(-lt.gather(1, ids[0, 1:, None])[:, 0].numpy())
    return np.concatenate(kl), np.concatenate(top), np.concatenate(nll)


@pytest.mark.parametrize("chunk", [2, 3, 512])
def test_streamed_scores_equal_torch_on_full_logits(pair, chunk):
    teacher, student = (load_causal_lm(parse_spec(str(p)), batch_size=3) for p in pair)
    texts = [*TEXTS, "good"]  # "good" has two tokens with [CLS] and [SEP]: one position
    found = score_documents(teacher, student, same_tokens(teacher, student, texts), chunk=chunk)
    kl, top, nll = by_torch(*pair, texts)
    # the models run in float32; the reference in float64
    np.testing.assert_allclose(found.scores.kl, kl, rtol=2e-3, atol=1e-7)
    np.testing.assert_array_equal(found.teacher_top, top)
    np.testing.assert_allclose(found.scores.nll_teacher, nll, rtol=1e-4)
    lengths = [len(teacher.token_ids([t])[0]) - 1 for t in texts]
    assert np.bincount(found.scores.document).tolist() == lengths
    assert np.all(np.diff(found.teacher_top_p, axis=1) <= 0)


def test_an_int8_student_runs_in_its_own_batches(pair):
    teacher = load_causal_lm(parse_spec(str(pair[0])), batch_size=4)
    student = load_causal_lm(parse_spec(f"int8:{pair[0]}"))
    calls = []
    logits = student.logits
    student.logits = lambda chunk: calls.append(len(chunk)) or logits(chunk)
    found = score_documents(teacher, student, same_tokens(teacher, student, TEXTS))
    assert calls == [1, 1, 1, 1]
    assert 0 < found.scores.kl.mean() < 0.05


def test_texts_with_one_token_have_no_position_and_none_at_all_is_an_error(pair):
    teacher = load_causal_lm(parse_spec(str(pair[0])))
    ids = [np.array([5]), np.array([5, 6, 7])]
    found = score_documents(teacher, teacher, ids)
    assert found.scores.document.tolist() == [1, 1]
    assert found.scores.documents == 2
    with pytest.raises(DataError, match="no text has two tokens"):
        score_documents(teacher, teacher, [np.array([5])])


def test_different_tokenizers_are_one_sentence(pair, tmp_path):
    teacher = load_causal_lm(parse_spec(str(pair[0])))
    other = load_causal_lm(parse_spec(str(pair[1])))
    other.token_ids = lambda texts: [np.append(x, 3) for x in teacher.token_ids(texts)]
    with pytest.raises(DataError, match="tokenize text 0 differently"):
        same_tokens(teacher, other, TEXTS)
    other.model.resize_token_embeddings(teacher.vocabulary + 8)
    with pytest.raises(DataError, match=r"vocabularies of \d+ and \d+ tokens"):
        same_tokens(teacher, other, TEXTS)
