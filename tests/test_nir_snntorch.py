"""Graphs written by snnTorch's own export_to_nir (docs/nir.md): the NIR float
simulation reproduces snnTorch's forward pass, and the imported image on the
golden model stays beside both. Skipped where snntorch or nirtorch is missing."""

import json

import numpy as np
import pytest

pytest.importorskip("snntorch")
pytest.importorskip("nirtorch")
torch = pytest.importorskip("torch")

from atsnn.data import load_dataset
from script_module import SCRIPTS, load_script
from atsnn.golden.engine import run
from atsnn.interop import nir_sim
from atsnn.interop.nir_import import import_graph

S = load_script("snntorch_nir")
T_MAX = 4


@pytest.mark.parametrize("arch, steps", [("mlp", 20), ("conv", 4)])
def test_snntorch_export_imports_and_runs(arch, steps, tmp_path):
    import nir
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    xtr, ytr = load_dataset("mnist", "train")
    x, y = load_dataset("mnist", "test", limit=300)
    net = S.network(arch)
    S.train(net, torch.as_tensor(xtr[:steps * 64], dtype=torch.float32) / 255,
            torch.as_tensor(ytr[:steps * 64]), T_MAX, seconds=60, batch=64, max_steps=steps)
    net.eval()
    with torch.no_grad():
        ours = S.forward(net, torch.as_tensor(x, dtype=torch.float32) / 255, T_MAX).numpy()
    nir.write(str(tmp_path / "g.nir"), export_to_nir(net, torch.zeros(1, 1, 28, 28),
                                                     ignore_dims=[0]))
    graph = nir.read(str(tmp_path / "g.nir"))
    # snnTorch trains with subtract reset and reset_delay=False: the float NIR
    # simulation under that convention is snnTorch's forward pass
    ref = nir_sim.scores(graph, x, T_MAX, reset="subtract")
    np.testing.assert_allclose(ref, ours, rtol=1e-3, atol=1e-3 * np.abs(ours).max())
    image, notes = import_graph(graph, t_max=T_MAX, reset="subtract")
    assert [l.kind for l in image.layers][-1] == "output"
    assert any("reset subtract" in n.text for n in notes)
    pred = run(image, x, early_exit=False).pred
    assert np.mean(pred == ours.argmax(1)) >= 0.9


@pytest.mark.slow
def test_one_minute_of_training_keeps_its_accuracy(tmp_path):
    """scripts/snntorch_nir.py end to end: the golden accuracy within one point of
    snnTorch's own (docs/nir.md records the numbers)."""
    import subprocess
    import sys
    subprocess.run([sys.executable, str(SCRIPTS / "snntorch_nir.py"), "--arch", "mlp",
                    "--seconds", "60", "--limit-test", "2000", "--out", str(tmp_path)],
                   check=True, capture_output=True)
    r = json.loads((tmp_path / "result.json").read_text())
    assert r["snntorch_accuracy"] > 0.85
    assert abs(r["reset_subtract"]["golden_accuracy"] - r["snntorch_accuracy"]) <= 0.01
