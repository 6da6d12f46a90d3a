#!/usr/bin/env python
"""TopK SAE training throughput on the CPU: saematch's trainer against eai-sparsify and the GEMM floor.

Everything runs in one process, on the same batches, with the same torch
threads (torch's intra-op pool, which saematch's LibTorch module and its
OpenMP loops share), and in interleaved rounds: each timed round does one
step of every contender on the same batch, in an order rotated from round to
round, so that other work on the machine falls on all of them alike. The
shape is the issue's: d = 768, 16,384 latents, k = 32, batch 4096 tokens,
float32.

Contenders (one "step" = what each trainer does per batch, data loading and
the language model excluded):

* ``saematch x1`` / ``saematch x4``: ``saematch._train.Trainer(...).step(batch)``
  with seeds [0] and [0, 1, 2, 3]: FVU loss, its hand-written sparse gradient,
  decoder-parallel gradient component removed, Adam (lr 2e-4 / sqrt(n / 2^14),
  1000 warm-up steps), decoder rows renormalised, dead-latent bookkeeping and
  per-seed stats (fvu, l0, dead fraction). With 4 seeds the encoder products
  of all seeds are one GEMM.
* ``sparsify (Adam) seed s``, s = 0..3: sparsify's ``SparseCoder`` stepped the
  way its ``Trainer`` steps it with ``optimizer="adam"``: b_dec set to the first
  batch's mean, ``set_decoder_norm_to_unit_norm()``, the batch's total variance,
  ``forward(x, y=x, dead_mask=None, total_variance=...)`` (its fused encoder
  autograd function, eager ``embedding_bag`` decoder), ``did_fire`` update,
  ``float(fvu)``, ``loss = fvu + auxk_alpha * auxk + multi_topk_fvu / 8``
  (auxk_alpha = 0 and multi_topk off are its defaults, so no AuxK pass),
  ``backward()``, ``remove_gradient_parallel_to_decoder_directions()``,
  ``torch.optim.Adam`` step (its trainer's choice when bitsandbytes is absent;
  same learning rate), ``zero_grad()``, its linear warm-up scheduler, the
  tokens-since-fired counters. Seed 0 alone is "sparsify x1"; the four seeds,
  each its own SAE and optimiser, are "4 sequential sparsify runs" (per round
  the four step times are summed: the same work as four runs one after
  another, or as its ``init_seeds=[0,1,2,3]`` mode, which steps the SAEs of a
  batch one after the other).
* ``sparsify (signum, its default)``: seed 0 with sparsify's default optimiser,
  ``ScheduleFreeWrapper(SignSGD, momentum=0.95)`` at lr 5e-3 / sqrt(n / 2^14);
  for information only, the targets compare like with like (Adam).
* ``GEMM floor``: ``torch.mm(x, W_enc.T)``, x (4096, 768), W_enc (16384, 768),
  float32 -- the encoder's forward product alone, which any TopK step pays.
  ``GEMM floor (out=)`` writes into a preallocated buffer (for information:
  the difference is the cost of fresh pages for the 256 MiB result).

sparsify's Triton decoder needs a GPU; on the CPU this script sets
``SPARSIFY_DISABLE_TRITON=1`` before importing sparsify, so it uses its eager
``embedding_bag`` fallback (its own switch). Both trainers start from the
same weights (seed s: ``torch.manual_seed(s)`` then ``nn.Linear`` init, which
saematch reproduces), so their first-step FVU on the first batch must agree;
the script checks it.

Warm-up rounds are not timed (the first sets b_dec and allocates optimiser
state). Per contender the report gives the median and the best step time over
the timed rounds, tokens/s (tokens x seeds per second, from the median) and
cores (process CPU time / wall time during its steps: well under the thread
count means it was starved). The targets are judged on ratios of medians;
the report also gives the median of the per-round ratios ("paired": both
sides of each ratio timed in the same round) and the ratio of the best steps:

    sparsify x1 / saematch x1                  target >= 1.2
    4 sequential sparsify / saematch x4        target >= 1.3
    saematch x1 / GEMM floor                   target <= 1.3   (and saematch x4 / 4 / floor, per seed)

    python benchmarks/bench_train.py                     # issue's shape, 10 timed rounds (3-5 min on 2 cores)
    python benchmarks/bench_train.py --quick             # d=128, 1024 latents, batch 512: seconds
    python benchmarks/bench_train.py --steps 20 --json benchmarks/results/train.json --markdown
    python benchmarks/bench_train.py --profile           # also torch.profiler tables of one step of each
    python benchmarks/bench_train.py --report OUT.json --markdown   # reprint a saved run

On a GPU, ``--device cuda`` runs issue 12's table instead (train_device.py:
three shapes, fp32 and bf16 GEMM floors, sparsify with its Triton decoder and
bf16 autocast, saematch fp32 / bf16 with 1 and 4 seeds, each contender alone
with its peak GPU memory); ``--device cpu`` dry-runs that code at tiny shapes:

    python benchmarks/bench_train.py --device cuda --budget-s 170 --json train.json
    python benchmarks/bench_train.py --device cpu
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    environment_env_vars,
    eprint,
    fmt_seconds,
    git_dirty_summary,
    git_revision,
    mem_available_mb,
    package_versions,
    thread_info,
    write_json,
)

FULL = {"d": 768, "latents": 16384, "k": 32, "batch": 4096, "steps": 10, "warmup": 2}
QUICK = {"d": 128, "latents": 1024, "k": 32, "batch": 512, "steps": 5, "warmup": 2}
SEEDS4 = [0, 1, 2, 3]
TARGETS = {"speedup_1": 1.2, "speedup_4": 1.3, "floor_ratio": 1.3}
WARMUP_STEPS_LR = 1000
DEAD_AFTER_TOKENS = 10_000_000
FVU_RTOL = 1e-4


# --------------------------------------------------------------------------- data


def make_batches(count: int, batch: int, d: int, seed: int):
    """``count`` float32 (batch, d) batches, superposition-like and not centred.

    Each token is a sum of 16 of 4d random unit directions with exponential
    magnitudes, plus Gaussian noise (std 0.1) and a fixed offset, so the mean
    b_dec starts from is not zero. Generated once; every contender gets these
    same tensors, in the same order.
    """
    import torch

    g = torch.Generator().manual_seed(seed)
    atoms = torch.randn(4 * d, d, generator=g)
    atoms /= atoms.norm(dim=1, keepdim=True)
    offset = 0.5 * torch.randn(d, generator=g)
    out = []
    for _ in range(count):
        idx = torch.randint(0, 4 * d, (batch, 16), generator=g)
        mag = torch.empty(batch, 16).exponential_(1.0, generator=g)
        x = torch.nn.functional.embedding_bag(idx, atoms, per_sample_weights=mag, mode="sum")
        x += 0.1 * torch.randn(batch, d, generator=g) + offset
        out.append(x.contiguous())
    return out


# --------------------------------------------------------------------------- contenders


class Floor:
    """One forward encoder GEMM of the step's shape."""

    seeds = 1

    def __init__(self, d, n, out_buffer: bool, seed: int = 123):
        import torch

        g = torch.Generator().manual_seed(seed)
        bound = 1.0 / d**0.5
        self.W = torch.empty(n, d).uniform_(-bound, bound, generator=g)
        self.out = torch.empty(0)
        self.out_buffer = out_buffer
        self.fvu = None

    def prepare(self, x):
        import torch

        if self.out_buffer and self.out.shape != (x.shape[0], self.W.shape[0]):
            self.out = torch.empty(x.shape[0], self.W.shape[0])

    def step(self, x):
        import torch

        if self.out_buffer:
            torch.mm(x, self.W.T, out=self.out)
        else:
            torch.mm(x, self.W.T)


