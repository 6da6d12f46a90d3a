"""Online training across processes (torch.distributed; launched with
``torchrun``): each process owns some of the SAEs and the model runs once
per batch in all.

    torchrun --nproc_per_node 2 -m saematch.cli train minilm stdlib-docstrings \\
        --hookpoints encoder.layer.2 encoder.layer.4 --seeds 0 1 2 3 --distribute-seeds

``mode="seeds"``: process r trains seeds r, r + N, ... at every hook point.
``mode="hookpoints"``: process r trains every seed of hook points r, r + N,
... (sparsify's ``--distribute_modules``).
``mode="data"`` (data parallel; ``saematch train --data-parallel``, and what
``saematch train`` does under torchrun without a ``--distribute-*`` flag, as
sparsify does): every process trains every SAE on its share of every
batch's tokens (process r the r-th contiguous share, ``share_bounds``); the
trainers exchange every batch-wide quantity (the batch's mean and variance,
gradients, firing counts, BatchTopK's selection) through torch.distributed
(``TorchRanks``, called from the C++ trainer; include/saematch/sae/batch_share.hpp),
so the SAEs are those of one process stepping on whole batches, to float
rounding (sums split differently): 1e-6 in the tests.

The model calls of a run (saematch.online.TokenPlan) are dealt out in turn:
of each N consecutive calls, process r makes call r; the activations of all
N are then all-gathered, so every process sees every call's activations in
the order one process would have made them, and each call computed exactly
as one process computes it. So the SAEs are bitwise those of a
single-process run on the CPU, with the same number of threads per process
(the trainer's and the model's reductions follow the thread count).

Checkpoints: with ``data`` every process holds the same SAEs and process 0
writes them, as a single process does; all resume from them. With
``hookpoints`` each hook point has one owner, which
writes ``<save_dir>/<hook point>/`` as a single process does. With
``seeds`` each process keeps its own trainer state under
``<save_dir>/.ranks/seeds-of-<N>/rank<r>/<hook point>/`` and publishes its
seed folders into ``<save_dir>/<hook point>/seed_<s>/``, so ``sm.load`` and
``saematch compare-many`` read the run as a single process's. A run resumes
with the same number of processes and mode.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MODES = ("seeds", "hookpoints", "data")


def _process_group(device: str):
    import torch.distributed as dist

    if not dist.is_initialized():
        if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
            raise ValueError("distributed training runs under torchrun (e.g. torchrun --nproc_per_node 2 -m "
                             "saematch.cli train ...), which sets RANK and WORLD_SIZE; none are set here")
        dist.init_process_group("nccl" if str(device).startswith("cuda") else "gloo")
    return dist


def ownership(hookpoints, seeds, mode: str, rank: int, world: int) -> list:
    """The (hook point, seeds) pairs process ``rank`` of ``world`` trains."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "data":
        return [(h, list(seeds)) for h in hookpoints]
    if mode == "seeds":
        if len(seeds) < world:
            raise ValueError(f"--distribute-seeds over {world} processes needs at least {world} seeds, got "
                             f"{len(seeds)}; give more seeds or use fewer processes")
        return [(h, seeds[rank::world]) for h in hookpoints]
    if len(hookpoints) < world:
        raise ValueError(f"--distribute-hookpoints over {world} processes needs at least {world} hook points, got "
                         f"{len(hookpoints)}; give more hook points or use fewer processes")
    return [(h, list(seeds)) for h in hookpoints[rank::world]]


def share_bounds(rows: int, rank: int, world: int) -> tuple[int, int]:
    """The rows [begin, end) of a batch of ``rows`` that process ``rank`` of
    ``world`` trains on in data-parallel mode: contiguous, in rank order,
    sizes differing by at most one (a batch shorter than ``world`` leaves
    some processes none)."""
    return rows * rank // world, rows * (rank + 1) // world


class TorchRanks:
    """The C++ trainer's exchanges with the other processes of a
    data-parallel run (``Trainer.set_ranks``), over torch.distributed; the
    trainer calls ``sum`` and ``gather`` from its step."""

    def __init__(self, dist):
        self.dist = dist
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def sum(self, tensors) -> None:
        for t in tensors:
            self.dist.all_reduce(t)

    def gather(self, t):
        import torch

        t = t.contiguous()
        every = [torch.empty_like(t) for _ in range(self.world)]
        self.dist.all_gather(every, t)
        return torch.stack(every)


