"""TextAttack 0.3.11's BERT-Attack, built from its components, run by bench/vs_textattack.py in
TextAttack's own virtual environment (bench/setup_textattack.sh); not importable beside the
plugin (TextAttack needs transformers < 5).

    <textattack venv>/bin/python bench/textattack_side.py TARGET MLM INPUT.json K OUT.jsonl

INPUT.json: {"texts": [...], "labels": [...], "stopwords": [...]}. Each attacked example is
appended to OUT.jsonl as soon as it ends (so a run stopped at its time cap says how far it
got): original, perturbed text, status, queries, seconds.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    target, mlm, data, k, out = sys.argv[1:6]
    import textattack
    import torch
    import transformers
    from textattack.constraints.overlap import MaxWordsPerturbed
    from textattack.constraints.pre_transformation import (
        RepeatModification,
        StopwordModification,
    )
    from textattack.goal_functions import UntargetedClassification
    from textattack.models.wrappers import HuggingFaceModelWrapper
    from textattack.search_methods import GreedyWordSwapWIR
    from textattack.shared import AttackedText
    from textattack.transformations import WordSwapMaskedLM

    torch.set_num_threads(os.cpu_count() or 1)
    spec = json.loads(open(data).read())
    model = transformers.AutoModelForSequenceClassification.from_pretrained(target).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(target)
    wrapper = HuggingFaceModelWrapper(model, tokenizer)
    lm = transformers.AutoModelForMaskedLM.from_pretrained(mlm).eval()
    lm_tokenizer = transformers.AutoTokenizer.from_pretrained(mlm, use_fast=True)
    # TextAttack's BERTAttackLi2020 recipe without its TF-Hub sentence encoder (none offline)
    transformation = WordSwapMaskedLM(
        method="bert-attack",
        masked_language_model=lm,
        tokenizer=lm_tokenizer,
        max_candidates=int(k),
    )
    constraints = [
        RepeatModification(),
        StopwordModification(stopwords=set(spec["stopwords"])),
        MaxWordsPerturbed(max_percent=0.4),
    ]
    goal = UntargetedClassification(wrapper)
    attack = textattack.Attack(goal, constraints, transformation, GreedyWordSwapWIR("unk"))
    with open(out, "w") as sink:
        for text, label in zip(spec["texts"], spec["labels"], strict=True):
            start = time.perf_counter()
            result = attack.attack(AttackedText(text), int(label))
            status = type(result).__name__.replace("AttackResult", "").lower()
            row = {
                "original": text,
                "perturbed": result.perturbed_result.attacked_text.text,
                "status": {"successful": "success", "failed": "failed"}.get(status, "skipped"),
                "queries": int(result.perturbed_result.num_queries),
                "seconds": time.perf_counter() - start,
            }
            sink.write(json.dumps(row) + "\n")
            sink.flush()


if __name__ == "__main__":
    main()
