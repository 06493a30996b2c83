"""The cycle model of the kernel-parallel array (docs/architecture.md): its pass
counts against a brute-force walk of the bank rule, and grid-independence of
everything but cycles and event counts."""

import itertools

import numpy as np
import pytest

from atsnn import AtsnnError
from atsnn.golden import cycles as cyc
from atsnn.golden import run
from atsnn.model_image import load, resolve_model


def brute_passes(n_in, n_out, k, s, p, grid):
    """Per input position: the aligned blocks j // grid of the offsets
    ky = r + s * j that land on a valid output row, counted by walking every ky."""
    out = []
    for y in range(n_in):
        js = {(y + p - ky) // s for ky in range(k)
              if (y + p - ky) % s == 0 and 0 <= (y + p - ky) // s < n_out}
        # j is the offset's index over the stride: ky = r + s * j
        r = (y + p) % s
        jb = {((y + p) // s - oy) // grid for oy in js}
        assert all((r + s * ((y + p) // s - oy)) < k for oy in js)
        out.append(len(jb))
    return np.array(out)


@pytest.mark.parametrize("grid", cyc.GRIDS)
def test_axis_passes_follow_the_bank_rule(grid):
    for n_in, k, s, p in itertools.product((1, 5, 8, 13), (1, 2, 3, 5, 7), (1, 2, 4), (0, 1, 2, 3)):
        n_out = (n_in + 2 * p - k) // s + 1
        if n_out < 1:
            continue
        got = cyc.axis_passes(n_in, n_out, k, s, p, grid)
        np.testing.assert_array_equal(got, brute_passes(n_in, n_out, k, s, p, grid),
                                      err_msg=f"n_in {n_in} k {k} s {s} p {p} grid {grid}")


def test_one_pass_per_spike_when_the_kernel_fits_the_grid():
    # 3 x 3, stride 1: the three reached rows of a spike are one aligned block
    assert set(cyc.axis_passes(28, 28, 3, 1, 1, 3)) == {1}
    # 5 x 5 on a 3 x 3 grid: offsets j = 0..2 and 3..4 are two aligned blocks;
    # the first row reaches only j = 0..2
    assert list(cyc.axis_passes(8, 8, 5, 1, 2, 3)) == [1, 2, 2, 2, 2, 2, 2, 2]
    # stride 2, 3 x 3: at most two reached rows
    assert cyc.axis_passes(16, 8, 3, 2, 1, 3).max() == 1
    assert cyc.linear_passes(8, 3) == 1 and cyc.linear_passes(10, 3) == 2 and cyc.linear_passes(8, 1) == 8


@pytest.mark.parametrize("bad", [0, 5, -1, 2.0, True, "3", None])
def test_bad_grid_is_refused_by_name(bad):
    with pytest.raises(AtsnnError, match="grid must be one of 1, 2, 3, 4"):
        cyc.check_grid(bad)


@pytest.fixture(scope="module")
def tiny():
    image = load(resolve_model("mnist-tiny"))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(6, 1, 28, 28)) * (rng.random((6, 1, 28, 28)) < 0.3)
    return image, x


def test_grid_changes_only_cycles_and_events(tiny):
    image, x = tiny
    one, three = run(image, x, lanes=16), run(image, x, lanes=16, grid=3)
    for field in ("pred", "exit_t", "u", "spikes", "sops", "first_layer_macs", "layer_ops",
                  "weight_reads", "membrane_reads", "membrane_writes"):
        np.testing.assert_array_equal(getattr(one, field), getattr(three, field), err_msg=field)
    assert (three.cycles < one.cycles).all()
    assert (three.event_writes <= one.event_writes).all()
    np.testing.assert_array_equal(one.layer_ops.sum(axis=1), one.array_ops)
    np.testing.assert_array_equal(one.array_ops, one.sops + one.exit_t * one.first_layer_macs)
    assert three.sops_per_cycle == pytest.approx(three.array_ops.sum() / three.cycles.sum())


def test_grid_cycles_recomputed_by_hand(tiny):
    """The grid-3 count of one image from its grid-1 run: scatter passes per spike
    position, init and fire words per bank."""
    image, x = tiny
    one = run(image, x[:1], lanes=16)
    three = run(image, x[:1], lanes=16, grid=3)
    words1 = sum(cyc.layer_words(l, 16) for l in image.layers if l.kind != "maxpool")
    words3 = sum(cyc.layer_words(l, 16, 3) for l in image.layers if l.kind != "maxpool")
    spiking1 = sum(cyc.layer_words(l, 16) for l in image.layers if l.kind != "maxpool" and l.spiking)
    spiking3 = sum(cyc.layer_words(l, 16, 3) for l in image.layers if l.kind != "maxpool" and l.spiking)
    t = int(one.exit_t[0])
    walk = (words1 - words3) + t * (spiking1 - spiking3)
    scatter = one.scatter_cycles.sum() - three.scatter_cycles.sum()
    assert one.cycles[0] - three.cycles[0] == walk + scatter
    # mnist-tiny's conv layers: 3 x 3 kernels, so the grid-3 scatter of conv
    # spikes is a ninth of the grid-1 walk inside the map
    assert three.scatter_cycles[0, :, 0].sum() < one.scatter_cycles[0, :, 0].sum() / 4


def test_block_events_count_nonempty_blocks():
    image = load(resolve_model("mnist-tiny"))
    from atsnn.golden.engine import _events
    rng = np.random.default_rng(1)
    s = (rng.random((3, 7, 5, 20)) < 0.02).astype(np.float32)
    count, _, ev = _events(s, 16, 3)
    want = []
    for m in range(3):
        blocks = {(c // 16, y // 3, x // 3) for y, x, c in zip(*np.nonzero(s[m]))}
        want.append(len(blocks))
    np.testing.assert_array_equal(ev, want)
    np.testing.assert_array_equal(count, s.reshape(3, -1).sum(axis=1))
