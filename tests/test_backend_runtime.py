"""Each backend reports the runtime that runs it: latency measured through the engine records
onnxruntime for ONNX graphs (classifiers and question answerers) and torch for PyTorch models,
and an ONNX question answerer is measured without importing torch."""

from __future__ import annotations

import json
import os

import pytest
import torch

from pytest_compressguard.core.types import Question
from pytest_compressguard.engine import efficiency
from pytest_compressguard.models.deferred import DeferredModel, describe
from pytest_compressguard.models.qa_models import load_qa_model
from pytest_compressguard.models.resolve import load_model
from tests import tiny
from tests.test_qa_models import export
from tests.test_torch_free import run_torch_free

QUESTIONS = [Question("what", "the film was good"), Question("what is it", "a long day")]
TEXTS = ["a good film", "the worst day"]


@pytest.fixture(scope="module")
def onnx_qa(tmp_path_factory):
    """A tiny question-answering BERT exported to ONNX, its tokenizer beside the graph."""
    root = tmp_path_factory.mktemp("qa-runtime")
    checkpoint = tiny.train_qa(root / "model", layers=1, hidden=16, steps=5, seed=0)
    (root / "onnx").mkdir()
    return export(checkpoint, root / "onnx" / "model.onnx")


def session_threads(model):
    return model.session.get_session_options().intra_op_num_threads or os.cpu_count()


def test_an_onnx_question_answerer_runs_on_onnxruntime(onnx_qa):
    model = load_qa_model(str(onnx_qa))
    latency = efficiency.measure_latency(model, QUESTIONS, 2)
    assert latency.runtime == "onnxruntime"
    assert latency.threads == session_threads(model)  # one window per call: no workers
    assert model.runtime() == ("onnxruntime", latency.threads)
    found = efficiency.footprint(model)
    assert (found.size_bytes, found.measured_from) == (onnx_qa.stat().st_size, "files")


def test_an_onnx_question_answerer_is_measured_without_torch(onnx_qa):
    out = run_torch_free(
        f"""
        from pytest_compressguard.core.types import Question
        from pytest_compressguard.engine import efficiency
        from pytest_compressguard.models.qa_models import load_qa_model

        model = load_qa_model({str(onnx_qa)!r})
        efficiency.footprint(model)
        print(efficiency.measure_latency(model, [Question("what", "a good film")], 1).runtime)
        """
    )
    assert out.split() == ["onnxruntime"]


def test_the_classifiers_report_their_runtimes(tiny_models):
    onnx = load_model(str(tiny_models.onnx))
    latency = efficiency.measure_latency(onnx, TEXTS, 1)
    assert (latency.runtime, latency.threads) == ("onnxruntime", session_threads(onnx))
    for spec in (str(tiny_models.teacher), f"int8:{tiny_models.teacher}"):
        latency = efficiency.measure_latency(load_model(spec), TEXTS, 1)
        assert (latency.runtime, latency.threads) == ("torch", torch.get_num_threads()), spec


def test_a_deferred_model_reports_its_loaded_models_runtime_and_its_recorded_footprint(
    tiny_models,
):
    onnx = load_model(str(tiny_models.onnx))
    description = json.loads(
        json.dumps(describe(onnx, onnx.fingerprint(), lambda: efficiency.footprint(onnx)))
    )
    loads = []

    def load():
        loads.append(1)
        return onnx

    deferred = DeferredModel(onnx.spec, description, load)
    assert efficiency.footprint(deferred) == efficiency.footprint(onnx)
    assert loads == []  # the footprint is the recorded one: nothing loaded
    latency = efficiency.measure_latency(deferred, TEXTS, 1)
    assert (latency.runtime, latency.threads) == ("onnxruntime", session_threads(onnx))
