"""Pick a torch device without hard-coding one: CUDA when present, then Apple MPS, else CPU."""
from __future__ import annotations

from functools import lru_cache


def pick_device(device: str | None = "auto"):
    """``"auto"``/None → the best available device; any other string is validated and returned."""
    import torch
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    choices = "use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}: {choices}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} asked for, but no CUDA GPU is visible; "
                             "use device='cpu' or 'auto' (on Colab: Runtime → Change runtime type → GPU)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA "
                             f"GPU(s) are visible (cuda:0 …); {choices}")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            built = mps is not None and mps.is_built()
            raise ValueError(f"device {device!r} asked for, but "
                             + ("this machine has no usable Apple GPU" if built else
                                "this PyTorch was built without MPS (Apple GPUs only)")
                             + "; use 'cpu' or 'auto'")
    elif dev.type != "cpu":
        raise ValueError(f"device {device!r} is not one this book runs on: {choices}")
    return dev


def available_memory() -> int | None:
    """Bytes of main memory free for new work now (None where it cannot be read)."""
    try:
        import psutil
        return int(psutil.virtual_memory().available)
    except Exception:  # noqa: BLE001 - psutil missing or unreadable: no estimate
        return None


BUDGET_ENV = "MICROMOTION_MEMORY_BUDGET"   # bytes a batch may use, e.g. "14e9" (tests, shared GPUs)
HEADROOM = 0.85                            # of the free memory: the allocator needs some slack


def is_out_of_memory(err: BaseException) -> bool:
    """torch reports a failed allocation as a RuntimeError (CPU) or OutOfMemoryError (GPU)."""
    text = str(err).lower()
    return isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError" or (
        isinstance(err, RuntimeError) and ("out of memory" in text or "allocate" in text))


def memory_budget(device) -> int | None:
    """Bytes one batch may use on ``device`` now: ``$MICROMOTION_MEMORY_BUDGET`` if set, else on
    CUDA a share of the free memory; None (no limit) elsewhere."""
    import os
    import torch
    env = os.environ.get(BUDGET_ENV)
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ValueError(f"{BUDGET_ENV}={env!r} is not a number of bytes (e.g. 14e9)") from None
    if torch.device(device).type == "cuda":
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return int(free * HEADROOM)
    return None


class Chunks:
    """Split a per-row computation into chunks that fit the device's memory.

    The first chunk is one row, whose cost (peak memory on CUDA; ``per_row`` if given) sets the
    chunk size from :func:`memory_budget`; an out-of-memory error halves the size and retries the
    chunk, down to one row. Each row's result is its own, so the chunks' results are the batch's.
    Without a budget (a CPU, nothing forced) everything runs as one chunk.
    """

    def __init__(self, device, per_row: int | None = None, budget: int | None = None):
        import torch
        self.device = torch.device(device)
        self.budget = memory_budget(self.device) if budget is None else budget
        self.per_row = per_row
        self.size: int | None = None
        self.retries = 0

    @property
    def active(self) -> bool:
        return self.budget is not None

    def map(self, fn, n: int) -> list:
        """``[fn(slice) for each chunk]`` over rows ``0 … n − 1``, in order."""
        if not self.active:
            return [fn(slice(0, n))]
        out, start = [], 0
        while start < n:
            size = 1 if self.size is None and self.per_row is None else self._size(n)
            rows = slice(start, min(n, start + size))
            try:
                out.append(self._measured(fn, rows))
            except Exception as err:                         # noqa: BLE001 - only OOM is retried
                if not is_out_of_memory(err) or rows.stop - rows.start == 1:
                    raise
                self._free()
                self.size, self.retries = max(1, (rows.stop - rows.start) // 2), self.retries + 1
                continue
            start = rows.stop
        return out

    def _size(self, n: int) -> int:
        if self.size is None:
            self.size = max(1, min(n, self.budget // max(1, self.per_row)))
        return self.size

    def _measured(self, fn, rows):
        import torch
        if self.per_row is not None or self.device.type != "cuda":
            return fn(rows)
        torch.cuda.synchronize(self.device)
        base = torch.cuda.memory_allocated(self.device)
        torch.cuda.reset_peak_memory_stats(self.device)
        result = fn(rows)
        peak = torch.cuda.max_memory_allocated(self.device) - base
        self.per_row = max(1, peak // (rows.stop - rows.start))
        return result

    def _free(self):
        import gc
        import torch
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def batch_gradient(loss_of, codes, chunks: "Chunks | None" = None):
    """∂ Σ loss_of(leaf, rows) / ∂ codes, for ``codes`` [B, …] whose rows' losses are independent.

    ``loss_of(leaf, rows)`` gets a leaf copy of ``codes[rows]`` and returns its per-row losses. On a
    CPU with several torch threads the batch is split into one chunk per thread, each run on one
    thread: a batch of small convolutions keeps the cores busier split by rows than split inside
    every op (~10–15 % faster on 2 cores, ``bench/anchors.py``). With active ``chunks`` (on a GPU,
    or a forced budget): chunks that fit the memory. Elsewhere: one call on the batch.
    The worker threads persist between calls: a fresh thread's first ops pay for setting up its
    per-thread state, which at one call per optimisation step cost a fifth of the step.
    """
    import numpy as np
    import torch

    def gradient(rows):
        leaf = codes[rows].detach().requires_grad_(True)
        loss_of(leaf, rows).sum().backward()
        return leaf.grad

    if chunks is not None and chunks.active:        # a GPU, or a forced budget: fit the memory
        return torch.cat(chunks.map(gradient, len(codes)))
    threads = torch.get_num_threads()
    parts = min(threads, len(codes) // 2) if codes.device.type == "cpu" else 1
    if parts <= 1:
        return gradient(slice(None))
    cuts = np.linspace(0, len(codes), parts + 1).astype(int)
    torch.set_num_threads(1)                 # process-wide: each chunk's ops stay on its own thread
    try:
        chunks = [slice(a, b) for a, b in zip(cuts[:-1], cuts[1:])]
        return torch.cat(list(_workers(parts).map(gradient, chunks)))
    finally:
        torch.set_num_threads(threads)


@lru_cache(maxsize=None)
def _workers(n: int):
    """A thread pool of ``n`` workers, made once per process and reused."""
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(n, thread_name_prefix="batch_gradient")
