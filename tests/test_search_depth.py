"""The search beyond operator groups: dropping layers, parameter bytes, ONNX teachers, McNemar."""

from __future__ import annotations

import json

import pytest

from pytest_compressguard.search.requirements import parse


def inert_top_teacher(source, target):
    """The teacher with its top layer made a no-op: its attention output and feed-forward
    out matrices zero and the layer norms around it plain (scale 1, shift 0), so it hands on
    the normalized states it reads."""
    import shutil

    import torch
    from transformers import AutoModelForSequenceClassification

    shutil.copytree(source, target)
    model = AutoModelForSequenceClassification.from_pretrained(source).eval()
    below, top = model.bert.encoder.layer
    with torch.no_grad():
        for linear in (top.attention.output.dense, top.output.dense):
            linear.weight.zero_()
            linear.bias.zero_()
        for norm in (below.output.LayerNorm, top.attention.output.LayerNorm, top.output.LayerNorm):
            norm.weight.fill_(1.0)
            norm.bias.zero_()
    model.save_pretrained(target)
    return target


def test_an_inert_top_layer_is_dropped_and_a_working_one_kept(pytester, tiny_models, tmp_path):
    import numpy as np
    import onnx

    from pytest_compressguard.models import load_model
    from pytest_compressguard.search.tune import search, split, summary, write_student
    from tests import tiny

    texts = [t for t, _ in tiny_models.dev_rows]
    labels = np.array([y for _, y in tiny_models.dev_rows])
    required = [parse("kl_divergence<=0.001")]

    def run(teacher, work):
        model = load_model(str(teacher))
        return search(model, texts, labels, required, work, bootstrap=200, drop_layers=True)

    # a working top layer: dropping it misses even in float32, so the student keeps both
    outcome, _ = run(tiny_models.teacher, tmp_path / "work")
    assert outcome.verified and outcome.best.depth == outcome.layers == 2
    assert [(m.depth, len(m.kept)) for m in outcome.depth_moves] == [(1, 0), (1, 8)]
    assert outcome.evaluations == 3
    assert any(
        "keeping 1 of 2 encoder layers misses kl_divergence<=0.001" in n for n in outcome.notes
    )
    assert summary(outcome)["kept_layers"] == 2
    # an inert one: dropped, and the one-layer student passes the gate on the held-out split
    teacher = inert_top_teacher(tiny_models.teacher, tmp_path / "inert")
    outcome, folder = run(teacher, tmp_path / "work-inert")
    assert outcome.verified and outcome.best.depth == 1 and outcome.best.kept == ()
    assert outcome.best.size_bytes < outcome.all_int8.size_bytes
    described = summary(outcome)
    assert (described["layers"], described["kept_layers"]) == (2, 1)
    assert described["depth_moves"][0]["holds"] == {"kl_divergence<=0.001": True}
    described = {**described, "teacher": str(teacher), "data": "dev.csv", "n": 120}
    student = write_student(outcome.best, folder, tmp_path / "student", described)
    assert json.loads((student / "config.json").read_text())["num_hidden_layers"] == 1
    graph = onnx.load(str(student / "model.onnx")).graph
    assert not any("layer.1/" in node.name for node in graph.node)
    _, held = split(len(tiny_models.dev_rows), 0.5, 0)
    data = tiny.write_csv(tmp_path / "held.csv", [tiny_models.dev_rows[i] for i in held])
    pytester.makepyfile(test_gate="def test_x(guard):\n    guard.assert_kl_divergence(max=0.001)\n")
    page, report = tmp_path / "gate.html", tmp_path / "gate.json"
    pytester.runpytest_inprocess(
        f"--teacher={teacher}",
        f"--student={student}",
        f"--eval-data={data}",
        f"--compressguard-html={page}",
        f"--compressguard-json={report}",
    ).assert_outcomes(passed=1)
    # the gate's report shows how the search found the student
    record = json.loads(report.read_text())["comparisons"][0]
    assert record["search"]["kept_layers"] == 1 and record["search"]["n"] == 120
    shown = page.read_text()
    section = shown[shown.index('<section id="search"><h2>How the student was found</h2>') :]
    assert "<h3>Dropping layers</h3>" in section and "keeps 1 of 2 encoder layers" in section
    assert "A verified student: " in section
    # a summary beside another model than the one it describes is not read
    from pytest_compressguard.report import provenance

    assert provenance.read(str(student / "model.onnx"))["kept_layers"] == 1
    with (student / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    assert provenance.read(str(student)) is None
    assert provenance.read(f"int8:{student}") is None


class _Table:
    """A stand-in for the search's candidates: which (depth, kept groups) pass and what they
    weigh, so the passes' decisions can be checked one by one."""

    def __init__(self, passes, sizes):
        self.passes, self.sizes, self.asked = passes, sizes, []

    def search(self, layers=2):
        from pytest_compressguard.search.evaluate import Measured
        from pytest_compressguard.search.tune import Candidate, Search

        table = self
        found = Search.__new__(Search)
        found.layers, found.max_evaluations, found.evaluations = layers, 50, 0
        found.groups = {"A": [], "B": [], "C": []}
        found.bytes = {"A": 30, "B": 20, "C": 10}
        found.depth_moves = []

        def at(depth):
            return None, {g: [] for g in found.groups if depth == layers or g != "C"}

        made = {}

        def candidate(kept, depth=None):  # built and measured once, as the search's
            depth = layers if depth is None else depth
            key = (depth, frozenset(kept))
            if key not in made:
                table.asked.append(key)
                found.evaluations += 1
                ok = table.passes(depth, set(kept))
                measured = Measured({"r": 0.0}, {"r": 0.0}, {"r": ok})
                size = table.sizes[depth] + sum(found.bytes[g] for g in kept)
                made[key] = Candidate(tuple(sorted(kept)), None, size, measured, depth)
            return made[key]

        found.at, found.candidate = at, candidate
        return found


def test_dropping_a_layer_adds_groups_back_when_it_must():
    """At one layer the full-depth student's groups miss, float32 passes: groups are added
    in score order (those of the dropped layer skipped), then removed largest first."""
    table = _Table(lambda depth, kept: depth == 2 or {"B"} <= kept, {2: 100, 1: 50})
    search = table.search()
    best = search.candidate([], 2)
    notes = []
    found = search._drop_layers(best, ["C", "A", "B"], {"C": 3, "A": 2, "B": 1}, notes)
    assert (found.depth, found.kept) == (1, ("B",)) and notes == []
    assert table.asked[1:] == [
        (1, frozenset()),  # the full-depth groups, at one layer: miss
        (1, frozenset({"A", "B"})),  # every group of one layer: passes, so search
        (1, frozenset({"A"})),  # forward: C is not there, A, then A and B (measured)
        (1, frozenset({"B"})),  # backward: A (the largest) back to int8; then B (measured)
    ]
    assert search.evaluations == 5
    # the same, but one layer with B weighs as much as two layers with nothing: a tie keeps
    # the layers
    table = _Table(lambda depth, kept: depth == 2 or {"B"} <= kept, {2: 70, 1: 50})
    search = table.search()
    notes = []
    found = search._drop_layers(search.candidate([], 2), ["A", "B"], {}, notes)
    assert (found.depth, found.kept) == (2, ())
    assert notes == [
        "keeping 1 of 2 encoder layers, the requirements hold only with 1 group(s) in float32, "
        "a student no smaller: the student keeps 2"
    ]
    # a graph that names no encoder layer (or one) has none to drop, and says so
    search = _Table(lambda depth, kept: True, {1: 10}).search(layers=1)
    notes = []
    assert search._drop_layers(search.candidate([], 1), ["A"], {}, notes).depth == 1
    assert notes == ["the graph's node names show 1 encoder layer(s): none to drop"]


def test_parameter_bytes_count_each_weight_at_its_element_size(tmp_path):
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    from pytest_compressguard.search.candidates import parameter_bytes

    weights = [
        numpy_helper.from_array(np.zeros((3, 4), np.float32), "w"),
        numpy_helper.from_array(np.zeros(5, np.int8), "q"),
        numpy_helper.from_array(np.zeros(2, np.int64), "shape"),
        numpy_helper.from_array(np.float32(0.5), "scale"),
    ]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["w"], ["y"])],
        "g",
        [],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [3, 4])],
        weights,
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "g.onnx"))
    assert parameter_bytes(tmp_path / "g.onnx") == 3 * 4 * 4 + 5 + 2 * 8 + 4


