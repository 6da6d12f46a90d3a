"""The paper's question on data whose features are known.

    python examples/ground_truth_study.py [--out ground_truth] [--budget cpu|quick]

Activations are sparse non-negative combinations of 1,024 random unit
directions in 128 dimensions (``saematch.synthetic.superposition``: a Zipf
tail of rare features, 5 active per token on average). TopK SAEs of several
sizes are trained with several seeds on the same batches and matched exactly,
and each seed is also compared with the true dictionary, which the paper
could not do:

- how many true features each seed recovers (a decoder direction within
  cosine 0.9), and how many of its latents are true features;
- whether the latents that seeds share are the true ones, and whether a
  shared pair stands for the same true feature;
- which features are missed: recovery against firing frequency.

Writes ``<out>/results.json``, ``<out>/results.md`` and ``<out>/figures/``.
``--budget cpu`` takes about ten minutes on 2 CPU cores; ``quick`` is a
smoke run (numbers meaningless).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import saematch as sm
from saematch.compare import RULES

RECOVERED = 0.9  # a decoder direction this close to a true feature stands for it


@dataclass(frozen=True)
class Budget:
    features: int
    d: int
    tokens: int
    latents: tuple
    seeds: tuple
    passes: int
    k: int
    batch_size: int
    zipf_exponent: float
    mean_active: float


BUDGETS = {
    "cpu": Budget(1024, 128, 300_000, (256, 512, 1024, 2048, 4096), (0, 1, 2, 3, 4), 10, 8, 1024, 1.0, 5.0),
    "quick": Budget(64, 16, 8_000, (32, 64), (0, 1, 2), 1, 4, 256, 1.0, 2.0),
}


def log(msg: str) -> None:
    print(f"[ground truth] {msg}", flush=True)


def frequency_bins(frequencies: np.ndarray, bins: int = 5) -> np.ndarray:
    """Each feature's quintile of firing frequency, 0 = rarest."""
    order = np.argsort(np.argsort(frequencies, kind="stable"), kind="stable")
    return order * bins // len(frequencies)