class Saematch:
    def __init__(self, cfg, seeds):
        from saematch import _train

        self.seeds = len(seeds)
        common = dict(seeds=list(seeds), batch_size=cfg["batch"], lr=0.0, lr_warmup_steps=WARMUP_STEPS_LR,
                      dead_after_tokens=DEAD_AFTER_TOKENS, device="cpu")
        import saematch

        config = saematch.SAEConfig(d_in=cfg["d"], num_latents=cfg["latents"], k=cfg["k"])._as_dict()
        self.t = _train.Trainer(config=config, **common)
        self.fvu = None

    def prepare(self, x):
        pass

    def step(self, x):
        stats = self.t.step(x)
        self.fvu = [s["fvu"] for s in stats]


class Sparsify:
    """One sparsify SAE and optimiser, stepped as sparsify.Trainer.fit steps it (loss_fn="fvu")."""

    seeds = 1

    def __init__(self, cfg, seed, optimizer="adam", device="cpu", init_device=None):
        """``device``: where the SAE trains. ``init_device``: where its weights are
        drawn (default ``device``, as its Trainer does); "cpu" on a GPU run gives the
        weights saematch draws, which the same-start check needs."""
        import torch
        from sparsify.config import SparseCoderConfig
        from sparsify.sparse_coder import SparseCoder

        torch.manual_seed(seed)  # as Trainer.__init__, once per seed, right before the SAE
        self.sae = SparseCoder(cfg["d"], SparseCoderConfig(num_latents=cfg["latents"], k=cfg["k"]),
                               init_device or device, dtype=torch.float32).to(device)
        n = self.sae.num_latents
        self.schedulers = []
        if optimizer == "adam":
            from torch.optim import Adam
            from transformers import get_linear_schedule_with_warmup

            opt = Adam([dict(params=self.sae.parameters(), lr=2e-4 / (n / 2**14) ** 0.5)])
            # Trainer passes the dataset's batch count; any large number times the same.
            self.schedulers = [get_linear_schedule_with_warmup(opt, WARMUP_STEPS_LR, 1_000_000)]
        elif optimizer == "signum":
            from schedulefree import ScheduleFreeWrapper
            from sparsify.sign_sgd import SignSGD

            opt = ScheduleFreeWrapper(SignSGD([dict(params=self.sae.parameters(), lr=5e-3 / (n / 2**14) ** 0.5)]),
                                      momentum=0.95)
            opt.train()
        else:
            raise ValueError(optimizer)
        self.optimizer = opt
        self.auxk_alpha = 0.0  # TrainConfig default: no dead mask, no AuxK pass
        self.num_tokens_since_fired = torch.zeros(n, dtype=torch.long, device=device)
        self.did_fire = torch.zeros(n, dtype=torch.bool, device=device)
        self.global_step = 0
        self.fvu = None

    def prepare(self, x):
        pass

    def step(self, x):
        import torch

        sae = self.sae
        if self.global_step == 0:
            sae.b_dec.data = x.mean(0).to(sae.dtype)
        sae.set_decoder_norm_to_unit_norm()
        dead_mask = (self.num_tokens_since_fired > DEAD_AFTER_TOKENS if self.auxk_alpha > 0 else None)
        total_variance = (x - x.mean(0)).pow(2).sum()
        out = sae(x=x, y=x, dead_mask=dead_mask, total_variance=total_variance)
        self.did_fire[out.latent_indices.flatten()] = True
        fvu = float(out.fvu.detach())
        loss = out.fvu + self.auxk_alpha * out.auxk_loss + out.multi_topk_fvu / 8
        loss.div(1).backward()
        sae.remove_gradient_parallel_to_decoder_directions()
        self.optimizer.step()
        self.optimizer.zero_grad()
        for s in self.schedulers:
            s.step()
        with torch.no_grad():
            self.num_tokens_since_fired += x.shape[0]
            self.num_tokens_since_fired[self.did_fire] = 0
            self.did_fire.zero_()
        self.global_step += 1
        self.fvu = [fvu]


