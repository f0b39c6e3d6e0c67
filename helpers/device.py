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


def batch_gradient(loss_of, codes):
    """∂ Σ loss_of(leaf, rows) / ∂ codes, for ``codes`` [B, …] whose rows' losses are independent.

    ``loss_of(leaf, rows)`` gets a leaf copy of ``codes[rows]`` and returns its per-row losses. On a
    CPU with several torch threads the batch is split into one chunk per thread, each run on one
    thread: a batch of small convolutions keeps the cores busier split by rows than split inside
    every op (~10–15 % faster on 2 cores, ``bench/anchors.py``). Elsewhere: one call on the batch.
    The worker threads persist between calls: a fresh thread's first ops pay for setting up its
    per-thread state, which at one call per optimisation step cost a fifth of the step.
    """
    import numpy as np
    import torch

    def gradient(rows):
        leaf = codes[rows].detach().requires_grad_(True)
        loss_of(leaf, rows).sum().backward()
        return leaf.grad

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
