"""System tests of atsnn_top under Verilator (cocotb testbench atsnn.tb.top_tb).

The stand-in core checks the wrapper and the whole flow (AXI-Lite, streams,
back-pressure, resets, malformed loads) fast; the accelerator tests run real and
random networks through RTL and golden and require every result to match.
"""

import pytest

from atsnn.rtl.config import HwConfig
from atsnn.tb.runner import run_testbench

#: every test here builds and runs the testbench under Verilator
pytestmark = pytest.mark.verilator

STANDIN = HwConfig(lanes=4, t_max=4)


def failures(records):
    return [(r["kind"], r["tag"], m) for r in records for m in r["mismatches"]]


def reset_tags(stages):
    return {f"{how}-reset-{stage}" for how in ("pin", "soft") for stage in stages}


#: where tb.top_tb.reset_mid_inference resets (the stand-in's two-word result cannot
#: be half taken)
STAGES = ("load", "image", "compute", "output", "output-mid")
STANDIN_STAGES = STAGES[:-1]


def test_standin_flow_all_tests():
    ok, records = run_testbench(STANDIN, [{"images": 12}, {"images": 5}], core="standin",
                                backpressure=True, seed=3)
    assert ok, failures(records)
    images = [r for r in records if r["kind"] == "image"]
    # 17 images plain + 17 under back-pressure, one after each of the 8 resets, 12
    # after the malformed loads: every one compared, none lost or duplicated.
    assert len(images) == 2 * 17 + 2 * len(STANDIN_STAGES) + 12
    assert not failures(records)
    tags = {r["tag"] for r in records if r["kind"] == "test"}
    assert tags == {"registers", "malformed-load"} | reset_tags(STANDIN_STAGES)


# ------------------------------------------------------------ random networks

def random_jobs(tmp_path, seed, networks, images):
    """``networks`` seeded random small networks (event and static input, linear
    and conv, stride, padding, fused max-pool, residual edges, both resets, leak,
    tau tables, single-step T_max = 1) with ``images`` inputs each.

    Seeded NumPy rather than hypothesis: one simulator launch runs them all
    (a hypothesis example per launch would rebuild nothing but still cost a
    simulator start-up and a model load per example)."""
    import numpy as np
    from rtl_harness import conv_net, inputs_for, linear_events_net, static_linear_net
    from atsnn.model_image import save

    makers = [
        linear_events_net,
        static_linear_net,
        lambda r: conv_net(r),
        lambda r: conv_net(r, static=True),
        lambda r: conv_net(r, pool=True),
        lambda r: conv_net(r, static=True, pool=True),
        lambda r: conv_net(r, residual=True),
        lambda r: conv_net(r, static=True, pool=True, residual=True),
        lambda r: conv_net(r, static=True, pool=True, t_max=1),
    ]
    rng = np.random.default_rng(seed)
    jobs = []
    for i in range(networks):
        image = makers[i % len(makers)](rng)
        model, inputs = tmp_path / f"net{i}.npz", tmp_path / f"inputs{i}.npy"
        save(image, model)
        np.save(inputs, inputs_for(rng, image, images))
        jobs.append({"model": str(model), "inputs": str(inputs)})
    return jobs


def check_all(records, networks, images, passes):
    assert not failures(records), failures(records)[:10]
    results = [r for r in records if r["kind"] == "image" and r["tag"] in ("plain", "backpressure")]
    assert len(results) == networks * images * passes
    assert all(not r["mismatches"] for r in results)