LABELS = {
    "floor": "GEMM floor",
    "floor_out": "GEMM floor (out=)",
    "saematch_1": "saematch x1",
    "saematch_4": "saematch x4 (one pass)",
    "sparsify_0": "sparsify (Adam) seed 0",
    "sparsify_1": "sparsify (Adam) seed 1",
    "sparsify_2": "sparsify (Adam) seed 2",
    "sparsify_3": "sparsify (Adam) seed 3",
    "sparsify_signum": "sparsify (signum, its default) seed 0",
    "sparsify_4seq": "4 sequential sparsify (Adam)",
}


def build(cfg, args):
    out = {}
    eprint("building contenders (initialising SAEs) ...")
    out["floor"] = Floor(cfg["d"], cfg["latents"], out_buffer=False)
    if not args.no_floor_out:
        out["floor_out"] = Floor(cfg["d"], cfg["latents"], out_buffer=True)
    out["saematch_1"] = Saematch(cfg, [0])
    out["saematch_4"] = Saematch(cfg, SEEDS4)
    for s in SEEDS4:
        out[f"sparsify_{s}"] = Sparsify(cfg, s, "adam")
    if not args.no_signum:
        out["sparsify_signum"] = Sparsify(cfg, 0, "signum")
    return out


# --------------------------------------------------------------------------- timing


