"""Nearest latents by decoder cosine: each base latent's nearest own latents,
and its nearest latents in each other seed (what an unshared latent's place
holds there). Computed in row blocks, so memory stays (block, latents)."""

from __future__ import annotations

import numpy as np

from saematch._progress import progress_bar

_BLOCK_NUMBERS = 1 << 24


def unit_rows(decoder: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1; an all-zero row (a dead latent) stays zero,
    so its cosine with everything is 0."""
    decoder = np.asarray(decoder, dtype=np.float32)
    norms = np.linalg.norm(decoder, axis=1, keepdims=True)
    return np.divide(decoder, norms, out=np.zeros_like(decoder), where=norms > 0)


def nearest(queries: np.ndarray, keys: np.ndarray, count: int, exclude_self: bool = False,
            progress: bool = False, desc: str = "nearest latents"):
    """(index, cosine), each (queries, count): the ``count`` keys of largest
    cosine per query row, largest first. With
    ``exclude_self`` (queries are the keys) a row is never its own
    neighbour. Zero rows match nothing: index -1, cosine 0."""
    count = min(count, keys.shape[0] - (1 if exclude_self else 0))
    n = queries.shape[0]
    index = np.full((n, max(count, 0)), -1, dtype=np.int64)
    cosine = np.zeros((n, max(count, 0)), dtype=np.float32)
    if count <= 0:
        return index, cosine
    alive_keys = np.linalg.norm(keys, axis=1) > 0
    step = int(np.clip(_BLOCK_NUMBERS // max(keys.shape[0], 1), 1, 4096))
    with progress_bar(progress, total=n, desc=desc) as bar:
        tick = bar.count_callback()
        for lo in range(0, n, step):
            hi = min(lo + step, n)
            sims = queries[lo:hi] @ keys.T
            sims[:, ~alive_keys] = -np.inf
            if exclude_self:
                sims[np.arange(hi - lo), np.arange(lo, hi)] = -np.inf
            if count < sims.shape[1]:
                part = np.sort(np.argpartition(-sims, count - 1, axis=1)[:, :count], axis=1)
            else:
                part = np.tile(np.arange(sims.shape[1]), (hi - lo, 1))
            cand = np.take_along_axis(sims, part, axis=1)
            order = np.argsort(-cand, axis=1, kind="stable")  # equal cosines: the lower index first
            idx = np.take_along_axis(part, order, axis=1)
            val = np.take_along_axis(cand, order, axis=1)
            ok = np.isfinite(val) & (np.linalg.norm(queries[lo:hi], axis=1) > 0)[:, None]
            index[lo:hi] = np.where(ok, idx, -1)
            cosine[lo:hi] = np.where(ok, val, 0.0)
            if tick:
                tick(hi, n)
    return index, cosine
