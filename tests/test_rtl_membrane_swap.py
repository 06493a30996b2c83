"""Off-chip membranes (issue 14): the membranes of the layers that do not fit the
membrane memory live in DRAM and are swapped through one on-chip buffer over the
weight port's AXI4 master, in Amaranth's simulator against the golden model.
Against a memory of fixed latency every result and the cycle count equal the
golden model and its port timeline (golden/memory.py ``port_cycles`` with
``swaps``) exactly, and the beats written equal the model's (none before the
first fire: timestep 1 initialises a swapped layer in its buffer); under random
pauses on every channel the results stay bit-identical and the cycles only grow."""

import dataclasses

import numpy as np
import pytest

from atsnn import AtsnnError
from atsnn.golden import memory
from atsnn.rtl.compiler import plan, dram_image
from atsnn.rtl.config import BURST_BYTES, HwConfig
from rtl_harness import run_core, compare, inputs_for
from test_rtl_core import KINDS
from test_rtl_weight_port import streamed


def swapped(image, grid, stream=True):
    """The port config with off-chip membranes whose membrane memory holds the
    largest layer and half the others: the first layers go off chip."""
    config = streamed(image, grid)
    if not stream:
        config = dataclasses.replace(config, weight_depth=1 << 14)
    words = [l.bank_words for l in plan(image, config, stream=stream).layers
             if l.kind != "output"]
    depth = max(words) + (sum(words) - max(words)) // 2
    return dataclasses.replace(config, membrane_swap=True, membrane_depth=depth)


def _check(kind, seed, samples, grid, latency, pauses=False, stream=True):
    rng = np.random.default_rng(seed)
    image = KINDS[kind](rng)
    x = inputs_for(rng, image, samples)
    config = swapped(image, grid, stream)
    p = plan(image, config, stream=stream)
    assert p.swaps and p.membrane_words <= config.membrane_depth
    mem = {"latency": latency, "rng": np.random.default_rng(seed) if pauses else None}
    results, state = run_core(image, x, config=config, memory=mem, stream=stream)
    assert state["loaded"] and state["errors"].as_value().value == 0
    assert len(results) == samples and state["images_done"] == samples

    def model(g, details=False):
        return memory.port_cycles(image, g, p.tiles, latency, BURST_BYTES // config.axi_bytes,
                                  details=details, swaps=p.swaps, row_beats=config.row_beats)
    if not pauses:
        g = compare(image, x, results, config.lanes, grid, cycles=model)
        d = model(g, details=True)
        # a swapped layer is written after every fire and read from timestep 2
        # on: timestep 1 initialises it in its buffer
        per_t = sum(p.swaps.values()) * config.row_beats
        assert list(d["swap_write_beats"]) == [per_t * t for t in g.exit_t]
        assert list(d["swap_read_beats"]) == [per_t * (t - 1) for t in g.exit_t]
        assert state["written"] == d["swap_write_beats"].sum()
        return
    seen = [r["cycles"] for r in results]
    g = compare(image, x, results, config.lanes, grid, cycles=lambda g: seen)
    assert all(c >= m for c, m in zip(seen, model(g))), (seen, model(g))


#: The kinds with two hidden layers or more (with one, a buffer saves nothing).
SWAPPABLE = sorted(k for k in KINDS if not k.startswith("linear"))
FAST = ["conv-static", "conv-residual", "conv-pool-residual", "conv-downsample", "s2nn-events"]


@pytest.mark.parametrize("kind", FAST)
def test_swapped_network_matches_golden(kind):
    """Network kinds with the grid and the latency rotated over them."""
    i = FAST.index(kind)
    _check(kind, 500 + i, 2, grid=1 + i % 3, latency=(8, 40, 1)[i % 3])


def test_swapped_network_with_weights_on_chip():
    """The weights fit on chip (no tiles): only the swaps use the port."""
    _check("conv-pool", 3, 2, grid=1, latency=8, stream=False)


@pytest.mark.parametrize("kind", ["conv-residual", "conv-static-downsample"])
def test_swapped_network_under_random_pauses(kind):
    _check(kind, 9, 2, grid=1, latency=40, pauses=True)


def test_slower_memory_never_finishes_sooner():
    """The case where, before the port kept one order (tiles wait in the table
    for the swaps before them), a paused memory let a swap overtake a tile and
    the image end 18 cycles before the fixed-latency model."""
    _check("s2nn-events", 1, 2, grid=1, latency=40, pauses=True)


