"""The masked language model that proposes BERT-Attack's substitutes."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from pytest_compressguard.core.errors import ModelLoadError, ModelSpecError
from pytest_compressguard.models.base import MAX_LENGTH
from pytest_compressguard.models.hf import checkpoint_fingerprint
from pytest_compressguard.models.spec import ModelSpec, parse_spec
from pytest_compressguard.models.tokenizer import quiet_loading

T = TypeVar("T")

#: A word split into more sub-words than this gets no substitutes.
MAX_PIECES = 3
#: Candidates per sub-word piece whose combinations are ranked by perplexity (as in the paper's
#: code: the top 4 per piece).
PIECE_CANDIDATES = 4


def helper_spec(flag: str, text: str, what: str) -> ModelSpec:
    """A local model directory or a Hub id / alias for an attack's helper model (``what``:
    "a masked language model", "a sentence encoder"); other spec kinds raise ModelSpecError."""
    spec = parse_spec(text)
    if spec.kind not in ("hf", "hub"):
        raise ModelSpecError(
            f"{flag} {text!r}: expected a directory holding {what} "
            "(config.json, model.safetensors, tokenizer files) or a Hugging Face Hub id"
        )
    return spec


def mlm_spec(text: str) -> ModelSpec:
    """The ``--attack-mlm`` spec (see :func:`helper_spec`)."""
    return helper_spec("--attack-mlm", text, "a masked language model")


def load_helper(flag: str, text: str, spec: ModelSpec, load: Callable[[str], T], advice: str) -> T:
    """``load(source)`` under quiet loading, from safetensors only; a missing local weight
    file, an unreadable directory and an unreachable Hub id are one-sentence ModelLoadErrors
    (``advice`` ends the Hub one)."""
    source = spec.source
    local = Path(source).is_dir()
    if local and not any(Path(source).glob("*.safetensors")):
        raise ModelLoadError(
            f"{flag} {text}: no .safetensors weights in {source}; pytest-compressguard "
            "does not unpickle pytorch_model.bin files"
        )
    try:
        with quiet_loading():
            return load(source)
    except OSError as exc:
        if local:
            raise ModelLoadError(f"{flag} {text}: cannot load it: {exc}") from None
        raise ModelLoadError(
            f"{flag} {text}: {source!r} is no local directory and could not be fetched from "
            f"the Hugging Face Hub (offline, or no such model) nor found in its local cache "
            f"({type(exc).__name__}); {advice}"
        ) from None


class MaskedLM:
    """A BertForMaskedLM-style model and its fast tokenizer, loaded from safetensors.

    :meth:`substitutes` runs the model once over the *unmasked* sentence and reads the top-K
    predictions at each word's position (Li et al., 2020, §3.2).
    """

    def __init__(self, spec: str, *, max_length: int = MAX_LENGTH, device: str = "cpu") -> None:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        from pytest_compressguard.models.hf import torch_device

        self.spec = mlm_spec(spec)

        def load(source: str) -> tuple[Any, dict[str, Any], Any]:
            model, info = AutoModelForMaskedLM.from_pretrained(
                source, use_safetensors=True, output_loading_info=True
            )
            return model, info, AutoTokenizer.from_pretrained(source)

        try:
            model, info, tokenizer = load_helper(
                "--attack-mlm",
                spec,
                self.spec,
                load,
                "pass a local directory holding a BertForMaskedLM checkpoint",
            )
        except ValueError as exc:
            raise ModelLoadError(
                f"--attack-mlm {spec}: not a masked language model ({str(exc).splitlines()[0]})"
            ) from None
        head = [
            k for k in info.get("missing_keys") or () if not k.startswith(model.base_model_prefix)
        ]
        if head:
            raise ModelLoadError(
                f"--attack-mlm {spec}: the checkpoint has no trained masked-LM head (weights "
                f"missing: {', '.join(sorted(head)[:3])}); pass a BertForMaskedLM checkpoint"
            )
        if not getattr(tokenizer, "is_fast", False) or tokenizer.mask_token is None:
            raise ModelLoadError(
                f"--attack-mlm {spec}: its tokenizer must be a fast tokenizer with a mask token"
            )
        self.device = torch_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.mask_token: str = tokenizer.mask_token
        self._pad = tokenizer.pad_token_id or 0

    def fingerprint(self) -> str:
        """SHA-256 of config.json and the weights; for a Hub model, its commit."""
        return checkpoint_fingerprint(self.spec, self.model.config)

    def substitutes(self, text: str, spans: Sequence[tuple[int, int]], k: int) -> list[list[str]]:
        """For each character span (a word) of ``text``, up to ``k`` replacement words ranked
        by the masked LM, unfiltered.

        A word that is one sub-word gets the top-``k`` tokens at its position. A word of 2 to
        :data:`MAX_PIECES` sub-words gets the combinations of the top :data:`PIECE_CANDIDATES`
        tokens per piece, ranked by the perplexity the masked LM gives each combination on its
        own (the paper's BPE handling). Longer words, and words cut off by truncation, get none.
        """
        import torch

        encoded = self.tokenizer(
            text,
            truncation=True,
            max_length=self.max_length,
            return_offsets_mapping=True,
            return_special_tokens_mask=True,
        )
        offsets = encoded.pop("offset_mapping")
        special = encoded.pop("special_tokens_mask")
        tensors = {k_: torch.tensor([v]).to(self.device) for k_, v in encoded.items()}
        with torch.inference_mode():
            logits = self.model(**tensors).logits[0].float()
        width = min(max(k, PIECE_CANDIDATES), logits.shape[-1])
        top = logits.topk(width, dim=-1).indices.cpu().numpy()
        pieces_of = []
        for start, end in spans:
            pieces_of.append(
                [
                    t
                    for t, (a, b) in enumerate(offsets)
                    if not special[t] and b > a and a >= start and b <= end
                ]
            )
        out: list[list[str]] = [[] for _ in spans]
        combos: list[tuple[int, list[int]]] = []
        for i, pieces in enumerate(pieces_of):
            if len(pieces) == 1:
                out[i] = self.tokenizer.convert_ids_to_tokens(top[pieces[0], :k].tolist())
            elif 1 < len(pieces) <= MAX_PIECES:
                per_piece = [top[p, :PIECE_CANDIDATES].tolist() for p in pieces]
                combos.extend((i, list(c)) for c in itertools.product(*per_piece))
        if combos:
            for i, words in self._rank_combinations(combos, k).items():
                out[i] = words
        return out

    def _rank_combinations(
        self, combos: list[tuple[int, list[int]]], k: int
    ) -> dict[int, list[str]]:
        """Each word's combinations as words, by ascending perplexity, at most ``k``."""
        import torch

        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        length = max(len(ids) for _, ids in combos) + 2
        rows = np.full((len(combos), length), self._pad, dtype=np.int64)
        mask = np.zeros_like(rows)
        for r, (_, ids) in enumerate(combos):
            row = [cls, *ids, sep] if cls is not None and sep is not None else ids
            rows[r, : len(row)] = row
            mask[r, : len(row)] = 1
        offset = 1 if cls is not None and sep is not None else 0
        # the log-probability of each piece at its own position: log-softmax only where needed
        at = [(r, offset + j, t) for r, (_, ids) in enumerate(combos) for j, t in enumerate(ids)]
        row, position, token = (torch.tensor(v, device=self.device) for v in zip(*at, strict=True))
        with torch.inference_mode():
            logits = self.model(
                input_ids=torch.from_numpy(rows).to(self.device),
                attention_mask=torch.from_numpy(mask).to(self.device),
            ).logits.float()
            picked = logits[row, position]
            logp = (picked.gather(1, token[:, None])[:, 0] - picked.logsumexp(dim=-1)).cpu()
        logp = logp.numpy()
        ranked: dict[int, list[tuple[float, int, str]]] = {}
        start = 0
        for r, (i, ids) in enumerate(combos):
            nll = -float(np.mean(logp[start : start + len(ids)]))
            start += len(ids)
            tokens = self.tokenizer.convert_ids_to_tokens(ids)
            if tokens[0].startswith("##") or not all(t.startswith("##") for t in tokens[1:]):
                continue  # not one word: a piece cannot start it, and later pieces must join
            word = tokens[0] + "".join(t[2:] for t in tokens[1:])
            ranked.setdefault(i, []).append((float(np.exp(nll)), r, word))
        return {i: [w for _, _, w in sorted(found)[:k]] for i, found in ranked.items()}