def test_an_onnx_teacher_exports_with_the_tokenizer_it_was_loaded_with(tiny_models, tmp_path):
    """An ONNX teacher whose tokenizer was given apart (``--tokenizer``): the export, and so
    every candidate and the written student, carry that tokenizer."""
    import shutil

    import numpy as np

    from pytest_compressguard.models import load_model
    from pytest_compressguard.search.tune import export_teacher

    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(tiny_models.onnx / "model.onnx", alone / "model.onnx")
    teacher = load_model(str(alone / "model.onnx"), tokenizer=str(tiny_models.teacher))
    target = export_teacher(teacher, tmp_path / "export")
    texts = [t for t, _ in tiny_models.dev_rows[:8]]
    exported = load_model(str(target)).encode(texts)  # the tokenizer from beside it
    np.testing.assert_allclose(exported.probabilities, teacher.encode(texts).probabilities)


class _Fixed:
    """A candidate whose outputs are given: what :func:`measure` reads of a model."""

    def __init__(self, probabilities, embeddings):
        self.probabilities, self.embeddings = probabilities, embeddings

    def encode(self, texts):
        from pytest_compressguard.core.types import Encoded

        return Encoded(self.probabilities[: len(texts)], self.embeddings[: len(texts)])

    def embed(self, texts):
        return self.embeddings[: len(texts)]


