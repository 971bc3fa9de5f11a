"""A local folder's tokenizer, loaded without importing torch where that gives the tokenizer
``AutoTokenizer`` gives.

With transformers 5, importing ``AutoTokenizer`` imports torch (when it is installed): its
module imports the configuration classes (``transformers.configuration_utils``), which import
``modeling_rope_utils``, which imports torch. An ONNX model needs no torch, so loading one
should not import it. ``AutoTokenizer`` loads the class the folder's ``tokenizer_config.json``
names (``tokenizer_class``) unless remote code is declared (``auto_map``) or that class differs
from the one it registers for the configuration's ``model_type``. :func:`direct_tokenizer`
loads that class itself in the plain cases it can tell without transformers' mapping (a class
of :data:`AUTO_CLASSES`, with a configuration of a matching ``model_type`` or none), and gives
None otherwise: ``AutoTokenizer`` then loads the tokenizer, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_compressguard.core.errors import ModelLoadError
from pytest_compressguard.models.spec import ModelSpec

#: ``model_type`` -> the tokenizer class ``AutoTokenizer`` registers for it (transformers 5's
#: ``TOKENIZER_MAPPING_NAMES``; tests/test_torch_free.py checks that they agree).
AUTO_CLASSES = {
    "albert": "AlbertTokenizer",
    "bert": "BertTokenizer",
    "deberta": "DebertaTokenizer",
    "deberta-v2": "DebertaV2Tokenizer",
    "distilbert": "BertTokenizer",
    "electra": "BertTokenizer",
    "mpnet": "MPNetTokenizer",
    "roberta": "RobertaTokenizer",
    "xlm-roberta": "XLMRobertaTokenizer",
}


def _json(path: Path) -> dict[str, Any] | None:
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def _transformers_major() -> int:
    try:
        return int(metadata.version("transformers").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 0


def declared_class(folder: Path) -> str | None:
    """The tokenizer class ``AutoTokenizer`` (transformers 5) loads for ``folder``, when it is
    one of :data:`AUTO_CLASSES` and can be told from the folder's JSON files alone; else
    None."""
    declared = _json(folder / "tokenizer_config.json")
    if declared is None or "auto_map" in declared:
        return None
    name = declared.get("tokenizer_class")
    if not isinstance(name, str) or name.removesuffix("Fast") not in AUTO_CLASSES.values():
        return None
    name = name.removesuffix("Fast")
    if (folder / "config.json").exists():
        config = _json(folder / "config.json")
        if config is None or "auto_map" in config:
            return None
        if AUTO_CLASSES.get(str(config.get("model_type"))) != name:
            return None  # AutoTokenizer may choose another class: let it
    return name


def direct_tokenizer(source: str) -> Any | None:
    """The tokenizer of the local folder ``source``, loaded by its declared class without
    importing torch (see the module docstring); None when ``AutoTokenizer`` must load it."""
    folder = Path(source)
    if not folder.is_dir() or _transformers_major() < 5:  # 4.x: those names are slow classes
        return None
    name = declared_class(folder)
    if name is None:
        return None
    import transformers

    try:
        return getattr(transformers, name).from_pretrained(source)
    except Exception:  # tokenizers raise their own types: AutoTokenizer says what is wrong
        return None


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' progress bars and load notices for the duration of a load."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # a bare encoder's "newly initialized head" notice
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if enabled:
            hf_logging.enable_progress_bar()


def hub_error(spec: ModelSpec, exc: BaseException) -> ModelLoadError:
    """One sentence for a Hub id that cannot be loaded (offline, unknown, gated)."""
    return ModelLoadError(
        f"cannot load model {spec.text!r}: it is no local path, and the Hugging Face Hub "
        f"model {spec.source!r} could not be fetched (offline, or no such model) nor found in "
        f"the local cache ({type(exc).__name__}); pass a local directory with config.json, "
        "model.safetensors and tokenizer files, or an .onnx file"
    )


def load_tokenizer(source: str, *, spec: ModelSpec) -> Any:
    """A fast tokenizer from a directory or Hub id, with a clear error when it is missing
    (the class a local folder declares, loaded without importing torch, when that is the one
    ``AutoTokenizer`` picks: see :mod:`pytest_compressguard.models.tokenizer`)."""
    try:
        with quiet_loading():
            direct = direct_tokenizer(source)
            if direct is not None:
                return direct
            from transformers import AutoTokenizer

            return AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError) as exc:
        if Path(source).is_dir():
            raise ModelLoadError(
                f"{spec.text}: no usable tokenizer files in {source} ({exc.__class__.__name__}); "
                "pass --tokenizer DIR"
            ) from None
        raise hub_error(ModelSpec(text=source, kind="hub", source=source), exc) from None
