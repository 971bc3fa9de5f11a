"""Size, parameters and latency: measured, recorded, gated."""

from __future__ import annotations

import json
import time

import pytest
import torch

from pytest_compressguard.core.types import Encoded
from pytest_compressguard.engine import efficiency
from pytest_compressguard.models.resolve import load_model
from tests.test_plugin import reference_footprint, run_gate


class Sleepy:
    """A Model stand-in whose call takes a known time."""

    def __init__(self, seconds: float) -> None:
        self.missing: dict[str, str] = {}
        self.seconds = seconds
        self.calls: list[int] = []

    def encode(self, texts, *, probabilities=True, embeddings=True):
        self.calls.append(len(texts))
        time.sleep(self.seconds)
        return Encoded(None, None)


def test_latency_is_the_median_of_timed_calls_after_warm_up():
    model = Sleepy(0.004)
    found = efficiency.measure_latency(model, ["a", "b", "c"], 32)
    assert efficiency.MIN_RUNS <= found.runs <= efficiency.MAX_RUNS
    assert len(model.calls) == efficiency.WARMUP + found.runs
    assert set(model.calls) == {32}  # the texts are cycled up to the batch size
    assert 4.0 <= found.median_ms < 40.0
    assert found.runtime == "torch" and found.threads == torch.get_num_threads()
    with pytest.raises(ValueError, match="no texts"):
        efficiency.measure_latency(model, [], 1)


def test_the_footprint_of_files_and_of_an_in_memory_int8_model(tiny_models):
    teacher = efficiency.footprint(load_model(str(tiny_models.teacher)))
    assert (teacher.size_bytes, teacher.parameters) == reference_footprint(tiny_models.teacher)
    assert teacher.measured_from == "files"
    onnx = efficiency.footprint(load_model(str(tiny_models.onnx)))
    assert (onnx.size_bytes, onnx.parameters) == reference_footprint(tiny_models.onnx)
    int8 = efficiency.footprint(load_model(f"int8:{tiny_models.teacher}"))
    assert int8.measured_from == "memory"
    assert int8.parameters == teacher.parameters  # the same tensors, stored in int8
    from transformers import AutoModelForSequenceClassification

    float_model = AutoModelForSequenceClassification.from_pretrained(tiny_models.teacher)
    linear = sum(m.weight.numel() for m in float_model.modules() if isinstance(m, torch.nn.Linear))
    total = sum(p.numel() for p in float_model.parameters())
    assert int8.size_bytes == linear * 1 + (total - linear) * 4  # int8 weights, float rest


def test_size_and_speed_gates_through_the_plugin(pytester, tiny_models, tmp_path):
    out = tmp_path / "out.json"
    source = """
def test_smaller(guard):
    guard.assert_size_ratio(max=0.5)

def test_not_much_slower(guard):
    guard.assert_speedup(min=0.01)

def test_faster_batched(guard):
    guard.assert_speedup(min=1000, batch=32)
"""
    result = run_gate(
        pytester,
        tiny_models,
        f"int8:{tiny_models.teacher}",
        source=source,
        extra=[f"--compressguard-json={out}"],
    )
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * AssertionError: compressguard: speedup at batch 32 = * is below the minimum "
            "1000.0000",
            "E *  one call on 32 texts: teacher * ms (torch, * threads), student * ms (torch, * "
            "threads); medians of * and * timed calls after warm-up",
            # no test asked for a prediction metric: no model pass over the data, no loyalty
            "int8:*: *x smaller, *x faster at batch 1, *x faster at batch 32",
            "FAILED int8:*: speedup at batch 32 = *, needs >= 1000 *",
        ]
    )
    record = json.loads(out.read_text())["comparisons"][0]
    metrics = record["metrics"]
    assert metrics["size_ratio"] == metrics["student_size_bytes"] / metrics["teacher_size_bytes"]
    assert metrics["size_ratio"] < 0.5
    latency = record["efficiency"]["latency"]
    assert set(latency["teacher"]) == set(latency["student"]) == {"1", "32"}
    for batch in ("1", "32"):
        t, s = latency["teacher"][batch], latency["student"][batch]
        assert t["batch"] == s["batch"] == int(batch)
        assert t["runs"] >= efficiency.MIN_RUNS and t["median_ms"] > 0
        assert record["efficiency"]["speedup"][batch] == t["median_ms"] / s["median_ms"]
    checks = {c["test"].split("::")[1].split("[")[0]: c for c in record["checks"]}
    assert checks["test_faster_batched"]["batch"] == 32
    assert "k" not in checks["test_faster_batched"]
    assert checks["test_not_much_slower"]["batch"] == 1


def test_a_bad_batch_is_a_clear_error(tiny_models):
    from pytest_compressguard import Comparison

    guard = Comparison.from_arrays(None, None, None)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        guard.assert_speedup(min=1.0, batch=0)