def run_rounds(contenders: dict, batches, warmup: int, steps: int, settle: float):
    """Warm-up rounds, then ``steps`` timed rounds; returns per-contender wall and CPU seconds per step."""
    names = list(contenders)
    wall = {n: [] for n in names}
    cpu = {n: [] for n in names}
    first_fvu = {}
    rounds = warmup + steps
    for r in range(rounds):
        x = batches[r % len(batches)]
        order = names[r % len(names):] + names[:r % len(names)]  # rotate: no contender is always first
        t_round = time.perf_counter()
        gc.collect()  # once per round; the collector stays off while the round runs
        gc.disable()
        try:
            for name in order:
                c = contenders[name]
                c.prepare(x)
                if settle > 0:
                    time.sleep(settle)  # let the previous contender's OpenMP threads stop spinning
                c0 = time.process_time()
                t0 = time.perf_counter()
                c.step(x)
                t1 = time.perf_counter()
                c1 = time.process_time()
                if r == 0 and c.fvu is not None:
                    first_fvu[name] = list(c.fvu)
                if r >= warmup:
                    wall[name].append(t1 - t0)
                    cpu[name].append(c1 - c0)
        finally:
            gc.enable()
        kind = "warm-up" if r < warmup else "timed"
        eprint(f"round {r + 1}/{rounds} ({kind}, batch {r % len(batches)}): {time.perf_counter() - t_round:.1f} s, "
               f"load1 {os.getloadavg()[0]:.2f}")
    return wall, cpu, first_fvu


def summarise(name, times, cpu_times, seeds, batch):
    med = statistics.median(times)
    return {
        "label": LABELS[name],
        "seeds": seeds,
        "median": med,
        "best": min(times),
        "worst": max(times),
        "times": times,
        "cores": sum(cpu_times) / max(sum(times), 1e-12),
        "tokens_per_s": seeds * batch / med,
        "tokens_per_s_best": seeds * batch / min(times),
    }


def analyse(wall, cpu, contenders, cfg):
    batch = cfg["batch"]
    res = {n: summarise(n, wall[n], cpu[n], contenders[n].seeds, batch) for n in wall}
    # 4 sequential sparsify runs: per round, the sum of the four seeds' steps.
    seq = [sum(v) for v in zip(*(wall[f"sparsify_{s}"] for s in SEEDS4))]
    seq_cpu = [sum(v) for v in zip(*(cpu[f"sparsify_{s}"] for s in SEEDS4))]
    res["sparsify_4seq"] = summarise("sparsify_4seq", seq, seq_cpu, len(SEEDS4), batch)
    for n, c in contenders.items():
        if c.fvu is not None:
            res[n]["last_fvu"] = c.fvu
    return res


