"""The quantizable operators of an exported transformer, in groups a person can read.

onnxruntime's dynamic quantization turns into integer operators exactly the nodes that carry
a weight: a ``MatMul`` or ``Gemm`` whose second input is an initializer, and a ``Gather``
whose table is one (the embeddings). :func:`quantizable` lists them; :func:`groups` puts each
in one group: the word embeddings, the position and segment embeddings, and per encoder layer
the attention projections (Q, K, V), the attention output, the two feed-forward matrices; then
the pooler and the head. A node no pattern names gets a group of its own, so the groups always
cover every quantizable node exactly once, whatever the architecture.
"""

from __future__ import annotations

import re
from typing import Any

#: (group name pattern with {layer}, patterns on the node name), first match wins.
_LAYER_ROLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("layer {layer} attention Q/K/V", (r"/(query|key|value|q_lin|k_lin|v_lin)/",)),
    ("layer {layer} attention output", (r"/attention/output/", r"/out_lin/")),
    ("layer {layer} feed-forward in", (r"/intermediate/", r"/lin1/")),
    ("layer {layer} feed-forward out", (r"/output/dense/", r"/lin2/")),
)
_LAYER = re.compile(r"layers?[._/](\d+)")
_OTHER: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("word embeddings", (r"word_embeddings",)),
    ("position and segment embeddings", (r"position_embeddings", r"token_type_embeddings")),
    ("pooler", (r"/pooler/",)),
    ("head", (r"classifier", r"qa_outputs", r"pre_classifier")),
)


def quantizable(graph: Any) -> list[str]:
    """The names of the nodes onnxruntime's dynamic int8 quantization turns into integer
    operators, in graph order."""
    weights = {init.name for init in graph.initializer}
    found = []
    for node in graph.node:
        if node.op_type in ("MatMul", "Gemm") and len(node.input) > 1:
            carries = node.input[1] in weights
        elif node.op_type == "Gather" and node.input:
            carries = node.input[0] in weights
        else:
            carries = False
        if carries:
            found.append(node.name)
    return found


def layer_of(node: str) -> int | None:
    """The encoder layer a node belongs to, from its name (None: outside the stack)."""
    found = _LAYER.search(node)
    return int(found.group(1)) if found else None


def group_of(node: str) -> str:
    """The readable group of a quantizable node, from its name."""
    layer = layer_of(node)
    if layer is not None:
        for name, patterns in _LAYER_ROLES:
            if any(re.search(p, node) for p in patterns):
                return name.format(layer=layer)
    for name, patterns in _OTHER:
        if any(re.search(p, node) for p in patterns):
            return name
    return f"other: {node}"


def groups(graph: Any) -> dict[str, list[str]]:
    """Every quantizable node of the graph in exactly one group, groups in graph order."""
    out: dict[str, list[str]] = {}
    for node in quantizable(graph):
        out.setdefault(group_of(node), []).append(node)
    return out


def weight_bytes(graph: Any) -> dict[str, int]:
    """The float32 bytes of each quantizable node's weight (what keeping it costs)."""
    import numpy as np

    sizes = {init.name: int(np.prod(init.dims, dtype=np.int64)) * 4 for init in graph.initializer}
    wanted = set(quantizable(graph))
    out = {}
    for node in graph.node:
        if node.name in wanted:
            weight = node.input[0] if node.op_type == "Gather" else node.input[1]
            out[node.name] = sizes[weight]
    return out
