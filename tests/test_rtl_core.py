"""The Accelerator core in Amaranth's simulator against the golden model: class,
exit timestep, U, spikes per layer, SOPs and cycles must be equal, exactly."""

import numpy as np
import pytest

from rtl_harness import (SMALL, run_core, compare, linear_events_net, static_linear_net,
                         conv_net, inputs_for)

KINDS = {
    "linear-events": lambda rng: linear_events_net(rng),
    "linear-static": lambda rng: static_linear_net(rng),
    "conv-events": lambda rng: conv_net(rng),
    "conv-static": lambda rng: conv_net(rng, static=True),
    "conv-pool": lambda rng: conv_net(rng, pool=True),
    "conv-static-pool": lambda rng: conv_net(rng, static=True, pool=True),
    "conv-residual": lambda rng: conv_net(rng, residual=True),
    "conv-pool-residual": lambda rng: conv_net(rng, pool=True, residual=True),
}


def _check(kind, seed, samples):
    rng = np.random.default_rng(seed)
    image = KINDS[kind](rng)
    x = inputs_for(rng, image, samples)
    results, state = run_core(image, x)
    assert state["loaded"] and state["errors"].as_value().value == 0
    assert len(results) == samples and state["images_done"] == samples
    compare(image, x, results, SMALL.lanes)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_random_network_matches_golden(kind):
    _check(kind, 100, 2)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_many_random_networks_match_golden(kind, seed):
    _check(kind, seed, 3)