def test_random_networks_match_golden(tmp_path):
    """16 random networks x 4 inputs, plain and under back-pressure, plus the
    register, reset and malformed-load tests, through one Verilator build."""
    from rtl_harness import SMALL
    jobs = random_jobs(tmp_path, seed=2024, networks=16, images=4)
    ok, records = run_testbench(SMALL, jobs, backpressure=True, seed=5)
    check_all(records, 16, 4, passes=2)
    assert ok
    tags = {r["tag"] for r in records if r["kind"] == "test"}
    assert tags == {"registers", "malformed-load"} | reset_tags(STAGES)
    resets = {r["tag"]: r for r in records if r["kind"] == "test" and "-reset-" in r["tag"]}
    for how in ("pin", "soft"):
        assert resets[f"{how}-reset-compute"]["busy_at_reset"]
        assert not resets[f"{how}-reset-compute"]["valid_at_reset"]
        assert resets[f"{how}-reset-output"]["valid_at_reset"]
        assert resets[f"{how}-reset-output-mid"]["words_at_reset"]["result"] >= 1
        assert resets[f"{how}-reset-image"]["words_at_reset"]["image"] >= 1
    # the recovery image differs from the aborted one (a stale result would show)
    assert all(r["aborted"] != r["recovery"] for r in resets.values())


def _region_lines(build):
    """Lines of C++ in the Verilated model's evaluation functions, by scheduling
    region: ``ico_sequent`` runs on every ``eval()`` call (the inputs' settling),
    ``nba_sequent`` after a clock edge. Only the files of the last Verilator run."""
    import re
    from collections import Counter
    listed = re.search(r"VM_CLASSES_FAST \+= \\\n(.*?)\n\n",
                       (build / "Vtop_classes.mk").read_text(), re.S).group(1)
    lines = Counter()
    for name in listed.replace("\\", " ").split():
        text = (build / f"{name}.cpp").read_text()
        for m in re.finditer(r"^void Vtop___024root___(\w+?)__TOP__\d+\(Vtop___024root\* "
                             r"vlSelf\) \{\n(.*?)^\}", text, re.S | re.M):
            lines[m.group(1)] += m.group(2).count("\n")
    return lines


def test_the_simulator_settles_little_logic_on_each_eval(tmp_path):
    """cocotb-test's ``--public-flat-rw`` makes every signal writable through VPI,
    so Verilator re-evaluated nearly all combinational logic on every ``eval()``
    (a P = 4 build with the weight port: 19,217 lines in that region against 14,093
    after the clock; this one now 3,301 against 8,436; at grid 3, 7,241 simulated
    cycles/s, now 34,204)."""
    from atsnn.tb.runner import build_dir_for
    from rtl_harness import SMALL
    build = build_dir_for(SMALL)
    if not (build / "Vtop_classes.mk").exists():
        run_testbench(SMALL, random_jobs(tmp_path, seed=1, networks=1, images=1),
                      testcase="images_match_golden")
    lines = _region_lines(build)
    assert lines["nba_sequent"] > 1000, lines
    assert lines["ico_sequent"] < 0.6 * lines["nba_sequent"], lines


def streamed_config(jobs, grid=1):
    """SMALL with the weight port, its tile buffers just large enough for the
    largest output group of any job's network: many tiles each."""
    import dataclasses
    from rtl_harness import SMALL
    from atsnn.model_image import load
    from atsnn.rtl.compiler import plan
    wide = dataclasses.replace(SMALL, grid=grid, weight_depth=1 << 16)
    step = max(e.group_step for job in jobs for l in plan(load(job["model"]), wide).layers
               for e in l.edges)
    for job in jobs:
        job["stream"] = True
    return dataclasses.replace(SMALL, grid=grid, weight_port=True, weight_depth=2 * step)


def test_streamed_random_networks_match_golden(tmp_path):
    """The weight port (issue 14): 9 random networks with every weight streamed
    from the testbench's AxiRam, plain and with random pauses on every channel
    (AXI4 AR and R included): results bit-identical to the golden model, cycles
    at least the port model's; and the register, reset (soft resets with bursts
    in flight) and malformed-load tests."""
    jobs = random_jobs(tmp_path, seed=77, networks=9, images=3)
    config = streamed_config(jobs)
    ok, records = run_testbench(config, jobs, backpressure=True, seed=8)
    check_all(records, 9, 3, passes=2)
    assert ok
    works = [r for r in records if r["kind"] == "work"]
    assert len(works) >= 18 and all(r["streamed"] for r in works)
    tags = {r["tag"] for r in records if r["kind"] == "test"}
    assert tags == {"registers", "malformed-load"} | reset_tags(STAGES)