def ratios(res) -> dict:
    def r(num, den, scale=1.0, key="median"):
        if num not in res or den not in res:
            return None
        if key == "paired":  # same round, same batch, same moment: the median of the per-round ratios
            return statistics.median(a / (b * scale) for a, b in zip(res[num]["times"], res[den]["times"]))
        return res[num][key] / (res[den][key] * scale)

    out = {
        "speedup_1": {"value": r("sparsify_0", "saematch_1"), "best": r("sparsify_0", "saematch_1", key="best"),
                  "paired": r("sparsify_0", "saematch_1", key="paired"),
                      "what": "sparsify x1 / saematch x1 (step time, Adam both)", "target": f">= {TARGETS['speedup_1']}",
                      "ok": None},
        "speedup_4": {"value": r("sparsify_4seq", "saematch_4"), "best": r("sparsify_4seq", "saematch_4", key="best"),
                  "paired": r("sparsify_4seq", "saematch_4", key="paired"),
                      "what": "4 sequential sparsify / saematch x4 in one pass", "target": f">= {TARGETS['speedup_4']}",
                      "ok": None},
        "floor_ratio_1": {"value": r("saematch_1", "floor"), "best": r("saematch_1", "floor", key="best"),
                  "paired": r("saematch_1", "floor", key="paired"),
                          "what": "saematch x1 step / GEMM floor", "target": f"<= {TARGETS['floor_ratio']}",
                          "ok": None},
        "floor_ratio_4": {"value": r("saematch_4", "floor", 4), "best": r("saematch_4", "floor", 4, key="best"),
                  "paired": r("saematch_4", "floor", 4, key="paired"),
                          "what": "saematch x4 step / 4 / GEMM floor (per seed)",
                          "target": f"<= {TARGETS['floor_ratio']}", "ok": None},
        "sparsify_1_over_floor": {"value": r("sparsify_0", "floor"), "best": r("sparsify_0", "floor", key="best"),
                  "paired": r("sparsify_0", "floor", key="paired"),
                                  "what": "sparsify x1 step / GEMM floor (information)", "target": None, "ok": None},
        "signum_speedup": {"value": r("sparsify_signum", "saematch_1"),
                           "best": r("sparsify_signum", "saematch_1", key="best"),
                  "paired": r("sparsify_signum", "saematch_1", key="paired"),
                           "what": "sparsify x1 with its default signum / saematch x1 (Adam) (information)",
                           "target": None, "ok": None},
    }
    for key, need, higher in (("speedup_1", TARGETS["speedup_1"], True), ("speedup_4", TARGETS["speedup_4"], True),
                              ("floor_ratio_1", TARGETS["floor_ratio"], False),
                              ("floor_ratio_4", TARGETS["floor_ratio"], False)):
        v = out[key]["value"]
        if v is not None:
            out[key]["ok"] = v >= need if higher else v <= need
    return {k: v for k, v in out.items() if v["value"] is not None}


def check_first_fvu(first_fvu) -> dict:
    """Same init and same forward: step 1's FVU (before any update) must agree for seed 0 (and 0..3)."""
    out = {}
    sm1 = first_fvu.get("saematch_1")
    sm4 = first_fvu.get("saematch_4")
    for s in SEEDS4:
        sp = first_fvu.get(f"sparsify_{s}")
        if sp is None:
            continue
        ref = sp[0]
        mine = sm4[s] if sm4 else None
        rel = abs(mine - ref) / abs(ref) if mine is not None else None
        out[f"seed{s}"] = {"sparsify": ref, "saematch_x4": mine, "rel_diff": rel}
        if s == 0 and sm1:
            out["seed0"]["saematch_x1"] = sm1[0]
            out["seed0"]["rel_diff_x1"] = abs(sm1[0] - ref) / abs(ref)
    ok = all(v["rel_diff"] is not None and v["rel_diff"] <= FVU_RTOL and v.get("rel_diff_x1", 0) <= FVU_RTOL
             for v in out.values())
    return {"per_seed": out, "ok": ok, "rtol": FVU_RTOL}


# --------------------------------------------------------------------------- profile


def profile(contenders, batches, names, top: int):
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    out = {}
    for name in names:
        c = contenders[name]
        x = batches[0]
        c.prepare(x)
        with tprofile(activities=[ProfilerActivity.CPU]) as prof:
            t0 = time.perf_counter()
            c.step(x)
            wall = time.perf_counter() - t0
        averages = prof.key_averages()
        table = averages.table(sort_by="self_cpu_time_total", row_limit=top)
        in_ops = sum(e.self_cpu_time_total for e in averages) / 1e6
        print(f"\ntorch.profiler, one step of {LABELS[name]} on batch 0: {wall:.3f} s wall, of which "
              f"{in_ops:.3f} s inside ATen/autograd ops and {max(wall - in_ops, 0):.3f} s outside them"
              + (" (saematch's own OpenMP loops: gather, scatter, gathered dots)" if name.startswith("saematch")
                 else " (Python)"))
        print(table)
        out[name] = {"wall": wall, "in_ops": in_ops, "table": table}
    return out


