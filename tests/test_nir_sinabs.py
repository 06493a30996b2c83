"""A graph written by Sinabs' own to_nir (docs/nir.md): Sinabs' IAF adds its input
unscaled (dt = 1), spikes on v >= thr and subtracts the threshold, so
`--dt 1 --spike ge --reset subtract` imports it exactly. Skipped where sinabs is
missing (it pins nir <= 1.0.4; installed here with --no-deps, plus pbr)."""

import numpy as np
import pytest

pytest.importorskip("sinabs")
torch = pytest.importorskip("torch")

from atsnn.golden.engine import run
from atsnn.interop.nir_import import import_graph

T = 4


def test_sinabs_iaf_network_imports_exactly():
    import sinabs
    import sinabs.layers as sl
    from sinabs.activation import MembraneSubtract, SingleSpike

    torch.manual_seed(0)
    l1, l2 = torch.nn.Linear(20, 16), torch.nn.Linear(16, 10)
    with torch.no_grad():   # weights on a 1/16 grid: the import is then exact
        for l in (l1, l2):
            l.weight.copy_(torch.randint(-8, 9, l.weight.shape) / 16.0)
            l.bias.copy_(torch.randint(-4, 5, l.bias.shape) / 16.0)
    net = torch.nn.Sequential(l1, sl.IAF(spike_fn=SingleSpike, reset_fn=MembraneSubtract(),
                                         spike_threshold=1.0), l2)
    graph = sinabs.to_nir(net, torch.zeros(1, T, 20))
    assert tuple(graph.nodes["input"].input_type["input"]) == (T, 20)   # T in the type
    image, notes = import_graph(graph, t_max=T, dt=1.0, spike="ge", reset="subtract",
                                input_kind="events", input_shape=(20,))
    assert all(n.exact or "sum over timesteps" in n.text for n in notes), notes
    x = (torch.rand(300, T, 20) < 0.3).float()
    sinabs.reset_states(net)    # IAF keeps its state, even from to_nir's trace
    with torch.no_grad():
        theirs = net(x).sum(dim=1).numpy()          # the output current summed over T
    ours = run(image, x.numpy().astype(np.uint8), early_exit=False).u * image.output.scale
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    # NIR's own rule (v > thr) differs from Sinabs' on this network
    strict, _ = import_graph(graph, t_max=T, dt=1.0, reset="subtract", input_kind="events",
                             input_shape=(20,))
    assert not np.array_equal(run(strict, x.numpy().astype(np.uint8), early_exit=False).u,
                              run(image, x.numpy().astype(np.uint8), early_exit=False).u)