def swapped_config(jobs):
    """:func:`streamed_config` with off-chip membranes and a membrane memory just
    large enough for the largest layer of any job's network as the buffer: the
    networks with more than that swap their first layers."""
    import dataclasses
    from atsnn.model_image import load
    from atsnn.rtl.compiler import plan
    config = streamed_config(jobs)
    depth = max(l.bank_words for job in jobs
                for l in plan(load(job["model"]), config, stream=True).layers if l.kind != "output")
    return dataclasses.replace(config, membrane_swap=True, membrane_depth=depth)


def test_swapped_random_networks_match_golden(tmp_path):
    """Off-chip membranes (issue 14): 8 random networks, weights streamed and the
    first layers' membranes swapped through the testbench's AxiRam (AW, W, B
    too), plain and with random pauses on every channel: results bit-identical
    to the golden model, cycles at least the port model's; and the register,
    reset (soft resets deferred while membrane writes are outstanding) and
    malformed-load tests."""
    from atsnn.model_image import load
    from atsnn.rtl.compiler import plan
    jobs = random_jobs(tmp_path, seed=91, networks=8, images=3)
    config = swapped_config(jobs)
    swapping = [bool(plan(load(j["model"]), config, stream=True).swaps) for j in jobs]
    assert sum(swapping) >= 4, swapping
    ok, records = run_testbench(config, jobs, backpressure=True, seed=12)
    check_all(records, 8, 3, passes=2)
    assert ok
    tags = {r["tag"] for r in records if r["kind"] == "test"}
    assert tags == {"registers", "malformed-load"} | reset_tags(STAGES)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_random_networks_match_golden(tmp_path, seed):
    from rtl_harness import SMALL
    jobs = random_jobs(tmp_path, seed=seed, networks=40, images=8)
    ok, records = run_testbench(SMALL, jobs, testcase="images_match_golden",
                                backpressure=True, seed=seed)
    check_all(records, 40, 8, passes=2)
    assert ok


# -------------------------------------------------------------- real networks

def real_models():
    """Model images shipped in the repository (the MNIST reference and any
    trained static, S2NN or N-MNIST event model next to it)."""
    from atsnn.model_image import MODELS_DIR
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p for p in MODELS_DIR.iterdir()
                  if ((p / "manifest.json").is_file() or p.suffix == ".npz")
                  and "cifar10" not in p.name)     # the paper's networks: tests of their own


def run_real(tmp_path, model, images, backpressure=False):
    import numpy as np
    from atsnn.model_image import load
    from atsnn.tb.cli import sim_inputs
    config = HwConfig()
    image = load(model, membrane_bits=config.membrane_bits, acc_bits=config.acc_bits)
    x, _ = sim_inputs(image, images)
    np.save(tmp_path / "inputs.npy", x)
    ok, records = run_testbench(config, [{"model": str(model), "inputs": str(tmp_path / "inputs.npy")}],
                                testcase="images_match_golden", backpressure=backpressure)
    check_all(records, 1, images, passes=2 if backpressure else 1)
    assert ok


@pytest.mark.parametrize("name", ["mnist-tiny", "reference", "mnist-mlp-s2nn", "nmnist-mlp"])
def test_shipped_model_matches_golden(tmp_path, name):
    """The trained ATSNN (``make sim``'s default), the hand-built MNIST reference,
    a single-step S2NN (T_max = 1) and an N-MNIST event-input network, on real
    test data, plain and under random back-pressure on every stream."""
    from atsnn.model_image import resolve_model
    run_real(tmp_path, resolve_model(name), images=3, backpressure=True)


