"""Turning what users pass (NumPy arrays, torch tensors, nested lists) into
NumPy arrays the compiled core can read in place."""

from __future__ import annotations

import numpy as np


def is_torch_tensor(x) -> bool:
    return hasattr(x, "detach") and hasattr(x, "device") and hasattr(x, "numpy")


def as_numpy(x, fallback: str = "float64") -> np.ndarray:
    """A NumPy view of ``x``; torch tensors are detached and moved to the CPU,
    and tensor dtypes other than float32/float64 (bfloat16, integers, ...) are
    converted to ``fallback`` first, since NumPy cannot view all of them."""
    if is_torch_tensor(x):
        import torch

        x = x.detach()
        if x.device.type != "cpu":
            x = x.cpu()
        if x.dtype not in (torch.float32, torch.float64):
            x = x.to(getattr(torch, fallback))
        return x.numpy()
    return np.asarray(x)


def readable_in_place(array: np.ndarray) -> np.ndarray:
    """``array`` itself when the core can read it through strides, else a
    contiguous native-endian copy (a strided field of a record array, whose
    stride is not a whole number of elements, or a byte-swapped array)."""
    if any(s % array.itemsize for s in array.strides) or not array.dtype.isnative:
        return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
    return array
