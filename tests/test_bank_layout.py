"""The compiler's layout for the K x K position banks (docs/architecture.md,
"Building it: the layout and the units"), checked in Python: for random conv and
linear networks, each edge's current is computed by walking the bank rule exactly
as the scatter and the PE array apply it, reading the compiled weight words of the
load stream and the packed descriptor fields, and compared with the golden model's
current; the passes per spike are compared with the golden cycle model's."""

import numpy as np
import pytest

from atsnn import model_image as gi
from atsnn.golden import cycles as cyc
from atsnn.golden.engine import _Edge
from atsnn.rtl.compiler import _descriptor, compile_model, plan
from atsnn.rtl.config import (HwConfig, SECTION, DescriptorLayout, GlobalLayout,
                              ParamLayout, WeightLayout, WEIGHT_BITS)

LANES = 4


def _config(grid):
    return HwConfig(lanes=LANES, weight_depth=1 << 14, membrane_depth=1 << 12,
                    event_depth=1 << 12, input_depth=256, param_depth=64, out_depth=16,
                    t_max=4, max_layers=6, grid=grid)


# ---------------------------------------------------------------- random networks

def _w(rng, shape):
    return rng.integers(-7, 8, size=shape).astype(np.int64)


def _spiking(rng, name, kind, edges):
    c = edges[0].weight.shape[0]
    return gi.spiking_layer(name, kind, edges, bias=0, theta=rng.integers(3, 12, size=c))


def _conv_geometry(rng, n_in):
    """(k, stride, pad, n_out), some input positions perhaps reaching no output."""
    while True:
        k = int(rng.integers(1, 6))
        s = int(rng.choice([1, 2]))
        pad = int(rng.integers(0, k))
        n_out = (n_in + 2 * pad - k) // s + 1
        if n_out >= 1:
            return k, s, pad, n_out


