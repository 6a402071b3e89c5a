"""LIF / surrogate semantics (reference spec §1.1, §1.2, §7)."""

import math

import pytest
import torch

from spikestudio.neurons import (
    LIF,
    LIFMultiStep,
    heaviside_surrogate,
    lif_multistep_reference,
    surrogate_grad,
)


def test_closed_form_constant_input_one_never_fires():
    x = torch.ones(6, 1)
    s, h = lif_multistep_reference(x, tau=2.0, return_h=True)
    assert h[:3, 0].tolist() == [0.5, 0.75, 0.875]
    assert s.sum().item() == 0
    assert torch.equal(LIF(tau=2.0)(x), s)


def test_closed_form_input_two_fires_at_t1_and_resets():
    x = torch.full((4, 1), 2.0)
    s, h = lif_multistep_reference(x, tau=2.0, return_h=True)
    assert h[0, 0].item() == 1.0  # H >= V_th fires (>=, not >)
    assert s[:, 0].tolist() == [1.0, 1.0, 1.0, 1.0]  # reset to 0, so H = 1.0 again every step
    assert h[1, 0].item() == 1.0
    assert torch.equal(LIF(tau=2.0)(x), s)


def test_soft_reset_subtracts_threshold():
    x = torch.tensor([[3.0], [0.0], [0.0]])
    s, h = lif_multistep_reference(x, tau=2.0, v_reset=None, return_h=True)
    # H1 = 1.5 -> spike, V1 = 0.5; H2 = 0.5 + (0 - 0.5)/2 = 0.25
    assert s[:, 0].tolist() == [1.0, 0.0, 0.0]
    assert h[1, 0].item() == pytest.approx(0.25)
    assert torch.equal(LIF(tau=2.0, v_reset=None)(x), s)


@pytest.mark.parametrize("v_reset", [0.0, None, -0.25])
@pytest.mark.parametrize("detach_reset", [True, False])
@pytest.mark.parametrize("surrogate", ["sigmoid", "atan"])
@pytest.mark.parametrize("decay_input", [True, False])
def test_fused_matches_unrolled_autograd(v_reset, detach_reset, surrogate, decay_input):
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(5, 3, 17, generator=g, dtype=torch.float64) * 1.5 + 0.5).requires_grad_()
    w = torch.randn(5, 3, 17, generator=g, dtype=torch.float64)
    kw = dict(tau=1.7, v_threshold=0.8, v_reset=v_reset, detach_reset=detach_reset, surrogate=surrogate,
              alpha=3.0, decay_input=decay_input)
    ref = lif_multistep_reference(x, **kw)
    (ref * w).sum().backward()
    g_ref = x.grad.clone()
    x.grad = None
    out = LIFMultiStep.apply(x, kw["tau"], kw["v_threshold"], v_reset, detach_reset, surrogate, 3.0, decay_input)
    (out * w).sum().backward()
    assert torch.equal(out, ref)
    assert ref.sum() > 0  # the case exercises spikes and resets
    torch.testing.assert_close(x.grad, g_ref, rtol=1e-12, atol=1e-12)


def test_detach_reset_changes_the_gradient():
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(6, 40, generator=g, dtype=torch.float64) + 1.0).requires_grad_()
    grads = []
    for det in (True, False):
        x.grad = None
        LIF(detach_reset=det)(x).sum().backward()
        grads.append(x.grad.clone())
    assert not torch.allclose(grads[0], grads[1])
    # the last step has no future: its gradient does not depend on the reset path
    torch.testing.assert_close(grads[0][-1], grads[1][-1])


def test_manual_bptt_one_neuron_two_steps():
    # T=2, hard reset to 0, detach: dL/dX1 via the membrane = dL/dH2 * (1 - 1/tau) * (1 - S1) / tau
    tau, a = 2.0, 4.0
    x = torch.tensor([[0.4], [0.9]], dtype=torch.float64, requires_grad=True)
    s = LIF(tau=tau)(x)
    s[1].sum().backward()
    h1, h2 = 0.2, 0.1 + 0.45
    sg = lambda v: a * (1 / (1 + math.exp(-a * v))) * (1 - 1 / (1 + math.exp(-a * v)))
    dh2 = sg(h2 - 1.0)
    expected_x2 = dh2 / tau
    expected_x1 = dh2 * (1 - 1 / tau) * (1 - 0.0) / tau
    assert x.grad[1, 0].item() == pytest.approx(expected_x2)
    assert x.grad[0, 0].item() == pytest.approx(expected_x1)
    assert h1 < 1.0


def test_surrogate_derivatives_at_points():
    x = torch.tensor([0.0, 0.5, -0.25, 1.0], dtype=torch.float64)
    sig = lambda v, a=4.0: a * torch.sigmoid(a * v) * (1 - torch.sigmoid(a * v))
    torch.testing.assert_close(surrogate_grad("sigmoid", x, 4.0), sig(x))
    assert surrogate_grad("sigmoid", torch.tensor(0.0), 4.0).item() == pytest.approx(1.0)  # peak alpha/4
    assert surrogate_grad("atan", torch.tensor(0.0), 2.0).item() == pytest.approx(1.0)  # peak alpha/2
    assert surrogate_grad("atan", torch.tensor(0.5), 2.0).item() == pytest.approx(1.0 / (1 + (math.pi / 2) ** 2))
    assert surrogate_grad("sigmoid", torch.tensor(0.5), 4.0).item() == pytest.approx(
        4 * (1 / (1 + math.exp(-2))) * (1 - 1 / (1 + math.exp(-2))))
    for name, alpha in (("sigmoid", 4.0), ("atan", 2.0)):
        xi = x.clone().requires_grad_()
        y = heaviside_surrogate(xi, name, alpha)
        assert y.tolist() == [1.0, 1.0, 0.0, 1.0]  # Heaviside with >=
        y.sum().backward()
        torch.testing.assert_close(xi.grad, surrogate_grad(name, x, alpha))


def test_state_never_leaks_between_forwards():
    lif = LIF()
    small = torch.full((3, 8), 0.6)
    fresh = lif(small)
    lif(torch.full((3, 8), 50.0))  # would leave a high membrane if state persisted
    assert torch.equal(lif(small), fresh)
    assert not any(torch.is_tensor(v) for v in vars(lif).values())


def test_per_layer_parameters_and_validation():
    assert LIF(tau=1.5, v_threshold=0.5).v_threshold == 0.5
    with pytest.raises(ValueError):
        LIF(tau=1.0)
    with pytest.raises(ValueError):
        LIF(surrogate="nope")
    assert LIF(surrogate="atan").alpha == 2.0
    assert LIF().alpha == 4.0


def test_lower_threshold_fires_more():
    x = torch.rand(4, 1000, generator=torch.Generator().manual_seed(0))
    assert LIF(v_threshold=0.5)(x).sum() > LIF(v_threshold=1.0)(x).sum()
