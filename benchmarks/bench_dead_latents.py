#!/usr/bin/env python
"""Dead and duplicate latents: does compare stay as fast as on the same pair without them?

Real TopK SAEs carry dead latents (all-zero rows, often 5-30 %) and exact
duplicates. For each case the same SAE-like pair (``common.sae_pair``) is
compared twice in one run, clean and with a fraction of each side's latents
killed (zeroed in encoder and decoder) or duplicated (copied over other
latents), and the authors' pipeline (float32 cosines + SciPy's
``linear_sum_assignment``, encoder then decoder) runs on the same damaged
pair where it fits. Reported as ratios: damaged / clean for saematch (target
<= 1.3 at 147,456 x 768 with 20 % dead) and authors / saematch.

    python benchmarks/bench_dead_latents.py                 # the issue's small cases, ~2 min
    python benchmarks/bench_dead_latents.py --scale 147456  # adds 147,456 x 768, 20 % dead (~5 min)
    python benchmarks/bench_dead_latents.py --json OUT.json --markdown
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import eprint, sae_pair  # noqa: E402

# (n, d, damaged fraction, kind): the measurements (d = 32: 4000 and
# 8000 latents with 400 dead, half of 2000 dead) and duplicates at d = 768.
CASES = [(4000, 32, 0.1, "dead"), (8000, 32, 0.05, "dead"), (2000, 32, 0.5, "dead"),
         (8192, 768, 0.2, "dead"), (8192, 768, 0.1, "duplicate")]


def damage(pair, fraction, kind, seed):
    """A copy of the pair with `fraction` of each side's latents dead or duplicated."""
    rng = np.random.default_rng(seed)
    out = []
    for enc, dec in pair:
        enc, dec = enc.copy(), dec.copy()
        n = enc.shape[0]
        hit = rng.choice(n, int(round(fraction * n)), replace=False)
        if kind == "dead":
            enc[hit] = 0.0
            dec[hit] = 0.0
        else:  # each hit latent becomes a copy of one of a few live sources
            sources = rng.choice(np.setdiff1d(np.arange(n), hit), max(1, len(hit) // 4), replace=False)
            src = sources[rng.integers(0, len(sources), len(hit))]
            enc[hit] = enc[src]
            dec[hit] = dec[src]
        out.append((enc, dec))
    return out


def time_saematch(pair):
    import saematch as sm

    start = time.perf_counter()
    r = sm.compare(pair[0], pair[1], progress=False)
    seconds = time.perf_counter() - start
    return seconds, r


def time_authors(pair):
    from scipy.optimize import linear_sum_assignment

    start = time.perf_counter()
    totals = []
    for side in (0, 1):
        a, b = pair[0][side], pair[1][side]
        with np.errstate(invalid="ignore", divide="ignore"):
            au = np.nan_to_num(a / np.linalg.norm(a, axis=1, keepdims=True))
            bu = np.nan_to_num(b / np.linalg.norm(b, axis=1, keepdims=True))
        cos = au @ bu.T
        r, c = linear_sum_assignment(cos, maximize=True)
        totals.append(float(cos[r, c].sum()))
    return time.perf_counter() - start, totals


def run_case(n, d, fraction, kind, seed, authors_max_n):
    p = sae_pair(n, d, seed)
    clean = [(p.enc_a, p.dec_a), (p.enc_b, p.dec_b)]
    damaged = damage(clean, fraction, kind, seed + 1)
    eprint(f"[{kind} {fraction:.0%} of n={n}, d={d}]")
    t_clean, _ = time_saematch(clean)
    t_damaged, r = time_saematch(damaged)
    row = {"n": n, "d": d, "kind": kind, "fraction": fraction, "saematch_clean_s": t_clean,
           "saematch_damaged_s": t_damaged, "damaged_over_clean": t_damaged / t_clean,
           "shared_fraction": r.shared_fraction, "certified_gap": r.certified_gap}
    if n <= authors_max_n:
        t_auth, totals = time_authors(damaged)
        row["authors_s"] = t_auth
        row["authors_over_saematch"] = t_auth / t_damaged
        # The authors' pipeline may pair live latents with dead ones (cosine 0),
        # saematch matches live latents only: its totals can only be higher or equal.
        row["total_enc_saematch"] = float(np.sum(r.enc_cos))
        row["total_enc_authors"] = totals[0]
    eprint("   ", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()})
    return row


def report(rows, markdown):
    header = ["case", "saematch clean", "saematch damaged", "damaged/clean", "authors (SciPy)", "authors/saematch",
              "shared", "gap"]
    body = []
    for r in rows:
        body.append([f"{r['n']} x {r['d']}, {r['fraction']:.0%} {r['kind']}", f"{r['saematch_clean_s']:.2f} s",
                     f"{r['saematch_damaged_s']:.2f} s", f"{r['damaged_over_clean']:.2f}x",
                     f"{r['authors_s']:.2f} s" if "authors_s" in r else "-",
                     f"{r['authors_over_saematch']:.1f}x" if "authors_s" in r else "-",
                     f"{r['shared_fraction']:.3f}", f"{r['certified_gap']:g}"])
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for b in body:
            print("| " + " | ".join(b) + " |")
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        for b in body:
            print("  ".join(x.ljust(w) for x, w in zip(b, widths)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, metavar="N", help="also N x 768 with 20%% dead (e.g. 147456)")
    p.add_argument("--scale-only", action="store_true", help="run only the --scale case")
    p.add_argument("--authors-max-n", type=int, default=8192, help="run the SciPy pipeline up to this n")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="OUT")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    cases = ([] if args.scale_only else list(CASES)) + ([(args.scale, 768, 0.2, "dead")] if args.scale else [])
    rows = [run_case(n, d, f, k, args.seed, args.authors_max_n) for n, d, f, k in cases]
    report(rows, args.markdown)
    if args.json:
        Path(args.json).write_text(json.dumps({"cases": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
