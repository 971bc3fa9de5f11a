"""The rules of the search, one by one, on hand-made cases: the split, the bound a requirement
with a confidence level uses, the sensitivity score, the backward order and the evaluation
budget. Candidates are scripted (their metric values given by the groups they keep), so each
rule is checked on numbers that can be worked out by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.core.types import Encoded
from pytest_compressguard.search import tune
from pytest_compressguard.search.evaluate import Measured, Reference, measure
from pytest_compressguard.search.requirements import Requirement, RequirementError, parse
from pytest_compressguard.search.tune import Candidate, Search, split

Values = Callable[[frozenset[str]], dict[str, float]]


class Scripted:
    """A search whose candidates are not built: a candidate's decisive value of each
    requirement is ``values(kept groups)``, and it holds as the requirement's comparison says.
    ``asked`` lists the kept groups of each candidate measured, in order."""

    def __init__(
        self,
        requirements: list[Requirement],
        values: Values,
        sizes: dict[str, int],
        max_evaluations: int = 50,
    ) -> None:
        self.values, self.asked = values, []
        search = Search.__new__(Search)
        search.requirements, search.max_evaluations = requirements, max_evaluations
        search.groups = {g: [f"/{g}/MatMul"] for g in sizes}  # graph order: the dict's
        search.bytes = dict(sizes)
        search.layers, search.drop_layers, search.evaluations = 2, False, 0
        search.depth_moves, search._made = [], {}
        search.fp32, search.load = None, lambda path: None
        search.bootstrap, search.seed = 0, 0
        search.candidate = self.candidate
        self.search = search

    def candidate(self, kept: Sequence[str], depth: int | None = None) -> Candidate:
        search = self.search
        key = frozenset(kept)
        if key not in search._made:
            self.asked.append(key)
            search.evaluations += 1
            found = self.values(key)
            holds = {
                str(r): found[str(r)] >= r.threshold
                if r.op == ">="
                else found[str(r)] <= r.threshold
                for r in search.requirements
            }
            size = 100 + sum(search.bytes[g] for g in kept)
            ordered = tuple(g for g in search.groups if g in key)
            measured = Measured(dict(found), dict(found), holds)
            search._made[key] = Candidate(ordered, None, size, measured, search.layers)
        return search._made[key]

    def run(self, monkeypatch: pytest.MonkeyPatch) -> tune.Outcome:
        """The whole search; the held-out check measures nothing (it passes)."""
        monkeypatch.setattr(tune, "_teacher_bytes", lambda path: 1000)
        monkeypatch.setattr(tune, "parameter_bytes", lambda path: 1000)
        monkeypatch.setattr(tune, "measure", lambda *a, **k: Measured({}, {}, {"held out": True}))
        return self.search.run(None)


def additive(base: dict[str, float], moves: dict[str, dict[str, float]]) -> Values:
    """Each requirement's value: ``base`` plus the move of every kept group."""

    def values(kept: frozenset[str]) -> dict[str, float]:
        return {
            key: value + sum(moves[g].get(key, 0.0) for g in kept) for key, value in base.items()
        }

    return values


# -- 1. the split ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [4, 5, 9, 12])
@pytest.mark.parametrize("share", [0.3, 0.5, 0.75])
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_the_split_is_disjoint_and_covers_every_example_once(n, share, seed):
    """``share`` of the examples calibrate, the rest are held out: no example in both (leakage
    into the verification), none left out, each split in data order."""
    if round(n * share) < 2 or n - round(n * share) < 2:
        with pytest.raises(CompressGuardError, match="of two examples or more"):
            split(n, share, seed)
        return
    calibration, held = split(n, share, seed)
    assert len(calibration) == round(n * share) and len(held) == n - round(n * share)
    assert not set(calibration.tolist()) & set(held.tolist())
    assert sorted([*calibration.tolist(), *held.tolist()]) == list(range(n))
    assert list(calibration) == sorted(calibration) and list(held) == sorted(held)


