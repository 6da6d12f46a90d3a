"""The streamed pass's float32 tiles computed by torch on a device (a GPU).

The compiled core calls ``TorchGemm(device)(a, b, c)`` with NumPy views of its
unit rows (``a``: m x d, ``b``: n x d) and of the tile to fill (``c``: m x n,
possibly strided): ``c = a @ b.T`` in float32. Only the products move to the
device; the lists, the assignment and the certificate stay on the CPU, and
every listed value is still the exact float64 one, so the result is the same
as on the CPU bit for bit.

The core's error bound assumes float32 arithmetic, so TF32 (which Ampere and
later GPUs may use for float32 matmuls) is ruled out for each call.
"""

from __future__ import annotations

import contextlib

import numpy as np


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


def _key(x: np.ndarray):
    return (x.__array_interface__["data"][0], x.shape, x.strides)


class TorchGemm:
    """float32 ``a @ b.T`` on ``device``. ``b`` (a column block of tiles, or a
    whole side when the certificate recomputes rows) is the same array for many
    calls, so the last few are kept on the device. One instance serves one
    comparison: its cache is keyed by address, valid while the inputs live."""

    def __init__(self, device, keep: int = 2):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.keep = keep
        self._cache: dict = {}
        self.calls = 0

    def _upload(self, x: np.ndarray, cache: bool):
        if cache and (hit := self._cache.get(_key(x))) is not None:
            return hit
        t = self.torch.from_numpy(x).to(self.device, non_blocking=False)
        if cache:
            if len(self._cache) >= self.keep:
                self._cache.pop(next(iter(self._cache)))
            self._cache[_key(x)] = t
        return t

    @contextlib.contextmanager
    def _float32_only(self):
        # "highest" rules out TF32 on CUDA and bfloat16 in CPU matmuls.
        torch = self.torch
        saved = torch.get_float32_matmul_precision()
        torch.set_float32_matmul_precision("highest")
        try:
            yield
        finally:
            torch.set_float32_matmul_precision(saved)

    def __call__(self, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> None:
        self.calls += 1
        with self._float32_only():
            product = self._upload(a, cache=False) @ self._upload(b, cache=True).T
            self.torch.from_numpy(c).copy_(product.cpu())
