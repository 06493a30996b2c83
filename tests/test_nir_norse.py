"""Norse and NIR both ways (docs/nir.md): export-nir's graph run by Norse's own
from_nir agrees with the golden model, and a Norse network exported by Norse's own
to_nir imports and runs on the golden model beside Norse. Skipped where norse is
missing (it installs only with --no-deps next to torch 2.13.0)."""


import numpy as np
import pytest

pytest.importorskip("norse")
nir = pytest.importorskip("nir")

from atsnn.data import load_dataset
from script_module import load_script
from atsnn.golden.engine import run
from atsnn import AtsnnError
from atsnn.interop import nir_export, nir_sim
from atsnn.interop.nir_import import import_graph
from atsnn.model_image import load_model

S = load_script("norse_nir")


def test_norse_runs_the_exported_mlp(tmp_path):
    image = load_model("mnist-mlp")
    x, _ = load_dataset("mnist", "test", limit=200)
    nir_export.write(image, tmp_path / "g.nir", convention="norse")
    pred = S.norse_predict(nir.read(str(tmp_path / "g.nir")), image, x)
    assert np.mean(pred == run(image, x, early_exit=False).pred) >= 0.98


def test_norse_export_imports_and_runs(tmp_path):
    """Norse's to_nir of a briefly trained MLP: the NIR float simulation (at
    --dt 1e-6, for Norse 1.1.0's tau = dt / tau_mem_inv) reproduces Norse's forward
    pass, Norse's own dt is refused as unstable, and the golden model agrees."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    xtr, ytr = load_dataset("mnist", "train")
    x, _ = load_dataset("mnist", "test", limit=300)
    net = S.network()
    S.train(net, torch.as_tensor(xtr[:2560].reshape(2560, -1), dtype=torch.float32) / 255,
            torch.as_tensor(ytr[:2560]), 4, seconds=60, batch=64, max_steps=40)
    with torch.no_grad():
        ours = S.forward(net, torch.as_tensor(x.reshape(len(x), -1), dtype=torch.float32) / 255,
                         4).numpy()
    graph = S.export(net, tmp_path / "norse.nir")
    assert [type(n).__name__ for n in graph.nodes.values()].count("LIF") == 1
    ref = nir_sim.scores(graph, x, 4, dt=S.NORSE_IMPORT["dt"])
    np.testing.assert_allclose(ref, ours, rtol=1e-3, atol=1e-3 * np.abs(ours).max())
    with pytest.raises(AtsnnError, match="unstable"):
        import_graph(graph, t_max=4, dt=S.DT, input_shape=(1, 28, 28))
    image, notes = import_graph(graph, t_max=4, **S.NORSE_IMPORT)
    assert tuple(image.input.shape) == (1, 28, 28)
    assert any("leak_shift 1" in n.text for n in notes)
    pred = run(image, x, early_exit=False).pred
    assert np.mean(pred == ours.argmax(1)) >= 0.95
