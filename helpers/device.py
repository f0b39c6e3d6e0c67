"""Pick a torch device without hard-coding one: CUDA when present, then Apple MPS, else CPU."""
from __future__ import annotations


def pick_device(device: str | None = "auto"):
    """``"auto"``/None → the best available device; any other string is validated and returned."""
    import torch
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but no CUDA GPU is visible; "
                         "use device='cpu' or 'auto' (on Colab: Runtime → Change runtime type → GPU)")
    return dev
