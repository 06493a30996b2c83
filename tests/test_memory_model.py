"""The external-memory model (golden/memory.py): it reduces to the on-chip cycle
model when the memory is free, counts every weight byte once per round, and
gives a freed slot to the next image."""

from dataclasses import replace

import numpy as np
import pytest

from atsnn.data import load_dataset
from atsnn.golden import load, resolve_model, run
from atsnn.golden import cycles as cyc
from atsnn.golden import memory as mem

FREE = mem.MemoryModel(bytes_per_cycle=1e18, latency=0, membrane_bytes=0)


@pytest.fixture(scope="module")
def tiny():
    image = load(resolve_model("mnist-tiny"))
    x = load_dataset("mnist", "test")[0][:3]
    return image, run(image, x, lanes=16, grid=3, early_exit=False)


def test_free_memory_alone_is_the_cycle_model(tiny):
    """One slot, a memory that costs nothing: exactly the golden cycles per image."""
    image, g = tiny
    for e in (1, 2, image.t_max):
        exit_t = np.full(3, e)
        gone = cyc.image_cycles(image, 16, g.scatter_cycles * (
            np.arange(image.t_max)[None, :, None] < e), exit_t, grid=3)
        s = mem.stream(image, g.scatter_cycles, exit_t, 16, 3, slots=1, model=FREE)
        assert s["cycles"] == int(gone.sum()), e
        assert s["stall_cycles"] == 0


def test_weights_fetched_once_per_round_and_shared_by_the_slots(tiny):
    image, g = tiny
    weights = sum(mem.weight_bytes(l) for l in image.layers)
    assert weights == sum(e.weight.size for l in image.layers for e in l.inputs)  # int8
    exit_t = np.full(3, 2)
    one = mem.stream(image, g.scatter_cycles, exit_t, 16, 3, slots=1, model=FREE)
    three = mem.stream(image, g.scatter_cycles, exit_t, 16, 3, slots=3, model=FREE)
    # every membrane off chip: read after its first timestep, written every timestep
    neurons = sum(mem.membrane_bytes(l, 24) for l in image.layers)
    assert one["read_bytes"] == 2 * weights + neurons
    assert one["written_bytes"] == three["written_bytes"] == 2 * neurons
    assert three["read_bytes"] == pytest.approx(2 * weights / 3 + neurons)


def test_membranes_on_chip_while_they_fit(tiny):
    image, _ = tiny
    sizes = [mem.membrane_bytes(l, 24) for l in image.layers]
    first = next(i for i, b in enumerate(sizes) if b)
    model = replace(FREE, membrane_bytes=2 * sizes[first])
    off = mem.placement(image, 2, model)
    assert not off[first] and off[[i for i, b in enumerate(sizes) if b][1]]
    assert not mem.placement(image, 1, replace(FREE, membrane_bytes=10 ** 9)).any()


def test_an_early_exit_frees_its_slot_and_the_memory_bounds_slow_it(tiny):
    image, g = tiny
    ddr = mem.DDR3_16BIT
    early = mem.stream(image, g.scatter_cycles, np.array([1, 1, 1]), 16, 3, 2, ddr, images=12)
    late = mem.stream(image, g.scatter_cycles, np.array([4, 4, 4]), 16, 3, 2, ddr, images=12)
    assert early["images_per_s"] > 2 * late["images_per_s"]
    assert early["read_bytes"] < late["read_bytes"] / 2
    slow = mem.stream(image, g.scatter_cycles, np.array([4, 4, 4]), 16, 3, 2,
                      replace(ddr, bytes_per_cycle=0.5), images=12)
    assert slow["cycles"] > late["cycles"] and slow["memory_bound_share"] > 0.5
