"""The catalogue entries of a causal-LM pair's documents: token-level fidelity and greedy
generation (:mod:`pytest_compressguard.metrics.tokens` defines them; the task's pair outputs
give their statistics by name)."""

from __future__ import annotations

from pytest_compressguard.metrics.entry import Assertion, Metric

#: The terminal table of the token metrics.
TOKEN_TABLE = 6


def _token_entry(name: str, meaning: str, label: str, higher: bool, bound: str) -> Metric:
    return Metric(
        name,
        "prediction",
        meaning,
        label,
        higher,
        lm=True,
        interval=True,
        table=TOKEN_TABLE,
        assertion=Assertion(f"assert_{name}", "min" if higher else "max", bound),
    )


#: The token metrics, in report order.
TOKENS: tuple[Metric, ...] = (
    _token_entry(
        "token_kl",
        "mean KL(P_teacher || P_student) over every next-token position, in nats",
        "tok_kl",
        False,
        "the mean per-position KL(teacher || student) in nats (causal LMs)",
    ),
    _token_entry(
        "token_kl_p99",
        "99th percentile of the per-position KL (linear interpolation)",
        "kl_p99",
        False,
        "the 99th percentile of the per-position KL in nats (causal LMs)",
    ),
    _token_entry(
        "top1_agreement",
        "share of positions where both models' most likely token is the same",
        "top1",
        True,
        "the share of positions with the same most likely next token (causal LMs)",
    ),
    _token_entry(
        "perplexity_ratio",
        "exp(mean NLL_student - mean NLL_teacher) on the texts' own next tokens",
        "ppl_ratio",
        False,
        "the student's perplexity over the teacher's on the documents (causal LMs)",
    ),
    _token_entry(
        "generation_agreement",
        "share of documents whose greedy continuations are the same token for token",
        "gen_agree",
        True,
        "the share of documents with the same greedy continuation (causal LMs)",
    ),
)