def test_each_split_needs_two_examples():
    """Two examples on each side is enough; one on either side is refused."""
    assert [len(s) for s in split(4, 0.5, 0)] == [2, 2]
    assert [len(s) for s in split(5, 0.6, 0)] == [3, 2]
    for n, share in ((5, 0.2), (5, 0.8), (3, 0.5)):  # cut 1, 4 of 5, 2 of 3
        with pytest.raises(CompressGuardError, match=f"{n} examples cannot be split"):
            split(n, share, 0)
    for share in (0.0, 1.0):
        with pytest.raises(ValueError, match="must lie between 0 and 1"):
            split(10, share, 0)


# -- 2. the bound that decides a requirement with a confidence level ------------------------


class _Outputs:
    """A candidate whose class probabilities and embeddings are given."""

    def __init__(self, probabilities: np.ndarray, embeddings: np.ndarray) -> None:
        self.probabilities, self.embeddings = probabilities, embeddings

    def encode(self, texts: Sequence[str]) -> Encoded:

        return Encoded(self.probabilities, self.embeddings)


@pytest.mark.filterwarnings("ignore::pytest_compressguard.CompressGuardWarning")  # 20 examples
def test_a_requirement_at_a_confidence_level_is_decided_by_its_pessimistic_bound():
    """The module docstring of ``search.requirements``: the bound of the interval decides, as
    ``confidence=`` does in an assertion: the upper bound for ``<=`` (it must not reach too
    high), the lower for ``>=``. Two of 20 predictions flip: flips is 0.1, its interval
    straddles 0.15, so ``flips<=0.15@0.9`` misses on the upper bound while the point and the
    lower bound would pass it."""
    from pytest_compressguard import Comparison

    n = 20
    labels = np.zeros(n, dtype=np.int64)
    teacher = np.array([[0.9, 0.1]] * n)
    student = np.array([[0.9, 0.1]] * (n - 2) + [[0.2, 0.8]] * 2)
    embeddings = np.random.default_rng(0).normal(size=(n, 4))
    texts = tuple(f"t{i}" for i in range(n))
    ref = Reference(texts, labels, teacher, embeddings)
    wanted = [parse("flips<=0.15@0.9"), parse("label_loyalty>=0.85@0.9")]
    found = measure(_Outputs(student, embeddings), ref, wanted, bootstrap=400, seed=3)
    gate = Comparison.from_arrays(teacher, student, labels, texts, bootstrap=400, seed=3)
    flips, loyalty = gate.interval("flips", 0.9), gate.interval("label_loyalty", 0.9)
    assert flips[0] < 0.15 < flips[1] and loyalty[0] < 0.85 < loyalty[1]  # the case's point
    assert found.point == {"flips<=0.15@0.9": 0.1, "label_loyalty>=0.85@0.9": 0.9}
    assert found.decisive == {"flips<=0.15@0.9": flips[1], "label_loyalty>=0.85@0.9": loyalty[0]}
    assert found.holds == {"flips<=0.15@0.9": False, "label_loyalty>=0.85@0.9": False}
    assert found.spread["flips<=0.15@0.9"] == pytest.approx((flips[1] - flips[0]) / 2)


def test_a_confidence_level_lies_strictly_between_0_and_1():
    assert parse("flips<=0.1@0.5").confidence == 0.5
    for level in ("0", "1", "1.5", "-0.5"):
        with pytest.raises(RequirementError, match="the confidence level must lie between 0 and 1"):
            parse(f"flips<=0.1@{level}")


# -- 3. the sensitivity score ------------------------------------------------------------------

#: thresholds, values and moves are binary fractions: the sums below are exact
KL, LOYAL, WORST = (
    Requirement("kl_divergence", "<=", 0.25),
    Requirement("label_loyalty", ">=", 1.0),
    Requirement("worst_class_drop", "<=", 0.5),
)


