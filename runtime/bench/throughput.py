"""Training / inference throughput of the fused Triton LIF vs the plain torch LIF, in the same run.

    python runtime/bench/throughput.py [--preset spikformer-4-384/cifar10] [--batch-sizes 32,64,128]
                                       [--steps 20] [--warmup 3] [--amp] [--device cuda]

For each batch size: training img/s (forward + backward + AdamW step on synthetic data), inference img/s
(no_grad, eval mode) and peak CUDA memory per image, for neuron backend `triton` and `torch` on the same model
weights, with ratios triton/torch. Before timing, a check on one batch: every LIF layer's spikes identical between
the two backends (eval mode, deterministic cuDNN) and the training-mode losses equal (rel. 1e-5 in fp32; with
--amp the torch path keeps a bf16 membrane state and the fused kernel an fp32 one, so small differences are
reported, not failed). OOM at a batch size is reported and the next size is tried.

Without CUDA it says so and runs a tiny CPU sanity version instead: the plain path, plus the fused path in
Triton's CPU interpreter when triton is installed (correctness only; interpreter timings mean nothing).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(RUNTIME))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default=None,
                    help="preset name (default: spikformer-4-384/cifar10 on CUDA, spikformer-tiny/mnist on CPU)")
    ap.add_argument("--batch-sizes", default=None, help="comma-separated (default 32,64,128 on CUDA, 2 on CPU)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per measurement (default 20 CUDA, 1 CPU)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (Triton compiles on the first)")
    ap.add_argument("--amp", action="store_true", help="bf16 autocast for forward + loss")
    ap.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    ap.add_argument("--no-check", action="store_true", help="skip the spikes / loss equality check")
    a = ap.parse_args(argv)
    try:
        a.batch_sizes = [int(b) for b in a.batch_sizes.split(",")] if a.batch_sizes else None
    except ValueError:
        ap.error(f"--batch-sizes must be comma-separated integers, got {a.batch_sizes!r}")
    if a.batch_sizes is not None and any(b < 1 for b in a.batch_sizes):
        ap.error("--batch-sizes must be >= 1")
    if a.steps is not None and a.steps < 1:
        ap.error("--steps must be >= 1")
    return a


def lifs(model):
    from spikestudio.neurons import LIF

    # PLIF / LIAF / STSA neurons have their own forward (no fused kernel); only plain LIF layers switch backend
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LIF) and type(m).forward is LIF.forward]


def set_backend(model, backend: str) -> None:
    for _, m in lifs(model):
        m.backend = backend


def make_batch(cfg: dict, B: int, device, gen):
    import torch

    C, S, T = cfg["in_channels"], cfg["img_size"], cfg["time_steps"]
    shape = (B, T, C, S, S) if cfg.get("variant") == "dvs" else (B, C, S, S)
    x = torch.randn(*shape, generator=gen).to(device)
    y = torch.randint(0, cfg["num_classes"], (B,), generator=gen).to(device)
    return x, y


def autocast(device, amp: bool):
    import contextlib

    import torch

    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def check(model, init_state, x, y, device, amp: bool) -> bool:
    """Spikes of every LIF layer identical (eval mode) and training-mode losses equal, torch vs triton."""
    import torch
    import torch.nn.functional as F

    caught: dict[str, list] = {"torch": [], "triton": []}
    hooks = []
    cur = {"b": "torch"}
    for name, m in lifs(model):
        hooks.append(m.register_forward_hook(lambda mod, inp, out, name=name: caught[cur["b"]].append((name, out.detach()))))
    losses = {}
    try:
        for b in ("torch", "triton"):
            cur["b"] = b
            set_backend(model, b)
            model.load_state_dict(init_state)  # same weights and BN running stats for both
            model.eval()
            with torch.no_grad(), autocast(device, amp):
                model(x)
            model.train()
            with autocast(device, amp):
                losses[b] = F.cross_entropy(model(x).float(), y).item()
    finally:
        for h in hooks:
            h.remove()
        model.zero_grad(set_to_none=True)
    n_eval = len(caught["torch"]) // 2  # eval forward then train forward, per backend
    bad = []
    for (name, a), (_, b) in zip(caught["torch"][:n_eval], caught["triton"][:n_eval]):
        if not torch.equal(a.float(), b.float()):
            bad.append(f"{name}: {(a.float() != b.float()).sum().item()} of {a.numel()} differ")
    rel = abs(losses["torch"] - losses["triton"]) / max(abs(losses["torch"]), 1e-12)
    tol = 1e-2 if amp else 1e-5
    ok_spikes, ok_loss = not bad, rel <= tol
    print(f"  check: {n_eval} LIF layers, spikes {'identical' if ok_spikes else 'DIFFER'}; "
          f"loss torch {losses['torch']:.6f} triton {losses['triton']:.6f} (rel {rel:.2e}, tol {tol:g}) "
          f"{'ok' if ok_loss else 'MISMATCH'}")
    for line in bad[:10]:
        print(f"    {line}")
    return (ok_spikes or amp) and ok_loss


def measure(model, x, y, device, amp: bool, steps: int, warmup: int, train: bool):
    """(img/s, peak bytes per image or None)."""
    import torch
    import torch.nn.functional as F

    cuda = device.type == "cuda"
    B = x.shape[0]
    if train:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    else:
        model.eval()

    def step():
        if train:
            opt.zero_grad(set_to_none=True)
            with autocast(device, amp):
                loss = F.cross_entropy(model(x).float(), y)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad(), autocast(device, amp):
                model(x)

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    dt = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() - base) / B if cuda else None
    if train:
        del opt
    return B * steps / dt, peak


def fmt_mem(b):
    return "n/a" if b is None else f"{b / 2**20:.2f} MiB"


def run(a) -> int:
    import torch

    from spikestudio.models import build_model
    from spikestudio.presets import get_preset

    cuda = torch.cuda.is_available() and a.device != "cpu"
    if a.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: CUDA is not available", file=sys.stderr)
        return 2
    device = torch.device("cuda" if cuda else "cpu")
    interp = False
    if not cuda:
        print("throughput.py needs a CUDA GPU for real numbers (the fused kernel is Triton); running a tiny CPU sanity "
              "version instead (timings are not meaningful).")
        os.environ.setdefault("SPIKESTUDIO_TRITON_INTERPRET", "1")
        os.environ.setdefault("TRITON_INTERPRET", "1")
    try:
        import spikestudio.kernels.lif_triton  # noqa: F401  (also checks that triton imports)
        have_triton = True
    except Exception as e:  # ImportError, or a triton that fails to initialise
        have_triton = False
        print(f"triton unavailable ({type(e).__name__}: {e}); the fused path is skipped")
    if not cuda:
        interp = have_triton
    preset = a.preset or ("spikformer-4-384/cifar10" if cuda else "spikformer-tiny/mnist")
    batch_sizes = a.batch_sizes or ([32, 64, 128] if cuda else [2])
    steps = a.steps or (20 if cuda else 1)
    warmup = a.warmup if cuda else min(a.warmup, 1)
    try:
        pcfg = get_preset(preset)
    except KeyError as e:
        print(e, file=sys.stderr)
        return 2
    torch.manual_seed(0)
    model = build_model(pcfg["model"]).to(device)
    cfg = model.cfg
    n_lif = len(lifs(model))
    backends = ["triton", "torch"] if (have_triton and (cuda or interp)) else ["torch"]
    name = torch.cuda.get_device_name() if cuda else "cpu" + (" (Triton interpreter)" if interp else "")
    print(f"preset {preset}: {cfg['arch']} D={cfg['embed_dim']} depth={cfg['depth']} T={cfg['time_steps']} "
          f"img={cfg['img_size']}, {n_lif} LIF layers; device {name}; amp={'bf16' if a.amp else 'off'}; "
          f"{steps} steps after {warmup} warm-up; torch {torch.__version__}")
    if n_lif == 0:
        print("  (this model has no plain LIF layers: PLIF/LIAF/STSA neurons have no fused path)")
    if cuda:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    init_state = {k: v.clone() for k, v in model.state_dict().items()}
    gen = torch.Generator().manual_seed(1)
    ok = True
    rows = []
    for B in batch_sizes:
        x, y = make_batch(cfg, B, device, gen)
        print(f"batch {B}:")
        if len(backends) == 2 and not a.no_check:
            model.load_state_dict(init_state)
            try:
                ok = check(model, init_state, x, y, device, a.amp) and ok
            except torch.cuda.OutOfMemoryError:
                print("  check: out of memory")
                torch.cuda.empty_cache()
        res = {}
        for b in backends:
            set_backend(model, b)
            for mode in ("train", "infer"):
                model.load_state_dict(init_state)
                try:
                    res[(b, mode)] = measure(model, x, y, device, a.amp, steps, warmup, mode == "train")
                except torch.cuda.OutOfMemoryError:
                    res[(b, mode)] = None
                    torch.cuda.empty_cache()
                r = res[(b, mode)]
                print(f"  {b:6s} {mode:5s}: " + ("out of memory" if r is None else
                                                 f"{r[0]:10.1f} img/s, peak {fmt_mem(r[1])}/img"))
        if len(backends) == 2:
            for mode in ("train", "infer"):
                f, p = res[("triton", mode)], res[("torch", mode)]
                if f and p:
                    mem = f"{f[1] / p[1]:.2f}x" if f[1] and p[1] else "n/a"
                    print(f"  ratio triton/torch {mode:5s}: speed {f[0] / p[0]:.2f}x, memory/img {mem}")
                    rows.append((B, mode, f[0] / p[0]))
        del x, y
    print("result:", "checks passed" if ok else "CHECKS FAILED")
    return 0 if ok else 1


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
