"""Host side of the accelerator: model load words, image words, result decoding.

The three word formats are documented in docs/architecture.md ("Stream word
formats"); the layouts they pack are those of :mod:`atsnn.rtl.config`.
"""

import math
import dataclasses
from dataclasses import dataclass, field

import numpy as np

from atsnn import AtsnnError
from atsnn.model_image import Layer, ModelImage, layer_bound_bits
from .config import (HwConfig, TILE_HOLDS_BITS, GlobalLayout, DescriptorLayout, ParamLayout, WeightLayout,
                     TauLayout, TileLayout, BURST_BYTES, SECTION, LOAD_MAGIC, IMAGE_MAGIC, STEP_MAGIC,
                     RESULT_MAGIC, DIM_BITS, VALUE_BITS, WEIGHT_BITS, MAX_EDGES)

__all__ = ["compile_model", "dram_image", "encode_input", "decode_result", "plan", "Plan",
           "HwLayer", "HwEdge", "Tile"]


def _model_image(image):
    """The typed model image, or TypeError for anything else."""
    if not isinstance(image, ModelImage):
        raise TypeError(f"Expected a model image (atsnn.model_image.ModelImage), not {image!r}")
    return image


def _fail(what):
    raise AtsnnError(f"model does not fit the accelerator: {what}")


@dataclass(eq=False)     # eq=False: comparing would compare weight arrays
class HwEdge:
    """One input edge of a hardware layer: what the scatter unit needs to walk it
    and the weights it reads. Named fields, so the descriptor packing
    (`_edge_fields`) and the weight layout (`_weights`) read one definition.

    The weight memory fields are 0 until `Plan` allocates.
    """
    source: str                 # image name of the source: "input" or a layer
    source_index: int           # hardware layer of the source, or config.src_input
    linear: bool                # linear edge (else conv)
    weight: np.ndarray = field(repr=False)   # the image's weight array
    source_shape: tuple         # (C, H, W) the edge reads, (N, 1, 1) for a flat source
    kernel: int                 # 1 for linear
    stride: int                 # 1 for linear
    padding: int                # 0 for linear
    # weight memory layout, set by Plan._allocate (docs/architecture.md, "Building
    # it: the layout and the units")
    padded_inputs: int = 0      # input index range per output channel group, P-padded
    group_step: int = 0         # weight words between output channel groups (linear:
                                # between passes of K^2 output groups)
    column_step: int = 0        # weight words between kernel columns stepped
    row_step: int = 0           # weight words between kernel rows stepped
    slots: int = 1              # conv: weight slots per kernel row, S (k at grid 1); linear: 1
    source_width: int = 0       # linear edge from a conv layer: its pooled width (the spike
                                # index's row step); 0 for a conv edge or a flat source (whose
                                # spikes all sit in bank 0, so the field is never used)
    weight_words: int = 0       # weight words of the edge
    weight_base: int = 0        # first weight word
    # streamed weights (weight port, Plan.stream): the edge's tiles, whole output
    # groups (linear: whole passes) each, as many as a tile buffer holds
    tiles: list = field(default_factory=list)   # Tile, in order
    tile_steps: int = 0         # output groups (linear: passes) of a full tile
    tile_mstep: int = 0         # membrane words between the first groups of two tiles


@dataclass(frozen=True)
class Tile:
    """One weight tile of a streamed edge: its first output group step (a conv
    edge's group, a linear edge's pass) and step count, its words, and its
    place in DRAM (bytes from ``dram_base``, a ``BURST_BYTES`` boundary)."""
    layer: int
    edge: int
    first: int
    steps: int
    words: int
    offset: int
    beats: int
    holds: int = 0      # port-holding phases between the tile before it and it