def test_the_score_divides_each_gain_by_all_int8s_shortfall(monkeypatch):
    """The module docstring of ``search.tune``: a group's score is what it gives back on the
    requirements all-int8 misses, each gain divided by all-int8's shortfall on that
    requirement, so a KL in nats and an agreement share weigh alike. All-int8 misses the KL
    by 0.5 and loyalty by 1: A gives back 0.25 of the KL (0.5), B 0.375 of loyalty (0.375),
    so A ranks first though B's raw gain is larger; C moves only a requirement all-int8
    meets, and scores 0."""
    base = {str(KL): 0.75, str(LOYAL): 0.0, str(WORST): 0.25}
    moves = {
        "A": {str(KL): -0.25},
        "B": {str(LOYAL): 0.375},
        "C": {str(WORST): -0.125},
    }
    script = Scripted([KL, LOYAL, WORST], additive(base, moves), {"A": 10, "B": 10, "C": 10})
    outcome = script.run(monkeypatch)
    assert outcome.scores == {"A": 0.5, "B": 0.375, "C": 0.0}
    # all-int8, each group alone, then the forward pass in score order: A (measured), A and B
    assert script.asked[:6] == [
        frozenset(),
        frozenset("A"),
        frozenset("B"),
        frozenset("C"),
        frozenset("AB"),
        frozenset("ABC"),
    ]
    assert not outcome.best.measured.passes  # the KL stays at 0.5: nothing passes


def test_scores_tie_in_graph_order_and_a_loss_counts_against_a_group(monkeypatch):
    """Equal scores keep graph order; a group that makes a missed requirement worse scores
    below zero and comes last: the forward pass keeps B, then C, and passes."""
    base = {str(KL): 0.75}
    moves = {"A": {str(KL): 0.125}, "B": {str(KL): -0.25}, "C": {str(KL): -0.25}}
    script = Scripted([KL], additive(base, moves), {"A": 10, "B": 10, "C": 10})
    outcome = script.run(monkeypatch)
    assert outcome.scores == {"A": -0.25, "B": 0.5, "C": 0.5}
    assert script.asked[4:] == [frozenset("BC")]  # the backward trials were measured alone
    assert outcome.best.kept == ("B", "C") and outcome.verified


# -- 4. the backward pass ----------------------------------------------------------------------


def test_the_backward_pass_tries_the_largest_kept_group_first():
    """The ``_backward`` docstring: each kept group, the largest first, back to int8 when the
    requirements still hold without it. Any two groups pass, one does not: the largest (A)
    goes back to int8 and the two smaller stay."""
    two = Requirement("label_loyalty", ">=", 2)
    script = Scripted([two], lambda kept: {str(two): float(len(kept))}, {"C": 10, "A": 30, "B": 20})
    found = script.search._backward(script.candidate(["A", "B", "C"]), {}, [])
    assert found.kept == ("C", "B")  # graph order
    assert script.asked[1:] == [frozenset("BC"), frozenset("C"), frozenset("B")]


def test_groups_of_one_size_go_back_lowest_score_first():
    """Between groups of equal weight, the one that gave back least is tried first."""
    two = Requirement("label_loyalty", ">=", 2)
    script = Scripted([two], lambda kept: {str(two): float(len(kept))}, {"A": 10, "B": 10, "C": 10})
    scores = {"A": 3.0, "B": 1.0, "C": 2.0}
    found = script.search._backward(script.candidate(["A", "B", "C"]), scores, [])
    assert found.kept == ("A", "C")
    assert script.asked[1] == frozenset("AC")


# -- 5. the evaluation budget ------------------------------------------------------------------


def budget_case(max_evaluations: int) -> Scripted:
    """All-int8 misses; each of four groups gives back a quarter of the KL's shortfall, so the
    forward pass keeps all four and the backward pass tries each back (without D: measured in
    the forward pass): 1 + 4 + 3 + 3 = 11 evaluations without a budget."""
    base = {str(KL): 1.25}
    moves = {g: {str(KL): -0.25} for g in "ABCD"}
    sizes = {"A": 40, "B": 30, "C": 20, "D": 10}
    return Scripted([KL], additive(base, moves), sizes, max_evaluations=max_evaluations)


