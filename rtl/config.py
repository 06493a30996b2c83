"""Hardware parameters and the shared layouts of the accelerator.

One source of truth for every width: the host compiler packs load words with
the same layouts the core unpacks them with, the AXI wrapper and synthesis read
the same numbers.
"""

from dataclasses import dataclass

from amaranth.hdl import signed
from amaranth.lib import data

from atsnn.golden.cycles import GRIDS
from atsnn.golden.memory import BURST_BYTES, MAX_BURSTS

__all__ = [
    "HwConfig", "WordLayout", "TileLayout", "TILE_HOLDS_BITS", "BURST_BYTES", "MAX_BURSTS", "ErrorLayout", "EdgeLayout", "DescriptorLayout",
    "GlobalLayout", "EventLayout", "ScatterEventLayout", "InputLayout", "ParamLayout",
    "WeightLayout", "TauLayout", "LoadWriteLayout", "BankOpLayout", "OpLayout", "WriteSelectLayout",
    "PhaseFlagsLayout", "UnitStartLayout",
    "SECTION", "LOAD_MAGIC", "IMAGE_MAGIC", "RESULT_MAGIC",
    "STEP_MAGIC", "DIM_BITS", "VALUE_BITS", "WEIGHT_BITS", "MAX_EDGES",
]

#: One 32-bit stream word; ``last`` is AXI4-Stream TLAST.
WordLayout = data.StructLayout({"data": 32, "last": 1})

#: Sticky error flags, cleared by the next load.
ErrorLayout = data.StructLayout({
    "bad_load_length": 1,   # TLAST early or late in the load stream
    "bad_descriptor": 1,    # unknown section, section past a memory, bad field
    "bad_image": 1,         # bad image header, length or event field
    "bad_memory": 1,        # the weight port's memory answered a read SLVERR or DECERR
})

DIM_BITS = 8          # channel groups, heights, widths (each < 256)
VALUE_BITS = 18       # static input value (pixel - zero_point), signed
WEIGHT_BITS = 8       # weights are stored as int8 lanes
MAX_EDGES = 2         # main path + one residual edge

LOAD_MAGIC = 0xA75E0001
IMAGE_MAGIC = 0xA5
STEP_MAGIC = 0xD5
RESULT_MAGIC = 0xB5

#: Load stream section codes (header word: code << 24 | entry count); ``tile``
#: only with the weight port.
SECTION = {"global": 1, "descriptor": 2, "param": 3, "weight": 4, "tau": 5, "tile": 6}