@pytest.mark.filterwarnings("ignore::pytest_compressguard.CompressGuardWarning")  # 60 examples
@pytest.mark.parametrize("student_gains", [True, False])
def test_mcnemar_requirement_fails_only_a_significant_loss_as_the_gate_does(student_gains):
    """``mcnemar_p_value>=0.05`` rejects a candidate significantly *worse* than its teacher
    and accepts one significantly *better*: the search decides as the gate decides."""
    import numpy as np

    from pytest_compressguard import Comparison
    from pytest_compressguard.search.evaluate import Reference, measure

    n = 60
    labels = np.zeros(n, dtype=np.int64)
    right, wrong = np.array([0.9, 0.1]), np.array([0.1, 0.9])
    better = np.array([right] * n)
    worse = np.array([right] * 30 + [wrong] * 30)  # 30 discordant: p ~ 2e-9
    teacher, student = (worse, better) if student_gains else (better, worse)
    embeddings = np.random.default_rng(0).normal(size=(n, 4))
    texts = tuple(f"text {i}" for i in range(n))
    ref = Reference(texts, labels, teacher, embeddings)
    wanted = [parse("mcnemar_p_value>=0.05")]
    found = measure(_Fixed(student, embeddings), ref, wanted, bootstrap=0)
    assert found.point["mcnemar_p_value>=0.05"] < 1e-6
    assert found.passes is student_gains
    gate = Comparison.from_arrays(teacher, student, labels, texts, bootstrap=0)
    if student_gains:
        gate.assert_no_significant_accuracy_loss(alpha=0.05)
    else:
        with pytest.raises(AssertionError, match="significantly less accurate"):
            gate.assert_no_significant_accuracy_loss(alpha=0.05)