@pytest.mark.slow
@pytest.mark.parametrize("model", real_models(), ids=lambda p: p.name)
def test_real_models_match_golden(tmp_path, model):
    run_real(tmp_path, model, images=50, backpressure=True)


@pytest.mark.slow
def test_random_networks_match_golden_on_the_bank_grid(tmp_path):
    """The kernel-parallel array (3 x 3 position banks): 16 random networks x 4
    inputs, plain and under back-pressure, with the register, reset and
    malformed-load tests, through one Verilator build."""
    import dataclasses
    from rtl_harness import SMALL
    config = dataclasses.replace(SMALL, grid=3)
    jobs = random_jobs(tmp_path, seed=2025, networks=16, images=4)
    ok, records = run_testbench(config, jobs, backpressure=True, seed=6)
    check_all(records, 16, 4, passes=2)
    assert ok


@pytest.mark.slow
def test_real_models_match_golden_on_the_bank_grid(tmp_path):
    """Every shipped model on the kernel-parallel array (P = 16, 3 x 3 position
    banks), 20 test images each, plain and under back-pressure, in one build."""
    import numpy as np
    from atsnn.model_image import load
    from atsnn.tb.cli import sim_inputs
    config = HwConfig(grid=3)
    jobs = []
    for i, model in enumerate(real_models()):
        image = load(model, membrane_bits=config.membrane_bits, acc_bits=config.acc_bits)
        x, _ = sim_inputs(image, 20)
        np.save(tmp_path / f"inputs{i}.npy", x)
        jobs.append({"model": str(model), "inputs": str(tmp_path / f"inputs{i}.npy")})
    ok, records = run_testbench(config, jobs, testcase="images_match_golden", backpressure=True)
    check_all(records, len(jobs), 20, passes=2)
    assert ok


def paper_config(grid=1, **fields):
    """P = 16, 32 hardware layers, memories for the paper's networks at CIFAR-10
    shapes with their channels / 8 (and, on the 3 x 3 grid, at full width)."""
    base = dict(lanes=16, grid=grid, membrane_depth=16384, event_depth=16384, input_depth=4096,
                param_depth=1024, max_layers=32)
    return HwConfig(**{**base, **fields})


def run_paper(tmp_path, name, config, images=1):
    import numpy as np
    from atsnn.model_image import load, resolve_model
    from atsnn.rtl.compiler import plan
    from atsnn.tb.cli import sim_inputs
    path = resolve_model(name)
    image = load(path, membrane_bits=config.membrane_bits, acc_bits=config.acc_bits)
    p = plan(image, config)
    x, _ = sim_inputs(image, images)
    np.save(tmp_path / "inputs.npy", x)
    ok, records = run_testbench(config, [{"model": str(path), "inputs": str(tmp_path / "inputs.npy")}],
                                testcase="images_match_golden")
    check_all(records, 1, images, passes=1)
    assert ok
    return p, records


def test_width_scaled_vgg16_streams_through_the_weight_port(tmp_path):
    """The shipped ``vgg16-cifar10-w8`` (the paper's VGG16 at CIFAR-10 shapes,
    channels / 8, untrained): 15 hardware layers, its 17,248 weight words
    streamed from the testbench's DRAM through two tile buffers of 1,024 words,
    a CIFAR-10 subset test image bit-exact, cycles at least the port model's."""
    p, records = run_paper(tmp_path, "vgg16-cifar10-w8",
                           paper_config(weight_port=True, weight_depth=2048))
    assert p.stream and len(p.layers) == 15 and len(p.tiles) > len(p.layers)
    assert all(r["streamed"] for r in records if r["kind"] == "work")


@pytest.mark.slow
def test_width_scaled_vgg16_on_cifar10_matches_golden(tmp_path):
    """``vgg16-cifar10-w8`` with its weights on chip: 15 hardware layers (past the
    default 8; 6-bit layer fields at --max-layers 32), bit- and cycle-exact
    (about 500,000 cycles)."""
    config = paper_config(weight_depth=32768)
    p, _ = run_paper(tmp_path, "vgg16-cifar10-w8", config)
    assert not p.stream and len(p.layers) == 15 and config.layer_bits == 6


