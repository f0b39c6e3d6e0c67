"""Checkpoints in: a file that is not one gets one clear error, and a state dict must match its
model key for key (a wrong file fails loudly instead of loading half a model).

Every loader of the book (the StyleGAN2 generator, the ffhq encoders, ArcFace) reads through here,
always with ``weights_only=True``: a checkpoint is data, never code to run.
"""
from __future__ import annotations

import torch
from torch import nn


def read_checkpoint(path):
    """``torch.load(path, weights_only=True)`` on the CPU, or one ``ValueError`` that says what to do
    (a pickle error from deep inside torch is no help to the reader)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({type(err).__name__}: "
                         f"{str(err)[:200]}). Delete it and download it again.") from None


def batchnorm_counter(key: str) -> bool:
    """BN step counters: absent from checkpoints saved before PyTorch 0.4.1, unused in eval."""
    return key.endswith("num_batches_tracked")


def load_state_checked(module: nn.Module, state: dict, what: str, prefix: str = "",
                       may_be_missing=batchnorm_counter, assign: bool = True) -> None:
    """Load ``state`` into ``module``, refusing any missing, unexpected or mis-shaped key.

    Only keys for which ``may_be_missing(key)`` holds may be absent (they keep the module's
    values). ``prefix`` is how the keys are spelled in the file (e.g. ``"encoder."``), so the
    error names them as the file does.
    """
    own = module.state_dict()
    missing = [prefix + k for k in own if k not in state and not may_be_missing(k)]
    unexpected = [prefix + k for k in state if k not in own]
    wrong = [f"{prefix}{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
             for k in state if k in own and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    for label, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                        ("wrong shapes", wrong)):
        if keys:
            problems.append(f"{label} {keys[:8]}{' …' if len(keys) > 8 else ''} ({len(keys)} in all)")
    if problems:
        raise ValueError(f"the {what} weights do not match the architecture: " + "; ".join(problems)
                         + ". The file is probably another model or a damaged download: delete it and "
                         "fetch it again, or load it with the loader made for its format.")
    # assign: the file's tensors become the weights (no copy of a gigabyte into fresh memory);
    # .to(dtype) is a no-op for the float32 files of upstream and converts any half-precision copy
    module.load_state_dict({k: state[k].to(v.dtype) if k in state else v for k, v in own.items()},
                           assign=assign)
