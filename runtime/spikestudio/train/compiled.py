"""`train.compile`: the training forward + backward through `torch.compile`, with a cache that outlives the run.

- What is compiled: the module the training step calls (the model, or its DistributedDataParallel wrapper), one graph
  for forward and one for backward (AOT autograd). Evaluation, attention/energy telemetry and the training steps that
  record firing rates (every `telemetry.firing_every` steps: the recorder's probes are Python side effects) run the
  same module eagerly, on the same parameters: no second compile, no recompile when probes are switched on and off.
- The LIF neurons hold no state between calls (every forward starts from V_reset), so nothing is reset between
  batches and the graph's guards stay valid from one step to the next: one compile for the run, no recompiles
  (the batch shape is fixed: the last partial batch is dropped).
- The cache: unless the user set them, TORCHINDUCTOR_CACHE_DIR is ($XDG_CACHE_HOME or ~/.cache)/spike-studio/
  torch-compile and TRITON_CACHE_DIR its `triton` subfolder; the FX graph cache (inductor's generated code) and the
  AOT autograd cache (the traced forward/backward graphs) are on. The AOT autograd cache is allowed for graphs with
  custom autograd Functions (the LIF's): dynamo traces their forward and backward into the graph that keys the
  cache, so a changed neuron misses it. Measured on 2 CPU cores (spikformer-tiny/mnist, batch 16): the first step
  takes 120-135 s with an empty cache and ~4 s with a warm one (a fresh process; runtime/bench/compile_cache.py).
  Inductor's key includes the device and, on CPU, the thread count: a different OMP_NUM_THREADS compiles anew.
- `torch.compile` compiles on the first call; the backward is compiled then too (not lazily at the first backward),
  so every compile error surfaces in the forward call, where :class:`CompiledTraining` catches it, reports it
  (`warning` naming train.compile) and runs that call and every later one eagerly. Out-of-memory errors and the
  trainer's own errors pass through.
- Not combined with train.pack_spikes (its saved-tensor hooks see eager autograd's saved tensors; a compiled graph
  saves its own) nor with model.neuron.backend triton (a hand-written kernel inductor cannot fuse; inductor
  generates fused kernels for the torch LIF itself): :func:`skip_reason` says why and the run trains eagerly.
- SPIKESTUDIO_COMPILE_BACKEND (tests and benchmarks): a torch.compile backend name (e.g. `aot_eager`, `eager`)
  used instead of inductor; the mode then does not apply.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

BACKEND_ENV = "SPIKESTUDIO_COMPILE_BACKEND"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spike-studio" / "torch-compile"


# the cache variables as the process started (this module is imported with the trainer, before torch._dynamo)
_ENV_AT_START = {k: os.environ.get(k) for k in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")}


def _user_set(name: str) -> bool:
    """The user chose this cache folder. Importing torch._dynamo (the optimiser does) writes inductor's default
    (/tmp/torchinductor_USER) into TORCHINDUCTOR_CACHE_DIR: that value is not a choice unless it was there at start."""
    value = os.environ.get(name)
    if not value:
        return False
    if _ENV_AT_START.get(name) or name != "TORCHINDUCTOR_CACHE_DIR":
        return True
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir as inductor_default
    except Exception:  # noqa: BLE001
        return True
    return os.path.abspath(value) != os.path.abspath(inductor_default())


def setup_cache() -> str:
    """Points inductor's and Triton's caches at the Spike Studio folder (unless the user set them) and turns on the
    FX graph and AOT autograd caches (where this torch has them). Returns inductor's cache folder."""
    if not _user_set("TORCHINDUCTOR_CACHE_DIR"):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(default_cache_dir())
    cache = os.environ["TORCHINDUCTOR_CACHE_DIR"]
    if not _user_set("TRITON_CACHE_DIR"):
        os.environ["TRITON_CACHE_DIR"] = str(Path(cache) / "triton")
    try:
        Path(cache).mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # inductor reports an unwritable cache itself (and the compile falls back)
    settings = [("torch._inductor.config", "fx_graph_cache", "TORCHINDUCTOR_FX_GRAPH_CACHE"),
                ("torch._functorch.config", "enable_autograd_cache", "TORCHINDUCTOR_AUTOGRAD_CACHE"),
                ("torch._functorch.config", "autograd_cache_allow_custom_autograd_functions",
                 "TORCHINDUCTOR_AUTOGRAD_CACHE_ALLOW_CUSTOM_AUTOGRAD"),
                ("torch._functorch.config", "force_non_lazy_backward_lowering", None)]
    import importlib

    for module, name, env in settings:
        if env and os.environ.get(env):  # the user's explicit setting wins
            continue
        try:
            cfg = importlib.import_module(module)
        except Exception:  # noqa: BLE001 - an unusual torch build: compile without the cache
            continue
        if hasattr(cfg, name):
            setattr(cfg, name, True)
    return os.path.abspath(cache)


