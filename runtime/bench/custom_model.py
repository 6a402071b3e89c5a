"""Issue 14 bench: probe overhead on a custom model, and describe time of a 12-block custom model (CPU).

    cd runtime && ../.venv/bin/python bench/custom_model.py [--steps 20] [--threads 2] [--clock wall|cpu]

  `--clock cpu --threads 1` times steps by this process's CPU time (time.process_time), which other processes on a
  busy machine barely disturb; `wall` (default) is the wall clock.

* probe overhead: training steps of examples/custom/models/lif_former.py (dim 64, 2 blocks, T 4, batch 32) with the
  firing recorder active (what a training step that records firing runs: every `telemetry.firing_every` steps,
  default 50), with firing and attention recording both active (attention maps are recorded only in evaluation
  forwards, so this is a worst case: the example computes Q K^T for the whole batch when asked), and off,
  interleaved step by step; each overhead is (on - off) / off of the median step times, and
  `training_overhead_pct_at_firing_every_50` amortises the firing overhead over the default cadence;
* with no recorder the probe API costs one global read per call: measured as the same steps with and without the
  `spikestudio.probe.attention` call (monkeypatched to a no-op);
* describe: `describe_model` of the same model with depth 12 (one eval forward with hooks + fx trace + a second
  forward for the state check).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

RUNTIME = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(RUNTIME))
EXAMPLES = RUNTIME.parent / "examples" / "custom"

from spikestudio import probe  # noqa: E402
from spikestudio.describe import describe_model  # noqa: E402
from spikestudio.models import build_model  # noqa: E402
from spikestudio.telemetry.probes import AttentionRecorder, FiringRecorder  # noqa: E402


def cfg(depth: int, dim: int = 64) -> dict:
    return {"arch": "custom", "source": str(EXAMPLES / "models" / "lif_former.py"), "entry": "LIFFormer",
            "args": {"dim": dim, "heads": 4, "depth": depth}, "time_steps": 4, "in_channels": 1, "num_classes": 10,
            "img_size": 28}


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def one_step(model, x, y, opt, record) -> float:
    t = clock()
    with record():
        loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return clock() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clock", choices=sorted(CLOCK), default="wall")
    a = ap.parse_args()
    global clock
    clock = CLOCK[a.clock]
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build_model(cfg(2))
    x, y = torch.randn(32, 1, 28, 28), torch.randint(0, 10, (32,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    firing, attn = FiringRecorder(model), AttentionRecorder(model, samples=[0])

    class Both:
        def __enter__(self):
            self.a, self.b = firing.recording(), attn.recording()
            self.a.__enter__()
            self.b.__enter__()

        def __exit__(self, *e):
            self.b.__exit__(*e)
            self.a.__exit__(*e)

    class Off:
        def __enter__(self):
            return None

        def __exit__(self, *e):
            return False

    res = {"clock": a.clock, "threads": a.threads, "steps": a.steps}
    rounds_off, rounds_on, rounds_noapi, rounds_firing = [], [], [], []
    real = probe.attention

    def no_api():
        probe.attention = lambda *args, **kw: None
        return Off()

    for _ in range(2):  # warm-up
        one_step(model, x, y, opt, Off)
        one_step(model, x, y, opt, Both)
    # step by step, the three variants interleaved (their order rotating): a loaded machine's drift hits all alike
    variants = [(rounds_off, Off), (rounds_firing, firing.recording), (rounds_on, Both), (rounds_noapi, no_api)]
    for i in range(a.steps):
        k = i % len(variants)
        for times, record in variants[k:] + variants[:k]:
            try:
                times.append(one_step(model, x, y, opt, record))
            finally:
                probe.attention = real
    off, on, noapi, fire = (statistics.median(v) for v in (rounds_off, rounds_on, rounds_noapi, rounds_firing))
    res["step_ms_off"] = round(off * 1e3, 2)
    res["step_ms_firing"] = round(fire * 1e3, 2)
    res["step_ms_firing_and_attention"] = round(on * 1e3, 2)
    res["firing_overhead_pct"] = round((fire - off) / off * 100, 2)
    res["firing_and_attention_overhead_pct"] = round((on - off) / off * 100, 2)
    res["training_overhead_pct_at_firing_every_50"] = round((fire - off) / off * 100 / 50, 3)
    res["probe_api_idle_overhead_pct"] = round((off - noapi) / noapi * 100, 2)

    times = []
    for _ in range(3):
        t = time.perf_counter()
        d = describe_model(cfg(12))
        times.append(time.perf_counter() - t)
    res["describe_12_blocks_s"] = round(min(times), 3)
    res["describe_12_blocks_layers"] = len(d["layers"])
    res["describe_graph"] = d["graph"]
    print(json.dumps(res))


if __name__ == "__main__":
    main()
