"""Multi-process training under torchrun (env RANK / WORLD_SIZE / LOCAL_RANK).

* `DistContext.from_env()` — world size 1 when not launched by torchrun (no process group, nothing changes).
* `init()` — `init_process_group` (nccl on CUDA, gloo on CPU); the device is cuda:LOCAL_RANK on CUDA.
* Data: every rank draws the same global permutation (same seed); global batch g = perm[g·B·W:(g+1)·B·W] and
  rank r takes its contiguous slice [r·B, (r+1)·B) — DistributedSampler's sharding, on the in-memory index
  permutation. data.batch_size is per process (timm/torchrun convention); the global batch is batch_size × W.
* Evaluation: each rank evaluates a contiguous shard of the evaluation set; loss sums, correct counts and sample
  counts are all-reduced (sums), so the metrics cover the whole set exactly once.
* Events and checkpoints come from rank 0 only; other ranks' stdout goes to stderr (see trainer.main).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


@dataclass
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistContext":
        try:
            world = int(os.environ.get("WORLD_SIZE", "1"))
            rank = int(os.environ.get("RANK", "0"))
            local = int(os.environ.get("LOCAL_RANK", str(rank)))
        except ValueError:
            return cls()
        if world <= 1:
            return cls()
        return cls(rank=rank, world_size=world, local_rank=local)

    def init(self, device_type: str) -> None:
        if not self.enabled or self.initialized:
            return
        import datetime

        import torch.distributed as dist

        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
        self.initialized = True

    def all_reduce_sum(self, values: list[float], device) -> list[float]:
        """Sum a short list of numbers over ranks (float64)."""
        if not self.enabled:
            return list(values)
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t.tolist()

    def barrier(self) -> None:
        if self.enabled and self.initialized:
            import torch.distributed as dist

            dist.barrier()

    def shutdown(self, all_finished: bool = False) -> None:
        """Destroy the process group while the interpreter is fully alive.

        `all_finished`: this rank completed normally, so every rank reaches this point; a barrier keeps the
        connections open until the last rank is done with its collectives. After an error, no barrier (the other
        ranks may sit in a different collective; torchrun ends them)."""
        if self.initialized:
            import gc

            import torch.distributed as dist

            try:
                if all_finished:
                    dist.barrier()
                gc.collect()  # the DDP wrapper's reducer holds the group: free it before the group goes
                dist.destroy_process_group()
            except Exception as exc:  # noqa: BLE001
                print(f"[spikestudio] rank {self.rank}: process group teardown: {type(exc).__name__}: {exc}",
                      file=sys.stderr)
            self.initialized = False

    def exit_now(self, code: int) -> None:
        """End a torchrun worker without the interpreter's finalization.

        Gloo's worker threads can still hold tensors while the interpreter is torn down, and destroying them then
        aborts the process ("terminate called without an active exception", SIGABRT), which torchrun reports as a
        failed run although training completed. Everything this process writes is flushed and closed by now."""
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass
        os._exit(code)


def shard_bounds(n: int, rank: int, world: int) -> tuple[int, int]:
    """Contiguous shard [lo, hi) of n items for `rank` (sizes differ by at most one)."""
    base, extra = divmod(n, world)
    lo = rank * base + min(rank, extra)
    return lo, lo + base + (1 if rank < extra else 0)
