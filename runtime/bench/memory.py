"""Training memory per image of each memory option: saved-for-backward bytes (machine independent), CPU step time
against the plain path, and peak CUDA memory when a GPU is present.

    PYTHONPATH=runtime python runtime/bench/memory.py [--preset spikformer-4-384/cifar10] [--time-steps 4]
                                                      [--dtype fp32|bf16|both] [--options plain,exact,...]
                                                      [--batch 2] [--steps 3] [--no-time] [--json]

Saved bytes: one training forward at batch 2 under ``torch.autograd.graph.saved_tensors_hooks``; the bytes of the
distinct storages autograd keeps for backward (a tensor packed by train.pack_spikes counts as its bits; the input a
checkpointed block keeps outside the hooks is added), divided by the batch. Parameters that a layer saves count
too (the issue's method); ``params_mib_per_image`` says how much of the figure they are. With sltt the model runs
one time step per forward (train/sltt.py): the figure is the largest of the per-step figures, each step's backward
freeing its tensors before the next step.

Options (``--options``, comma-separated; ``+`` combines):
  plain      BPTT, nothing saved differently
  pack       train.pack_spikes
  recompute  train.recompute_membranes
  checkpoint train.checkpoint_blocks
  exact      pack+recompute+checkpoint (gradients equal the plain path's)
  sltt       train.temporal_grad: sltt (alone; combine as sltt+exact)

Step time: forward + backward (no optimiser step) on the benchmark's device, median of --steps after one warm-up,
as a ratio to plain (on CPU unless --device cuda). With ``--json`` (one option) one JSON object is printed:
``{"preset", "time_steps", "dtype", "options", "saved_mib_per_image", "params_mib_per_image",
"activation_mib_per_image", "step_s", "peak_cuda_mib_per_image"}``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import statistics
import sys
import time
from pathlib import Path

RUNTIME = Path(__file__).resolve().parents[1]
if str(RUNTIME) not in sys.path:
    sys.path.insert(0, str(RUNTIME))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

MIB = 2 ** 20
ATOMS = ("plain", "pack", "recompute", "checkpoint", "sltt")
TABLE = ("plain", "pack", "recompute", "checkpoint", "exact", "sltt", "sltt+exact")


def parse_options(spec: str) -> frozenset:
    parts = set()
    for p in spec.split("+"):
        p = p.strip()
        if p == "exact":
            parts |= {"pack", "recompute", "checkpoint"}
        elif p in ATOMS:
            parts.add(p)
        else:
            raise ValueError(f"unknown option {p!r} (known: {', '.join(ATOMS + ('exact',))})")
    parts.discard("plain")
    return frozenset(parts)


class SavedCounter:
    """Distinct storages saved for backward (through the hooks, wrapping a SpikePacker's pack when one is given),
    plus tensors reported through :func:`spikestudio.train.recompute.observe_kept`. Every counted storage is held
    until :meth:`reset`, so freed memory is never reused under the same address while counting."""

    def __init__(self, packer=None, params=()):
        self.packer = packer
        self.param_ptrs = {p.untyped_storage().data_ptr() for p in params}
        self.reset()

    def reset(self) -> None:
        self.seen: dict = {}
        self.hold: list = []

    def _add(self, t: torch.Tensor) -> None:
        st = t.untyped_storage()
        key = (st.data_ptr(), t.device.type)
        if key not in self.seen:
            self.seen[key] = st.nbytes()
            self.hold.append(t)

    def pack(self, t):
        obj = self.packer.pack(t) if self.packer is not None else t
        if isinstance(obj, torch.Tensor):
            self._add(obj)
        else:  # train.memory._Saved: the bits of its base spike tensor
            self._add(obj.base.bits)
            self.hold.append(t)  # keeps the dense spike's memory from being reused while counting
        return obj

    def unpack(self, obj):
        return self.packer.unpack(obj) if self.packer is not None else obj

    @property
    def total(self) -> int:
        return sum(self.seen.values())

    @property
    def params(self) -> int:
        return sum(v for (ptr, _), v in self.seen.items() if ptr in self.param_ptrs)

    @contextlib.contextmanager
    def counting(self):
        from spikestudio.train.recompute import observe_kept

        with contextlib.ExitStack() as stack:
            if self.packer is not None:  # the packer's step (its registry); our hooks, pushed last, call its pack
                stack.enter_context(self.packer.step())
            stack.enter_context(observe_kept(self._add))
            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(self.pack, self.unpack))
            yield self


def build(preset: str, time_steps: int, options: frozenset, device):
    from spikestudio.models import build_model
    from spikestudio.presets import get_preset
    from spikestudio.train import recompute

    cfg = copy.deepcopy(get_preset(preset)["model"])
    cfg["time_steps"] = time_steps
    cfg["init_from"] = None
    torch.manual_seed(0)
    model = build_model(cfg).to(device).train()
    if "recompute" in options:
        recompute.install_recompute(model)
    if "checkpoint" in options:
        recompute.install_checkpoint_blocks(model)
    if "sltt" in options:
        from spikestudio.train.sltt import check_model

        check_model(model)
    return model, cfg


def _inputs(cfg: dict, batch: int, device, preset: str):
    from spikestudio.models.layers import as_hw

    g = torch.Generator().manual_seed(1)
    h, w = as_hw(cfg["img_size"])
    if any(k in preset for k in ("dvs", "gesture")):
        x = (torch.rand(batch, cfg["time_steps"], cfg["in_channels"], h, w, generator=g) < 0.2).float() * 2
    else:
        x = torch.randn(batch, cfg["in_channels"], h, w, generator=g)
    y = torch.randint(0, cfg["num_classes"], (batch,), generator=g)
    return x.to(device), y.to(device)


def run_step(model, x, y, options: frozenset, amp_dtype, counter: SavedCounter | None = None) -> int:
    """One training forward + backward with the options; returns the saved bytes (max over steps for sltt)."""
    from spikestudio.train.memory import SpikePacker

    packer = SpikePacker(model) if "pack" in options else None
    if counter is not None:
        counter.packer = packer
    dev = x.device.type
    auto = (lambda: torch.autocast(dev, dtype=amp_dtype)) if amp_dtype is not None else contextlib.nullcontext
    best = 0
    try:
        if "sltt" in options:
            from spikestudio.train import sltt

            def ctx():
                if counter is not None:
                    counter.reset()
                    return counter.counting()
                return packer.step() if packer is not None else contextlib.nullcontext()

            def fwd(xt):
                with auto():
                    return model(xt)

            def backward(loss):
                nonlocal best
                if counter is not None:
                    best = max(best, counter.total)
                loss.backward()

            sltt.train_step(model, fwd, x, lambda lg: F.cross_entropy(lg.float(), y), backward, step_context=ctx)
        else:
            if counter is not None:
                counter.reset()
                cm = counter.counting()
            else:
                cm = packer.step() if packer is not None else contextlib.nullcontext()
            with auto(), cm:
                out = model(x)
            best = counter.total if counter is not None else 0
            F.cross_entropy(out.float(), y).backward()
    finally:
        if packer is not None:
            packer.remove()
    return best


def measure(preset: str, time_steps: int, dtype: str, options: frozenset, batch: int = 2, steps: int = 3,
            time_it: bool = True, device: str = "cpu") -> dict:
    dev = torch.device(device)
    amp_dtype = torch.bfloat16 if dtype == "bf16" else None
    model, cfg = build(preset, time_steps, options, dev)
    x, y = _inputs(cfg, batch, dev, preset)
    counter = SavedCounter(params=list(model.parameters()))
    saved = run_step(model, x, y, options, amp_dtype, counter)
    params = counter.params
    counter.reset()
    model.zero_grad(set_to_none=True)
    res = {
        "preset": preset, "time_steps": time_steps, "dtype": dtype, "batch": batch,
        "options": "+".join(sorted(options)) or "plain",
        "saved_mib_per_image": round(saved / batch / MIB, 3),
        "params_mib_per_image": round(params / batch / MIB, 3),
        "activation_mib_per_image": round((saved - params) / batch / MIB, 3),
        "step_s": None, "peak_cuda_mib_per_image": None,
    }
    if time_it:
        times = []
        for i in range(steps + 1):
            model.zero_grad(set_to_none=True)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            run_step(model, x, y, options, amp_dtype)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            if i:
                times.append(time.perf_counter() - t0)
        res["step_s"] = round(statistics.median(times), 4)
    if dev.type == "cuda":
        model.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
        run_step(model, x, y, options, amp_dtype)
        torch.cuda.synchronize()
        res["peak_cuda_mib_per_image"] = round((torch.cuda.max_memory_allocated(dev) - base) / batch / MIB, 2)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="spikformer-4-384/cifar10")
    ap.add_argument("--time-steps", type=int, default=4)
    ap.add_argument("--dtype", default="both", choices=("fp32", "bf16", "both"))
    ap.add_argument("--options", default=None, help="comma-separated option sets (default: the table's rows)")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (median) after one warm-up")
    ap.add_argument("--no-time", action="store_true", help="saved bytes only")
    ap.add_argument("--device", default=None, help="cpu (default) or cuda; peak CUDA memory needs cuda")
    ap.add_argument("--json", action="store_true", help="print one JSON object (one option set, one dtype)")
    a = ap.parse_args(argv)
    try:
        sets = [(s.strip(), parse_options(s)) for s in (a.options.split(",") if a.options else TABLE)]
    except ValueError as exc:
        ap.error(str(exc))
    dtypes = ["fp32", "bf16"] if a.dtype == "both" else [a.dtype]
    device = a.device or "cpu"
    if a.json:
        if len(sets) != 1 or len(dtypes) != 1:
            ap.error("--json takes one --options set and one --dtype")
        print(json.dumps(measure(a.preset, a.time_steps, dtypes[0], sets[0][1], a.batch, a.steps, not a.no_time,
                                 device)))
        return 0
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(f"{a.preset}, T={a.time_steps}, batch {a.batch}, device {device}: MiB per image saved for backward "
          f"(params included / activations only), step time vs plain")
    head = f"{'options':<14}{'dtype':<6}{'saved':>9}{'(acts)':>9}{'step s':>9}{'× plain':>9}"
    cuda = device.startswith("cuda")
    print(head + (f"{'peak CUDA':>11}" if cuda else ""))
    for dt in dtypes:
        plain_s = None
        for name, opts in sets:
            r = measure(a.preset, a.time_steps, dt, opts, a.batch, a.steps, not a.no_time, device)
            if not opts:
                plain_s = r["step_s"]
            ratio = f"{r['step_s'] / plain_s:.2f}" if r["step_s"] and plain_s else "-"
            step = f"{r['step_s']:.3f}" if r["step_s"] else "-"
            line = (f"{name:<14}{dt:<6}{r['saved_mib_per_image']:>9.1f}{r['activation_mib_per_image']:>9.1f}"
                    f"{step:>9}{ratio:>9}")
            if cuda:
                line += f"{r['peak_cuda_mib_per_image']:>11.1f}"
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
