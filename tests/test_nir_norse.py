"""export-nir's graph run by Norse (docs/nir.md): Norse imports it with its own
from_nir and agrees with the golden model. Skipped where norse is missing (it
installs only with --no-deps next to torch 2.13.0)."""


import numpy as np
import pytest

pytest.importorskip("norse")
nir = pytest.importorskip("nir")

from atsnn.data import load_dataset
from script_module import load_script
from atsnn.golden.engine import run
from atsnn.interop import nir_export
from atsnn.model_image import load_model

S = load_script("norse_nir")


def test_norse_runs_the_exported_mlp(tmp_path):
    image = load_model("mnist-mlp")
    x, _ = load_dataset("mnist", "test", limit=200)
    nir_export.write(image, tmp_path / "g.nir", convention="norse")
    pred = S.norse_predict(nir.read(str(tmp_path / "g.nir")), image, x)
    assert np.mean(pred == run(image, x, early_exit=False).pred) >= 0.98
