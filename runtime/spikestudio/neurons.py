"""Multi-step LIF neurons and surrogate gradients (reference spec §1.1, §1.2).

Semantics follow SpikingJelly's ``MultiStepLIFNode`` (v0.0.0.0.12), per neuron and time step t = 1..T:

* charge (decay_input=True):  H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau
  (decay_input=False):        H[t] = V[t-1] - (V[t-1] - V_reset) / tau + X[t]
  (soft reset uses V_reset = 0 in the charge equation)
* fire:   S[t] = Theta(H[t] - V_th), Theta(x) = 1 if x >= 0 else 0
* reset:  hard  V[t] = H[t] * (1 - S[t]) + V_reset * S[t]
          soft  V[t] = H[t] - V_th * S[t]          (v_reset=None)
* detach_reset: the S[t] of the reset equation is cut from the graph.

V[0] = V_reset (0 for soft reset). State never persists between calls: every forward starts fresh, so callers
never need a ``reset_net``.

Two implementations are provided and tested against each other:

* :func:`lif_multistep_reference` -- the unrolled equations in plain autograd (slow, obviously correct);
* :class:`LIFMultiStep` -- an ``autograd.Function`` that loops over T without building a graph and runs the
  BPTT recursion of spec §1.1 by hand in ``backward`` (what :class:`LIF` uses).

Firing-rate probes (``spikestudio.telemetry.probes``) attach themselves to ``LIF._probe``; when it is None (the
default) the forward pays one attribute check.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Optional

import torch
from torch import nn

from spikestudio import config_schema

__all__ = [
    "SURROGATES",
    "SigmoidSurrogate",
    "ATanSurrogate",
    "surrogate_grad",
    "heaviside_surrogate",
    "lif_multistep_reference",
    "LIFMultiStep",
    "LIF",
    "PLIF",
    "LIAF",
    "TriangleSurrogate",
    "STSANeuron",
    "BatchCoupledLIF",
]


# --------------------------------------------------------------------------------------------------------------
# Surrogate gradients (forward: Heaviside with >= ; backward: the surrogate's derivative)
# --------------------------------------------------------------------------------------------------------------


def _sigmoid_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1.0 - s)


def _atan_grad(x: torch.Tensor, alpha: float) -> torch.Tensor:
    return (alpha / 2.0) / (1.0 + (math.pi / 2.0 * alpha * x) ** 2)


_GRADS = {"sigmoid": _sigmoid_grad, "atan": _atan_grad}
SURROGATES = tuple(_GRADS)
DEFAULT_ALPHA = {"sigmoid": 4.0, "atan": 2.0}


def surrogate_grad(name: str, x: torch.Tensor, alpha: float) -> torch.Tensor:
    """dS/dx of the named surrogate at x (x = H - V_th)."""
    return _GRADS[name](x, alpha)


class SigmoidSurrogate(torch.autograd.Function):
    """Heaviside forward, g'(x) = alpha * sigmoid(alpha x) * (1 - sigmoid(alpha x)) backward (alpha = 4)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float = 4.0):  # type: ignore[override]
        if x.requires_grad:
            ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * _sigmoid_grad(x, ctx.alpha), None