@pytest.mark.slow
def test_width_scaled_resnet19_streams_through_the_weight_port(tmp_path):
    """``resnet19-cifar10-w8``: 19 hardware layers, three downsampling shortcuts,
    weights streamed (about 2 million cycles)."""
    p, _ = run_paper(tmp_path, "resnet19-cifar10-w8", paper_config(weight_port=True,
                                                                   weight_depth=2048))
    assert p.stream and len(p.layers) == 19


@pytest.mark.slow
def test_full_width_vgg16_streams_through_the_weight_port(tmp_path, monkeypatch):
    """``vgg16-cifar10`` at the paper's widths (15.0 M weights, built into the
    model cache by ``make paper-models`` if it is not there) on the 3 x 3 grid,
    every weight streamed from DRAM: one CIFAR-10 subset image bit-exact (about
    4.8 million cycles)."""
    from atsnn.model import paper
    from atsnn.model_image import model_cache_dir, save
    if not (model_cache_dir() / "vgg16-cifar10" / "manifest.json").is_file():
        monkeypatch.setenv("ATSNN_MODEL_CACHE", str(tmp_path / "cache"))
        save(paper.build("vgg16-cifar10"), model_cache_dir() / "vgg16-cifar10")
    config = paper_config(grid=3, weight_port=True, weight_depth=1820, membrane_depth=4096,
                          event_depth=4096)
    p, _ = run_paper(tmp_path, "vgg16-cifar10", config)
    assert p.stream and len(p.tiles) > 100


#: The memories of an LFE5U-85F for the paper's vgg16 at P = 8 on the 3 x 3 grid
#: with off-chip membranes (docs/architecture.md, "Off-chip membranes, as built").
ECP5_VGG16 = dict(lanes=8, grid=3, weight_port=True, membrane_swap=True, weight_depth=1024,
                  membrane_depth=1024, event_depth=4096, input_depth=4096, param_depth=1024,
                  max_layers=32, out_depth=16, tile_depth=1024)


@pytest.mark.slow
def test_width_scaled_vgg16_swaps_its_membranes(tmp_path):
    """``vgg16-cifar10-w8`` with the weight port and a membrane memory of 1,300
    words per bank (it needs 3,216): its first 7 layers' membranes swapped
    through DRAM, one CIFAR-10 subset image bit-exact, cycles at least the port
    model's."""
    p, records = run_paper(tmp_path, "vgg16-cifar10-w8",
                           paper_config(weight_port=True, membrane_swap=True, weight_depth=2048,
                                        membrane_depth=1300))
    assert p.stream and len(p.swaps) == 7
    assert all(r["streamed"] for r in records if r["kind"] == "work")


@pytest.mark.slow
def test_full_width_vgg16_runs_with_the_memories_of_an_ecp5(tmp_path, monkeypatch):
    """``vgg16-cifar10`` at the paper's widths with the memories of an
    LFE5U-85F: every weight streamed, 13 of its 14 hidden layers' membranes
    swapped through DRAM; one CIFAR-10 subset image bit-exact (about 6 million
    cycles, 15 minutes)."""
    from atsnn.model import paper
    from atsnn.model_image import model_cache_dir, save
    if not (model_cache_dir() / "vgg16-cifar10" / "manifest.json").is_file():
        monkeypatch.setenv("ATSNN_MODEL_CACHE", str(tmp_path / "cache"))
        save(paper.build("vgg16-cifar10"), model_cache_dir() / "vgg16-cifar10")
    p, _ = run_paper(tmp_path, "vgg16-cifar10", HwConfig(**ECP5_VGG16))
    assert p.stream and len(p.swaps) == 13 and p.membrane_words <= 1024
