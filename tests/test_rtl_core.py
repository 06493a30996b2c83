"""The Accelerator core in Amaranth's simulator against the golden model: class,
exit timestep, U, spikes per layer, SOPs and cycles must be equal, exactly."""

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from rtl_harness import (SMALL, run_core, compare, linear_events_net, static_linear_net,
                         conv_net, deep_linear_net, inputs_for)

KINDS = {
    "linear-events": lambda rng: linear_events_net(rng),
    "linear-static": lambda rng: static_linear_net(rng),
    "conv-events": lambda rng: conv_net(rng),
    "conv-static": lambda rng: conv_net(rng, static=True),
    "conv-pool": lambda rng: conv_net(rng, pool=True),
    "conv-static-pool": lambda rng: conv_net(rng, static=True, pool=True),
    "conv-residual": lambda rng: conv_net(rng, residual=True),
    "conv-pool-residual": lambda rng: conv_net(rng, pool=True, residual=True),
    "conv-downsample": lambda rng: conv_net(rng, downsample=True),
    "conv-static-downsample": lambda rng: conv_net(rng, static=True, downsample=True),
    "s2nn-static": lambda rng: conv_net(rng, static=True, pool=True, t_max=1),
    "s2nn-events": lambda rng: conv_net(rng, t_max=1),
}


def _check(kind, seed, samples, grid=1):
    rng = np.random.default_rng(seed)
    image = KINDS[kind](rng)
    x = inputs_for(rng, image, samples)
    config = dataclasses.replace(SMALL, grid=grid)
    results, state = run_core(image, x, config=config)
    assert state["loaded"] and state["errors"].as_value().value == 0
    assert len(results) == samples and state["images_done"] == samples
    compare(image, x, results, SMALL.lanes, grid)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_random_network_matches_golden(kind):
    _check(kind, 100, 2)


@pytest.mark.parametrize("grid", [2, 3])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_random_network_matches_golden_on_the_bank_grid(kind, grid):
    """The kernel-parallel array (K x K position banks): results and cycles
    equal the golden model at that grid."""
    _check(kind, 200 + grid, 2, grid)


@pytest.mark.slow
@pytest.mark.parametrize("grid", [1, 2, 3])
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_many_random_networks_match_golden(kind, seed, grid):
    _check(kind, seed, 3, grid)


def _hypothesis_networks(examples):
    @settings(max_examples=examples, deadline=None, derandomize=examples < 20,
              suppress_health_check=[HealthCheck.too_slow])
    @given(kind=st.sampled_from(sorted(KINDS)), seed=st.integers(0, 2**32 - 1),
           samples=st.integers(1, 3), grid=st.sampled_from([1, 2, 3]))
    def check(kind, seed, samples, grid):
        _check(kind, seed, samples, grid)
    return check


def test_hypothesis_networks_match_golden():
    """Hypothesis draws the network kind, its seed, the batch and the bank grid: 12 examples by
    default (derandomized, so CI is repeatable), 200 in the slow tier."""
    _hypothesis_networks(12)()


@pytest.mark.slow
def test_hypothesis_many_networks_match_golden():
    _hypothesis_networks(200)()


@pytest.mark.parametrize("static", [False, True], ids=["events", "static"])
def test_wide_layers_use_every_lane(static):
    """20 channels at P = 16: a full and a partial group, every lane of a
    128-bit weight word (a host packing that overflowed 64 bits once lost
    lanes 8 to 15)."""
    from atsnn.rtl.config import HwConfig
    wide = HwConfig(lanes=16, weight_depth=512, membrane_depth=256, event_depth=256,
                    input_depth=256, param_depth=16, out_depth=2, t_max=4,
                    max_layers=4)
    rng = np.random.default_rng(11)
    image = conv_net(rng, static=static, pool=True, channels=20)
    x = inputs_for(rng, image, 2)
    results, state = run_core(image, x, config=wide)
    assert state["loaded"] and len(results) == 2
    g = compare(image, x, results, wide.lanes)
    assert g.spikes[:, :, 0].sum() > 0


def test_thirty_two_layers_match_golden():
    """32 hardware layers (issue 14): layer indices, edge sources and the layer
    count take 6 bits, the input's source code is 63; results and cycles exact."""
    deep = dataclasses.replace(SMALL, max_layers=32, param_depth=64)
    assert deep.layer_bits == 6 and deep.src_input == 63 and SMALL.layer_bits == 4
    rng = np.random.default_rng(32)
    image = deep_linear_net(rng, 32)
    assert len(image.layers) == 32
    x = inputs_for(rng, image, 2)
    results, state = run_core(image, x, config=deep)
    assert state["loaded"] and state["errors"].as_value().value == 0 and len(results) == 2
    g = compare(image, x, results, deep.lanes)
    assert g.spikes[:, :, 30].sum() > 0, "the deepest layer never fired: a weak test"


def test_tau_override_port_changes_the_exit():
    """A host-written tau entry replaces the loaded one: tau[0] = -1000 exits at t = 1."""
    rng = np.random.default_rng(7)
    image = linear_events_net(rng)
    image.tau = [None] * (image.t_max - 1)
    x = inputs_for(rng, image, 1)
    seen = {}

    async def override(ctx, dut, p):
        ctx.set(dut.tau_addr, 0)
        ctx.set(dut.tau_data, -1000)
        ctx.set(dut.tau_enable, 1)
        ctx.set(dut.tau_we, 1)
        await ctx.tick()
        ctx.set(dut.tau_we, 0)
        await ctx.tick()                # the entry changes the cycle after tau_we
        seen["read"] = (ctx.get(dut.tau_rdata), ctx.get(dut.tau_renable))
        from rtl_harness import stream_put, stream_get_packet
        from atsnn.rtl.compiler import encode_input, decode_result
        await stream_put(ctx, dut.image, encode_input(p, x[0]))
        seen["result"] = decode_result(await stream_get_packet(ctx, dut.result), p)

    results, _ = run_core(image, x, extra=override)
    assert results[0]["exit_t"] == image.t_max          # loaded table: never exits early
    assert seen["read"] == (-1000, 1)
    image.tau = [-1000] + [None] * (image.t_max - 2)
    compare(image, x, [seen["result"]], SMALL.lanes)
    assert seen["result"]["exit_t"] == 1


@pytest.mark.parametrize("built,compiled", [(3, 1), (1, 3), (2, 3)])
def test_a_load_for_another_grid_is_refused(built, compiled):
    """A load stream compiled for another bank grid never reports loaded (its
    layout would give silently wrong results): its weight entries are K^2 P
    lanes wide, so the stream's length or its sections do not match the core's,
    and the flag says which."""
    from atsnn.rtl.compiler import compile_model
    image = KINDS["conv-pool"](np.random.default_rng(3))
    load = compile_model(image, dataclasses.replace(SMALL, grid=compiled))
    _, state = run_core(image, [], config=dataclasses.replace(SMALL, grid=built), load=load)
    assert not state["loaded"]
    assert state["errors"].bad_descriptor or state["errors"].bad_load_length
