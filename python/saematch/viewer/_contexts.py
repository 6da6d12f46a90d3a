"""What each latent fires on: the SAEs' encodings over the activations that
:func:`saematch.collect.collect` wrote, reduced to firing counts and each
latent's top-activating tokens with the text around them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from saematch._progress import progress_bar

# Dense encodings of a batch are (rows, latents); this many numbers per batch
# keeps a batch near 64 MB of float32 whatever the SAE's width.
_BATCH_NUMBERS = 1 << 24


class Collection:
    """The shards of a collection folder: ``activations_*.npy`` (tokens, d)
    read memory-mapped, and the (token_id, document, position) row of every
    token from ``tokens/tokens_*.npy``."""

    def __init__(self, folder):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"activations {self.folder}: no such folder (the out_dir of saematch.collect.collect)")
        record_path = self.folder / "collection.json"
        self.record = json.loads(record_path.read_text()) if record_path.is_file() else {}
        files = sorted(self.folder.glob("activations_*.npy"))
        if not files:
            raise ValueError(f"activations {self.folder}: no activations_*.npy shards; collect them with "
                             "saematch.collect.collect(model, tokenizer, texts, module, out_dir)")
        self.shards, metas = [], []
        for f in files:
            try:
                acts = np.load(f, mmap_mode="r")
            except (OSError, ValueError) as e:
                raise ValueError(f"activations {f}: not a readable .npy file ({e})") from None
            if acts.ndim != 2:
                raise ValueError(f"activations {f}: shape {acts.shape}, expected (tokens, d)")
            token_file = self.folder / "tokens" / f.name.replace("activations", "tokens")
            if not token_file.is_file():
                raise ValueError(f"activations {f}: no token records {token_file}; the report needs the token "
                                 "ids collect writes beside each shard (collect again with saematch.collect)")
            meta = np.load(token_file)
            if meta.shape != (acts.shape[0], 3):
                raise ValueError(f"{token_file}: shape {meta.shape}, expected ({acts.shape[0]}, 3) rows of "
                                 f"(token_id, document, position), one per row of {f.name}")
            self.shards.append(acts)
            metas.append(meta.astype(np.int64))
        widths = {a.shape[1] for a in self.shards}
        if len(widths) != 1:
            raise ValueError(f"activations {self.folder}: shards of different widths {sorted(widths)}")
        self.d = widths.pop()
        self.meta = np.concatenate(metas)
        self.tokens = int(self.meta.shape[0])

    def batches(self, rows: int):
        """(first global row, float32 array) over every shard, ``rows`` at a time."""
        offset = 0
        for acts in self.shards:
            for start in range(0, acts.shape[0], rows):
                yield offset + start, np.array(acts[start : start + rows], dtype=np.float32)  # a writable copy for torch
            offset += acts.shape[0]

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The activations at sorted global rows ``index``."""
        out = np.empty((index.size, self.d), dtype=np.float32)
        bounds = np.cumsum([0] + [a.shape[0] for a in self.shards])
        for s, acts in enumerate(self.shards):
            lo, hi = np.searchsorted(index, [bounds[s], bounds[s + 1]])
            if hi > lo:
                out[lo:hi] = acts[index[lo:hi] - bounds[s]]
        return out


def _quiet(done, total) -> None:
    pass