# --------------------------------------------------------------------------- reporting


def _table(header, body, markdown=False, left=("contender", "what", "target", "status", "notes")):
    if markdown:
        rule = ["---" if i == 0 or h in left else "---:" for i, h in enumerate(header)]
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
        return "\n".join(out + ["| " + " | ".join(str(c) for c in r) + " |" for r in body])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    align = [">" if i and h not in left else "<" for i, h in enumerate(header)]
    line = lambda cells: "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align, widths))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in body])


def _tok(v):
    return f"{v:,.0f}"


ORDER = ["floor", "floor_out", "saematch_1", "saematch_4", "sparsify_0", "sparsify_1", "sparsify_2", "sparsify_3",
         "sparsify_4seq", "sparsify_signum"]


def report(saved, markdown=False):
    res = saved["results"]
    steps = saved["config"]["steps"]
    body = []
    for n in ORDER:
        e = res.get(n)
        if e is None:
            continue
        fvu = e.get("last_fvu")
        note = ""
        if fvu:
            note = "last fvu " + ", ".join(f"{v:.4f}" for v in fvu)
        if n == "sparsify_4seq":
            note = "sum of the 4 seeds' steps per round"
        body.append([e["label"], e["seeds"], fmt_seconds(e["median"]), fmt_seconds(e["best"]), _tok(e["tokens_per_s"]),
                     f"{e['cores']:.2f}", note])
    print(f"\nSeconds per step over {steps} timed rounds (median, best), tokens/s = batch x seeds / median, "
          "cores = CPU time / wall time")
    print(_table(["contender", "seeds", "median s/step", "best s/step", "tokens/s", "cores", "notes"], body,
                 markdown))

    body = []
    for key, v in ratios(res).items():
        st = "-" if v["ok"] is None else ("MET" if v["ok"] else "NOT MET")
        body.append([v["what"], f"{v['value']:.2f}x", f"{v['paired']:.2f}x", f"{v['best']:.2f}x", v["target"] or "-",
                     st])
    print("\nRatios: 'median' from the medians (the status uses it), 'paired' the median of the per-round ratios "
          "(both in the same round), 'best' from the best step of each")
    print(_table(["what", "median", "paired", "best", "target", "status"], body, markdown))

    chk = saved.get("first_fvu_check")
    if chk and chk["per_seed"]:
        body = []
        for s, v in chk["per_seed"].items():
            body.append([s, f"{v['sparsify']:.6f}", "-" if v.get("saematch_x1") is None else f"{v['saematch_x1']:.6f}",
                         "-" if v["saematch_x4"] is None else f"{v['saematch_x4']:.6f}",
                         "-" if v["rel_diff"] is None else f"{v['rel_diff']:.1e}"])
        print(f"\nSame start: FVU of the first step (first batch, before any update), saematch vs sparsify "
              f"(relative {chk['rtol']:g}): {'OK' if chk['ok'] else 'MISMATCH'}")
        print(_table(["seed", "sparsify", "saematch x1", "saematch x4", "rel diff (x4)"], body, markdown))


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help=f"small shape for a smoke run (d={QUICK['d']}, {QUICK['latents']} latents, "
                        f"batch {QUICK['batch']})")
    p.add_argument("--steps", type=int, default=None,
                   help=f"timed rounds (default {FULL['steps']}; --quick {QUICK['steps']})")
    p.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 2; the first sets b_dec)")
    p.add_argument("--d", type=int, help="input width (default 768)")
    p.add_argument("--latents", type=int, help="latents per SAE (default 16384)")
    p.add_argument("--k", type=int, help="active latents per token (default 32)")
    p.add_argument("--batch", type=int, help="tokens per step (default 4096)")
    p.add_argument("--batches", type=int, default=4, help="distinct batches, reused in order (default 4)")
    p.add_argument("--seed", type=int, default=0, help="data seed (default 0)")
    p.add_argument("--settle", type=float, default=0.1,
                   help="pause before each timed step, seconds (default 0.1), so spinning threads go idle")
    p.add_argument("--no-signum", action="store_true", help="skip sparsify with its default optimiser")
    p.add_argument("--no-floor-out", action="store_true", help="skip the preallocated-output GEMM floor")
    p.add_argument("--profile", action="store_true",
                   help="after timing, print torch.profiler tables of one step of saematch x1 and sparsify x1")
    p.add_argument("--json", metavar="OUT", help="also save all results as JSON")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--report", metavar="JSON", help="print the tables of a run saved with --json, run nothing")
    g = p.add_argument_group("device table (issue 12's: every contender alone, on one device; see train_device.py)")
    g.add_argument("--device", help="run the device table on this device instead of the CPU rounds above: 'cuda' "
                                    "(the issue's three shapes at batch 4096) or 'cpu' (a dry run of the same code "
                                    "at tiny shapes, seconds)")
    g.add_argument("--shapes", help="device table shapes as DxNxK,... (default: the issue's three on cuda, "
                                    "train_device.QUICK_SHAPES at batch 256 on cpu or with --quick)")
    g.add_argument("--budget-s", type=float, default=None,
                   help="device table: seconds for all contenders; timed steps are trimmed to fit and contenders "
                        "that no longer fit are reported as skipped (default: no limit)")
    g.add_argument("--no-archs", action="store_true", help="device table: skip the other architectures")
    g.add_argument("--only", help="device table: only these contenders (comma-separated names as in the JSON)")
    args = p.parse_args(argv)
    if args.device is not None:
        if args.steps is not None and args.steps < 1 or args.warmup is not None and args.warmup < 1:
            p.error("--steps and --warmup must be >= 1")
        return args, None
    base = QUICK if args.quick else FULL
    cfg = {key: getattr(args, key) if getattr(args, key, None) is not None else base[key]
           for key in ("d", "latents", "k", "batch", "steps", "warmup")}
    if cfg["steps"] < 1 or cfg["warmup"] < 1:
        p.error("--steps and --warmup must be >= 1 (the first round sets b_dec and is never timed)")
    return args, cfg


