"""Dropping whole upper encoder layers from an exported transformer.

An exported encoder is a stack: the nodes of layer ``i`` (named ``.../layer.i/...``) read the
hidden states layer ``i - 1`` wrote, plus tensors computed before the stack (the attention
mask); the nodes after the stack (pooler, head, graph outputs) read what the top layer wrote.
:func:`truncate` keeps the first ``depth`` layers: the top layer's output becomes an
``Identity`` of layer ``depth - 1``'s, the nodes of the dropped layers and the weights only
they read are removed. The result is what the PyTorch model computes with its
``encoder.layer`` list cut to ``depth`` (the head unchanged, not re-trained).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_compressguard.core.errors import CompressGuardError
from pytest_compressguard.search.groups import layer_of


def count(graph: Any) -> int:
    """How many encoder layers the graph stacks (0 when no node names one)."""
    layers = [layer_of(node.name) for node in graph.node]
    return max((i for i in layers if i is not None), default=-1) + 1


def _output_of(graph: Any, layer: int, readers: set[int | None]) -> str:
    """The one tensor that ``layer`` writes and a node of ``readers`` (None: outside the
    stack, graph outputs included) reads."""
    written = {name for node in graph.node if layer_of(node.name) == layer for name in node.output}
    found = {
        name
        for node in graph.node
        if layer_of(node.name) in readers and layer_of(node.name) != layer
        for name in node.input
        if name in written
    }
    if None in readers:
        found |= {output.name for output in graph.output if output.name in written}
    if len(found) != 1:
        raise CompressGuardError(
            f"the exported graph is not a plain stack of layers: layer {layer} hands "
            f"{len(found)} tensors on, not one"
        )
    return found.pop()


def truncate(source: Path, target: Path, depth: int) -> Path:
    """The graph at ``source`` keeping its first ``depth`` encoder layers, written to
    ``target``."""
    import onnx
    from onnx import helper

    model = onnx.load(str(source))
    graph = model.graph
    layers = count(graph)
    if not 1 <= depth <= layers:
        raise ValueError(f"the graph has {layers} layers; cannot keep {depth}")
    if depth < layers:
        top = _output_of(graph, layers - 1, {None})
        kept = _output_of(graph, depth - 1, {depth})
        nodes = []
        for node in graph.node:
            if (layer_of(node.name) or 0) < depth:
                nodes.append(node)
            if kept in node.output:  # the top layer's output is now a copy of this one's
                nodes.append(helper.make_node("Identity", [kept], [top], name="dropped/layers"))
        known = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
        for node in nodes:  # every input is written by a node that stays, or is a weight
            missing = [name for name in node.input if name not in known]
            if missing:
                raise CompressGuardError(
                    f"the exported graph is not a plain stack of layers: {node.name} reads "
                    f"{missing[0]}, which a dropped layer writes"
                )
            known.update(node.output)
        read = {name for node in nodes for name in node.input}
        weights = [i for i in graph.initializer if i.name in read]
        del graph.node[:]
        graph.node.extend(nodes)
        del graph.initializer[:]
        graph.initializer.extend(weights)
        info = [v for v in graph.value_info if v.name in known]
        del graph.value_info[:]
        graph.value_info.extend(info)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return target