def _batch_rows(latents: int) -> int:
    return int(np.clip(_BATCH_NUMBERS // max(latents, 1), 16, 4096))


def _encode(sae, x: np.ndarray):
    import torch

    with torch.no_grad():
        return sae.encode_dense(torch.from_numpy(x)).float()


def scan(sae, collection: Collection, top: int, progress: bool = True, name: str = "SAE"):
    """Firing counts (latents,) and the ``top`` largest activations of each
    latent with their global token rows, both (top, latents); a slot that
    no token filled holds activation 0 and row -1."""
    import torch

    n = sae.config.num_latents
    if sae.config.d_in != collection.d:
        raise ValueError(f"{name} reads d_in = {sae.config.d_in} but the activations in {collection.folder} have "
                         f"d = {collection.d}: they come from another model or module")
    counts = torch.zeros(n, dtype=torch.int64)
    values = torch.zeros(top, n)
    rows = torch.full((top, n), -1, dtype=torch.int64)
    step = _batch_rows(n)
    with progress_bar(progress, total=collection.tokens, desc=f"encoding with {name}") as bar:
        tick = bar.count_callback() or _quiet
        for first, x in collection.batches(step):
            dense = _encode(sae, x)
            counts += (dense > 0).sum(0)
            index = torch.arange(first, first + x.shape[0]).unsqueeze(1).expand_as(dense)
            best, where = torch.cat([values, dense]).topk(top, dim=0)
            rows = torch.cat([rows, index]).gather(0, where)
            values = best
            tick(first + x.shape[0], collection.tokens)
    fired = values > 0  # a zero activation is no context, whichever row topk chose for it
    return counts.numpy(), values.numpy(), np.where(fired.numpy(), rows.numpy(), -1)


def windows(collection: Collection, rows: np.ndarray, before: int, after: int):
    """For token rows, the rows of the text around each (``before`` tokens
    before, ``after`` after, within its document): (start, stop) per row.
    A document's tokens are consecutive rows in position order (collect
    writes them so)."""
    doc = collection.meta[:, 1]
    start = np.maximum(rows - before, 0)
    stop = np.minimum(rows + after + 1, collection.tokens)
    # Shrink each end to the document of the centre token.
    for _ in range(before):
        moved = doc[start] != doc[rows]
        start = np.where(moved, start + 1, start)
    for _ in range(after):
        moved = doc[stop - 1] != doc[rows]
        stop = np.where(moved, stop - 1, stop)
    return start, stop


def window_activations(sae, collection: Collection, latents: np.ndarray, start: np.ndarray, stop: np.ndarray,
                       progress: bool = True, name: str = "SAE") -> list:
    """For context c (latent ``latents[c]``, rows ``start[c]:stop[c]``) the
    latent's activation on each of those rows. Only the rows some window
    needs are encoded."""
    lengths = stop - start
    owner = np.repeat(np.arange(latents.size), lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    row = np.repeat(start, lengths) + (np.arange(offsets[-1]) - np.repeat(offsets[:-1], lengths))
    latent = latents[owner]
    out = np.zeros(row.size, dtype=np.float32)
    order = np.argsort(row, kind="stable")
    needed = np.unique(row)
    step = _batch_rows(sae.config.num_latents)
    with progress_bar(progress, total=needed.size, desc=f"context windows of {name}") as bar:
        tick = bar.count_callback() or _quiet
        for b in range(0, needed.size, step):
            chunk = needed[b : b + step]
            dense = _encode(sae, collection.rows(chunk)).numpy()
            lo, hi = np.searchsorted(row[order], [chunk[0], chunk[-1] + 1])
            pick = order[lo:hi]
            out[pick] = dense[np.searchsorted(chunk, row[pick]), latent[pick]]
            tick(b + chunk.size, needed.size)
    return [out[offsets[c] : offsets[c + 1]] for c in range(latents.size)]


def top_contexts(sae, collection: Collection, top: int = 8, before: int = 10, after: int = 4,
                 progress: bool = True, name: str = "SAE"):
    """``(counts, contexts)``: firing counts per latent over the collection,
    and per latent its up to ``top`` strongest tokens, largest first, each
    ``[activation, document, index of the token in the window, token ids,
    activations]`` over the window around it."""
    counts, values, rows = scan(sae, collection, top, progress, name)
    slot, latent = np.nonzero(rows >= 0)
    centre = rows[slot, latent]
    start, stop = windows(collection, centre, before, after)
    acts = window_activations(sae, collection, latent, start, stop, progress, name)
    ids = collection.meta[:, 0]
    docs = collection.meta[:, 1]
    contexts = [[] for _ in range(values.shape[1])]
    order = np.lexsort((slot, latent))  # by latent, then rank: topk ranks largest first
    for c in order:
        contexts[latent[c]].append([
            float(values[slot[c], latent[c]]), int(docs[centre[c]]), int(centre[c] - start[c]),
            ids[start[c] : stop[c]].tolist(), [round(float(v), 4) for v in acts[c]],
        ])
    return counts, contexts
