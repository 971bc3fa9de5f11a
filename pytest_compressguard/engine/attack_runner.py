"""Running the attack for a session: the sample, the recipe's parts (masked LM, word vectors,
lexicon, sentence encoder), the verified disk cache, progress on the terminal, and the pair's
attack results in the teacher's label order."""

from __future__ import annotations

import time
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pytest_compressguard.attacks.search import AttackRun, AttackSettings, Parts, SubstituteSource
from pytest_compressguard.core import cache
from pytest_compressguard.core.errors import MissingOutputError, ModelLoadError
from pytest_compressguard.core.lazy import Lazy
from pytest_compressguard.core.types import ExampleResult, Text
from pytest_compressguard.data.texts import Dataset
from pytest_compressguard.engine.inputs import PairAttack
from pytest_compressguard.models.base import Model, label_order, local_fingerprint, split_pairs
from pytest_compressguard.tasks.classification import CLASSIFICATION

if TYPE_CHECKING:
    from pytest_compressguard.attacks.mlm import MaskedLM
    from pytest_compressguard.attacks.semantics import SentenceEncoder, WordVectors
    from pytest_compressguard.engine.outputs import OutputStore
    from pytest_compressguard.options import Settings

#: 2: the attacked side of a pair is part of the settings; 3: recipes and constraints
FORMAT = 3
#: The shipped lexicon's source, part of the cache key.
LEXICON = "counter-fitting@8cf3cf4db1"


class Progress(Protocol):
    """Where a long computation reports: a bar on a terminal, a line per model in CI logs."""

    def update(self, label: str, done: int, total: int, successes: int) -> None: ...

    def finish(self, line: str) -> None: ...


class NoProgress:
    """Reports nothing (a session outside pytest's terminal, an xdist worker)."""

    def update(self, label: str, done: int, total: int, successes: int) -> None:
        pass

    def finish(self, line: str) -> None:
        pass