def test_tiles_wait_for_the_swaps_before_them():
    """Each tile's ``holds``: the swapped layer's in (or timestep 1's init walk)
    before its first tile, its out and the next one's in between layers."""
    image = KINDS["conv-residual"](np.random.default_rng(4))
    config = swapped(image, 1)
    p = plan(image, config, stream=True)
    swapped_layers = [i for i, hw in enumerate(p.layers) if hw.swap]
    assert swapped_layers and swapped_layers[0] == 0
    assert sum(t.holds for t in p.tiles) == 2 * len(swapped_layers)
    first = {}
    for t in p.tiles:
        first.setdefault(t.layer, t)
    assert first[0].holds == 1
    for i, t in first.items():
        if i:
            assert t.holds == (i - 1 in swapped_layers) + (i in swapped_layers)
    assert all(t.holds == 0 for t in p.tiles if t is not first[t.layer])


@pytest.mark.slow
@pytest.mark.parametrize("pauses", [False, True], ids=["fixed", "pauses"])
@pytest.mark.parametrize("grid", [1, 2, 3])
@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("kind", SWAPPABLE)
def test_many_swapped_networks_match_golden(kind, seed, grid, pauses):
    _check(kind, seed, 2, grid, latency=(3, 40)[seed], pauses=pauses)


def _net(kind="conv-residual", seed=4):
    return KINDS[kind](np.random.default_rng(seed))


def test_the_first_layers_go_off_chip_until_the_rest_and_one_buffer_fit():
    image = _net()
    base = streamed(image, 1)
    words = [l.bank_words for l in plan(image, base, stream=True).layers][:-1]
    assert len(words) >= 3
    # room for the largest layer as the buffer plus every later layer but one word
    depth = max(words[:1]) + sum(words[1:]) - 1
    config = dataclasses.replace(base, membrane_swap=True, membrane_depth=depth)
    p = plan(image, config, stream=True)
    off = [l.swap for l in p.layers]
    n = sum(off)
    assert n >= 1 and off == [True] * n + [False] * (len(off) - n)
    buffer = max(words[:n])
    assert [l.membrane_base for l in p.layers[:n]] == [0] * n
    assert p.layers[n].membrane_base == buffer
    assert p.membrane_words == buffer + sum(words[n:]) <= depth
    # each region on a burst boundary, after the weight tiles, in the DRAM image
    offsets = [l.swap_offset for l in p.layers[:n]]
    assert offsets[0] >= p.tiles[-1].offset and all(o % BURST_BYTES == 0 for o in offsets)
    assert dram_image(image, config, stream=True).size == p.dram_bytes
    assert p.swaps == {i: words[i] for i in range(n)}


def test_a_model_that_fits_is_not_swapped():
    image = _net()
    base = streamed(image, 1)
    config = dataclasses.replace(base, membrane_swap=True)
    p, q = plan(image, config, stream=True), plan(image, base, stream=True)
    assert p.swaps == {}
    assert [l.membrane_base for l in p.layers] == [l.membrane_base for l in q.layers]


def test_a_buffer_larger_than_the_membrane_memory_is_refused():
    image = _net()
    base = streamed(image, 1)
    largest = max(l.bank_words for l in plan(image, base, stream=True).layers)
    config = dataclasses.replace(base, membrane_swap=True, membrane_depth=largest - 1)
    with pytest.raises(AtsnnError, match=r"membrane words exceed the hardware's"):
        plan(image, config, stream=True)


def test_swapping_without_the_weight_port_is_refused():
    with pytest.raises(TypeError, match="need the weight port"):
        HwConfig(membrane_swap=True)


def test_the_membrane_row_is_padded_to_whole_beats():
    """216 bytes at P = 8 on the 3 x 3 grid: 14 beats of 16 bytes."""
    assert HwConfig(lanes=8, grid=3, weight_port=True, membrane_swap=True).row_beats == 14
    assert HwConfig(lanes=16, weight_port=True, membrane_swap=True).row_beats == 3


@pytest.mark.parametrize("channel", ["slverr", "bslverr"])
def test_a_failed_swap_read_or_write_sets_bad_memory(channel):
    """A membrane read (R) or write (B) answered SLVERR sets ``bad_memory``; the
    images still end with a result; without the error the flag stays clear."""
    rng = np.random.default_rng(21)
    image = KINDS["conv-residual"](rng)
    x = inputs_for(rng, image, 1)
    config = swapped(image, 1, stream=False)
    for errors in ((), (2,)):
        results, state = run_core(image, x, config=config, stream=False,
                                  memory={"latency": 4, channel: errors})
        assert len(results) == 1 and state["images_done"] == 1
        assert state["errors_after"].bad_memory == bool(errors)


def test_cfg_port_says_the_membranes_may_be_swapped():
    """Bit 1 of ``CFG_PORT``: the host must reserve the membrane regions too."""
    from atsnn.rtl.top import config_words
    port = HwConfig(lanes=16, weight_port=True)
    assert config_words(port)["CFG_PORT"] == 1 | 16 << 8
    assert config_words(dataclasses.replace(port, membrane_swap=True))["CFG_PORT"] == 3 | 16 << 8
