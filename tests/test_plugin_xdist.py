"""The plugin under xdist: the same JSON as a serial run, each model run once per worker."""

from __future__ import annotations

import json

import pytest

from tests.test_plugin import run_gate


def flat(metrics):
    """knn_sweep's {"k": value} spread into knn_sweep/k keys, for pytest.approx."""
    out = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    for name, values in metrics.items():
        if isinstance(values, dict):
            out.update({f"{name}/{k}": v for k, v in values.items()})
    return out


COUNT_ENCODES = """
import os
import time
from pytest_compressguard.models.base import BatchedModel

_original = BatchedModel.encode

def _counting(self, texts, **kwargs):
    time.sleep(0.5)  # long enough for both workers to need the teacher at once
    with open(os.environ["COMPRESSGUARD_TEST_CALLS"], "a") as log:
        log.write(self.spec.text + "\\n")
    return _original(self, texts, **kwargs)

def pytest_configure(config):
    BatchedModel.encode = _counting

def pytest_unconfigure(config):
    BatchedModel.encode = _original
"""


def test_xdist_gives_the_same_json(pytester, tiny_models, tmp_path, monkeypatch):
    pytest.importorskip("xdist")
    plain, spread = tmp_path / "plain.json", tmp_path / "xdist.json"
    calls = tmp_path / "calls.txt"
    monkeypatch.setenv("COMPRESSGUARD_TEST_CALLS", str(calls))
    pytester.makeconftest(COUNT_ENCODES)
    students = (str(tiny_models.student), str(tiny_models.onnx))
    run_gate(
        pytester,
        tiny_models,
        *students,
        extra=[
            f"--compressguard-json={plain}",
            f"--compressguard-html={tmp_path / 'plain.html'}",
            f"--compressguard-cache-dir={tmp_path / 'a'}",
            "--compressguard-pairwise",
        ],
    ).assert_outcomes(passed=6)
    calls.unlink()
    result = run_gate(  # a cache of its own: the workers compute, not read the plain run's
        pytester,
        tiny_models,
        *students,
        extra=[
            f"--compressguard-json={spread}",
            f"--compressguard-html={tmp_path / 'xdist.html'}",
            f"--compressguard-cache-dir={tmp_path / 'b'}",
            "--compressguard-pairwise",
            "-n",
            "2",
        ],
    )
    result.assert_outcomes(passed=6)
    # both workers need the teacher: the file lock lets one compute it, the other reads it;
    # the controller's pairwise table reads every model's outputs from the cache
    assert sorted(calls.read_text().split()) == sorted([str(tiny_models.teacher), *students])
    a, b = json.loads(plain.read_text()), json.loads(spread.read_text())
    assert list(a) == list(b) == ["version", "comparisons", "pairwise"]
    assert a["pairwise"] == b["pairwise"]
    assert (tmp_path / "plain.html").read_text() == (tmp_path / "xdist.html").read_text()
    assert [c["student"] for c in b["comparisons"]] == list(students)  # command-line order
    key = lambda c: c["student"]  # noqa: E731
    for x, y in zip(
        sorted(a["comparisons"], key=key), sorted(b["comparisons"], key=key), strict=True
    ):
        assert flat(x["metrics"]) == pytest.approx(flat(y["metrics"]), abs=1e-9)
        assert [c["metric"] for c in x["checks"]] == [c["metric"] for c in y["checks"]]
        assert set(x["ci"]) == set(y["ci"])  # the bootstrap is seeded: the same intervals
        for name, bounds in x["ci"].items():
            assert bounds == pytest.approx(y["ci"][name], abs=1e-9), name
        for extra in ("per_class", "confusion_matrix", "mcnemar"):
            assert x[extra] == y[extra]
    result.stdout.fnmatch_lines(["*= compressguard =*"])