class AttackRunner:
    """Each model attacked at most once per session and recipe on the same seeded sample of
    eval data."""

    def __init__(self, settings: Settings, outputs: OutputStore, cache_dir: Path | None) -> None:
        self.settings = settings
        self._outputs = outputs
        self.cache_dir = cache_dir
        self.progress: Progress = NoProgress()
        self._mlm: Lazy[MaskedLM] = Lazy(self._load_mlm, "no masked LM")
        self._encoder: Lazy[SentenceEncoder] = Lazy(self._load_encoder, "no sentence encoder")
        self._vectors: Lazy[WordVectors] = Lazy(self._load_vectors, "no word vectors")
        self._runs: dict[tuple[str, str, str], AttackRun] = {}

    def attack_settings(self, recipe: str | None = None) -> AttackSettings:
        """The attack's settings under ``recipe`` (None: the session's first)."""
        s = self.settings
        return AttackSettings(
            recipe=recipe or s.recipes[0],
            candidates=s.attack_candidates,
            max_perturb=s.attack_max_perturb,
            max_queries=s.attack_max_queries,
            side=s.attack_side,
            antonyms=s.attack_antonym_filter,
            synonyms_only=s.attack_synonyms_only,
            min_similarity=s.attack_min_similarity,
        )

    def _load_encoder(self) -> SentenceEncoder:
        from pytest_compressguard.attacks.semantics import SentenceEncoder

        s = self.settings
        return SentenceEncoder(
            s.attack_sentence_encoder, max_length=CLASSIFICATION.max_length(s), device=s.device
        )

    def _load_vectors(self) -> WordVectors:
        from pytest_compressguard.attacks.search import RECIPES
        from pytest_compressguard.attacks.semantics import WordVectors

        path = self.settings.attack_word_vectors
        if path is None:
            raise ModelLoadError(
                "the textfooler recipe needs --attack-word-vectors PATH: counter-fitted word "
                "vectors (counter-fitted-vectors.txt from github.com/nmrksic/counter-fitting, "
                "the text format 'word v1 ... v300')"
            )
        return WordVectors(
            path,
            min_similarity=RECIPES["textfooler"].min_vector_similarity,
            cache_dir=self.cache_dir,
            fingerprint=self.vectors_fingerprint,
        )

    def parts(self, settings: AttackSettings) -> Parts:
        """The recipe's substitute source, the lexicon and the sentence encoder (loaded now)."""
        from pytest_compressguard.attacks.lexicon import SynonymSource, lexicon

        words = lexicon()
        source: SubstituteSource
        mask = "[MASK]"
        if settings.spec.substitutes == "mlm":
            mlm = self._mlm.get()
            source, mask = mlm, mlm.mask_token
        elif settings.spec.substitutes == "vectors":
            source = self._vectors.get()
        else:
            source = SynonymSource(words)
        encoder = self._encoder.get()
        return Parts(source=source, lexicon=words, similarity=encoder.cosine, mask_token=mask)

    def parts_fingerprint(self, settings: AttackSettings) -> dict[str, str]:
        """What the recipe's parts are, by content: the masked LM or the word vectors, the
        sentence encoder and the lexicon (local models are hashed from their files, so a fully
        cached attack loads nothing)."""
        from pytest_compressguard.attacks.semantics import encoder_fingerprint

        out = {"lexicon": LEXICON}
        if settings.spec.substitutes == "mlm":
            out["mlm"] = self.mlm_fingerprint
        elif settings.spec.substitutes == "vectors":
            out["vectors"] = self.vectors_fingerprint
        out["encoder"] = (
            encoder_fingerprint(self.settings.attack_sentence_encoder)
            or self._encoder.get().fingerprint()
        )
        return out

    @cached_property
    def vectors_fingerprint(self) -> str:
        """The word-vector file's content hash, computed once per session (the vectors are
        not loaded, so a fully cached attack never parses them)."""
        from pytest_compressguard.attacks.semantics import vectors_fingerprint

        path = self.settings.attack_word_vectors
        if path is None:
            return self._vectors.get().fingerprint  # raises the one-sentence error
        return vectors_fingerprint(path)

    def _load_mlm(self) -> MaskedLM:
        from pytest_compressguard.attacks.mlm import MaskedLM

        s = self.settings
        return MaskedLM(s.attack_mlm, max_length=CLASSIFICATION.max_length(s), device=s.device)

    @cached_property
    def mlm_fingerprint(self) -> str:
        """The masked LM's content hash: from its files when local (the model is not loaded
        then, so a fully cached attack never loads it)."""
        from pytest_compressguard.attacks.mlm import mlm_spec

        spec = mlm_spec(self.settings.attack_mlm)
        return local_fingerprint(spec) or self._mlm.get().fingerprint()

    def sample(self, dataset: Dataset) -> np.ndarray:
        """Indices of the eval examples to attack: a seeded sample of --attack-examples, in
        data order."""
        n = min(self.settings.attack_examples, len(dataset))
        rng = np.random.default_rng(self.settings.seed)
        return np.sort(rng.permutation(len(dataset))[:n])

    def run(
        self,
        model: Model,
        role: str,
        dataset: Dataset,
        indices: np.ndarray,
        labels: np.ndarray,
        recipe: str | None = None,
    ) -> AttackRun:
        """The attack on ``model`` over the examples of ``dataset`` at ``indices`` (gold
        ``labels`` in the model's own label order): from memory, else from the disk cache,
        else computed.

        Within a session the sample, the labels and the settings of a dataset are fixed, so
        the memory cache is keyed by the model, the dataset and the recipe (the teacher is
        attacked once for all students)."""
        settings = self.attack_settings(recipe)
        memory = (model.spec.text, dataset.fingerprint, settings.recipe)
        if memory in self._runs:
            return self._runs[memory]
        texts, contexts = split_side([dataset.texts[i] for i in indices], settings.side)
        parts = self._key_parts(settings, dataset, indices, labels)
        store = None
        label = f"{role} {model.spec.text} ({settings.recipe}) on {dataset.spec}"
        if model.spec.kind == "snapshot":  # the run stored with the model's outputs
            described = (
                f"recipe {settings.recipe}, candidates {settings.k}, {len(indices)} examples "
                f"of {dataset.spec}"
            )
            payload = model.attack(cache.key(FORMAT, parts), described)  # type: ignore[attr-defined]
        else:
            key = cache.key(
                FORMAT,
                {
                    **parts,
                    "model": self._outputs.fingerprint(model),
                    "model_inputs": [
                        CLASSIFICATION.max_length(self.settings),
                        self.settings.batch_size,
                    ],
                },
            )
            if self.cache_dir is not None:
                store = cache.JsonStore(self.cache_dir, "attacks", "attack")
            payload = store.read(key) if store is not None else None
        if payload is not None:
            run = AttackRun.from_json(payload, cached=True)
            source = "the snapshot" if model.spec.kind == "snapshot" else "the cache"
            self.progress.finish(
                f"compressguard: attack on {label}: read from {source} ({_summary(run.examples)})"
            )
        else:
            from pytest_compressguard.attacks.search import attack

            parts = self.parts(settings)
            total = len(texts)
            self.progress.update(label, 0, total, 0)
            start = time.perf_counter()
            examples = attack(
                model.predict_proba,
                parts,
                texts,
                labels.tolist(),
                settings,
                indices=indices.tolist(),
                progress=lambda done, hits: self.progress.update(label, done, total, hits),
                contexts=contexts,
            )
            run = AttackRun(model.spec.text, tuple(examples), time.perf_counter() - start)
            if store is not None:
                store.write(key, run.to_json())
            self.progress.finish(
                f"compressguard: attack on {label}: {_summary(run.examples)} in {run.seconds:.1f} s"
            )
        self._runs[memory] = run
        return run

    def _key_parts(
        self, settings: AttackSettings, dataset: Dataset, indices: np.ndarray, labels: np.ndarray
    ) -> dict[str, Any]:
        """What a run depends on besides the model: its settings, parts and examples."""
        return {
            "attack": vars(settings),
            "parts": self.parts_fingerprint(settings),
            "data": [dataset.fingerprint, indices.tolist(), labels.tolist()],
        }

    def snapshot_key(
        self, settings: AttackSettings, dataset: Dataset, indices: np.ndarray, labels: np.ndarray
    ) -> str:
        """The key of a run in a snapshot: the cache key without the model (the snapshot is
        of one model) and the batch size (the snapshot checks the max length itself)."""
        return cache.key(FORMAT, self._key_parts(settings, dataset, indices, labels))

    def described(self, settings: AttackSettings, examples: int) -> dict[str, Any]:
        """The attack's settings as the reports show them, recipe defaults resolved."""
        spec = settings.spec
        out: dict[str, Any] = {
            **vars(settings),
            "candidates": settings.k,
            "min_similarity": settings.threshold,
            "similarity_metric": spec.metric,
            "similarity_window": spec.window,
            "sentence_encoder": self.settings.attack_sentence_encoder,
            "examples": examples,
        }
        if spec.substitutes == "mlm":
            out["mlm"] = self.settings.attack_mlm
        if spec.substitutes == "vectors":
            out["word_vectors"] = self.settings.attack_word_vectors
        return out

    def pair(
        self, teacher: Model, student: Model, dataset: Dataset, recipe: str | None = None
    ) -> PairAttack:
        """Both models attacked on the same examples of ``dataset``, the student's labels put
        in the teacher's order, and the student's predictions on the teacher's successful
        adversarial texts."""
        for model in (teacher, student):
            if "probabilities" in model.missing:
                raise MissingOutputError(model.missing["probabilities"])
        order = label_order(teacher, student)
        gold = dataset.label_indices(teacher.labels, teacher.num_labels)
        indices = self.sample(dataset)
        teacher_run = self.run(teacher, "teacher", dataset, indices, gold[indices], recipe)
        student_run = self.run(student, "student", dataset, indices, order[gold[indices]], recipe)
        to_teacher = np.argsort(order)  # student class -> teacher class
        student_examples = tuple(_relabel(e, to_teacher) for e in student_run.examples)
        adversarial = [e.whole(e.adversarial) for e in teacher_run.examples if e.success]
        transferred = np.full(len(indices), -1, dtype=np.int64)
        if adversarial:
            found = to_teacher[student.predict_proba(adversarial).argmax(axis=1)]
            transferred[[i for i, e in enumerate(teacher_run.examples) if e.success]] = found
        return PairAttack(
            teacher=teacher_run.examples,
            student=student_examples,
            transferred=transferred,
            settings=self.described(self.attack_settings(recipe), len(indices)),
            cached={"teacher": teacher_run.cached, "student": student_run.cached},
            report_max=self.settings.attack_report_max,
            label_names=teacher.labels,
        )


def split_side(texts: list[Text], side: str) -> tuple[list[str], list[str] | None]:
    """The texts to attack and, for pairs, the untouched other sides."""
    firsts, seconds = split_pairs(texts)
    if seconds is None:
        return firsts, None
    return (seconds, firsts) if side == "second" else (firsts, seconds)


def _relabel(example: ExampleResult, to_teacher: np.ndarray) -> ExampleResult:
    """An example's labels as indices of the teacher's label set."""
    return replace(
        example,
        label=int(to_teacher[example.label]),
        before=int(to_teacher[example.before]),
        after=int(to_teacher[example.after]),
    )


def _summary(examples: tuple[ExampleResult, ...]) -> str:
    attacked = sum(e.status != "skipped" for e in examples)
    broken = sum(e.success for e in examples)
    return f"{len(examples)} examples, {attacked} attacked, {broken} broken"