class ATanSurrogate(torch.autograd.Function):
    """Heaviside forward, g'(x) = (alpha/2) / (1 + (pi/2 alpha x)^2) backward (alpha = 2)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float = 2.0):  # type: ignore[override]
        if x.requires_grad:
            ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * _atan_grad(x, ctx.alpha), None


_FUNCS = {"sigmoid": SigmoidSurrogate, "atan": ATanSurrogate}


def heaviside_surrogate(x: torch.Tensor, surrogate: str = "sigmoid", alpha: float = 4.0) -> torch.Tensor:
    return _FUNCS[surrogate].apply(x, alpha)


# --------------------------------------------------------------------------------------------------------------
# Reference: the unrolled equations in autograd
# --------------------------------------------------------------------------------------------------------------


def lif_multistep_reference(
    x_seq: torch.Tensor,
    tau: float = 2.0,
    v_threshold: float = 1.0,
    v_reset: Optional[float] = 0.0,
    detach_reset: bool = True,
    surrogate: str = "sigmoid",
    alpha: float = 4.0,
    decay_input: bool = True,
    return_h: bool = False,
):
    """Plain-autograd LIF over the leading T dimension. Returns spikes (and the H sequence if asked)."""
    vr = 0.0 if v_reset is None else float(v_reset)
    v = torch.full_like(x_seq[0], vr)
    spikes, hs = [], []
    for t in range(x_seq.shape[0]):
        if decay_input:
            h = v + (x_seq[t] - (v - vr)) / tau
        else:
            h = v - (v - vr) / tau + x_seq[t]
        s = heaviside_surrogate(h - v_threshold, surrogate, alpha)
        sr = s.detach() if detach_reset else s
        if v_reset is None:
            v = h - v_threshold * sr
        else:
            v = h * (1.0 - sr) + vr * sr
        spikes.append(s)
        hs.append(h)
    out = torch.stack(spikes)
    return (out, torch.stack(hs)) if return_h else out


# --------------------------------------------------------------------------------------------------------------
# Fast path: a single autograd node for the whole sequence
# --------------------------------------------------------------------------------------------------------------


def lif_forward(x_seq, tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input, keep_h=True, v0=None):
    """The forward of :class:`LIFMultiStep` without autograd: (spikes, H sequence or None, the last V).

    ``v0``: the membrane before the first step (None: V_reset, the usual fresh start; train.temporal_grad sltt
    carries it between per-step calls). With ``keep_h=False`` no H sequence is allocated beyond one step (what
    train.recompute_membranes' forward does: backward recomputes H with a second call)."""
    vr = 0.0 if v_reset is None else float(v_reset)
    T = x_seq.shape[0]
    h_seq = torch.empty_like(x_seq) if keep_h else None
    s_seq = torch.empty_like(x_seq)
    v = torch.full_like(x_seq[0], vr) if v0 is None else v0.to(x_seq.dtype)
    for t in range(T):
        h = h_seq[t] if keep_h else torch.empty_like(x_seq[0])
        # same operation order as SpikingJelly's torch path, so results match it bit for bit
        if decay_input:  # H = V + (X - (V - vr)) / tau
            torch.sub(x_seq[t], v, out=h)
            if vr != 0.0:
                h.add_(vr)
            h.div_(tau).add_(v)
        else:  # H = V - (V - vr) / tau + X
            torch.sub(v, vr, out=h) if vr != 0.0 else h.copy_(v)
            h.div_(tau).neg_().add_(v).add_(x_seq[t])
        mask = h >= v_threshold
        s_seq[t].copy_(mask)
        if v_reset is None:
            v = h - v_threshold * s_seq[t]
        else:
            v = h.masked_fill(mask, vr)  # V = H (1 - S) + vr S
    return s_seq, h_seq, v


def lif_backward(grad_s, h_seq, tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input):
    """dL/dX from dL/dS and the H sequence: the BPTT recursion of :class:`LIFMultiStep`."""
    vr = 0.0 if v_reset is None else float(v_reset)
    k = 1.0 - 1.0 / tau
    T = h_seq.shape[0]
    grad_x = torch.empty_like(h_seq)
    grad_h_next = None
    gfun = _GRADS[surrogate]
    for t in range(T - 1, -1, -1):
        h = h_seq[t]
        sg = gfun(h - v_threshold, alpha)
        grad_h = grad_s[t] * sg
        if grad_h_next is not None:
            grad_v = grad_h_next * k
            if v_reset is None:
                dv_dh = 1.0 if detach_reset else 1.0 - v_threshold * sg
            else:
                s = (h >= v_threshold).to(h.dtype)
                dv_dh = 1.0 - s
                if not detach_reset:
                    dv_dh = dv_dh + (vr - h) * sg
            grad_h = grad_h + grad_v * dv_dh
        grad_x[t] = grad_h / tau if decay_input else grad_h
        grad_h_next = grad_h
    return grad_x


def lif_cfg(lif) -> tuple:
    """The equation parameters of a LIF module, in lif_forward / lif_backward order."""
    return (lif.tau, lif.v_threshold, lif.v_reset, lif.detach_reset, lif.surrogate, lif.alpha, lif.decay_input)


def _forward_saving_h(ctx, x_seq, cfg, v0=None):
    """lif_forward inside an autograd.Function: H saved for backward when x needs a gradient; (spikes, last V)."""
    need = bool(ctx.needs_input_grad[0])
    s_seq, h_seq, v = lif_forward(x_seq, *cfg, keep_h=need, v0=v0)
    if need:
        ctx.save_for_backward(h_seq)
    ctx.cfg = cfg
    return s_seq, v


class LIFMultiStep(torch.autograd.Function):
    """Forward loops over T with in-place tensor ops and no graph; backward runs the BPTT recursion of spec §1.1:

    dL/dH[t] = dL/dS[t] * g'(H[t]-V_th) + dL/dV[t] * dV[t]/dH[t],  dL/dV[t] = dL/dH[t+1] * dH[t+1]/dV[t]
    dV/dH (hard) = 1 - S[t] + (V_reset - H[t]) * g' * (1 - D_reset)
    dV/dH (soft) = 1 - V_th * g' * (1 - D_reset)
    dH[t+1]/dV[t] = 1 - 1/tau;  dL/dX[t] = dL/dH[t] / tau (decay_input) or dL/dH[t].
    """

    @staticmethod
    def forward(ctx, x_seq, tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input):  # type: ignore[override]
        return _forward_saving_h(ctx, x_seq, (tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input))[0]

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        (h_seq,) = ctx.saved_tensors
        return (lif_backward(grad_s, h_seq, *ctx.cfg),) + (None,) * 7


BACKENDS = config_schema.choices("model.neuron.backend")


def _check_backend(backend: str) -> str:
    """`backend: triton` needs an importable triton; raises ConfigError (model.neuron.backend) otherwise."""
    if backend not in BACKENDS:
        from spikestudio.errors import ConfigError

        raise ConfigError("model.neuron.backend", f"must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "triton":
        import importlib.util

        if importlib.util.find_spec("triton") is None:
            from spikestudio.errors import ConfigError

            raise ConfigError("model.neuron.backend", "triton is requested but not importable",
                              "pip install triton (Linux + CUDA GPU), or use backend: torch")
    return backend


def _triton_supports(x: torch.Tensor) -> bool:
    """The fused Triton kernel runs on CUDA tensors (or on CPU under TRITON_INTERPRET=1 /
    SPIKESTUDIO_TRITON_INTERPRET=1, for tests) with fp32/bf16/fp16 dtype; anything else uses the torch path."""
    import os

    if x.dtype not in (torch.float32, torch.bfloat16, torch.float16) or x.dim() < 1 or x.shape[0] == 0:
        return False
    if x.is_cuda:
        return True
    return x.device.type == "cpu" and "1" in (os.environ.get("TRITON_INTERPRET"),
                                              os.environ.get("SPIKESTUDIO_TRITON_INTERPRET"))


class LIF(nn.Module):
    """Multi-step LIF layer over a tensor whose first dimension is time: (T, ...) -> spikes (T, ...).

    Per-layer tau / threshold / reset / surrogate. Holds no parameters and no state between calls.
    """

    _probe = None  # set by telemetry.probes.FiringRecorder while recording; class default: off

    def __init__(
        self,
        tau: float = 2.0,
        v_threshold: float = 1.0,
        v_reset: Optional[float] = 0.0,
        detach_reset: bool = True,
        surrogate: str = "sigmoid",
        alpha: Optional[float] = None,
        decay_input: bool = True,
        impl: str = "fused",
        backend: str = "torch",
    ):
        super().__init__()
        if not float(tau) > 1.0:
            raise ValueError(f"tau must be > 1, got {tau}")
        if surrogate not in _GRADS:
            raise ValueError(f"unknown surrogate {surrogate!r} (known: {', '.join(_GRADS)})")
        self.tau = float(tau)
        self.v_threshold = float(v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.detach_reset = bool(detach_reset)
        self.surrogate = surrogate
        self.alpha = float(DEFAULT_ALPHA[surrogate] if alpha is None else alpha)
        self.decay_input = bool(decay_input)
        self.impl = impl
        self.backend = _check_backend(backend)

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
            f"detach_reset={self.detach_reset}, surrogate={self.surrogate}(alpha={self.alpha})"
        )

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if self.impl == "reference":
            out = lif_multistep_reference(
                x_seq, self.tau, self.v_threshold, self.v_reset, self.detach_reset, self.surrogate, self.alpha,
                self.decay_input,
            )
        else:
            carrying = "_carry_v" in self.__dict__  # train.temporal_grad sltt: the state goes on between calls
            triton_ok = self.backend == "triton" and not carrying and _triton_supports(x_seq)
            deferred = _take_deferred(x_seq, self) if _DEFERRED else None
            if deferred is not None:  # train.recompute_membranes: BN -> LIF as one node (train/recompute.py)
                out = deferred(x_seq, self, "triton" if triton_ok else "torch", self._carry_v if carrying else None)
            elif carrying:
                out = LIFCarry.apply(x_seq, self)
            elif triton_ok:
                from spikestudio.kernels.lif_triton import LIFMultiStepTriton

                out = LIFMultiStepTriton.apply(
                    x_seq, self.tau, self.v_threshold, self.v_reset, self.detach_reset, self.surrogate, self.alpha,
                    self.decay_input,
                )
            else:
                out = LIFMultiStep.apply(
                    x_seq, self.tau, self.v_threshold, self.v_reset, self.detach_reset, self.surrogate, self.alpha,
                    self.decay_input,
                )
        if self._probe is not None:
            self._probe(self, out)
        return out

    def export_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """LIFMultiStep.forward's equations, out of place, same operation order (so ORT matches PyTorch closely)."""
        vr = 0.0 if self.v_reset is None else float(self.v_reset)
        v = torch.full_like(x_seq[0], vr)
        outs = []
        for t in range(x_seq.shape[0]):
            if self.decay_input:
                h = x_seq[t] - v
                if vr != 0.0:
                    h = h + vr
                h = h / self.tau + v
            else:
                h = (v - vr) if vr != 0.0 else v
                h = -(h / self.tau) + v + x_seq[t]
            if margin_sink is not None:
                margin_sink.append(float((h - self.v_threshold).abs().min()))
            mask = h >= self.v_threshold
            s = mask.to(x_seq.dtype)
            if self.v_reset is None:
                v = h - self.v_threshold * s
            else:
                v = torch.where(mask, torch.full_like(h, vr), h)
            outs.append(s)
        out = torch.stack(outs)
        if self._probe is not None:
            self._probe(self, out)
        return out


# BN outputs whose LIF recomputes them in backward (train.recompute_membranes): id(tensor) -> train.recompute._Deferred
_DEFERRED: dict = {}


def _take_deferred(x_seq, lif):
    from spikestudio.train.recompute import _take

    return _take(x_seq, lif)


class LIFCarry(torch.autograd.Function):
    """:class:`LIFMultiStep` starting from the LIF module's carried (detached) state ``_carry_v`` (None: V_reset)
    and leaving its last V there: train.temporal_grad sltt calls the model once per time step, so the membrane's
    temporal dependency between calls is cut (the SLTT gradient) while the forward equals the full-sequence one."""

    @staticmethod
    def forward(ctx, x_seq, lif):  # type: ignore[override]
        s_seq, v = _forward_saving_h(ctx, x_seq, lif_cfg(lif), lif._carry_v)
        lif._carry_v = v.detach()
        return s_seq

    @staticmethod
    def backward(ctx, grad_s):  # type: ignore[override]
        (h_seq,) = ctx.saved_tensors
        return lif_backward(grad_s, h_seq, *ctx.cfg), None


# --------------------------------------------------------------------------------------------------------------
# Parametric LIF and LIAF (spec §1.1, Spikeformer) and STSA's own neuron (spec §1.3)
# --------------------------------------------------------------------------------------------------------------


class PLIF(LIF):
    """Parametric LIF (SpikingJelly ``MultiStepParametricLIFNode``): the LIF equations with 1/tau = sigmoid(w), w a
    learnable scalar per layer initialised to -ln(tau0 - 1) (tau0 = 2 -> w = 0 -> 1/tau = 0.5).

    H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) * sigmoid(w)     (decay_input)
    H[t] = V[t-1] - (V[t-1] - V_reset) * sigmoid(w) + X[t]       (no decay_input)
    fire / reset / detach_reset / surrogate as :class:`LIF`. Plain autograd over T (w needs its gradient).
    ``tau`` reports the current 1/sigmoid(w)."""

    analog_output = False

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                 detach_reset: bool = True, surrogate: str = "sigmoid", alpha: Optional[float] = None,
                 decay_input: bool = True):
        super().__init__(tau, v_threshold, v_reset, detach_reset, surrogate, alpha, decay_input, impl="reference")
        self.w = nn.Parameter(torch.tensor(-math.log(float(tau) - 1.0)))

    @property
    def tau(self) -> float:  # type: ignore[override]
        w = self.__dict__.get("_parameters", {}).get("w")
        if w is None or w.is_meta:
            return self.__dict__.get("_tau0", 2.0)
        return float(1.0 / torch.sigmoid(w.detach()))

    @tau.setter
    def tau(self, value: float) -> None:
        self.__dict__["_tau0"] = float(value)

    def extra_repr(self) -> str:
        return (f"tau0={self.__dict__.get('_tau0')}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
                f"detach_reset={self.detach_reset}, surrogate={self.surrogate}(alpha={self.alpha})"
                + (", output=relu(H)" if self.analog_output else ""))

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        k = torch.sigmoid(self.w).to(x_seq.dtype)
        vr = 0.0 if self.v_reset is None else float(self.v_reset)
        v = torch.full_like(x_seq[0], vr)
        outs = []
        for t in range(x_seq.shape[0]):
            if self.decay_input:
                h = v + (x_seq[t] - (v - vr)) * k
            else:
                h = v - (v - vr) * k + x_seq[t]
            s = heaviside_surrogate(h - self.v_threshold, self.surrogate, self.alpha)
            sr = s.detach() if self.detach_reset else s
            if self.v_reset is None:
                v = h - self.v_threshold * sr
            else:
                v = h * (1.0 - sr) + vr * sr
            outs.append(torch.relu(h) if self.analog_output else s)
        out = torch.stack(outs)
        if self._probe is not None:
            self._probe(self, out)
        return out

    def export_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """PLIF.forward (and LIAF's) with the plain comparison, same operation order. The probe gets the spikes -- for a
        LIAF, whose output is ReLU(H), the threshold crossings that reset the membrane, not the analog output."""
        k = torch.sigmoid(self.w).to(x_seq.dtype)
        vr = 0.0 if self.v_reset is None else float(self.v_reset)
        v = torch.full_like(x_seq[0], vr)
        outs, spikes = [], []
        for t in range(x_seq.shape[0]):
            if self.decay_input:
                h = v + (x_seq[t] - (v - vr)) * k
            else:
                h = v - (v - vr) * k + x_seq[t]
            if margin_sink is not None:
                margin_sink.append(float((h - self.v_threshold).abs().min()))
            s = (h - self.v_threshold >= 0).to(x_seq.dtype)
            if self.v_reset is None:
                v = h - self.v_threshold * s
            else:
                v = h * (1.0 - s) + vr * s
            outs.append(torch.relu(h) if self.analog_output else s)
            spikes.append(s)
        out = torch.stack(outs)
        if self._probe is not None:
            self._probe(self, torch.stack(spikes) if self.analog_output else out)
        return out


class LIAF(PLIF):
    """Spikeformer's ImageNet neuron: PLIF charge / fire / reset, but the output is ReLU(H[t]) (the membrane
    potential before reset) -- an analog value, not a spike."""

    analog_output = True


class TriangleSurrogate(torch.autograd.Function):
    """Strict Heaviside forward (x > 0); backward (1/gamma^2) * max(0, gamma - |x|) (STSA, gamma = 1)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, gamma: float = 1.0):  # type: ignore[override]
        if x.requires_grad:
            ctx.save_for_backward(x)
        ctx.gamma = gamma
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        g = ctx.gamma
        return grad_out * (g - x.abs()).clamp_min(0.0) / (g * g), None


class STSANeuron(LIF):
    """STSA's own multi-step neuron (spec §1.3): m[t] = decay * m[t-1] + x[t] (input not scaled);
    s[t] = (m[t] - v_threshold > 0) (strict); hard reset m[t] <- (1 - s[t]) m[t] with NO detach;
    triangle surrogate with gamma = 1. m[0] = 0. Defaults: decay 0.5, threshold 1.0."""

    def __init__(self, decay: float = 0.5, v_threshold: float = 1.0, gamma: float = 1.0):
        super().__init__(tau=2.0, v_threshold=v_threshold, v_reset=0.0, detach_reset=False, surrogate="sigmoid",
                         impl="reference")
        self.decay = float(decay)
        self.gamma = float(gamma)

    def extra_repr(self) -> str:
        return f"decay={self.decay}, v_threshold={self.v_threshold}, surrogate=triangle(gamma={self.gamma})"

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        m = torch.zeros_like(x_seq[0])
        outs = []
        for t in range(x_seq.shape[0]):
            m = self.decay * m + x_seq[t]
            if margin_sink is not None:  # export mode (plain_firing): how close the nearest spike is to flipping
                margin_sink.append(float((m - self.v_threshold).abs().min()))
            s = TriangleSurrogate.apply(m - self.v_threshold, self.gamma)
            m = (1.0 - s) * m
            outs.append(s)
        out = torch.stack(outs)
        if self._probe is not None:
            self._probe(self, out)
        return out

    export_forward = forward  # under plain_firing the triangle surrogate is the plain strict comparison


class BatchCoupledLIF(LIF):
    """A :class:`LIF` that, with ``couple=True``, reproduces a multi-step neuron applied to a (T*B, ...) tensor:
    the leading T*B axis -- ordered (t0, b0), (t0, b1), ..., (t1, b0), ... -- is integrated as if it were time, so
    the samples of a batch share one membrane (QKFormer's SSA ``proj_lif``, reference spec 2 §2.1 [BUG]).
    Input and output are (T, B, ...) either way; ``couple=False`` is a plain per-sample LIF. Probes see the
    (T, B, ...) spikes."""

    couple = False

    @classmethod
    def like(cls, lif: LIF, couple: bool) -> "BatchCoupledLIF":
        n = cls(tau=lif.tau, v_threshold=lif.v_threshold, v_reset=lif.v_reset, detach_reset=lif.detach_reset,
                surrogate=lif.surrogate, alpha=lif.alpha, decay_input=lif.decay_input, backend=lif.backend)
        n.couple = bool(couple)
        return n

    def extra_repr(self) -> str:
        return super().extra_repr() + (", integrates over T*B (batch-coupled)" if self.couple else "")

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        if not self.couple:
            return super().forward(x_seq)
        probe = self.__dict__.pop("_probe", None)
        try:
            out = super().forward(x_seq.reshape(x_seq.shape[0] * x_seq.shape[1], *x_seq.shape[2:]))
        finally:
            if probe is not None:
                self._probe = probe
        out = out.reshape(x_seq.shape)
        if self._probe is not None:
            self._probe(self, out)
        return out


# --------------------------------------------------------------------------------------------------------------
# Export mode (export/onnx.py): the firing rule as a plain comparison. Each neuron's `export_forward` is its forward
# with that rule, out of place, in the operation order ONNX Runtime reproduces; `plain_firing()` switches the
# surrogate functions the reference LIF calls.
# --------------------------------------------------------------------------------------------------------------


class PlainTriangle:
    @staticmethod
    def apply(x: torch.Tensor, gamma: float = 1.0) -> torch.Tensor:
        return (x > 0).to(x.dtype)


def plain_heaviside(x: torch.Tensor, surrogate: str = "sigmoid", alpha: float = 4.0) -> torch.Tensor:
    return (x >= 0).to(x.dtype)


margin_sink: Optional[list] = None  # export.onnx.min_margin: a list collecting min |H - V_th| per export_forward call


@contextmanager
def plain_firing():
    """Within: heaviside_surrogate and TriangleSurrogate are plain comparisons (no autograd Function to trace)."""
    global heaviside_surrogate, TriangleSurrogate
    saved_h, saved_t = heaviside_surrogate, TriangleSurrogate
    heaviside_surrogate, TriangleSurrogate = plain_heaviside, PlainTriangle
    try:
        yield
    finally:
        heaviside_surrogate, TriangleSurrogate = saved_h, saved_t
