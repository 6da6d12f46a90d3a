"""Run by test_train_data_parallel.py, under torchrun (data parallel) or
alone (the single-process reference):

    python _data_parallel_worker.py INPUTS OUT

Trains one SAE architecture per hook point of the tiny BERT in INPUTS
(model/ and data.jsonl) online into OUT/run. Under torchrun each process
also checks the trainer's exchanges directly on arrays, against a trainer
of its own stepping on the whole batches, and writes what it saw to
OUT/rank<r>.json."""

import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

import saematch as sm
from saematch import distributed, online, training

# One architecture per hook point: every one that trains data-parallel, TopK with AuxK.
ARCHITECTURES = {
    "embeddings": dict(architecture="topk", k=3, auxk_alpha=1 / 32),
    "encoder.layer.0": dict(architecture="batchtopk", k=3),
    "encoder.layer.0.intermediate": dict(architecture="gated", sparsity_coefficient=0.05),
    "encoder.layer.1": dict(architecture="relu", sparsity_coefficient=0.05),
    "encoder.layer.2": dict(architecture="jumprelu", sparsity_coefficient=0.05, jumprelu_init_threshold=0.02,
                            jumprelu_bandwidth=0.05),
}
OPTIONS = dict(seeds=[0, 1], batch_size=51, context_length=16, forward_batch_size=3, lr=2e-3, lr_warmup_steps=3,
               dead_after_tokens=52, save_every=2, progress=False)


def configs(model):
    widths = online.hookpoint_widths(model, list(ARCHITECTURES))
    return {h: sm.SAEConfig(d_in=w, num_latents=2 * w, **ARCHITECTURES[h]) for h, w in widths.items()}


def check_arrays(out: Path) -> None:
    """Each architecture class on arrays: the data-parallel trainer against
    a whole-batch one in this process, through a constant batch, odd
    shares, and a NaN in process 1's share."""
    dist = distributed._process_group("cpu")
    ranks = distributed.TorchRanks(dist)
    rng = np.random.default_rng(0)
    data = torch.from_numpy(np.maximum(rng.normal(size=(300, 12)), 0).astype(np.float32))
    batches = [data[:33], torch.full((9, 12), 0.5), data[33:66], data[66:73], data[73:75], data[75:140]]
    report = {}
    for arch in ("topk", "batchtopk", "relu"):
        config = sm.SAEConfig(d_in=12, num_latents=36, k=3, architecture=arch, sparsity_coefficient=0.05,
                              auxk_alpha=1 / 32)
        whole, mine = (training._make_trainer(config, [0, 1], 33, 2e-3, 3, 100, "cpu", "adam", False, 0)
                       for _ in range(2))
        mine.set_ranks(ranks)
        skipped = []
        for b in batches:
            want = whole.step(b)
            begin, end = distributed.share_bounds(b.shape[0], ranks.rank, ranks.world)
            got = mine.step(b[begin:end])
            skipped.append([g["skipped"] for g in got])
            assert [w["skipped"] for w in want] == skipped[-1]
        bad = data[140:173].clone()
        bad[20, 4] = float("nan")  # process 1 of 2 holds rows 16..32
        begin, end = distributed.share_bounds(33, ranks.rank, ranks.world)
        try:
            mine.step(bad[begin:end])
            error = None
        except ValueError as e:
            error = str(e)
        report[arch] = {
            "max_difference": max(float((a - b).abs().max()) for s in range(2)
                                  for a, b in zip(mine.parameters(s), whole.parameters(s))),
            "skipped": skipped, "error": error, "steps": mine.steps, "tokens": mine.tokens,
            "firing_equal": bool(torch.equal(mine.firing_counts, whole.firing_counts)),
            "fvu": [mine.history(0)["fvu"], whole.history(0)["fvu"]],
            "weights": [p.flatten()[:50].tolist() for p in mine.parameters(0)],
        }
    (out / f"rank{ranks.rank}.json").write_text(json.dumps(report))


def main() -> None:
    inputs, out = Path(sys.argv[1]), Path(sys.argv[2])
    model, tokenizer = online.load_model(inputs / "model")
    options = dict(OPTIONS, tokenizer=tokenizer, save_dir=out / "run")
    if "RANK" in os.environ:
        check_arrays(out)
        saes = distributed.train(configs(model), model, list(ARCHITECTURES), str(inputs / "data.jsonl"),
                                 mode="data", **options)
    else:
        saes = online.train_online(configs(model), model, list(ARCHITECTURES), str(inputs / "data.jsonl"),
                                   **options)
    # What the folders do not hold: each SAE's step statistics and firing counts.
    summary = {h: [{"history": {k: np.asarray(v).tolist() for k, v in s.history.items()},
                    "firing_counts": np.asarray(s.firing_counts).tolist()} for s in per_seed]
               for h, per_seed in saes.items()}
    (out / f"summary{os.environ.get('RANK', '')}.json").write_text(json.dumps(summary))


if __name__ == "__main__":
    main()
