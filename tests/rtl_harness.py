"""Shared helpers of the core tests: random small networks, and a run of the
Accelerator core in Amaranth's simulator compared with the golden model."""

import numpy as np
from amaranth.sim import Simulator

from atsnn import model_image as gi
from atsnn.golden import engine
from atsnn.rtl.config import HwConfig
from atsnn.rtl.core import Accelerator
from atsnn.rtl.compiler import compile_model, dram_image, encode_input, decode_result, plan
from atsnn.tb.amaranth_axi import stream_get_packet, stream_put  # noqa: F401 (tests import them here)

SMALL = HwConfig(lanes=4, weight_depth=1024, membrane_depth=512, event_depth=256,
                 input_depth=256, param_depth=32, out_depth=4, t_max=4,
                 max_layers=5)


def axi_ram(port, memory, latency, rng=None, base=0, slverr=()):
    """A testbench for the weight port: an AXI4 read slave over the bytes
    ``memory`` at ``base``. An AR taken in cycle ``a`` has its first beat in
    cycle ``a + latency`` at the earliest, one beat per cycle, bursts in order
    (the memory of golden/memory.py ``port_cycles``). With ``rng``, AR ready and
    R valid pause at random (cycles may only grow). The beats numbered in
    ``slverr`` (counted from 0 over the run) answer SLVERR."""
    width = len(port.rdata) // 8

    async def bench(ctx):
        bursts = []     # [ready cycle, address, beats left]
        cycle = beats = 0
        while True:
            ar_ready = 1 if rng is None else int(rng.random() < 0.6)
            head = bursts[0] if bursts and bursts[0][0] <= cycle else None
            r_valid = head is not None and (rng is None or rng.random() < 0.7)
            ctx.set(port.arready, ar_ready)
            ctx.set(port.rvalid, int(r_valid))
            if r_valid:
                addr = head[1] - base
                ctx.set(port.rdata, int.from_bytes(memory[addr:addr + width].tobytes(), "little"))
                ctx.set(port.rlast, int(head[2] == 1))
                ctx.set(port.rresp, 0b10 if beats in slverr else 0b00)
            if ar_ready and ctx.get(port.arvalid):
                bursts.append([cycle + latency, ctx.get(port.araddr), ctx.get(port.arlen) + 1])
            if r_valid and ctx.get(port.rready):
                beats += 1
                head[1] += width
                head[2] -= 1
                if head[2] == 0:
                    bursts.pop(0)
                    if bursts:
                        bursts[0][0] = max(bursts[0][0], cycle + 1)
            await ctx.tick()
            cycle += 1
    return bench


def axi_ram_write(port, memory, latency, rng=None, base=0, state=None, slverr=()):
    """The write side of :func:`axi_ram` (for ``membrane_swap``): AW and W taken
    every cycle (or at random with ``rng``), each burst's B ``latency`` cycles
    after its last beat at the earliest, in order; the beats land in ``memory``.
    ``state["written"]`` counts the beats; the B of the bursts numbered in
    ``slverr`` (from 0 over the run) answers SLVERR."""
    width = len(port.wdata) // 8

    async def bench(ctx):
        bursts = []     # [address, beats left]
        answers = []    # cycles from which a B may be given
        cycle = answered = 0
        while True:
            aw_ready = 1 if rng is None else int(rng.random() < 0.6)
            # a beat is taken once its burst's AW is (the core announces every
            # burst early)
            w_ready = int(bool(bursts)) if rng is None else int(bool(bursts) and rng.random() < 0.7)
            b_valid = bool(answers) and answers[0] <= cycle and (rng is None or rng.random() < 0.7)
            ctx.set(port.awready, aw_ready)
            ctx.set(port.wready, w_ready)
            ctx.set(port.bvalid, int(b_valid))
            ctx.set(port.bresp, 0b10 if answered in slverr else 0b00)
            if aw_ready and ctx.get(port.awvalid):
                bursts.append([ctx.get(port.awaddr) - base, ctx.get(port.awlen) + 1])
            if w_ready and ctx.get(port.wvalid):
                head = bursts[0]
                data = ctx.get(port.wdata)
                memory[head[0]:head[0] + width] = np.frombuffer(
                    data.to_bytes(width, "little"), dtype=np.uint8)
                assert ctx.get(port.wlast) == (head[1] == 1), "wlast off the burst's end"
                head[0] += width
                head[1] -= 1
                if state is not None:
                    state["written"] = state.get("written", 0) + 1
                if head[1] == 0:
                    bursts.pop(0)
                    answers.append(cycle + latency)
            if b_valid and ctx.get(port.bready):
                answers.pop(0)
                answered += 1
            await ctx.tick()
            cycle += 1
    return bench