def conv_network(rng):
    """input [C, H, W] -> conv (random k 1-5, stride 1-2, pad, non-square) [->
    max-pool 2 or 4] [-> conv with a second edge] -> linear -> output."""
    cin = int(rng.integers(1, 7))
    if rng.random() < 0.5:      # a same-size conv on an even map: room for a max-pool
        h, w = (2 * int(rng.integers(1, 6)) for _ in range(2))
        k = int(rng.choice([1, 3, 5]))
        s, pad, ho, wo = 1, k // 2, h, w
    else:
        h, w = int(rng.integers(3, 11)), int(rng.integers(3, 11))
        while True:
            k, s, pad, ho = _conv_geometry(rng, h)
            wo = (w + 2 * pad - k) // s + 1
            if wo >= 1:
                break
    c1 = int(rng.integers(1, 10))
    layers = [_spiking(rng, "conv1", "conv", [gi.conv_edge("input", _w(rng, (c1, cin, k, k)), s, pad)])]
    src, shape = "conv1", (c1, ho, wo)
    pools = [p for p in (2, 4) if ho % p == 0 and wo % p == 0]
    if pools and rng.random() < 0.7:
        pool = int(rng.choice(pools))
        layers.append(gi.maxpool_layer("pool1", "conv1", pool))
        src, shape = "pool1", (c1, ho // pool, wo // pool)
    if rng.random() < 0.6:
        c2 = int(rng.integers(1, 10))
        _, hi, wi = shape
        # a same-size conv (odd kernel, stride 1) so that a second, 1 x 1 edge fits
        k2 = int(rng.choice([1, 3, 5]))
        edges = [gi.conv_edge(src, _w(rng, (c2, shape[0], k2, k2)), 1, k2 // 2)]
        if rng.random() < 0.5:
            edges.append(gi.conv_edge(src, _w(rng, (c2, shape[0], 1, 1)), 1, 0))
        layers.append(_spiking(rng, "conv2", "conv", edges))
        src, shape = "conv2", (c2, hi, wi)
    n1 = int(rng.integers(1, 40))
    layers.append(_spiking(rng, "fc1", "linear", [gi.linear_edge(src, _w(rng, (n1, int(np.prod(shape)))))]))
    n2 = int(rng.integers(2, 40))
    layers.append(gi.output_layer("out", [gi.linear_edge("fc1", _w(rng, (n2, n1)))]))
    return gi.build("conv", gi.Input(kind="events", shape=(cin, h, w), bits=1), layers, 2)


def linear_network(rng):
    """A flat (1-D) or flattened (C, H, W) input -> linear -> linear -> output."""
    if rng.random() < 0.5:
        shape = (int(rng.integers(1, 30)),)
    else:
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    n_in = int(np.prod(shape))
    n1, n2, n3 = (int(rng.integers(1, 45)) for _ in range(3))
    layers = [
        _spiking(rng, "fc1", "linear", [gi.linear_edge("input", _w(rng, (n1, n_in)))]),
        _spiking(rng, "fc2", "linear", [gi.linear_edge("fc1", _w(rng, (n2, n1)))]),
        gi.output_layer("out", [gi.linear_edge("fc2", _w(rng, (n3, n2)))]),
    ]
    return gi.build("lin", gi.Input(kind="static", shape=shape, bits=4), layers, 2)


# ---------------------------------------------------------------- the load stream

def _stream_weights(words, config):
    """The weight section of a load stream: int [words, K^2 P] (signed int8 lanes)."""
    words = [int(v) for v in words[2:]]
    sizes = {"global": GlobalLayout(config).size, "descriptor": DescriptorLayout(config).size,
             "param": ParamLayout(config).size}
    at = 0
    for name in ("global", "descriptor", "param"):
        assert words[at] >> 24 == SECTION[name]
        at += 1 + (words[at] & 0xFFFFFF) * -(-sizes[name] // 32)
    assert words[at] >> 24 == SECTION["weight"]
    n = words[at] & 0xFFFFFF
    chunks = -(-WeightLayout(config).size // 32)
    out = np.zeros((n, config.array_lanes), np.int64)
    for i in range(n):
        value = sum(words[at + 1 + i * chunks + c] << (32 * c) for c in range(chunks))
        for lane in range(config.array_lanes):
            v = (value >> (lane * WEIGHT_BITS)) & 0xFF
            out[i, lane] = v - 256 if v & 0x80 else v
    return out


# ---------------------------------------------------------------- the bank rule walk

def _axis(pos, pad, shift, k, n_out):
    """q, r, lo, hi of a spike at `pos` along one axis of a conv edge."""
    s = 1 << shift
    q, r = (pos + pad) >> shift, (pos + pad) % s
    return q, r, max(0, q - (n_out - 1)), min(q, (k - 1 - r) // s)


def _walk_conv(config, weights, desc, edge, spikes):
    """Current [G P, H, W] of a conv edge for binary `spikes` [C, H, W] of its
    source, and the passes per spike (dict (y, x) -> passes)."""
    P, K = config.lanes, config.grid
    k, shift, pad = edge["k"], edge["shift"], edge["pad"]
    s = 1 << shift
    S, cin = edge["slots"], edge["cin_pad"]
    G, H, W = desc["groups"], desc["height"], desc["width"]
    Hb, Wb, plane = desc["bheight"], desc["bwidth"], desc["plane"]
    out = np.zeros((G * P, H, W), np.int64)
    # the membrane words written, per bank, to check the word formula and bounds
    mem = np.zeros((G * P, H, W), np.int64)
    passes = {}
    for c, y, x in zip(*np.nonzero(spikes)):
        qy, ry, loy, hiy = _axis(int(y), pad, shift, k, H)
        qx, rx, lox, hix = _axis(int(x), pad, shift, k, W)
        n = 0
        for jby in range(loy // K, hiy // K + 1) if hiy >= loy else ():
            for jbx in range(lox // K, hix // K + 1) if hix >= lox else ():
                n += 1
                for go in range(G):
                    word = (edge["wbase"] + go * edge["s_go"]
                            + ((jby * s + ry) * S + jbx * s + rx) * cin + c)
                    for a in range(K):
                        ty = (qy - a) % K
                        jy = jby * K + ty
                        if not loy <= jy <= hiy:
                            continue
                        for b in range(K):
                            tx = (qx - b) % K
                            jx = jbx * K + tx
                            if not lox <= jx <= hix:
                                continue
                            oy, ox = qy - jy, qx - jx
                            assert (oy % K, ox % K) == (a, b)
                            # the scatter's bank word: q div K - jb - [bank > q mod K]
                            wy = qy // K - jby - (a > qy % K)
                            wx = qx // K - jbx - (b > qx % K)
                            assert (wy, wx) == (oy // K, ox // K)
                            m = go * plane + wy * Wb + wx
                            assert 0 <= wy < Hb and 0 <= wx < Wb and m < desc["words"]
                            mem[go * P:go * P + P, oy, ox] = desc["mbase"] + m
                            wsel = ty * K + tx
                            out[go * P:go * P + P, oy, ox] += weights[word, wsel * P:wsel * P + P]
        passes[int(y), int(x)] = n
    return out, passes


def _walk_linear(config, weights, desc, edge, src_desc, spikes):
    """Current [bgroups K^2 P] of a linear edge for binary `spikes` of its source
    ([C, H, W] pooled map of a conv source, [N] of a flat one), and the passes of
    each spike. The spike index comes from the source's block event."""
    P, K = config.lanes, config.grid
    K2 = K * K
    G = desc["groups"]
    out = np.zeros((desc["bgroups"] * K2 * P,), np.int64)
    counts = set()
    conv_src = src_desc is not None and not src_desc["linear"]
    spikes = spikes if conv_src else spikes.reshape(-1, 1, 1)
    for c, y, x in zip(*np.nonzero(spikes)):
        g, lane = divmod(int(c), P)
        if conv_src:
            a, b = int(y) % K, int(x) % K
            wpos = g * src_desc["pplane"] + K * ((int(y) // K) * src_desc["pwidth"] + int(x) // K)
        else:
            a = b = 0
            wpos = g
        j = (wpos + a * edge["src_w"] + b) * P + lane
        assert j < edge["cin_pad"]
        n_pass = 0
        for p in range(desc["bgroups"]):
            n_pass += 1
            word = edge["wbase"] + p * edge["s_go"] + j
            for n in range(K2):
                group = p * K2 + n
                if group < G:
                    out[group * P:group * P + P] += weights[word, n * P:n * P + P]
        counts.add(n_pass)
    return out, counts


def _check(image, grid, rng):
    config = _config(grid)
    p = plan(image, config)
    weights = _stream_weights(compile_model(image, config), config)
    assert len(weights) == p.weight_words
    descs = [_descriptor(hw) for hw in p.layers]
    P, K = config.lanes, config.grid
    for i, hw in enumerate(p.layers):
        desc = descs[i]
        layer = image.layer(hw.name)
        # memory regions per bank, back to back, within the depths
        if hw.kind != "output":
            nxt = [d["mbase"] for d in descs[i + 1:-1]] or [p.membrane_words]
            words = desc["bgroups"] if desc["linear"] else desc["words"]
            assert desc["mbase"] + words == nxt[0]
        for ei, e in enumerate(hw.edges):
            edge = desc["edges"][ei]
            src_shape = image.source_shape(e.source)
            x = (rng.random((2,) + src_shape) < 0.3).astype(np.int64)
            golden = _Edge(image, layer, layer.inputs[ei], P, grid)
            want = golden.current(x)
            src_desc = None if e.source_index == p.config.src_input else descs[e.source_index]
            assert edge["wbase"] == e.weight_base
            for m in range(len(x)):
                if e.linear:
                    got, counts = _walk_linear(config, weights, desc, edge, src_desc, x[m])
                    assert counts <= {cyc.linear_passes(hw.groups, grid)}
                    C = hw.shape[0]
                    np.testing.assert_array_equal(got[:C], want[m].reshape(-1))
                    assert not got[C:].any()
                else:
                    got, passes = _walk_conv(config, weights, desc, edge, x[m])
                    ky = cyc.axis_passes(src_shape[1], hw.shape[1], e.kernel, e.stride,
                                         e.padding, grid)
                    kx = cyc.axis_passes(src_shape[2], hw.shape[2], e.kernel, e.stride,
                                         e.padding, grid)
                    for (yy, xx), n in passes.items():
                        assert n == ky[yy] * kx[xx], (yy, xx)
                    C = hw.shape[0]
                    np.testing.assert_array_equal(got[:C], want[m])
                    assert not got[C:].any()
    return p


@pytest.mark.parametrize("grid", [1, 2, 3, 4])
def test_conv_networks_bank_walk_equals_golden(grid):
    rng = np.random.default_rng(1300 + grid)
    for _ in range(20 if grid in (2, 3) else 6):
        _check(conv_network(rng), grid, rng)


@pytest.mark.parametrize("grid", [1, 2, 3, 4])
def test_linear_networks_bank_walk_equals_golden(grid):
    rng = np.random.default_rng(1400 + grid)
    for _ in range(12 if grid in (2, 3) else 4):
        _check(linear_network(rng), grid, rng)


def test_bank_counts_per_bank():
    """Membranes, events and output words per bank at grid 3 (conv: G Hb Wb,
    events G ceil(pH / K) ceil(pW / K); flat: ceil(G / K^2) words, G events)."""
    rng = np.random.default_rng(5)
    layers = [
        _spiking(rng, "conv1", "conv", [gi.conv_edge("input", _w(rng, (6, 1, 3, 3)), 1, 1)]),
        gi.maxpool_layer("pool1", "conv1", 2),
        _spiking(rng, "fc1", "linear", [gi.linear_edge("pool1", _w(rng, (41, 6 * 4 * 5)))]),
        gi.output_layer("out", [gi.linear_edge("fc1", _w(rng, (39, 41)))]),
    ]
    image = gi.build("b", gi.Input(kind="events", shape=(1, 8, 10), bits=1), layers, 2)
    p = plan(image, _config(3))
    conv, fc, out = p.layers
    d = _descriptor(conv)
    assert (d["groups"], d["bheight"], d["bwidth"], d["plane"], d["words"]) == (2, 3, 4, 12, 24)
    assert (d["pheight"], d["pwidth"], d["pbheight"], d["pbwidth"], d["pplane"], d["prow"]) == \
        (4, 5, 2, 2, 20, 8)
    assert (d["linear"], d["bgroups"], conv.event_words) == (0, 1, 2 * 2 * 2)
    f = _descriptor(fc)
    assert (f["linear"], f["groups"], f["bgroups"], f["words"], f["mbase"]) == (1, 11, 2, 11, 24)
    assert f["edges"][0]["src_w"] == 5 and f["edges"][0]["cin_pad"] == 2 * 20 * 4
    assert f["edges"][0]["s_go"] == 160 and fc.edges[0].weight_words == 2 * 160
    assert (p.membrane_words, p.event_words, p.out_words) == (26, 8 + 11, 2)
    e = conv.edges[0]
    assert (e.slots, e.group_step, e.column_step, e.row_step) == (1, 4, 4, 4)
    assert p.weight_words == 2 * 4 + 2 * 160 + 2 * 44