def _bits(n):
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class HwConfig:
    """Elaboration-time parameters of the accelerator.

    Depths count memory words: a weight word holds ``lanes`` int8 weights, a
    membrane word ``lanes`` potentials of ``membrane_bits``.
    """

    lanes: int = 16
    membrane_bits: int = 24
    acc_bits: int = 32
    weight_depth: int = 16384
    membrane_depth: int = 4096
    event_depth: int = 2048
    input_depth: int = 2048
    param_depth: int = 128
    out_depth: int = 8
    t_max: int = 16
    max_layers: int = 8
    grid: int = 1
    weight_port: bool = False
    tile_depth: int = 256
    membrane_swap: bool = False

    def __post_init__(self):
        if not isinstance(self.lanes, int) or self.lanes < 2 or self.lanes & (self.lanes - 1) \
                or self.lanes > 32:
            raise TypeError(f"Lane count must be a power of two from 2 to 32, not {self.lanes!r}")
        if not isinstance(self.membrane_bits, int) or not 4 <= self.membrane_bits <= 32:
            raise TypeError(f"Membrane width must be an integer from 4 to 32, not "
                            f"{self.membrane_bits!r}")
        if not isinstance(self.acc_bits, int) or not self.membrane_bits <= self.acc_bits <= 32:
            raise TypeError(f"Accumulator width must be an integer from the membrane width "
                            f"({self.membrane_bits}) to 32, not {self.acc_bits!r}")
        for name in ("weight_depth", "membrane_depth", "event_depth", "input_depth",
                     "param_depth", "out_depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 1 <= value <= 1 << 16:
                raise TypeError(f"{name} must be an integer from 1 to 65536, not {value!r}")
        if not isinstance(self.t_max, int) or not 1 <= self.t_max <= 255:
            raise TypeError(f"Largest T_max must be an integer from 1 to 255, not {self.t_max!r}")
        if not isinstance(self.max_layers, int) or not 1 <= self.max_layers <= 32:
            raise TypeError(f"Layer count must be an integer from 1 to 32, not "
                            f"{self.max_layers!r}")
        if not isinstance(self.weight_port, bool):
            raise TypeError(f"weight_port must be a bool, not {self.weight_port!r}")
        if not isinstance(self.tile_depth, int) or not 1 <= self.tile_depth <= 1 << 16:
            raise TypeError(f"tile_depth must be an integer from 1 to 65536, not "
                            f"{self.tile_depth!r}")
        if not isinstance(self.membrane_swap, bool):
            raise TypeError(f"membrane_swap must be a bool, not {self.membrane_swap!r}")
        if self.membrane_swap and not self.weight_port:
            raise TypeError("Off-chip membranes (membrane_swap) need the weight port "
                            "(weight_port), whose AXI4 master they share")
        if self.weight_port and self.weight_depth < 2:
            raise TypeError("The weight port needs a weight depth of at least 2 (two tile "
                            "buffers)")
        if isinstance(self.grid, bool) or self.grid not in GRIDS:
            raise TypeError(f"Bank grid must be one of {', '.join(map(str, GRIDS))}, not "
                            f"{self.grid!r}")

    @property
    def banks(self):
        """Position banks of the PE array: ``grid x grid``, bank ``a * grid + b``
        holding the output positions ``(oy, ox)`` with ``oy mod grid = a``,
        ``ox mod grid = b`` (docs/architecture.md, "Kernel-parallel PE array")."""
        return self.grid * self.grid

    @property
    def array_lanes(self):
        """Lanes of the whole array: P lanes in each position bank."""
        return self.lanes * self.banks

    @property
    def axi_bytes(self):
        """Bytes per beat of the weight port: 16, or a whole weight word's ``K^2 P``
        bytes when it is smaller."""
        return min(16, self.array_lanes)

    @property
    def word_beats(self):
        """Beats of one weight word in DRAM: a word of ``K^2 P`` bytes padded to
        whole beats (72 bytes at P = 8 on the 3 x 3 grid: 5 beats, 80 bytes)."""
        return -(-self.array_lanes // self.axi_bytes)

    @property
    def row_beats(self):
        """Beats of one membrane row in DRAM (with ``membrane_swap``): the words of
        every position bank at one address, ``K^2 P`` potentials of
        ``membrane_bits``, bank 0 lane 0 in the low bits, padded to whole beats
        (216 bytes at P = 8 on the 3 x 3 grid: 14 beats)."""
        return -(-self.banks * self.lanes * self.membrane_bits // (8 * self.axi_bytes))

    @property
    def tile_words(self):
        """Weight words of one tile buffer (the weight memory holds two)."""
        return self.weight_depth // 2

    @property
    def bank_bits(self):
        """Bits of a position bank index (at least 1)."""
        return max(1, (self.banks - 1).bit_length())

    @property
    def lane_bits(self):
        """Bits of a lane index."""
        return (self.lanes - 1).bit_length()

    @property
    def layer_bits(self):
        """Bits of a hardware layer index (and of the layer count): 4 up to 15
        layers, so that the load format of those is unchanged, 6 up to 32."""
        return max(4, self.max_layers.bit_length())

    @property
    def src_input(self):
        """The edge source code of the network input: all ones."""
        return (1 << self.layer_bits) - 1

    @property
    def weight_addr_bits(self):
        return _bits(self.weight_depth) + 1

    @property
    def membrane_addr_bits(self):
        return _bits(max(self.membrane_depth, self.out_depth)) + 1

    @property
    def event_addr_bits(self):
        return _bits(max(self.event_depth, self.input_depth)) + 1

    @property
    def param_addr_bits(self):
        return _bits(self.param_depth) + 1

    @property
    def count_bits(self):
        """Bits of a per-image counter (cycles, SOPs, spikes)."""
        return 32


def EdgeLayout(config):
    """One input edge of a layer, as the scatter unit reads it."""
    wa = config.weight_addr_bits
    return data.StructLayout({
        "src": config.layer_bits,  # source hardware layer, or config.src_input
        "linear": 1,        # linear edge: spike index = wpos * P + lane
        "k": 4,             # kernel size (1 for linear)
        "shift": 2,         # stride = 1 << shift
        "pad": 4,           # zero padding
        "wbase": wa,        # first weight word of the edge
        "cin_pad": wa,      # input index range (channels or flat index, P-padded)
        "s_go": wa,         # weight words between output channel groups
        "s_col": wa,        # weight words between column passes (stride * cin_pad)
        "s_row": wa,        # weight words between row passes (stride * slots * cin_pad)
        "slots": 5,         # weight slots per kernel row: S (k at grid 1)
        "src_w": DIM_BITS,  # linear edge, conv source: its (pooled) width, for the spike index
        **({
            "tiles": 8,             # weight tiles (0: the weights are on chip at wbase)
            "tile_groups": DIM_BITS,   # a full tile's output groups (linear: passes x K^2)
            "tile_bgroups": DIM_BITS,  # its passes of a linear edge (1 for conv)
            "last_groups": DIM_BITS,   # the last tile's
            "last_bgroups": DIM_BITS,
            "tile_mstep": 16,       # membrane words between tiles' first groups
        } if config.weight_port else {}),
    })


def DescriptorLayout(config):
    """One hardware layer (a conv, linear or output layer, a max-pool fused in)."""
    ma = config.membrane_addr_bits
    return data.StructLayout({
        "output": 1,        # non-spiking integrator (accumulator memory)
        "linear": 1,        # flat layer (linear, output): group g in bank g mod K^2, word g div K^2
        "reset_zero": 1,
        "leak": 5,          # leak shift, 0 = no leak
        "n_edges": 2,
        "pool": 4,          # fused max-pool kernel, 1 = none
        "mbase": ma,
        "words": ma,        # init and fire walk: G * Hb * Wb (conv), G (flat)
        "groups": DIM_BITS,
        "bgroups": DIM_BITS,  # flat layer: words per bank, ceil(G / K^2); 1 for conv
        "height": DIM_BITS,
        "width": DIM_BITS,
        "bheight": DIM_BITS,  # bank words along each axis: Hb = ceil(H / K), Wb
        "bwidth": DIM_BITS,
        "plane": 16,        # Hb * Wb: bank words per channel group
        "pheight": DIM_BITS,  # pooled height and width
        "pwidth": DIM_BITS,
        "pbheight": DIM_BITS,  # pooled blocks (fire walk block groups): ceil(pheight / K)
        "pbwidth": DIM_BITS,
        "pplane": 16,       # pheight * pwidth: compact words per group of the pooled map
        "prow": 16,         # pool * Wb: bank words between block-group rows
        "pbase": config.param_addr_bits,
        "lanes_last": config.lane_bits + 1,  # valid lanes of the last group
        "ebase": config.event_addr_bits,
        **({"swap": 1,      # membranes in DRAM, swapped through the buffer at mbase
            "soff": 32,     # their region's byte offset from dram_base
            } if config.membrane_swap else {}),
        "edges": data.ArrayLayout(EdgeLayout(config), MAX_EDGES),
    })


def GlobalLayout(config):
    """Network-wide fields."""
    return data.StructLayout({
        "n_layers": config.layer_bits,  # hardware layers, the output layer last
        "t_max": 8,
        "static": 1,        # static input (else events)
        "classes": 16,
        "in_groups": DIM_BITS,   # input shape as the first edges see it
        "in_height": DIM_BITS,
        "in_width": DIM_BITS,
        **({"n_tiles": 16} if config.weight_port else {}),   # tile table entries
    })


def EventLayout(config):
    """A block event: one bank word of the source (``grid x grid`` positions of
    one channel group) and its spike mask, bank ``a * grid + b`` in mask bits
    ``(a * grid + b) * P ..``: its spikes sit at ``(grid * y + a, grid * x + b)``.
    ``wpos`` is the compact index ``g * pplane + grid * (y * pwidth + x)`` of the
    block's first position (a flat source: its group, mask in bank 0), so that a
    linear edge's spike index is ``(wpos + a * src_w + b) * P + lane``."""
    return data.StructLayout({
        "mask": config.array_lanes,
        "group": DIM_BITS,
        "y": DIM_BITS,
        "x": DIM_BITS,
        "wpos": 16,
    })


def ScatterEventLayout(config):
    """An event on its way into the scatter unit: the stored event plus its input value."""
    return data.StructLayout({**EventLayout(config).members, "value": signed(VALUE_BITS)})


def InputLayout(config):
    """An input event as stored: static inputs carry a value, spikes value 1."""
    return data.StructLayout({
        "mask": config.lanes,
        "group": DIM_BITS,
        "y": DIM_BITS,
        "x": DIM_BITS,
        "value": signed(VALUE_BITS),
    })


def ParamLayout(config):
    """Per channel group of a layer: thresholds and biases, one per lane."""
    return data.StructLayout({
        "theta": data.ArrayLayout(signed(config.membrane_bits), config.lanes),
        "bias": data.ArrayLayout(signed(config.acc_bits), config.lanes),
    })


def WeightLayout(config):
    """One weight word: an int8 weight per lane of every weight bank (bank ``n``
    in lanes ``n * P ..``): all banks read the same word in a pass."""
    return data.ArrayLayout(signed(WEIGHT_BITS), config.array_lanes)


def TauLayout(config):
    return data.StructLayout({"value": signed(32), "enable": 1})


#: Bits of a tile table entry's ``holds``.
TILE_HOLDS_BITS = 3


def TileLayout(config):
    """A tile table entry: the tile's DRAM byte offset from ``dram_base``, its
    beats (``axi_bytes`` each), and ``holds``: the port-holding phases (membrane
    swaps, timestep 1's init walk of an off-chip layer) between the tile before
    it (cyclically) and it in program order, which end before it starts."""
    return data.StructLayout({"addr": 32, "beats": 24, "holds": TILE_HOLDS_BITS})


def section_bits(config):
    """Bits of one entry of each load-stream section."""
    return {"global": GlobalLayout(config).size, "descriptor": DescriptorLayout(config).size,
            "param": ParamLayout(config).size, "weight": WeightLayout(config).size,
            "tau": TauLayout(config).size,
            **({"tile": TileLayout(config).size} if config.weight_port else {})}


def LoadWriteLayout(config):
    """A load-stream entry on its way into its memory: one strobe per section."""
    words = max(-(-bits // 32) for bits in section_bits(config).values())
    return data.StructLayout({"strobe": data.StructLayout({name: 1 for name in SECTION}),
                              "index": 24, "entry": 32 * words})


def BankOpLayout(config):
    """A scatter operation's part for one position bank: whether it writes, its
    target word, and the weight bank whose lanes it takes."""
    return data.StructLayout({"valid": 1, "m": config.membrane_addr_bits,
                              "wsel": config.bank_bits})


def OpLayout(config):
    """One scatter operation (one pass): the weight word all banks read, the
    input value, and each position bank's target."""
    return data.StructLayout({"w": config.weight_addr_bits, "value": signed(VALUE_BITS),
                              "banks": data.ArrayLayout(BankOpLayout(config), config.banks)})


#: Which writer drives each PE-bank write port, set from the phase.
WriteSelectLayout = data.StructLayout({
    "mem_pe": 1, "mem_fire": 1, "mem_init": 1, "acc_pe": 1, "acc_exit": 1, "acc_init": 1})

#: A one-hot copy of the sequencer's phase (``result``: idle, or sending a result).
PhaseFlagsLayout = data.StructLayout({"init": 1, "scatter": 1, "fire": 1, "exit": 1, "result": 1,
                                     "swap_in": 1, "swap_out": 1})

#: The sequencer's start pulses to the units.
UnitStartLayout = data.StructLayout({"init": 1, "scatter": 1, "fire": 1, "exit": 1,
                                     "swap_in": 1, "swap_out": 1})
