"""The causal-LM backend on tiny Llama models built here: logits of padded batches equal
each text's own forward pass, greedy continuations equal transformers' generate, an
identical student scores KL 0 and a noisy one more, and a .gguf file without the extra is
one sentence."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from pytest_compressguard.core.errors import ModelLoadError, ModelSpecError
from pytest_compressguard.metrics import tokens
from pytest_compressguard.models.causal_lm import load_causal_lm
from pytest_compressguard.models.spec import parse_spec
from tests import tiny

TEXTS = ["a good film", "the worst day of all", "good", "a film that was dull and long"]


def llama_config(tok, **extra):
    """A small LlamaConfig over the tokenizer's vocabulary."""
    from transformers import LlamaConfig

    settings = {
        "vocab_size": tok.vocab_size,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "max_position_embeddings": 64,
    }
    return LlamaConfig(**{**settings, **extra})


def tiny_llama(folder, *, seed=0, noise=0.0):
    """A 2-layer Llama over tiny's vocabulary, random weights (plus ``noise``), saved."""
    from transformers import LlamaForCausalLM

    tok = tiny.tokenizer(folder)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(llama_config(tok, pad_token_id=tok.pad_token_id)).eval()
    if noise:
        g = torch.Generator().manual_seed(seed + 1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g) * noise)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def llamas(tmp_path_factory):
    root = tmp_path_factory.mktemp("llama")
    return (
        tiny_llama(root / "teacher"),
        tiny_llama(root / "copy"),
        tiny_llama(root / "noisy", noise=0.05),
    )


def load(folder, **kwargs):
    return load_causal_lm(parse_spec(str(folder)), **kwargs)


def test_padded_batches_give_each_text_its_own_logits(llamas):
    from transformers import AutoModelForCausalLM

    lm = load(llamas[0], batch_size=4)
    ids = lm.token_ids(TEXTS)
    reference = AutoModelForCausalLM.from_pretrained(llamas[0]).eval()
    for text_ids, got in zip(ids, lm.logits(ids), strict=True):
        with torch.inference_mode():
            alone = reference(torch.tensor(text_ids)[None]).logits[0].numpy()
        assert got.shape == (len(text_ids), lm.vocabulary)
        np.testing.assert_allclose(got, alone, atol=1e-5)


def test_token_ids_are_the_tokenizers_default_truncated(llamas):
    lm = load(llamas[0], max_length=4)
    ids = lm.token_ids(TEXTS)
    assert [x.tolist() for x in ids] == [
        lm.tokenizer(t, truncation=True, max_length=4)["input_ids"] for t in TEXTS
    ]
    assert max(len(x) for x in ids) == 4


def scores(teacher, student, texts=TEXTS):
    ids = teacher.token_ids(texts)
    parts = []
    for d, (lt, ls) in enumerate(zip(teacher.logits(ids), student.logits(ids), strict=True)):
        found = tokens.position_scores(
            tokens.log_softmax(lt[:-1]), tokens.log_softmax(ls[:-1]), ids[d][1:]
        )
        parts.append((*found, np.full(len(ids[d]) - 1, d)))
    columns = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    return tokens.PositionScores(*columns[:4], document=columns[4], documents=len(texts))


def test_an_identical_student_has_kl_zero_and_noise_raises_it(llamas):
    teacher, same, noisy = (load(f) for f in llamas)
    exact = tokens.statistics(scores(teacher, same))
    assert exact["token_kl"].value() == 0.0
    assert exact["top1_agreement"].value() == 1.0
    assert exact["perplexity_ratio"].value() == 1.0
    moved = tokens.statistics(scores(teacher, noisy))
    assert moved["token_kl"].value() > 1e-3
    assert moved["perplexity_ratio"].value() != 1.0


def test_int8_runs_one_text_at_a_time_and_stays_close(llamas):
    teacher, student = load(llamas[0]), load(f"int8:{llamas[0]}")
    assert [list(b) for b in student.batches(TEXTS)] == [[0], [1], [2], [3]]
    assert student.fingerprint() == "int8:" + teacher.fingerprint()
    assert student.fingerprint() != teacher.fingerprint()
    kl = tokens.statistics(scores(teacher, student))["token_kl"].value()
    assert 0.0 < kl < 0.05


def test_greedy_continuations_equal_arg_max_steps_in_a_batch(llamas):
    from transformers import AutoModelForCausalLM

    lm = load(llamas[2], batch_size=2)
    reference = AutoModelForCausalLM.from_pretrained(llamas[2]).eval()
    prompts = np.stack([x[:3] for x in lm.token_ids(["the worst day", "a good film", "bad a b"])])
    got = lm.greedy(prompts, 6)
    assert got.shape == (3, 6)
    for row, prompt in enumerate(prompts):  # by hand: append each step's arg-max token
        ids = torch.tensor(prompt)[None]
        with torch.inference_mode():
            for _ in range(6):
                ids = torch.cat([ids, reference(ids).logits[:, -1].argmax(-1, keepdim=True)], 1)
        assert got[row].tolist() == ids[0, len(prompt) :].tolist(), row


def test_hidden_means_average_the_last_hidden_state_over_tokens(llamas):
    from transformers import AutoModelForCausalLM

    lm = load(llamas[0], batch_size=3)
    ids = lm.token_ids(TEXTS)
    got = lm.hidden_means(ids)
    reference = AutoModelForCausalLM.from_pretrained(llamas[0]).eval()
    for row, text_ids in zip(got, ids, strict=True):
        with torch.inference_mode():
            states = reference(torch.tensor(text_ids)[None], output_hidden_states=True)
        np.testing.assert_allclose(row, states.hidden_states[-1][0].mean(0).numpy(), atol=1e-5)


def test_a_gguf_file_without_the_extra_is_one_sentence(tmp_path, monkeypatch):
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    spec = parse_spec(str(path))
    assert spec.kind == "gguf"
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a)
    )
    with pytest.raises(ModelLoadError, match=r"needs the gguf (and accelerate )?packages?: pip"):
        load_causal_lm(spec)


def test_other_files_are_still_refused(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"x")
    with pytest.raises(ModelSpecError, match=r"neither an \.onnx nor a \.gguf file"):
        parse_spec(str(path))
    path.with_suffix(".gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelLoadError, match="a causal language model is"):
        load_causal_lm(parse_spec(f"onnx-int8:{path.with_suffix('.gguf')}"))


def test_a_tied_output_embedding_counts_once(tmp_path):
    from transformers import LlamaForCausalLM

    tok = tiny.tokenizer(tmp_path)
    config = llama_config(tok, num_hidden_layers=1, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    assert model.lm_head.weight is model.model.embed_tokens.weight
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    lm = load(tmp_path)
    unique = {id(p): p.numel() for p in lm.model.parameters()}  # parameters() dedupes
    assert lm.footprint().parameters == sum(unique.values())


def test_a_gguf_file_is_no_classifier(tmp_path):
    from pytest_compressguard.models.resolve import load_model

    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF")
    for spec in (str(path), f"int8:{path}"):
        with pytest.raises(ModelLoadError, match="is a GGUF file, which holds a causal language"):
            load_model(spec)