def run_core(image, inputs, config=SMALL, extra=None, load=None, memory=None, stream=None):
    """Load `image` (or the words `load`), run every sample of `inputs`; returns
    (decoded results, dut state). ``memory``: the weight port's ``axi_ram``
    arguments (latency, rng) when the config has one; ``stream``: as
    :func:`atsnn.rtl.compiler.plan`'s."""
    dut = Accelerator(config)
    p = plan(image, config, stream)
    if load is None:
        load = compile_model(image, config, stream)
    results = []
    state = {}

    async def bench(ctx):
        await stream_put(ctx, dut.load, load)
        for _ in range(4):
            await ctx.tick()
        state["loaded"] = ctx.get(dut.loaded)
        state["errors"] = ctx.get(dut.errors)
        if not state["loaded"]:
            return
        for x in inputs:
            await stream_put(ctx, dut.image, encode_input(p, x))
            words = await stream_get_packet(ctx, dut.result)
            results.append(decode_result(words, p))
        state["images_done"] = ctx.get(dut.images_done)
        state["errors_after"] = ctx.get(dut.errors)
        if extra is not None:
            await extra(ctx, dut, p)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    if config.weight_port:
        memory = dict(memory or {})
        dram = dram_image(image, config, stream)
        sim.add_testbench(axi_ram(dut.mem, dram, memory.get("latency", 8), memory.get("rng"),
                                  slverr=memory.get("slverr", ())), background=True)
        if config.membrane_swap:
            sim.add_testbench(axi_ram_write(dut.mem, dram, memory.get("latency", 8),
                                            memory.get("rng"), state=state,
                                            slverr=memory.get("bslverr", ())), background=True)
    sim.run()
    return results, state


def compare(image, inputs, results, lanes, grid=1, cycles=None):
    """Assert the core's results equal the golden model's, exactly; ``cycles(g)``
    gives the expected cycles from the golden Result when they are not its own
    (the weight port's)."""
    g = engine.run(image, np.asarray(inputs), lanes=lanes, grid=grid)
    expected = g.cycles if cycles is None else cycles(g)
    names = [l.name for l in image.layers]
    for i, r in enumerate(results):
        where = f"sample {i}"
        assert r["class"] == g.pred[i], where
        assert r["exit_t"] == g.exit_t[i], where
        np.testing.assert_array_equal(r["u"], g.u[i], err_msg=where)
        for name, count in r["spikes"].items():
            assert count == g.spikes[i, :, names.index(name)].sum(), f"{where} layer {name}"
        assert r["sops"] == g.array_ops[i], where
        assert r["cycles"] == expected[i], f"{where}: cycles {r['cycles']} != {expected[i]}"
    return g


# ---------------------------------------------------------------- random networks

def _w(rng, shape, lo=-6, hi=7):
    return rng.integers(lo, hi, size=shape).astype(np.int64)


def _spiking(rng, name, kind, inputs, c):
    return gi.spiking_layer(name, kind, inputs, bias=_w(rng, c, -3, 5),
                            theta=rng.integers(3, 12, size=c),
                            leak_shift=int(rng.choice([0, 0, 1, 2, 3])),
                            reset=str(rng.choice(["subtract", "zero"])))


def _tau(rng, t_max):
    return [None if rng.random() < 0.3 else int(rng.integers(-1, 12)) for _ in range(t_max - 1)]


def linear_events_net(rng, t_max=3):
    n_in = int(rng.integers(3, 10))
    h = int(rng.integers(2, 10))
    k = int(rng.integers(2, 6))
    layers = [
        _spiking(rng, "fc1", "linear", [gi.linear_edge("input", _w(rng, (h, n_in)))], h),
        gi.output_layer("out", [gi.linear_edge("fc1", _w(rng, (k, h)))], bias=_w(rng, k, -2, 3)),
    ]
    image = gi.build("lin", gi.Input(kind="events", shape=(n_in,), bits=1), layers, t_max,
                     tau=_tau(rng, t_max))
    return image


def deep_linear_net(rng, depth, t_max=3):
    """``depth`` hardware layers: a chain of spiking linear layers from an event
    input, the later ones with a second edge from three layers back, then the
    output layer (layer and source indices past 4 bits)."""
    n_in = int(rng.integers(3, 8))
    layers, widths, prev, width = [], [], "input", n_in
    for i in range(depth - 1):
        h = int(rng.integers(2, 7))
        edges = [gi.linear_edge(prev, _w(rng, (h, width), -4, 7))]
        if i >= 3 and i % 2:
            edges.append(gi.linear_edge(layers[i - 3].name, _w(rng, (h, widths[i - 3]), -3, 4)))
        widths.append(h)
        layer = _spiking(rng, f"fc{i + 1}", "linear", edges, h)
        layer.theta = rng.integers(2, 6, size=h)
        layers.append(layer)
        prev, width = layer.name, h
    k = int(rng.integers(2, 5))
    layers.append(gi.output_layer("out", [gi.linear_edge(prev, _w(rng, (k, width)))],
                                  bias=_w(rng, k, -2, 3)))
    return gi.build("deep", gi.Input(kind="events", shape=(n_in,), bits=1), layers, t_max,
                    tau=_tau(rng, t_max))


