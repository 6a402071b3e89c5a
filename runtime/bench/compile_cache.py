"""Time to the first training step with `train.compile`, cold and warm cache, and the steady-state step time, eager
vs compiled (issue #10 item 3: "cache it across runs and keep the first step within 15 s of pressing Train").

    python runtime/bench/compile_cache.py [--preset spikformer-tiny/mnist] [--batch-size 16] [--mode default]
                                          [--steps 20] [--warmup 3] [--device cpu|cuda] [--backend inductor]
                                          [--cache-dir DIR] [--json]

Three fresh processes, each building the preset's model (synthetic batches of its input shape, AdamW, cross-entropy):
  eager     no compile;
  cold      train.compile MODE with an empty cache folder (a new temporary one unless --cache-dir is given);
  warm      the same, a new process on the cache the cold run filled.
Each reports the process's time from start to the end of its first step (Python and torch imports included), the
first step alone (for compiled runs: the compile, or the cache load, plus one step), and the median of --steps
later steps. The compiled processes go through the trainer's own code (spikestudio.train.compiled: the cache
settings, the compile-error fallback) and report the cache state the trainer would put in its `phase` event.
Inductor on CPU needs a C++ compiler; --backend aot_eager measures dynamo + AOT autograd without code generation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = time.time()
RUNTIME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(RUNTIME))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="spikformer-tiny/mnist")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--mode", default="default", help="train.compile mode (default, reduce-overhead, max-autotune-no-cudagraphs)")
    ap.add_argument("--backend", default="inductor", help="torch.compile backend (inductor; aot_eager for no codegen)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps after the first")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    ap.add_argument("--cache-dir", default=None, help="compile cache folder (default: a new temporary one, removed after)")
    ap.add_argument("--json", action="store_true", help="print the results as one JSON object too")
    ap.add_argument("--child", choices=("eager", "compiled"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def child(a) -> int:
    """One measurement in this process; prints one JSON line on stdout."""
    import torch
    import torch.nn.functional as F

    from spikestudio.models import build_model
    from spikestudio.presets import get_preset
    from spikestudio.train.compiled import CompiledTraining

    device = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(0)
    cfg = get_preset(a.preset)["model"]
    model = build_model(cfg).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    C, T = cfg["in_channels"], cfg["time_steps"]
    h, w = (cfg["img_size"], cfg["img_size"]) if isinstance(cfg["img_size"], int) else cfg["img_size"]
    shape = (a.batch_size, T, C, h, w) if cfg.get("variant") == "dvs" else (a.batch_size, C, h, w)
    x = torch.randn(*shape, generator=gen).to(device)
    y = torch.randint(0, cfg["num_classes"], (a.batch_size,), generator=gen).to(device)
    failure: list[str] = []
    forward = model
    compiler = None
    if a.child == "compiled":
        os.environ["SPIKESTUDIO_COMPILE_BACKEND"] = a.backend
        compiler = CompiledTraining(model, a.mode, failure.append)
        compiler.build()
        forward = compiler

    def step() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t = time.perf_counter()
        loss = F.cross_entropy(forward(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        float(loss)  # a sync, as the trainer's loss read-out
        return time.perf_counter() - t

    model.train()
    first = step()
    since_start = time.time() - T0
    end = compiler.end_fields(first) if compiler is not None else {}
    for _ in range(a.warmup):
        step()
    times = [step() for _ in range(a.steps)]
    out = {"run": a.child, "device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
           "since_start_s": round(since_start, 3), "first_step_s": round(first, 3),
           "step_ms": round(1000 * statistics.median(times), 2), "step_ms_min": round(1000 * min(times), 2)}
    if compiler is not None:
        out.update(ok=end["ok"], cache=end["cache"], graphs=end["graphs"], cache_dir=end["cache_dir"],
                   failure=failure[0] if failure else None)
    print(json.dumps(out), flush=True)
    return 0


def run(a) -> int:
    tmp = None
    cache = a.cache_dir
    if cache is None:
        tmp = tempfile.mkdtemp(prefix="spikestudio-compile-bench-")
        cache = os.path.join(tmp, "torch-compile")
    env = dict(os.environ)
    env["TORCHINDUCTOR_CACHE_DIR"] = cache
    env["TRITON_CACHE_DIR"] = os.path.join(cache, "triton")
    env["PYTHONPATH"] = str(RUNTIME) + os.pathsep + env.get("PYTHONPATH", "")
    base = [sys.executable, str(Path(__file__).resolve()), "--preset", a.preset, "--batch-size", str(a.batch_size),
            "--mode", a.mode, "--backend", a.backend, "--steps", str(a.steps), "--warmup", str(a.warmup)]
    if a.device:
        base += ["--device", a.device]
    print(f"{a.preset}, batch {a.batch_size}, train.compile {a.mode} ({a.backend}), cache {cache}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}", flush=True)
    results = {}
    try:
        for name, kind in (("eager", "eager"), ("cold", "compiled"), ("warm", "compiled")):
            t = time.time()
            p = subprocess.run(base + ["--child", kind], capture_output=True, text=True, env=env)
            if p.returncode != 0 or not p.stdout.strip():
                print(f"{name}: failed (exit {p.returncode})\n{p.stderr[-3000:]}", file=sys.stderr)
                return 1
            r = json.loads(p.stdout.strip().splitlines()[-1])
            r["process_s"] = round(time.time() - t, 3)
            results[name] = r
            extra = f", cache {r['cache']}, {r['graphs']} graph(s)" if kind == "compiled" else ""
            if r.get("failure"):
                extra += f", FELL BACK TO EAGER: {r['failure']}"
            print(f"  {name:5s}: first step {r['first_step_s']:8.2f} s (process start to first step done "
                  f"{r['since_start_s']:7.2f} s), then {r['step_ms']:8.2f} ms/step (median of {a.steps}){extra}",
                  flush=True)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    e, c, w = results["eager"], results["cold"], results["warm"]
    print(f"  compiled/eager step time: {c['step_ms'] / e['step_ms']:.2f}x (warm run {w['step_ms'] / e['step_ms']:.2f}x); "
          f"warm/cold first step: {w['first_step_s']:.2f} s / {c['first_step_s']:.2f} s")
    if a.json:
        print(json.dumps(results))
    return 0


def main(argv=None) -> int:
    a = parse_args(argv)
    return child(a) if a.child else run(a)


if __name__ == "__main__":
    sys.exit(main())
