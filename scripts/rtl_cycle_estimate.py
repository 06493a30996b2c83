"""Cycles per image and PE utilization (golden cycle model = RTL counter) of two
MNIST-sized random-weight networks at P = 16: python scripts/rtl_cycle_estimate.py"""
import numpy as np
from atsnn import model_image as gi
from atsnn.golden import engine
from atsnn.rtl.compiler import compile_model, plan
from atsnn.rtl.config import HwConfig
from atsnn import data
rng = np.random.default_rng(0)
x, y = data.load_mnist(None, "test")
x = x[:64]
def W(*s, lo=-20, hi=21): return rng.integers(lo, hi, size=s)
def tiny():
    L = [gi.spiking_layer("conv1", "conv", [gi.conv_edge("input", W(16,1,3,3), 1, 1)], bias=0, theta=3000, leak_shift=1),
         gi.maxpool_layer("pool1", "conv1", 2),
         gi.spiking_layer("conv2", "conv", [gi.conv_edge("pool1", W(32,16,3,3), 1, 1)], bias=0, theta=60, leak_shift=1),
         gi.maxpool_layer("pool2", "conv2", 2),
         gi.spiking_layer("fc1", "linear", [gi.linear_edge("pool2", W(128, 32*7*7))], bias=0, theta=60, leak_shift=1),
         gi.output_layer("out", [gi.linear_edge("fc1", W(10, 128))])]
    return gi.build("tiny", gi.Input(kind="static", shape=(1,28,28), bits=8), L, 4, tau=[None]*3)
def mlp():
    L = [gi.spiking_layer("fc1", "linear", [gi.linear_edge("input", W(128, 784, lo=-8, hi=9))], bias=0, theta=2500, leak_shift=1),
         gi.output_layer("out", [gi.linear_edge("fc1", W(10, 128))])]
    return gi.build("mlp", gi.Input(kind="static", shape=(1,28,28), bits=8), L, 4, tau=[None]*3)
for f in (tiny, mlp):
    img = f()
    compile_model(img, HwConfig())
    r = engine.run(img, x, lanes=16, early_exit=False)
    print(f.__name__, "cycles/image mean", r.cycles.mean(), "util", round(r.utilization, 3),
          "spike rate per layer", (r.spikes.sum(axis=(0,1)) / len(x) / 4).round(1),
          "scatter", r.scatter_cycles.sum() / len(x))
