"""How the session evaluates: the device, the example sample, the seed, the bootstrap and the
pairwise matrix."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_compressguard.options.option import Option, table
from pytest_compressguard.options.values import boolean, device, non_negative_int, positive_int


@dataclass(frozen=True)
class EvaluationPart:
    device: str = "cpu"
    max_examples: int | None = None
    seed: int = 0
    bootstrap: int = 1000
    pairwise: bool = False


OPTIONS = table(
    EvaluationPart,
    Option("--device", "device", "cpu or cuda.", device, metavar="DEVICE"),
    Option(
        "--max-examples",
        "max_examples",
        "evaluate on a deterministic sample of N examples (see --seed).",
        positive_int,
        unset="all",
        metavar="N",
    ),
    Option(
        "--seed",
        "seed",
        "seed of the --max-examples sample, the attack sample and the bootstrap.",
        non_negative_int,
        metavar="N",
    ),
    Option(
        "--compressguard-bootstrap",
        "bootstrap",
        "paired bootstrap resamples behind each metric's 95%% interval and confidence= "
        "checks; seeded with --seed; 0 turns intervals off.",
        non_negative_int,
        metavar="N",
    ),
    Option(
        "--compressguard-pairwise",
        "pairwise",
        "also compare every pair among the teacher and the students (a matrix per metric, "
        "in the summary, the JSON and the HTML report).",
        boolean,
        switch=True,
    ),
)
