"""AXI4-Lite and AXI4-Stream master helpers for Amaranth's simulator (async
testbenches), used by the block-level tests of the wrapper and of the core."""

from types import SimpleNamespace

from atsnn.rtl.axi_lite import AxiLiteSignature

__all__ = ["axil_ports", "axil_write", "axil_read", "axis_ports", "stream_put",
           "stream_get_packet"]


def axil_ports(top, prefix="s_axil_"):
    """The flat ``s_axil_*`` ports of a top level, under their AXI member names."""
    names = AxiLiteSignature(2).members.keys()
    return SimpleNamespace(**{name: getattr(top, prefix + name) for name in names})


async def axil_write(ctx, axi, addr, data, *, strb=0xF, w_first=False, gap=0, b_wait=0):
    """Issue one write; return BRESP. ``gap`` idle cycles separate the channels,
    ``b_wait`` cycles of BREADY low check that BVALID holds."""
    first, second = ((axi.wvalid, axi.wready), (axi.awvalid, axi.awready)) if w_first else \
        ((axi.awvalid, axi.awready), (axi.wvalid, axi.wready))
    ctx.set(axi.awaddr, addr)
    ctx.set(axi.wdata, data)
    ctx.set(axi.wstrb, strb)
    for valid, ready in (first, second):
        ctx.set(valid, 1)
        await ctx.tick().until(ready)
        ctx.set(valid, 0)
        for _ in range(gap):
            await ctx.tick()
    await ctx.tick().until(axi.bvalid)
    for _ in range(b_wait):
        await ctx.tick()
    assert ctx.get(axi.bvalid), "BVALID dropped before BREADY"
    resp = ctx.get(axi.bresp)
    ctx.set(axi.bready, 1)
    await ctx.tick()
    ctx.set(axi.bready, 0)
    return resp


async def axil_read(ctx, axi, addr, *, r_wait=0):
    """Issue one read; return ``(RDATA, RRESP)``, checking that both hold and no
    second read is accepted while RREADY is low for ``r_wait`` cycles."""
    ctx.set(axi.araddr, addr)
    ctx.set(axi.arvalid, 1)
    await ctx.tick().until(axi.arready)
    ctx.set(axi.arvalid, 0)
    data, resp = await ctx.tick().sample(axi.rdata, axi.rresp).until(axi.rvalid)
    for _ in range(r_wait):
        await ctx.tick()
        assert ctx.get(axi.rvalid), "RVALID dropped before RREADY"
        assert (ctx.get(axi.rdata), ctx.get(axi.rresp)) == (data, resp)
    assert not ctx.get(axi.arready), "a second read accepted while R is stalled"
    ctx.set(axi.rready, 1)
    await ctx.tick()
    ctx.set(axi.rready, 0)
    return data, resp


def axis_ports(top, prefix):
    """The flat ``PREFIX_t*`` ports of a top level as one stream (valid, ready, data, last)."""
    return SimpleNamespace(**{name: getattr(top, f"{prefix}_t{name}")
                              for name in ("valid", "ready", "data", "last")})


def _stream(stream):
    """An Amaranth stream interface (``payload.data``, ``payload.last``) or
    :func:`axis_ports`, under the same four names."""
    if hasattr(stream, "payload"):
        return SimpleNamespace(valid=stream.valid, ready=stream.ready,
                               data=stream.payload.data, last=stream.payload.last)
    return stream


async def stream_put(ctx, stream, words):
    """Send ``words`` as one packet (``last`` on the last word)."""
    s = _stream(stream)
    for i, word in enumerate(words):
        ctx.set(s.data, int(word))
        ctx.set(s.last, i == len(words) - 1)
        ctx.set(s.valid, 1)
        await ctx.tick().until(s.ready)
    ctx.set(s.valid, 0)


async def stream_get_packet(ctx, stream, limit=100000):
    """Receive one packet (up to ``last``); fail past ``limit`` words."""
    s = _stream(stream)
    words = []
    ctx.set(s.ready, 1)
    while True:
        data, last = await ctx.tick().sample(s.data, s.last).until(s.valid)
        words.append(int(data))
        if last:
            break
        if len(words) > limit:
            raise AssertionError("result stream did not end")
    ctx.set(s.ready, 0)
    return words