@dataclass(eq=False)     # eq=False: comparing would compare the image layer's arrays
class HwLayer:
    """One hardware layer: a conv, linear or output layer of the image with the
    max-pool that follows it fused in (the hardware has no separate pool layer),
    holding what its descriptor and parameter words are packed from.

    The memory fields are 0 (and `pooled_shape` None) until `Plan` allocates.
    """
    name: str                   # image name of the layer
    kind: str                   # "conv", "linear" or "output"
    shape: tuple                # (C, H, W), (N, 1, 1) for linear and output
    groups: int                 # channel groups of P lanes
    image_layer: Layer = field(repr=False)   # the image's layer (bias, theta, leak, reset)
    pool: int = 1               # fused max-pool kernel, 1 = none
    edges: list = field(default_factory=list)        # HwEdge, in the image's order
    consumers: list = field(default_factory=list)    # image names of the layers reading it
    static: bool = False        # fed by the static input
    # memory layout, set by Plan._allocate; at grid K the membranes are banked over
    # K x K output positions (conv) or K^2 groups (flat: linear, output)
    flat: bool = False          # linear or output layer: group g in bank g mod K^2
    block_shape: tuple = (1, 1)         # (Hb, Wb) = (ceil(H / K), ceil(W / K)): bank words per axis
    pooled_blocks: tuple = (1, 1)       # (ceil(pH / K), ceil(pW / K)): the pooled map's blocks
    neuron_words: int = 0       # init and fire walk: G * Hb * Wb (conv), G (flat)
    bank_groups: int = 1        # flat: ceil(G / K^2) group words per bank; conv: 1
    bank_words: int = 0         # membrane (or accumulator) words per bank
    event_words: int = 0        # event queue words: G * ceil(pH / K) * ceil(pW / K) (conv), G (flat)
    param_base: int = 0         # first parameter word (one per channel group)
    membrane_base: int = 0      # first membrane word (0 for the output layer)
    event_base: int = 0         # first event queue word (0 for the output layer)
    last_group_lanes: int = 0   # valid lanes of the last channel group
    pooled_shape: tuple = None  # (C, H // pool, W // pool)
    swap: bool = False          # membranes in DRAM, swapped through the buffer at word 0
    swap_offset: int = 0        # their DRAM region's byte offset from dram_base


