"""Checking a user's torch device argument before any work starts.

(The module kept its name from when the CPU core called back into torch for
each tile; comparisons on a device now run in the compiled _device module,
similarity/aten/ in the headers.)
"""

from __future__ import annotations


def torch_device(device, what: str = "device"):
    """``device`` as a ``torch.device`` that this machine has, or a ValueError
    naming it (torch itself would fail later, inside a call, with a
    RuntimeError that does not say which argument was wrong)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"{what}={device!r} is not a torch device ({e}); use e.g. 'cpu' or 'cuda'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{what}={device!r}: this machine has no CUDA device (torch.cuda.is_available() "
                             "is False); use 'cpu' or leave it unset")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"{what}={device!r}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                             f"numbered from 0")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ValueError(f"{what}={device!r}: MPS is not available on this machine")
    elif dev.type != "cpu":
        raise ValueError(f"{what}={device!r}: only 'cpu', 'cuda' and 'mps' devices are supported")
    return dev