@pytest.mark.parametrize("budget", range(1, 14))
def test_max_evaluations_is_a_hard_budget(budget, monkeypatch):
    """The module docstring: both passes stop at the evaluation budget; no candidate beyond it
    is measured, whichever pass it falls in."""
    script = budget_case(budget)
    outcome = script.run(monkeypatch)
    assert outcome.evaluations == len(script.asked) == min(budget, 11)
    # the sensitivity pass stops without a note, the forward pass then finds the budget spent;
    # at 11 the backward pass stops before its last trial (measured already)
    where = "forward" if budget < 8 else "backward" if budget < 12 else None
    notes = [n for n in outcome.notes if "budget ran out" in n]
    assert notes == ([f"the evaluation budget ran out in the {where} pass"] if where else [])
    assert outcome.best.measured.passes is (budget >= 8)


# -- groups and layers of a hand-made stack ---------------------------------------------------


def stack(path: Path) -> Path:
    """``x`` (1 x 2) times layer 0's weight (2 I), layer 1's (3 I), then the head's (5 I): two
    encoder layers and a head, as an exported transformer names its nodes."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def matmul(source: str, weight: str, target: str, name: str) -> Any:
        return helper.make_node("MatMul", [source, weight], [target], name=name)

    nodes = [
        matmul("x", "w0", "h0", "/encoder/layer.0/intermediate/dense/MatMul"),
        matmul("h0", "w1", "h1", "/encoder/layer.1/intermediate/dense/MatMul"),
        matmul("h1", "wh", "y", "/classifier/MatMul"),
    ]
    weights = [
        numpy_helper.from_array(np.eye(2, dtype=np.float32) * k, name)
        for name, k in (("w0", 2), ("w1", 3), ("wh", 5))
    ]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2]) for n in ("x", "y")]
    model = helper.make_model(helper.make_graph(nodes, "stack", io[:1], io[1:], weights))
    model.opset_import[0].version = 17
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def run_graph(path: Path) -> list[float]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.array([[1.0, 2.0]], dtype=np.float32)})[0][0].tolist()


def test_a_stack_cut_to_one_layer_computes_without_the_dropped_one(tmp_path):
    """x (1, 2) through 2 I, 3 I and 5 I is (30, 60); keeping one layer, (10, 20), and the
    dropped layer's weight is gone. Keeping both is the graph itself; none, or three, is
    refused."""
    import onnx

    from pytest_compressguard.search.depth import count, truncate

    source = stack(tmp_path / "stack.onnx")
    assert count(onnx.load(str(source)).graph) == 2 and run_graph(source) == [30.0, 60.0]
    cut = truncate(source, tmp_path / "one" / "model.onnx", 1)
    graph = onnx.load(str(cut)).graph
    assert count(graph) == 1 and run_graph(cut) == [10.0, 20.0]
    assert sorted(i.name for i in graph.initializer) == ["w0", "wh"]
    assert run_graph(truncate(source, tmp_path / "two" / "model.onnx", 2)) == [30.0, 60.0]
    for depth in (0, 3):
        with pytest.raises(ValueError, match=f"the graph has 2 layers; cannot keep {depth}"):
            truncate(source, tmp_path / f"{depth}.onnx", depth)


def test_the_groups_of_a_cut_stack_are_those_of_the_layers_it_keeps(tmp_path):
    """Each MatMul with a weight is quantizable (its float32 weight 2 x 2 x 4 bytes); at one
    layer the search keeps layer 0's group and the head, not layer 1's."""
    import onnx

    from pytest_compressguard.search.groups import groups, weight_bytes

    source = stack(tmp_path / "stack.onnx")
    graph = onnx.load(str(source)).graph
    found = groups(graph)
    assert list(found) == ["layer 0 feed-forward in", "layer 1 feed-forward in", "head"]
    assert set(weight_bytes(graph).values()) == {16}
    search = Search(source, tmp_path / "work", lambda path: None, [KL], None)
    assert search.layers == 2 and search.bytes == dict.fromkeys(found, 16)
    path, kept = search.at(1)
    assert list(kept) == ["layer 0 feed-forward in", "head"] and run_graph(path) == [10.0, 20.0]
