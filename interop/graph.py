"""Read a NIR file and put its nodes in execution order (docs/nir.md).

The importer, the NIR simulator and the CLI all need the same thing: a chain
Input -> node -> ... -> Output, checked once here, with one-line errors naming
the node, so none of them has to walk edges or catch nir's assertions.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from atsnn import AtsnnError

#: Node types the importer understands; anything else is refused by name.
LINEAR_TYPES = ("Affine", "Linear", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d")
NEURON_TYPES = ("IF", "LIF", "CubaLIF", "LI", "I")


@dataclass
class Chain:
    """The graph's nodes from its Input to its Output (both excluded), in order."""
    input_shape: tuple
    nodes: list          # [(name, node)]
    metadata: dict       # the graph's "atsnn" metadata (written by export-nir), or {}


def nir_module():
    try:
        import nir
    except ModuleNotFoundError:
        raise AtsnnError("the 'nir' package is not installed (pip install nir)") from None
    return nir


def read(path):
    """The NIRGraph stored in `path`, or an AtsnnError naming the file."""
    nir = nir_module()
    path = Path(path)
    if not path.is_file():
        raise AtsnnError(f"{path}: no such NIR file")
    try:
        return nir.read(path)
    except Exception as e:  # h5py and nir raise anything from OSError to AssertionError
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AtsnnError(f"{path}: cannot read a NIR graph ({reason})") from None


def atsnn_metadata(node):
    """The JSON dict export-nir stores under metadata['atsnn'], or {}."""
    raw = (getattr(node, "metadata", None) or {}).get("atsnn")
    if raw is None:
        return {}
    if isinstance(raw, np.ndarray):
        raw = raw.item()
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        d = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def chain(graph):
    """The graph as a Chain; refuses branches, cycles, subgraphs and unknown types."""
    nir = nir_module()
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    outputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise AtsnnError(f"graph: {len(inputs)} Input and {len(outputs)} Output nodes; "
                         "exactly one of each is imported")
    succ, pred = {}, {}
    for a, b in graph.edges:
        for name in (a, b):
            if name not in graph.nodes:
                raise AtsnnError(f"graph: edge ({a!r}, {b!r}) names no node {name!r}")
        succ.setdefault(a, []).append(b)
        pred.setdefault(b, []).append(a)
    for name in graph.nodes:
        if len(succ.get(name, [])) > 1 or len(pred.get(name, [])) > 1:
            raise AtsnnError(f"node '{name}': {len(pred.get(name, []))} inputs and "
                             f"{len(succ.get(name, []))} outputs; only chains are imported "
                             "(no branches, residuals or recurrent edges)")
    order, name, seen = [], inputs[0], set()
    while name != outputs[0]:
        seen.add(name)
        nxt = succ.get(name, [])
        if not nxt:
            raise AtsnnError(f"node '{name}': no edge leads on to the Output node")
        name = nxt[0]
        if name in seen:
            raise AtsnnError(f"node '{name}': the graph has a cycle (recurrence is not imported)")
        if name != outputs[0]:
            order.append((name, graph.nodes[name]))
    unused = set(graph.nodes) - seen - {outputs[0]}
    if unused:
        raise AtsnnError(f"node '{sorted(unused)[0]}': not on the path from Input to Output")
    for name, node in order:
        kind = type(node).__name__
        if kind not in LINEAR_TYPES + NEURON_TYPES:
            why = ("a subgraph (snnTorch exports RLeaky/RSynaptic this way): recurrence is "
                   "not imported" if kind == "NIRGraph" else "not supported by the importer")
            raise AtsnnError(f"node '{name}': type {kind} is {why}")
    shape = graph.nodes[inputs[0]].input_type.get("input")
    if shape is None:
        raise AtsnnError(f"node '{inputs[0]}': the Input node has no shape")
    return Chain(tuple(int(s) for s in np.asarray(shape).ravel()), order,
                 atsnn_metadata(graph))