def device_header() -> dict:
    """Prints and returns what the device table records about the run (no timing)."""
    import torch

    import saematch
    from saematch import _train

    versions = package_versions(["torch", "eai-sparsify", "saematch", "transformers", "triton", "pytorch-triton"])
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    rev, tree = git_revision(), git_dirty_summary()
    train_so = Path(_train.__file__)
    built = datetime.datetime.fromtimestamp(train_so.stat().st_mtime).astimezone().isoformat(timespec="seconds")
    print(f"bench_train --device  {when}  commit {rev} (working tree: {tree})")
    print(f"saematch {saematch.__file__}; its _train module built {built}")
    print("versions: " + ", ".join(f"{k} {v if v else 'not installed'}" for k, v in versions.items()))
    print(f"torch threads {torch.get_num_threads()}; torch CUDA {torch.version.cuda}")
    env = environment_env_vars(("SPARSIFY_", "CUDA_", "PYTORCH_", "TORCH_"))
    if env:
        print("env: " + " ".join(f"{k}={v}" for k, v in env.items()))
    return {"date": when, "commit": rev, "working_tree": tree, "versions": versions, "env": env,
            "saematch_train_module": {"path": str(train_so), "built": built}}


def main(argv=None):
    args, cfg = parse_args(argv)
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        if saved.get("benchmark") == "bench_train_device":
            import train_device

            print(f"bench_train --device run of {saved['date']}, commit {saved['commit']} on {saved['device']}")
            train_device.report(saved, _table, markdown=args.markdown)
            return 0
        c = saved["config"]
        print(f"bench_train run of {saved['date']}, commit {saved['commit']} (working tree: {saved.get('working_tree')})"
              f"; d={c['d']}, {c['latents']} latents, k={c['k']}, batch {c['batch']}; torch threads "
              f"{saved['torch_threads']}; load average {saved['threads']['load_average']} at the start, "
              f"{saved['threads'].get('load_average_end')} at the end")
        report(saved, markdown=args.markdown)
        return 0

    # sparsify picks its decoder at import: its Triton kernel needs a GPU.
    if args.device is None or args.device == "cpu":
        os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")
    import torch  # before saematch._train, which links LibTorch

    if args.device is not None:
        import train_device

        saved, status = train_device.run(args, eprint, _table, device_header)
        if args.json:
            write_json(args.json, saved)
            print(f"saved {args.json}")
        return status

    import saematch
    from saematch import _train
    import sparsify.utils as sparsify_utils

    threads = thread_info()
    torch_threads = {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    versions = package_versions(["torch", "eai-sparsify", "saematch", "transformers", "schedulefree"])
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    rev, tree = git_revision(), git_dirty_summary()
    blas = torch.__config__.show().split("\n")
    blas = [line.strip(" -") for line in blas if "Math Kernel" in line or "BLAS_INFO" in line or "OpenBLAS" in line]
    blas = [b.split(",")[0] if b.startswith("Build settings") else b for b in blas]
    train_so = Path(_train.__file__)
    built = datetime.datetime.fromtimestamp(train_so.stat().st_mtime).astimezone().isoformat(timespec="seconds")
    decoder = sparsify_utils.decoder_impl.__name__
    print(f"bench_train  {when}  commit {rev} (working tree: {tree})")
    print(f"saematch {saematch.__file__}; its _train module built {built}")
    print(f"CPU: {threads['cpu_model']}; usable CPUs {threads['usable_cpus']}; torch threads: intra-op "
          f"{torch_threads['intra_op']}, inter-op {torch_threads['inter_op']} (all contenders, one process); "
          f"OMP_NUM_THREADS={threads['OMP_NUM_THREADS']}; memory available {mem_available_mb():.0f} MB")
    print(f"torch BLAS: {'; '.join(blas) or 'unknown'}")
    print(f"load average at start (1/5/15 min): {threads['load_average']} -- other work on the machine skews timings")
    print("versions: " + ", ".join(f"{k} {v if v else 'not installed'}" for k, v in versions.items()))
    env = environment_env_vars(("OMP_", "MKL_", "OPENBLAS_", "GOMP_", "SPARSIFY_"))
    if env:
        print("env: " + " ".join(f"{k}={v}" for k, v in env.items()))
    print(f"shape: d={cfg['d']}, {cfg['latents']} latents, k={cfg['k']}, batch {cfg['batch']} tokens, float32; "
          f"{cfg['warmup']} warm-up + {cfg['steps']} timed rounds over {args.batches} batches (data seed "
          f"{args.seed}); sparsify decoder: {decoder}")
    if decoder != "eager_decode":
        eprint("warning: sparsify is using its Triton decoder, which needs a GPU")

    batches = make_batches(args.batches, cfg["batch"], cfg["d"], args.seed)
    contenders = build(cfg, args)
    wall, cpu, first_fvu = run_rounds(contenders, batches, cfg["warmup"], cfg["steps"], args.settle)
    threads["load_average_end"] = thread_info()["load_average"]
    results = analyse(wall, cpu, contenders, cfg)
    saved = {
        "benchmark": "bench_train", "date": when, "commit": rev, "working_tree": tree, "config": cfg,
        "batches": args.batches, "data_seed": args.seed, "settle": args.settle, "threads": threads,
        "torch_threads": torch_threads, "torch_blas": blas, "versions": versions, "env": env,
        "saematch_train_module": {"path": str(train_so), "built": built}, "sparsify_decoder": decoder,
        "sparsify_optimizer_default": "signum (ScheduleFreeWrapper(SignSGD), momentum 0.95)",
        "sparsify_optimizer_timed": "adam (torch.optim.Adam; bitsandbytes not used)",
        "results": results, "ratios": ratios(results), "first_fvu_check": check_first_fvu(first_fvu),
    }
    report(saved, markdown=args.markdown)
    print(f"\nload average at end (1/5/15 min): {threads['load_average_end']}")
    if args.profile:
        saved["profile"] = profile(contenders, batches, ["saematch_1", "sparsify_0"], top=15)
    if args.json:
        write_json(args.json, saved)
        print(f"saved {args.json}")
    return 0 if saved["first_fvu_check"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