class Exchange:
    """Shares the model calls among the processes (online.train_online's
    ``exchange``) and places each process's checkpoints."""

    def __init__(self, dist, mode: str):
        self.dist, self.mode = dist, mode
        self.rank, self.world = dist.get_rank(), dist.get_world_size()

    def agree(self, start: int) -> int:
        import torch

        mine = torch.tensor([start], dtype=torch.int64)
        every = [torch.zeros_like(mine) for _ in range(self.world)]
        self.dist.all_gather(every, mine)
        starts = [int(t) for t in every]
        if len(set(starts)) > 1:
            raise ValueError(f"the processes' checkpoints are at different points ({', '.join(f'rank {r}: {n} tokens' for r, n in enumerate(starts))}): "
                             "a run killed while saving; start it again without --resume")
        return starts[0]

    def activations(self, hooks, plan, start: int, device, model_device, widths: dict):
        """Every model call's activations, in order; this process computes
        its share of the calls."""
        import torch

        from saematch.online import call_activations

        names = hooks.names
        total = sum(widths[n] for n in names)
        calls = list(plan.calls(start))
        for g in range(0, len(calls), self.world):
            group = calls[g : g + self.world]
            counts = [int(plan.kept[rows].sum()) - drop for _, rows, drop in group]
            counts += [0] * (self.world - len(group))
            longest = max(counts)
            if longest == 0:
                continue
            flat = torch.zeros(longest, total, device=device)
            if self.rank < len(group):
                mine = next(call_activations(hooks, plan, [group[self.rank]], device, model_device))
                flat[: counts[self.rank]] = torch.cat([mine[n] for n in names], 1)
            every = [torch.empty_like(flat) for _ in range(self.world)]
            self.dist.all_gather(every, flat)
            for j in range(len(group)):
                yield dict(zip(names, every[j][: counts[j]].split([widths[n] for n in names], 1)))

    def attach(self, trainer) -> None:
        """Makes a trainer one of the data-parallel processes' (mode data)."""
        if self.mode == "data":
            trainer.set_ranks(TorchRanks(self.dist))

    def share(self, x):
        """This process's rows of a step's batch (mode data), else the batch."""
        if self.mode != "data":
            return x
        begin, end = share_bounds(x.shape[0], self.rank, self.world)
        return x[begin:end]

    @property
    def writes(self) -> bool:
        """Whether this process writes its checkpoints (in mode data, process 0 writes the one copy)."""
        return self.mode != "data" or self.rank == 0

    def checkpoint_dir(self, base: Path, hook: str) -> Path:
        if self.mode in ("hookpoints", "data"):
            return base / hook
        return base / ".ranks" / f"seeds-of-{self.world}" / f"rank{self.rank}" / hook

    def publish(self, base: Path, hook: str, private: Path, seeds) -> None:
        """Copies this process's seed folders into the run's hook folder,
        each replaced whole (a reader sees the old folder or the new one)."""
        if self.mode in ("hookpoints", "data"):
            return
        for s in seeds:
            dst = base / hook / f"seed_{s}"
            tmp, old = dst.with_name(f".seed_{s}.new"), dst.with_name(f".seed_{s}.old")
            for p in (tmp, old):
                shutil.rmtree(p, ignore_errors=True)
            shutil.copytree(private / f"seed_{s}", tmp)
            if dst.exists():
                os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)


def train(config, model, hookpoints, dataset, *, mode: str = "seeds", seeds=(0,), device: str = "cpu", **options):
    """saematch.online.train_online across the processes of torchrun; each
    returns its own SAEs ({hook point: [SAE per owned seed]}), and returns
    once every process has saved."""
    from saematch import online, training

    dist = _process_group(device)
    seeds = training._seed_list(seeds)
    if isinstance(model, (str, os.PathLike)):
        model, tokenizer = online.load_model(model)
        options.setdefault("tokenizer", tokenizer)
    names = online.resolve_hookpoints(model, hookpoints)
    exchange = Exchange(dist, mode)
    owned = ownership(names, seeds, mode, exchange.rank, exchange.world)
    out = online.train_online(config, model, names, dataset, seeds=seeds, device=device, owned=owned,
                              exchange=exchange, **options)
    dist.barrier()
    return out


__all__ = ["train", "ownership", "share_bounds", "TorchRanks", "MODES"]