class Plan:
    """How a model maps onto the hardware: layers, memory bases, shapes.

    Built from the typed image once; `compile_model`, `encode_input` and
    `decode_result` all read this plan (encode and decode take a Plan to skip
    re-planning per image).
    """

    def __init__(self, config, image, stream=None):
        self.config = config
        self._stream = stream
        self.image = image
        self.t_max = int(image.t_max)
        self.static = image.input.kind == "static"
        self.input_shape = tuple(int(s) for s in image.input.shape)   # as the image has it
        self.zero_point = int(image.input.zero_point)
        self.layers = []        # HwLayer
        self.hw_of = {}         # image layer name -> hardware layer index
        self.pool_of = {}       # conv hw index -> maxpool image layer name
        self._build()

    # --- shapes -------------------------------------------------------------

    def _input_view(self):
        """Shape (C, H, W) of the input as its edges read it (flattened for linear)."""
        shape = self.input_shape
        ops = {e.op for l in self.image.layers for e in l.inputs if e.source == "input"}
        if len(shape) == 1:
            return (shape[0], 1, 1)
        if "linear" in ops:
            if "conv" in ops and shape[1:] != (1, 1):
                _fail("the input feeds both a conv and a linear edge")
            return (math.prod(shape), 1, 1)
        return shape

    def _build(self):
        config = self.config
        P = config.lanes
        if self.t_max > config.t_max:
            _fail(f"T_max {self.t_max} exceeds the hardware's {config.t_max} "
                  f"by {self.t_max - config.t_max}")
        self.in_shape = self._input_view()
        self.in_groups = -(-self.in_shape[0] // P)
        for value, what in ((self.in_groups, "channel groups"), (self.in_shape[1], "height"),
                            (self.in_shape[2], "width")):
            if value >= 1 << DIM_BITS:
                _fail(f"the input's {what} {value} exceeds {(1 << DIM_BITS) - 1}")
        views = {"input": (self.in_shape, None)}   # name -> (out shape, hw index)
        for layer in self.image.layers:
            name = layer.name
            if layer.kind == "maxpool":
                src = layer.source
                hw = self.hw_of.get(src)
                if hw is None or self.layers[hw].kind != "conv" or hw in self.pool_of:
                    _fail(f"maxpool {name!r} must follow a conv layer it alone pools")
                if self.layers[hw].consumers:
                    _fail(f"conv {src!r} feeds other layers besides maxpool {name!r}")
                k = int(layer.kernel)
                if k > 15:
                    _fail(f"maxpool {name!r} kernel {k} exceeds 15 by {k - 15}")
                self.layers[hw].pool = k
                self.pool_of[hw] = name
                self.hw_of[name] = hw
                views[name] = (_chw(layer.shape), hw)
                views[src] = (None, hw)     # no longer readable un-pooled
                continue
            C, H, W = _chw(layer.shape)
            hw = HwLayer(name=name, kind=layer.kind, shape=(C, H, W), groups=-(-C // P),
                         image_layer=layer)
            edges = layer.inputs
            if len(edges) > MAX_EDGES:
                _fail(f"layer {name!r} has {len(edges)} input edges, the hardware "
                      f"takes {MAX_EDGES} ({len(edges) - MAX_EDGES} too many)")
            for e in edges:
                src_shape, src_hw = views[e.source]
                if src_shape is None:
                    _fail(f"layer {name!r} reads {e.source!r} before its max-pool")
                if src_hw is not None:
                    self.layers[src_hw].consumers.append(name)
                linear = e.op == "linear"
                if linear:
                    k, stride, pad = 1, 1, 0
                else:
                    k, stride, pad = int(e.kernel), int(e.stride), int(e.padding)
                edge = HwEdge(source=e.source,
                              source_index=config.src_input if src_hw is None else src_hw,
                              linear=linear, weight=e.weight, source_shape=src_shape,
                              kernel=k, stride=stride, padding=pad)
                if not linear:
                    if k > 15 or pad > 15:
                        _fail(f"layer {name!r}: kernel {k} / padding {pad} exceed 15")
                    if stride not in (1, 2, 4, 8):
                        _fail(f"layer {name!r}: stride {stride} is not 1, 2, 4 or 8")
                if src_hw is None and self.static:
                    hw.static = True
                hw.edges.append(edge)
            self.hw_of[name] = len(self.layers)
            views[name] = ((C, H, W), len(self.layers))
            self.layers.append(hw)
        if len(self.layers) > config.max_layers:
            _fail(f"{len(self.layers)} hardware layers exceed {config.max_layers} by "
                  f"{len(self.layers) - config.max_layers}")
        if self.static and not self.layers[0].static:
            _fail("the static input must feed the first layer")
        self._allocate()

    def _allocate(self):
        """Memory bases and steps at grid K (docs/architecture.md, "Building it: the
        layout and the units"): membrane, accumulator and event depths count words
        per bank; at K = 1 this is the unbanked layout."""
        config = self.config
        P = config.lanes
        K = config.grid
        K2 = K * K
        mbase = ebase = pbase = wbase = 0
        for i, hw in enumerate(self.layers):
            C, H, W = hw.shape
            for value, what in ((hw.groups, "channel groups"), (H, "height"), (W, "width")):
                if value >= 1 << DIM_BITS:
                    _fail(f"layer {hw.name!r}: {what} {value} exceeds "
                          f"{(1 << DIM_BITS) - 1}")
            hw.param_base = pbase
            pbase += hw.groups
            hw.last_group_lanes = C - (hw.groups - 1) * P
            k = hw.pool
            if H % k or W % k:
                _fail(f"layer {hw.name!r}: {H}x{W} is not a multiple of the pool {k}")
            if K > 1 and k & (k - 1):
                _fail(f"layer {hw.name!r}: max-pool kernel {k} is not a power of two, "
                      f"which the {K}x{K} bank grid needs")
            hw.pooled_shape = (C, H // k, W // k)
            hw.flat = hw.kind != "conv"
            hw.block_shape = (-(-H // K), -(-W // K))
            hw.pooled_blocks = (-(-hw.pooled_shape[1] // K), -(-hw.pooled_shape[2] // K))
            if hw.flat:
                hw.neuron_words = hw.groups
                hw.bank_groups = -(-hw.groups // K2)
                hw.bank_words = hw.bank_groups
                hw.event_words = hw.groups
            else:
                hw.neuron_words = hw.groups * hw.block_shape[0] * hw.block_shape[1]
                hw.bank_groups = 1
                hw.bank_words = hw.neuron_words
                hw.event_words = hw.groups * hw.pooled_blocks[0] * hw.pooled_blocks[1]
            if hw.kind == "output":
                if i != len(self.layers) - 1:
                    _fail("the output layer must be last")
                hw.membrane_base = 0
                hw.event_base = 0
            else:
                hw.membrane_base = mbase
                mbase += hw.bank_words
                hw.event_base = ebase
                ebase += hw.event_words
            for e in hw.edges:
                Cs, Hs, Ws = e.source_shape
                gs = -(-Cs // P)
                if e.linear:
                    # pass p: output groups p K^2 .. at wbase + p * cin_pad + j
                    e.padded_inputs = gs * Hs * Ws * P
                    e.group_step = e.padded_inputs
                    e.column_step = e.row_step = 0
                    e.slots = 1
                    src_conv = (e.source_index != config.src_input
                                and not self.layers[e.source_index].flat)
                    e.source_width = Ws if src_conv else 0
                    e.weight_words = hw.bank_groups * e.group_step
                else:
                    S = _slots(e.kernel, e.stride, K)
                    e.padded_inputs = gs * P
                    e.slots = S
                    e.source_width = 0
                    e.group_step = S * S * e.padded_inputs
                    e.column_step = e.stride * e.padded_inputs
                    e.row_step = e.stride * S * e.padded_inputs
                    e.weight_words = hw.groups * e.group_step
                e.weight_base = wbase
                wbase += e.weight_words
        self.membrane_words = mbase
        if config.membrane_swap and mbase > config.membrane_depth:
            self._swap()
        self.event_words = ebase
        self.param_words = pbase
        self.weight_words = wbase
        if self._stream and not config.weight_port:
            _fail("streamed weights need a weight port (HwConfig.weight_port)")
        self.stream = (config.weight_port and wbase > config.weight_depth
                       if self._stream is None else bool(self._stream))
        self.dram_bytes = 0
        self.tiles = self._tile() if self.stream else []
        for hw in self.layers:
            if hw.swap:
                hw.swap_offset = self.dram_bytes
                size = hw.bank_words * config.row_beats * config.axi_bytes
                self.dram_bytes += -(-size // BURST_BYTES) * BURST_BYTES
        if self.tiles and any(hw.swap for hw in self.layers):
            self._tile_holds()
        self.out_words = self.layers[-1].bank_groups
        if self.layers[-1].kind != "output":
            _fail("the last layer must be the output layer")
        for used, depth, what in (
                (0 if self.stream else self.weight_words, config.weight_depth, "weight words"),
                (len(self.tiles), config.tile_depth, "weight tiles"),
                (self.membrane_words, config.membrane_depth, "membrane words"),
                (self.event_words, config.event_depth, "event queue words"),
                (self.param_words, config.param_depth, "parameter words"),
                (self.out_words, config.out_depth, "output accumulator words")):
            if used > depth:
                _fail(f"{used} {what} exceed the hardware's {depth} by {used - depth}")
        for hw in self.layers:
            pwords = hw.groups * hw.pooled_shape[1] * hw.pooled_shape[2]
            if pwords > 1 << 16:
                _fail(f"layer {hw.name!r}: {pwords} output words exceed 65536")

    def _swap(self):
        """Put the membranes of the first hidden layers in DRAM, in network order,
        until the others and one buffer for the largest of them fit the membrane
        memory (docs/architecture.md, "Off-chip membranes, as built")."""
        depth = self.config.membrane_depth
        hidden = [hw for hw in self.layers if hw.kind != "output"]
        for n in range(1, len(hidden) + 1):
            buffer = max(hw.bank_words for hw in hidden[:n])
            if buffer + sum(hw.bank_words for hw in hidden[n:]) <= depth:
                break
        mbase = buffer
        for i, hw in enumerate(hidden):
            hw.swap = i < n
            hw.membrane_base = 0 if hw.swap else mbase
            mbase += 0 if hw.swap else hw.bank_words
        self.membrane_words = mbase

    def _tile_holds(self):
        """Each tile's ``holds``: the port-holding phases of a timestep between
        the tile before it (cyclically) and it. A swapped layer holds the port
        before its first scatter (timestep 1's init walk, a read in later) and
        after its fire (the write out); the streamer starts a tile only after
        those before it have ended, so the port's operations keep one order."""
        order = []
        for i, hw in enumerate(self.layers):
            order += ["hold"] if hw.swap else []
            order += [k for k, t in enumerate(self.tiles) if t.layer == i]
            order += ["hold"] if hw.swap else []
        counts, n = {}, 0
        for item in order:
            if item == "hold":
                n += 1
            else:
                counts[item], n = n, 0
        if n:   # a hold after the last tile would precede the first only from t = 2
            _fail("a swapped layer after the last streamed tile")
        for k, n in counts.items():
            if n >= 1 << TILE_HOLDS_BITS:
                _fail(f"weight tile {k}: {n} membrane swaps before it exceed "
                      f"{(1 << TILE_HOLDS_BITS) - 1}")
        self.tiles = [dataclasses.replace(t, holds=counts[k]) for k, t in enumerate(self.tiles)]

    def _tile(self):
        """Cut every edge's weights into tiles for the weight port, in the order
        the sequencer scatters them (docs/architecture.md, "The weight port")."""
        config = self.config
        half = config.tile_words
        tiles, offset = [], self.dram_bytes
        for i, hw in enumerate(self.layers):
            for j, e in enumerate(hw.edges):
                steps = hw.bank_groups if e.linear else hw.groups
                e.tile_steps = min(steps, half // e.group_step)
                if e.tile_steps == 0:
                    _fail(f"layer {hw.name!r}: one output group's {e.group_step} weight words "
                          f"exceed a tile buffer's {half} by {e.group_step - half}")
                e.tile_mstep = e.tile_steps * (1 if hw.flat else hw.block_shape[0] * hw.block_shape[1])
                if e.tile_mstep >= 1 << 16:
                    _fail(f"layer {hw.name!r}: {e.tile_mstep} membrane words per tile exceed 65535")
                for first in range(0, steps, e.tile_steps):
                    n = min(e.tile_steps, steps - first)
                    words = n * e.group_step
                    beats = words * config.word_beats
                    e.tiles.append(Tile(i, j, first, n, words, offset, beats))
                    offset += -(-beats * config.axi_bytes // BURST_BYTES) * BURST_BYTES
                if len(e.tiles) > 255:
                    _fail(f"layer {hw.name!r}: {len(e.tiles)} weight tiles exceed 255")
                e.weight_base = 0
                tiles += e.tiles
        self.dram_bytes = offset
        return tiles

    @property
    def swaps(self):
        """``{hardware layer index: membrane rows}`` of the layers whose membranes
        live in DRAM (``golden.memory.port_cycles``'s ``swaps``)."""
        return {i: hw.bank_words for i, hw in enumerate(self.layers) if hw.swap}

    # --- names ----------------------------------------------------------------

    @property
    def spike_names(self):
        """Image layer names of the spike counts in a result, in order."""
        names = []
        for i, hw in enumerate(self.layers[:-1]):
            names.append(hw.name)
            names.append(self.pool_of.get(i))
        return names


def _chw(shape):
    """(C, H, W) of a layer or source shape; (N, 1, 1) for a flat one."""
    shape = tuple(int(s) for s in shape)
    return shape if len(shape) == 3 else (shape[0], 1, 1)


def _slots(k, s, K):
    """S, the weight slots per kernel row of a conv edge (kernel k, stride s) at
    grid K: the largest ``jb * s + r + 1`` over the offsets ``ky = r + s * (jb * K +
    wa) < k`` (``r < s``, ``wa < K``); k at K = 1."""
    return max((j // K) * s + r + 1 for r in range(min(s, k)) for j in range((k - 1 - r) // s + 1))


def plan(image, config=None, stream=None):
    """Map a model image onto the hardware, or raise AtsnnError saying what does not fit.

    ``stream``: with the weight port, stream the weights from DRAM (True), keep
    them on chip (False), or stream them when they exceed the weight memory
    (None)."""
    if config is None:
        config = HwConfig()
    image = _model_image(image)
    p = Plan(config, image, stream)
    _check_bounds(p)
    return p


def _check_bounds(p):
    """Refuse a layer whose membrane bound needs more bits than the hardware has."""
    need = layer_bound_bits(p.image)
    config = p.config
    for hw in p.layers:
        bits = need[hw.name]
        limit = config.acc_bits if hw.kind == "output" else config.membrane_bits
        if bits > limit:
            _fail(f"layer {hw.name!r} needs {bits} membrane bits, the hardware has "
                  f"{limit} ({bits - limit} short)")


# --- packing -------------------------------------------------------------------

def _const(layout, fields):
    """The integer value of a layout filled from nested dicts/lists."""
    from amaranth.lib import data
    from amaranth.hdl import Shape

    def pack(lay, value):
        if isinstance(lay, data.StructLayout):
            out = 0
            for name, field in lay:
                blank = {} if isinstance(field.shape, data.StructLayout) else 0
                out |= pack(field.shape, value.get(name, blank)) << field.offset
            return out
        if isinstance(lay, data.ArrayLayout):
            out = 0
            width = Shape.cast(lay.elem_shape).width
            blank = {} if isinstance(lay.elem_shape, data.StructLayout) else 0
            for i in range(lay.length):
                out |= pack(lay.elem_shape, value[i] if i < len(value) else blank) << (i * width)
            return out
        width = Shape.cast(lay).width
        value = int(value)
        lo = -(1 << (width - 1)) if Shape.cast(lay).signed else 0
        if not lo <= value < lo + (1 << width):
            raise AtsnnError(f"model does not fit the accelerator: value {value} does not "
                             f"fit in {width} bits")
        return value & ((1 << width) - 1)

    return pack(layout, fields)


def _chunks(value, size):
    return [(value >> (32 * i)) & 0xFFFFFFFF for i in range(-(-size // 32))]


def _section(code, layout, entries):
    size = layout.size
    words = [(SECTION[code] << 24) | len(entries)]
    for entry in entries:
        words += _chunks(_const(layout, entry) if not isinstance(entry, int) else entry, size)
    return words


def _edge_fields(e, hw, config=None):
    """The EdgeLayout fields of an HwEdge."""
    fields = {"src": e.source_index, "linear": int(e.linear), "k": e.kernel,
              "shift": e.stride.bit_length() - 1, "pad": e.padding, "wbase": e.weight_base,
              "cin_pad": e.padded_inputs, "s_go": e.group_step, "s_col": e.column_step,
              "s_row": e.row_step, "slots": e.slots, "src_w": e.source_width}
    if config is not None and config.weight_port:
        K2 = config.banks
        last = e.tiles[-1].steps if e.tiles else 0
        fields.update(tiles=len(e.tiles), tile_groups=0, tile_bgroups=0, last_groups=0,
                      last_bgroups=0, tile_mstep=0)
        if e.tiles:
            n = e.tile_steps
            fields.update(
                tile_groups=n * K2 if e.linear else n, tile_bgroups=n if e.linear else 1,
                last_groups=hw.groups - (len(e.tiles) - 1) * n * K2 if e.linear else last,
                last_bgroups=last if e.linear else 1, tile_mstep=e.tile_mstep)
    return fields


def _descriptor(hw, config=None):
    """The DescriptorLayout fields of an HwLayer."""
    C, H, W = hw.shape
    Hb, Wb = hw.block_shape
    layer = hw.image_layer
    return {
        "output": int(hw.kind == "output"), "linear": int(hw.flat),
        "reset_zero": int(layer.reset == "zero"),
        "leak": int(layer.leak_shift or 0),
        "n_edges": len(hw.edges), "pool": hw.pool, "mbase": hw.membrane_base,
        "words": hw.neuron_words, "groups": hw.groups, "bgroups": hw.bank_groups,
        "height": H, "width": W, "bheight": Hb, "bwidth": Wb, "plane": Hb * Wb,
        "pheight": hw.pooled_shape[1], "pwidth": hw.pooled_shape[2],
        "pbheight": hw.pooled_blocks[0], "pbwidth": hw.pooled_blocks[1],
        "pplane": hw.pooled_shape[1] * hw.pooled_shape[2],
        "prow": hw.pool * Wb, "pbase": hw.param_base, "lanes_last": hw.last_group_lanes,
        "ebase": hw.event_base, "edges": [_edge_fields(e, hw, config) for e in hw.edges],
        **({"swap": int(hw.swap), "soff": hw.swap_offset}
           if config is not None and config.membrane_swap else {}),
    }


def _weights(p, hw, e):
    """Weight words of one edge (``K^2 P`` lanes, weight bank ``n`` in lanes ``n P
    ..``), in the order the scatter unit addresses them."""
    P = p.config.lanes
    K = p.config.grid
    K2 = K * K
    w = np.asarray(e.weight).astype(np.int64)
    C = hw.shape[0]
    o = np.arange(C)
    if e.linear:
        # pass p = go div K^2 at p * cin_pad + j, output group go in weight bank go mod K^2
        words = np.zeros((hw.bank_groups, e.group_step, K2 * P), dtype=np.int64)
        Cs, Hs, Ws = e.source_shape
        # index j' = wpos * P + lane, wpos = g*Hs*Ws + y*Ws + x, source channel g*P + lane
        jp = np.arange(e.padded_inputs)
        lane = jp % P
        wpos = jp // P
        g, rest = np.divmod(wpos, Hs * Ws)
        y, x = np.divmod(rest, Ws)
        c = g * P + lane
        ok = c < Cs
        flat = c * Hs * Ws + y * Ws + x
        go = o // P
        words[(go // K2)[:, None], np.nonzero(ok)[0][None, :],
              ((go % K2) * P + o % P)[:, None]] = w[:, flat[ok]]
    else:
        # slot (sy, sx), weight bank (wa, wb): w[o, c, ky, kx], ky = (sy mod s) +
        # s ((sy div s) K + wa), kx likewise; 0 past the kernel
        k, s, S = e.kernel, e.stride, e.slots
        Cs = e.source_shape[0]
        cin = e.padded_inputs
        words = np.zeros((hw.groups, e.group_step, K2 * P), dtype=np.int64)
        taps = [(sl, a, sl % s + s * ((sl // s) * K + a)) for sl in range(S) for a in range(K)]
        taps = [(sl, a, kk) for sl, a, kk in taps if kk < k]
        rows = (o // P)[:, None]
        for sy, wa, ky in taps:
            for sx, wb, kx in taps:
                base = (sy * S + sx) * cin
                words[rows, base + np.arange(Cs)[None, :],
                      ((wa * K + wb) * P + o % P)[:, None]] = w[:, :, ky, kx]
    return words.reshape(-1, K2 * P)


def compile_model(image, config=None, stream=None):
    """Return the load stream words (uint32) of a model image.

    Raises AtsnnError, before anything is sent, when the model does not fit.
    """
    p = plan(image, config, stream)
    config = p.config
    P = config.lanes
    glob = {"n_layers": len(p.layers), "t_max": p.t_max, "static": int(p.static),
            "classes": p.layers[-1].shape[0], "in_groups": p.in_groups,
            "in_height": p.in_shape[1], "in_width": p.in_shape[2]}
    if config.weight_port:
        glob["n_tiles"] = len(p.tiles)
    descs, params, weights = [], [], []
    for hw in p.layers:
        C = hw.shape[0]
        layer = hw.image_layer
        descs.append(_descriptor(hw, config))
        bias = np.asarray(layer.bias).astype(np.int64).reshape(-1)
        theta = (np.asarray(layer.theta).astype(np.int64).reshape(-1)
                 if hw.kind != "output" else np.zeros(C, np.int64))
        if theta.size == 1:
            theta = np.full(C, int(theta[0]))
        for g in range(hw.groups):
            lanes = range(g * P, min(C, g * P + P))
            params.append({"theta": [int(theta[c]) for c in lanes] + [1] * (P - len(lanes)),
                           "bias": [int(bias[c]) for c in lanes]})
        for e in hw.edges:
            if not p.stream:
                weights.append(_weights(p, hw, e))
    weight_words = (np.concatenate(weights) if weights
                    else np.zeros((0, config.array_lanes), np.int64))
    taus = []
    for value in p.image.tau or []:
        if value is None:
            taus.append({"value": 0, "enable": 0})
        else:
            if not -(1 << 31) <= int(value) < 1 << 31:
                _fail(f"tau entry {value} does not fit in 32 bits")
            taus.append({"value": int(value), "enable": 1})
    body = []
    body += _section("global", GlobalLayout(config), [glob])
    body += _section("descriptor", DescriptorLayout(config), descs)
    body += _section("param", ParamLayout(config), params)
    wl = WeightLayout(config)
    body += [(SECTION["weight"] << 24) | len(weight_words)]
    for row in weight_words & 0xFF:
        # Python ints: K^2 P x 8 bits overflows int64 from 8 lanes on.
        word = sum(int(v) << (i * WEIGHT_BITS) for i, v in enumerate(row))
        body += _chunks(word, wl.size)
    body += _section("tau", TauLayout(config), taus)
    if p.stream:
        body += _section("tile", TileLayout(config),
                         [{"addr": t.offset, "beats": t.beats, "holds": t.holds}
                          for t in p.tiles])
    return np.array([LOAD_MAGIC, len(body)] + body, dtype=np.uint32)


def dram_image(image, config=None, stream=None):
    """uint8 [bytes]: what the host writes at ``dram_base`` for the weight port:
    every tile's weight words (``K^2 P`` int8 lanes each, lane 0 first, padded
    with zeros to whole beats), each tile on a ``BURST_BYTES`` boundary, then the
    off-chip membranes' scratch regions (zeros: the host reserves them; each is
    written before it is read); empty when everything fits on chip."""
    p = plan(image, config, stream)
    out = np.zeros(p.dram_bytes, dtype=np.uint8)
    for hw in p.layers:
        for e in hw.edges:
            if not e.tiles:
                continue
            words = _weights(p, hw, e).astype(np.int8).view(np.uint8)
            padded = np.zeros((len(words), p.config.word_beats * p.config.axi_bytes), np.uint8)
            padded[:, :words.shape[1]] = words
            for t in e.tiles:
                rows = padded[t.first * e.group_step:(t.first + t.steps) * e.group_step]
                out[t.offset:t.offset + rows.size] = rows.ravel()
    return out


def encode_input(image, x, config=None):
    """Return the image stream words (uint32) of one input sample.

    ``x``: static input: the pixel array of ``input.shape``; event input: binary
    frames ``[T_max, *input.shape]``.
    """
    p = image if isinstance(image, Plan) else plan(image, config)
    P = p.config.lanes
    x = np.asarray(x)
    shape = p.input_shape
    C, H, W = p.in_shape
    words = []
    if p.static:
        if x.shape != shape:
            raise AtsnnError(f"input shape {x.shape} is not the model's {shape}")
        values = x.astype(np.int64).reshape(C, H, W) - p.zero_point
        lim = 1 << (VALUE_BITS - 1)
        if values.size and (values.min() < -lim or values.max() >= lim):
            raise AtsnnError(f"input values {values.min()}..{values.max()} exceed the "
                             f"hardware's {VALUE_BITS}-bit signed inputs")
        cs, ys, xs = np.nonzero(values)
        for c, yy, xx in zip(cs, ys, xs):
            words += [int(xx) | int(yy) << 8 | int(c // P) << 16 | int(c % P) << 24,
                      int(values[c, yy, xx]) & 0xFFFFFFFF]
        n = len(cs)
        header = IMAGE_MAGIC << 24 | 0 << 16 | n
    else:
        if x.shape != (p.t_max,) + shape:
            raise AtsnnError(f"input shape {x.shape} is not the model's {(p.t_max,) + shape}")
        n = 0
        for t in range(p.t_max):
            frame = (x[t].reshape(C, H, W) != 0)
            G = -(-C // P)
            padded = np.zeros((G * P, H, W), dtype=bool)
            padded[:C] = frame
            masks = (padded.reshape(G, P, H, W) << np.arange(P)[None, :, None, None]).sum(1)
            gs, ys, xs = np.nonzero(masks)
            words.append(STEP_MAGIC << 24 | len(gs))
            for g, yy, xx in zip(gs, ys, xs):
                words += [int(xx) | int(yy) << 8 | int(g) << 16, int(masks[g, yy, xx])]
            n += len(gs)
        header = IMAGE_MAGIC << 24 | p.t_max << 16 | n
    if n > p.config.input_depth:
        raise AtsnnError(f"input has {n} events, the hardware holds {p.config.input_depth} "
                         f"({n - p.config.input_depth} too many)")
    if n >= 1 << 16:
        raise AtsnnError(f"input has {n} events, the image header counts up to 65535")
    return np.array([header] + words, dtype=np.uint32)


def result_words(p):
    """Number of result words per image."""
    return 1 + p.layers[-1].shape[0] + 2 * (len(p.layers) - 1) + 2


def decode_result(words, image, config=None):
    """Decode one image's result words into a dict.

    Keys: ``class``, ``exit_t``, ``u`` (int64 array), ``spikes`` (image layer
    name -> count, summed over the timesteps run), ``cycles``, ``sops``.
    """
    p = image if isinstance(image, Plan) else plan(image, config)
    words = [int(w) & 0xFFFFFFFF for w in words]
    K = p.layers[-1].shape[0]
    if len(words) != result_words(p) or words[0] >> 24 != RESULT_MAGIC:
        raise AtsnnError(f"malformed result: {len(words)} words, expected "
                         f"{result_words(p)} starting with magic {RESULT_MAGIC:#x}")

    def s32(v):
        return v - (1 << 32) if v & 1 << 31 else v

    u = np.array([s32(v) for v in words[1:1 + K]], dtype=np.int64)
    spikes = {}
    counts = words[1 + K:1 + K + 2 * (len(p.layers) - 1)]
    for name, count in zip(p.spike_names, counts):
        if name is not None:
            spikes[name] = count
    return {"class": words[0] & 0xFFFF, "exit_t": (words[0] >> 16) & 0xFF, "u": u,
            "spikes": spikes, "cycles": words[-2], "sops": words[-1]}
