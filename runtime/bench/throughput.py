"""Training / inference throughput of the fused Triton LIF vs the plain torch LIF, in the same run.

    python runtime/bench/throughput.py [--preset spikformer-4-384/cifar10] [--batch-sizes 32,64,128]
                                       [--steps 20] [--warmup 3] [--amp] [--device cuda] [--fuse-bn-lif]
                                       [--pack-spikes]

For each batch size: training img/s (forward + backward + AdamW step on synthetic data), inference img/s
(no_grad, eval mode) and peak CUDA memory per image, for neuron backend `triton` and `torch` on the same model
weights, with ratios triton/torch. Before timing, a check on one batch: every LIF layer's spikes identical between
the two backends (eval mode, deterministic cuDNN) and the training-mode losses equal (rel. 1e-5 in fp32; with
--amp the torch path keeps a bf16 membrane state and the fused kernel an fp32 one, so small differences are
reported, not failed). OOM at a batch size is reported and the next size is tried.

--fuse-bn-lif adds a third inference row, `bnlif`: the triton backend on `kernels.fold.fuse_bn_lif(model)` (every
BatchNorm -> LIF pair in one Triton pass), with its own check that every LIF layer's spikes equal the plain torch
path's (on CUDA the plain BN is cuDNN's, which rounds differently from the fused affine: differences are counted and
fail the check only above 1e-4 of a layer's neurons; see kernels/bn_lif_triton.py).

--pack-spikes runs every training measurement (both backends) with `train.pack_spikes` (spikestudio.train.memory:
the spike tensors saved for backward kept as bits), so the peak memory per image shows its effect.

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
    ap.add_argument("--fuse-bn-lif", action="store_true",
                    help="also time inference with BatchNorm+LIF fused (kernels.fold.fuse_bn_lif, triton backend)")
    ap.add_argument("--pack-spikes", action="store_true",
                    help="train with the saved spike tensors packed as bits (train.pack_spikes)")
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


def fused_copy(model, init_state):
    """An eval-mode copy of `model` (weights init_state) with BN+LIF pairs fused, every LIF on the triton backend."""
    from spikestudio.kernels.fold import fuse_bn_lif
    from spikestudio.neurons import LIF

    model.load_state_dict(init_state)
    fused = fuse_bn_lif(model.eval())
    for m in fused.modules():
        if isinstance(m, LIF):
            m.backend = "triton"
    return fused


def check_fused(model, fused, init_state, x, device, amp: bool) -> bool:
    """Spikes of every LIF layer (by name) of the fused copy vs the plain torch path, eval mode."""
    import torch

    from spikestudio.neurons import LIF

    set_backend(model, "torch")
    model.load_state_dict(init_state)
    model.eval()
    caught: dict[str, dict] = {"plain": {}, "fused": {}}
    hooks = []
    for key, mdl in (("plain", model), ("fused", fused)):
        for name, m in mdl.named_modules():
            if isinstance(m, LIF):
                hooks.append(m.register_forward_hook(
                    lambda mod, inp, out, name=name, key=key: caught[key].__setitem__(name, out.detach().float())))
    try:
        with torch.no_grad(), autocast(device, amp):
            model(x)
            fused(x)
    finally:
        for h in hooks:
            h.remove()
    worst, bad = 0.0, []
    for name, a in caught["plain"].items():
        b = caught["fused"].get(name)
        if b is None or b.shape != a.shape:
            bad.append(f"{name}: missing or reshaped in the fused model")
            worst = 1.0
            continue
        n = int((a != b).sum().item())
        if n:
            bad.append(f"{name}: {n} of {a.numel()} differ")
            worst = max(worst, n / a.numel())
    n_fused = sum(type(m).__name__ == "BNLIF" for m in fused.modules())
    tol = 0.0 if device.type == "cpu" and not amp else 1e-4
    ok = worst <= tol
    print(f"  check bnlif: {n_fused} fused BN+LIF of {len(caught['plain'])} LIF layers, spikes "
          f"{'identical' if not bad else 'differ'} (worst layer {worst:.2e}, tol {tol:g}) {'ok' if ok else 'MISMATCH'}")
    for line in bad[:10]:
        print(f"    {line}")
    return ok or amp


def measure(model, x, y, device, amp: bool, steps: int, warmup: int, train: bool, pack: bool = False):
    """(img/s, peak bytes per image or None)."""
    import contextlib

    import torch
    import torch.nn.functional as F

    cuda = device.type == "cuda"
    B = x.shape[0]
    packer = None
    if train:
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        if pack:
            from spikestudio.train.memory import SpikePacker

            packer = SpikePacker(model)
    else:
        model.eval()

    def step():
        if train:
            opt.zero_grad(set_to_none=True)
            with autocast(device, amp), (packer.step() if packer is not None else contextlib.nullcontext()):
                loss = F.cross_entropy(model(x).float(), y)
            loss.backward()
            opt.step()
        else:
            with torch.no_grad(), autocast(device, amp):
                model(x)

    try:
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
    finally:
        if packer is not None:
            packer.remove()
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
          f"{steps} steps after {warmup} warm-up; torch {torch.__version__}"
          + ("; training with train.pack_spikes" if a.pack_spikes else ""))
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
                    res[(b, mode)] = measure(model, x, y, device, a.amp, steps, warmup, mode == "train",
                                             pack=a.pack_spikes)
                except torch.cuda.OutOfMemoryError:
                    res[(b, mode)] = None
                    torch.cuda.empty_cache()
                r = res[(b, mode)]
                print(f"  {b:6s} {mode:5s}: " + ("out of memory" if r is None else
                                                 f"{r[0]:10.1f} img/s, peak {fmt_mem(r[1])}/img"))
        if a.fuse_bn_lif and "triton" in backends:
            fused = fused_copy(model, init_state)
            if not a.no_check:
                try:
                    ok = check_fused(model, fused, init_state, x, device, a.amp) and ok
                except torch.cuda.OutOfMemoryError:
                    print("  check bnlif: out of memory")
                    torch.cuda.empty_cache()
            try:
                res[("bnlif", "infer")] = measure(fused, x, y, device, a.amp, steps, warmup, False)
            except torch.cuda.OutOfMemoryError:
                res[("bnlif", "infer")] = None
                torch.cuda.empty_cache()
            r = res[("bnlif", "infer")]
            print(f"  {'bnlif':6s} {'infer':5s}: " + ("out of memory" if r is None else
                                                      f"{r[0]:10.1f} img/s, peak {fmt_mem(r[1])}/img"))
            del fused
        if len(backends) == 2:
            for mode in ("train", "infer"):
                f, p = res[("triton", mode)], res[("torch", mode)]
                if f and p:
                    mem = f"{f[1] / p[1]:.2f}x" if f[1] and p[1] else "n/a"
                    print(f"  ratio triton/torch {mode:5s}: speed {f[0] / p[0]:.2f}x, memory/img {mem}")
                    rows.append((B, mode, f[0] / p[0]))
            f, p = res.get(("bnlif", "infer")), res[("torch", "infer")]
            if f and p:
                mem = f"{f[1] / p[1]:.2f}x" if f[1] and p[1] else "n/a"
                print(f"  ratio bnlif/torch  infer: speed {f[0] / p[0]:.2f}x, memory/img {mem}")
        del x, y
    print("result:", "checks passed" if ok else "CHECKS FAILED")
    return 0 if ok else 1


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