def _ratio(count: int, total: int):
    return count / total if total else None  # None: no latent to ask about


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def study_point(data, n: int, b: Budget) -> dict:
    cfg = sm.SAEConfig(d_in=b.d, num_latents=n, k=b.k)
    steps = b.passes * -(-b.tokens // b.batch_size)
    t = time.perf_counter()
    saes = sm.train(cfg, data.activations, seeds=list(b.seeds), tokens=b.passes * b.tokens,
                    batch_size=b.batch_size, lr=2e-3 * (1536 / n) ** 0.5, lr_warmup_steps=max(1, steps // 20),
                    progress=False)
    many = sm.compare_many(saes, progress=False)
    seconds = time.perf_counter() - t
    found = [sm.synthetic.match_to_dictionary(s, data.dictionary) for s in saes]
    recovered = np.stack([f.recovered_features(RECOVERED) for f in found])  # (seeds, features)
    true = [f.true_latents(RECOVERED) for f in found]

    # Over every ordered pair (a, b): the latents of a, split by shared (paper rule) or not.
    shared_true = shared_all = unshared_true = unshared_all = same_feature = shared_both_true = 0
    true_and_shared = true_all = 0
    for (i, j), pair in many.pairs.items():
        for a, b_, mask, partner in ((i, j, pair.shared_mask(), pair.dec_partner),
                                     (j, i, pair.b_side["shared"].astype(bool), pair.b_side["dec_partner"])):
            mask = np.asarray(mask, dtype=bool)
            shared_true += int(true[a][mask].sum())
            shared_all += int(mask.sum())
            unshared_true += int(true[a][~mask].sum())
            unshared_all += int((~mask).sum())
            true_all += int(true[a].sum())
            true_and_shared += int((true[a] & mask).sum())
            both = mask & true[a] & true[b_][partner]
            shared_both_true += int(both.sum())
            same_feature += int((found[a].latent_feature[both] == found[b_].latent_feature[partner[both]]).sum())

    bins = frequency_bins(data.frequencies)
    by_frequency = []
    for q in range(5):
        sel = bins == q
        by_frequency.append({
            "quintile": q, "min_frequency": float(data.frequencies[sel].min()),
            "max_frequency": float(data.frequencies[sel].max()),
            "recovered_per_seed": float(recovered[:, sel].mean()),
            "recovered_by_all_seeds": float(recovered[:, sel].all(axis=0).mean()),
        })
    result = {
        "num_latents": n, "latents_per_feature": n / data.dictionary.shape[0], "seconds": seconds,
        "fvu": [float(s.history["fvu"][-1]) for s in saes],
        "recovered_per_seed": recovered.mean(axis=1).tolist(),
        "recovered_by_all_seeds": float(recovered.all(axis=0).mean()),
        "recovered_by_any_seed": float(recovered.any(axis=0).mean()),
        "true_latents_per_seed": [float(t.mean()) for t in true],
        "shared_fraction": {rule: float(np.mean([p.shared_mask(rule).mean() for p in many.pairs.values()]))
                            for rule in RULES},
        "true_given_shared": _ratio(shared_true, shared_all),
        "true_given_unshared": _ratio(unshared_true, unshared_all),
        "shared_given_true": _ratio(true_and_shared, true_all),
        "shared_true_pairs_on_the_same_feature": _ratio(same_feature, shared_both_true),
        "only_in_base": {str(k): v for k, v in many.only_in_base.items()},
        "by_frequency": by_frequency,
    }
    log(f"{n} latents: recovered {np.mean(result['recovered_per_seed']):.3f} per seed, "
        f"{result['recovered_by_all_seeds']:.3f} by all; shared {result['shared_fraction']['paper']:.3f}; "
        f"true | shared {_fmt(result['true_given_shared'])}, true | unshared {_fmt(result['true_given_unshared'])} "
        f"({seconds:.0f} s)")
    return result


def figures(results: list, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def save(fig, ax, name):
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)

    x = [r["latents_per_feature"] for r in results]
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.plot(x, [np.mean(r["recovered_per_seed"]) for r in results], "o-", label="true features recovered, per seed")
    ax.plot(x, [r["recovered_by_all_seeds"] for r in results], "o--", label="... by every seed")
    ax.plot(x, [r["shared_fraction"]["paper"] for r in results], "s-", label="latents shared (paper rule)")
    ax.plot(x, [np.mean(r["true_latents_per_seed"]) for r in results], "^:", label="latents that are true features")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("latents per true feature")
    save(fig, ax, "recovery_vs_latents.png")

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for r in results:
        ax.plot([b["quintile"] + 1 for b in r["by_frequency"]], [b["recovered_per_seed"] for b in r["by_frequency"]],
                "o-", label=f"{r['num_latents']} latents")
    ax.set_xlabel("firing-frequency quintile of the true feature (1 = rarest)")
    ax.set_ylabel("recovered, per seed")
    save(fig, ax, "recovery_vs_frequency.png")


def results_md(r: dict) -> str:
    b = r["budget"]
    lines = [
        "# Ground truth: seeds against a known dictionary",
        "",
        f"{b['features']:,} true features (unit directions) in d = {b['d']}, {b['tokens']:,} tokens, Zipf exponent "
        f"{b['zipf_exponent']} (feature firing frequencies {r['frequency_range'][0]:.1e} to "
        f"{r['frequency_range'][1]:.2f}), {b['mean_active']:g} active per token on average. TopK k = {b['k']}, {len(b['seeds'])} seeds, "
        f"{b['passes']} passes, batch {b['batch_size']}. Recovered: a decoder direction within cosine {RECOVERED} of "
        "the feature. Shared: the paper's rule at t = 0.7, over every pair of seeds.",
        "",
        "| latents | per feature | FVU | features recovered per seed | by every seed | by some seed | latents that "
        "are true features | shared (paper) | true, given shared | true, given not shared | same feature, given "
        "shared & both true |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for p in r["points"]:
        lines.append(
            f"| {p['num_latents']:,} | {p['latents_per_feature']:g} | {np.mean(p['fvu']):.3f} | "
            f"{np.mean(p['recovered_per_seed']):.3f} | {p['recovered_by_all_seeds']:.3f} | "
            f"{p['recovered_by_any_seed']:.3f} | "
            f"{np.mean(p['true_latents_per_seed']):.3f} | {p['shared_fraction']['paper']:.3f} | "
            f"{_fmt(p['true_given_shared'])} | {_fmt(p['true_given_unshared'])} | "
            f"{_fmt(p['shared_true_pairs_on_the_same_feature'])} |")
    lines += ["", "Recovered per seed, by the feature's firing-frequency quintile (1 = rarest):", "",
              "| latents | " + " | ".join(f"Q{q + 1}" for q in range(5)) + " |", "|---:|" + "---:|" * 5]
    for p in r["points"]:
        lines.append(f"| {p['num_latents']:,} | " +
                     " | ".join(f"{q['recovered_per_seed']:.3f}" for q in p["by_frequency"]) + " |")
    lines += ["", f"Total time {r['seconds']:.0f} s. Figures in `figures/`.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="ground_truth", help="output folder (default: ground_truth)")
    parser.add_argument("--budget", default="cpu", choices=sorted(BUDGETS))
    args = parser.parse_args(argv)
    b = BUDGETS[args.budget]
    out = Path(args.out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = sm.synthetic.superposition(b.features, b.d, b.tokens, zipf_exponent=b.zipf_exponent,
                                        mean_active=b.mean_active, seed=0)
    points = [study_point(data, n, b) for n in b.latents]
    figures(points, out / "figures")
    results = {"budget": b.__dict__ | {"seeds": list(b.seeds), "latents": list(b.latents)}, "points": points,
               "frequency_range": [float(data.frequencies.min()), float(data.frequencies.max())],
               "seconds": time.perf_counter() - started}
    (out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    (out / "results.md").write_text(results_md(results))
    log(f"results in {out}/results.md ({results['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