def event_inputs(rng, image, n, density=0.4):
    shape = (n, image.t_max) + tuple(image.input.shape)
    return (rng.random(shape) < density).astype(np.uint8)


def static_inputs(rng, image, n, density=0.5):
    shape = (n,) + tuple(image.input.shape)
    x = rng.integers(0, 1 << image.input.bits, size=shape)
    return (x * (rng.random(shape) < density)).astype(np.int64)


def static_linear_net(rng, t_max=3):
    c, hw = int(rng.integers(1, 3)), int(rng.integers(2, 4))
    n_in = c * hw * hw
    h = int(rng.integers(3, 9))
    k = int(rng.integers(2, 6))
    layers = [
        _spiking(rng, "fc1", "linear", [gi.linear_edge("input", _w(rng, (h, n_in), -3, 4))], h),
        gi.output_layer("out", [gi.linear_edge("fc1", _w(rng, (k, h)))], bias=_w(rng, k, -2, 3)),
    ]
    layers[0].theta = rng.integers(10, 60, size=h)
    return gi.build("slin", gi.Input(kind="static", shape=(c, hw, hw), bits=4,
                                     zero_point=int(rng.integers(0, 3))),
                    layers, t_max, tau=_tau(rng, t_max))


def conv_net(rng, static=False, pool=False, residual=False, t_max=3, channels=None,
             downsample=False):
    """input [C, H, W] -> conv (k, stride, pad) [-> maxpool 2] [-> conv with a
    residual edge; ``downsample``: both stride 2, the residual a 1 x 1 shortcut
    whose odd input rows and columns reach no output] -> linear -> output.
    ``channels`` fixes the first conv's output channels (default: 2 to 6)."""
    residual = residual or downsample
    cin = int(rng.integers(1, 3))
    hw = int(rng.choice([4, 6]))
    k = int(rng.choice([1, 3])) if not static else 3
    stride = 1 if pool or residual or k == 1 else int(rng.choice([1, 2]))
    pad = (k - 1) // 2 if stride == 1 else 1
    c1 = channels or int(rng.integers(2, 7))
    lo, hi = (-3, 4) if static else (-6, 7)
    conv1 = _spiking(rng, "conv1", "conv",
                     [gi.conv_edge("input", _w(rng, (c1, cin, k, k), lo, hi), stride, pad)], c1)
    if static:
        conv1.theta = rng.integers(10, 60, size=c1)
    layers = [conv1]
    src = "conv1"
    size = (hw + 2 * pad - k) // stride + 1
    if pool:
        layers.append(gi.maxpool_layer("pool1", "conv1", 2))
        src, size = "pool1", size // 2
    if residual:
        c2 = int(rng.integers(2, 6))
        s2 = 2 if downsample else 1
        edges = [gi.conv_edge(src, _w(rng, (c2, c1, 3, 3)), s2, 1),
                 gi.conv_edge(src, _w(rng, (c2, c1, 1, 1)), s2, 0)]
        size = (size - 1) // s2 + 1
        if not static and not pool and not downsample:
            edges[1] = gi.conv_edge("input", _w(rng, (c2, cin, 1, 1)), 1, 0)
        layers.append(_spiking(rng, "conv2", "conv", edges, c2))
        src = "conv2"
        c1 = c2
    h = int(rng.integers(3, 8))
    n_cls = int(rng.integers(2, 5))
    layers.append(_spiking(rng, "fc1", "linear",
                           [gi.linear_edge(src, _w(rng, (h, c1 * size * size)))], h))
    layers.append(gi.output_layer("out", [gi.linear_edge("fc1", _w(rng, (n_cls, h)))],
                                  bias=_w(rng, n_cls, -2, 3)))
    if static:
        inp = gi.Input(kind="static", shape=(cin, hw, hw), bits=3)
    else:
        inp = gi.Input(kind="events", shape=(cin, hw, hw), bits=1)
    return gi.build("conv", inp, layers, t_max, tau=_tau(rng, t_max))


def inputs_for(rng, image, n):
    if image.input.kind == "static":
        return static_inputs(rng, image, n)
    return event_inputs(rng, image, n)
