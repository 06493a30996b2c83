"""The weight port (issue 14): weights streamed from DRAM over AXI4 into two tile
buffers, in Amaranth's simulator against the golden model. Against a memory of
fixed latency every result and the cycle count equal the golden model and its
port timeline (golden/memory.py ``port_cycles``) exactly; under random AR and R
pauses the results stay bit-identical and the cycles only grow."""

import dataclasses

import numpy as np
import pytest

from atsnn import AtsnnError
from atsnn.golden import memory
from atsnn.rtl.compiler import plan, dram_image, _weights
from atsnn.rtl.config import BURST_BYTES
from rtl_harness import SMALL, run_core, compare, inputs_for, conv_net
from test_rtl_core import KINDS

PORT = dataclasses.replace(SMALL, lanes=2, weight_port=True)


def streamed(image, grid, slack=0):
    """The port config whose tile buffers hold the largest output group's weights
    (plus ``slack`` words): many tiles."""
    on_chip = plan(image, dataclasses.replace(SMALL, lanes=2, grid=grid, weight_depth=1 << 16))
    step = max(e.group_step for l in on_chip.layers for e in l.edges)
    return dataclasses.replace(PORT, grid=grid, weight_depth=2 * (step + slack))


def _check(kind, seed, samples, grid, latency, pauses=False):
    rng = np.random.default_rng(seed)
    image = KINDS[kind](rng)
    x = inputs_for(rng, image, samples)
    config = streamed(image, grid, slack=seed % 3)
    p = plan(image, config, stream=True)
    assert len(p.tiles) >= len(p.layers)
    mem = {"latency": latency, "rng": np.random.default_rng(seed) if pauses else None}
    results, state = run_core(image, x, config=config, memory=mem, stream=True)
    assert state["loaded"] and state["errors"].as_value().value == 0
    assert len(results) == samples and state["images_done"] == samples

    def model(g):
        return memory.port_cycles(image, g, p.tiles, latency, BURST_BYTES // config.axi_bytes)
    if not pauses:
        return compare(image, x, results, config.lanes, grid, cycles=model)
    # under pauses the cycles are bounded below by the model, not equal to it
    seen = [r["cycles"] for r in results]
    g = compare(image, x, results, config.lanes, grid, cycles=lambda g: seen)
    assert all(c >= m for c, m in zip(seen, model(g))), (seen, model(g))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_streamed_network_matches_golden(kind):
    """Every network kind, the grid and the latency rotated over the kinds."""
    i = sorted(KINDS).index(kind)
    _check(kind, 300 + i, 2, grid=1 + i % 3, latency=(1, 8, 40)[i % 3])


@pytest.mark.parametrize("kind", ["conv-residual", "conv-static-downsample", "linear-events"])
def test_streamed_network_under_random_pauses(kind):
    _check(kind, 7, 2, grid=1, latency=40, pauses=True)


@pytest.mark.slow
@pytest.mark.parametrize("pauses", [False, True], ids=["fixed", "pauses"])
@pytest.mark.parametrize("grid", [1, 2, 3])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_many_streamed_networks_match_golden(kind, seed, grid, pauses):
    _check(kind, seed, 3, grid, latency=(3, 40, 17)[seed], pauses=pauses)


def test_a_slverr_beat_sets_bad_memory_and_the_run_ends():
    """A read answered SLVERR sets the sticky ``bad_memory`` flag (its data still
    written): the images still end and send their results, and the host sees
    that they are not to be trusted. Without an error the flag stays clear."""
    rng = np.random.default_rng(5)
    image = KINDS["conv-residual"](rng)
    x = inputs_for(rng, image, 2)
    config = streamed(image, 1)
    for slverr, flag in (((), 0), ((3,), 1)):
        results, state = run_core(image, x, config=config, stream=True,
                                  memory={"latency": 8, "slverr": slverr})
        assert state["errors"].bad_memory == 0
        assert len(results) == 2 and state["errors_after"].bad_memory == flag
        assert state["errors_after"].as_value().value == flag << 3


def test_a_model_that_fits_on_chip_is_not_streamed():
    """With the port, a model whose weights fit keeps them on chip and runs as
    fast as without it: the golden model's own cycles."""
    rng = np.random.default_rng(11)
    image = conv_net(rng, residual=True)
    config = dataclasses.replace(PORT, weight_depth=4096)
    p = plan(image, config)
    assert not p.stream and p.tiles == [] and dram_image(image, config).size == 0
    x = inputs_for(rng, image, 2)
    results, state = run_core(image, x, config=config)
    compare(image, x, results, config.lanes)


@pytest.mark.parametrize("grid", [1, 3])
def test_dram_image_holds_each_tile_on_a_burst_boundary(grid):
    """At grid 3 (P = 2: 18-byte words) each word is padded to 2 beats of 16."""
    rng = np.random.default_rng(12)
    image = conv_net(rng, pool=True, channels=6)
    config = streamed(image, grid)
    p = plan(image, config, stream=True)
    mem = dram_image(image, config, stream=True)
    assert mem.size == p.dram_bytes
    for hw in p.layers:
        for e in hw.edges:
            words = _weights(p, hw, e).astype(np.int8).view(np.uint8)
            assert sum(t.steps for t in e.tiles) * e.group_step == len(words)
            stride = config.word_beats * config.axi_bytes
            for t in e.tiles:
                assert t.offset % BURST_BYTES == 0 and t.beats == t.words * config.word_beats
                got = mem[t.offset:t.offset + t.words * stride].reshape(t.words, stride)
                want = words[t.first * e.group_step:(t.first + t.steps) * e.group_step]
                np.testing.assert_array_equal(got[:, :config.array_lanes], want)
                assert not got[:, config.array_lanes:].any()


def test_a_group_larger_than_a_tile_buffer_is_refused():
    rng = np.random.default_rng(13)
    image = conv_net(rng, channels=6)
    config = streamed(image, 1)
    small = dataclasses.replace(config, weight_depth=config.weight_depth - 2)
    with pytest.raises(AtsnnError, match=r"one output group's \d+ weight words exceed a tile "
                                         r"buffer's \d+ by 1"):
        plan(image, small, stream=True)


def test_more_tiles_than_the_table_holds_are_refused():
    rng = np.random.default_rng(14)
    image = conv_net(rng, channels=6)
    config = streamed(image, 1)
    n = len(plan(image, config, stream=True).tiles)
    with pytest.raises(AtsnnError, match=rf"{n} weight tiles exceed the hardware's {n - 1} by 1"):
        plan(image, dataclasses.replace(config, tile_depth=n - 1), stream=True)


def test_streaming_without_a_port_is_refused():
    image = conv_net(np.random.default_rng(15))
    with pytest.raises(AtsnnError, match="need a weight port"):
        plan(image, SMALL, stream=True)