def skip_reason(model: Any, tcfg: dict, records_every_step: bool) -> str | None:
    """Why train.compile cannot apply to this run (None: it can)."""
    import torch

    if not hasattr(torch, "compile"):
        return f"this PyTorch ({torch.__version__}) has no torch.compile"
    if tcfg.get("pack_spikes"):
        return ("train.pack_spikes keeps saved spike tensors as bits through autograd saved-tensor hooks, which "
                "do not apply inside a compiled graph; use train.pack_spikes or train.compile, not both")
    if tcfg.get("temporal_grad") == "sltt":
        return ("train.temporal_grad sltt runs the model one time step per call with state carried between calls; "
                "use train.temporal_grad: bptt to compile")
    from spikestudio.neurons import LIF

    if any(isinstance(m, LIF) and getattr(m, "backend", "torch") == "triton" and getattr(m, "impl", "") != "reference"
           for m in model.modules()):
        return ("model.neuron.backend is triton: its hand-written LIF kernel is opaque to torch.compile; set "
                "model.neuron.backend: torch to compile (inductor then generates a fused LIF kernel itself)")
    if records_every_step:
        return ("telemetry.firing_every is 1: steps that record firing rates run eagerly, so no step would use the "
                "compiled model; raise telemetry.firing_every")
    return None


def _cache_counts() -> dict:
    try:
        from torch._dynamo.utils import counters
    except Exception:  # noqa: BLE001
        return {}
    return {"hit": counters["inductor"]["fxgraph_cache_hit"] + counters["aot_autograd"]["autograd_cache_hit"],
            "miss": counters["inductor"]["fxgraph_cache_miss"] + counters["aot_autograd"]["autograd_cache_miss"]}


def graphs_compiled() -> int:
    """Dynamo's count of graphs compiled in this process (a recompile adds one)."""
    try:
        from torch._dynamo.utils import counters
    except Exception:  # noqa: BLE001
        return 0
    return int(counters["stats"]["unique_graphs"])


def _reason(exc: BaseException) -> str:
    """The first informative line of a compile error (dynamo wraps the backend's error)."""
    inner = exc
    while getattr(inner, "inner_exception", None) is not None:
        inner = inner.inner_exception
    text = str(inner).strip() or str(exc).strip()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    name = type(inner).__name__
    return f"{name}: {first[:300]}" if first else name


class CompiledTraining:
    """Calls the compiled module; on a compile error reports it once and calls the eager module from then on."""

    def __init__(self, module: Any, mode: str, on_fail: Callable[[str], None],
                 passthrough: Callable[[BaseException], bool] = lambda exc: False):
        self.eager = module
        self.mode = mode
        self.backend = os.environ.get(BACKEND_ENV) or "inductor"
        self.on_fail = on_fail
        self.passthrough = passthrough
        self.compiled: Any = None
        self.cache_dir: str | None = None
        self.failed: str | None = None
        self.calls = 0
        self.reported = False
        self._counts_before: dict = {}
        self._graphs_before = 0

    def build(self) -> None:
        """torch.compile (lazy: nothing is compiled before the first call). Raises on a bad backend or mode."""
        import torch

        if self.backend == "inductor":
            self.cache_dir = setup_cache()
            self.compiled = torch.compile(self.eager, mode=self.mode)
        else:
            self.compiled = torch.compile(self.eager, backend=self.backend)
        self._counts_before = _cache_counts()
        self._graphs_before = graphs_compiled()

    def __call__(self, *args, **kwargs):
        if self.failed is not None or self.compiled is None:
            return self.eager(*args, **kwargs)
        try:
            if self.mode == "reduce-overhead" and self.backend == "inductor":
                import torch

                mark = getattr(getattr(torch, "compiler", None), "cudagraph_mark_step_begin", None)
                if mark is not None:
                    mark()  # a new iteration: CUDA-graph outputs of the previous step may be overwritten
            out = self.compiled(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - a compile error must never end the run
            if self.passthrough(exc):
                raise
            traceback.print_exc(file=sys.stderr)  # the runtime's log
            self.failed = _reason(exc)
            self.on_fail(self.failed)
            return self.eager(*args, **kwargs)
        self.calls += 1
        return out

    @property
    def pending(self) -> bool:
        """The first call has compiled (or failed) and the phase end is not reported yet."""
        return not self.reported and (self.calls > 0 or self.failed is not None)

    def end_fields(self, seconds: float) -> dict:
        """The `phase` end event's fields (call once, after the first compiled step)."""
        self.reported = True
        now = _cache_counts()
        hit = now.get("hit", 0) - self._counts_before.get("hit", 0)
        miss = now.get("miss", 0) - self._counts_before.get("miss", 0)
        cache = "warm" if hit and not miss else "cold" if miss and not hit else "partial" if hit else "none"
        return {"name": "compile", "state": "end", "ok": self.failed is None, "seconds": round(seconds, 3),
                "mode": self.mode, "backend": self.backend, "cache": cache, "cache_dir": self.cache_dir,
                "graphs": graphs_compiled() - self._graphs_before}
