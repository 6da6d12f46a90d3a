"""Which of the follow-up papers' claims hold here? Measured, per dataset.

    python examples/stability_study.py [--out stability_study] [--budget cpu|quick]

On synthetic data with planted low-rank feature groups (sm.synthetic.low_rank_groups)
and on MiniLM's layer-3 MLP output over two corpora (the built-in docstrings,
the demo's data, seen twice; and the Python documentation, each token seen
once), trains four seeds with stabilization tracking, then measures:

- stable latents explain more variance (FVU rise per ablated latent, stable vs unstable);
- unstable latents are rarer (firing frequency, stable vs unstable);
- unstable parts span reproducible subspaces (principal angles of the unshared
  latents' spans against random subspaces; the planted groups on synthetic data);
- pooled dictionaries are more stable at equal FVU (sm.consensus against a
  single SAE of the same size, both against two fresh seeds);
- how agreement develops during training (the stabilization curve).

- whether Archetypal SAEs' stability vanishes under random initialisation: the
  same setup with architecture="archetypal", k-means points (shared by every
  seed) against random points (drawn per seed), four seeds each.

(Gerasimov et al. 2026; Brzozowski & Chung 2026; Fel et al. 2025.)

Writes ``<out>/results.json``, ``<out>/results.md`` (holds / does not hold
here, per claim and dataset) and ``<out>/figures/*.png``; each dataset's
numbers are cached in ``<out>/runs/<name>.json``, so a rerun only redoes what
is missing. ``--budget cpu`` took the time recorded in results.json on 2 CPU
cores; ``quick`` is a smoke run (numbers meaningless).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import saematch as sm


@dataclass(frozen=True)
class Setup:
    name: str
    source: str  # "synthetic" or "minilm"
    num_latents: int
    k: int
    passes: int
    batch_size: int
    lr: float | None
    seeds: tuple = (0, 1, 2, 3)
    tokens: int = 150_000  # synthetic only
    eval_tokens: int = 20_000
    refit_steps: int = 300
    corpus: str = "docstrings"  # minilm only: a reproduction_study.CORPORA name
    max_tokens: int | None = None  # minilm only: the first this many of the corpus (None: all of it)


BUDGETS = {
    "cpu": (Setup("synthetic", "synthetic", 40, 4, 1, 256, None),
            Setup("minilm", "minilm", 768, 8, 2, 1024, 2e-3 * (1536 / 768) ** 0.5),
            # As many distinct tokens of the Python documentation as the docstrings have in all, seen once:
            # does agreement without repetition look like agreement after two passes over the same text?
            Setup("minilm-pydocs", "minilm", 768, 8, 1, 1024, 2e-3 * (1536 / 768) ** 0.5,
                  corpus="python_docs", max_tokens=190_800)),
    "quick": (Setup("synthetic", "synthetic", 40, 4, 1, 256, None, tokens=30_000, eval_tokens=4_000, refit_steps=20),
              Setup("minilm", "minilm", 64, 4, 1, 256, 2e-3, eval_tokens=2_000, refit_steps=20),
              Setup("minilm-pydocs", "minilm", 64, 4, 1, 256, 2e-3, eval_tokens=2_000, refit_steps=20,
                    corpus="python_docs", max_tokens=8_000)),
}
THRESHOLD, RULE = 0.7, "paper"


def log(msg: str) -> None:
    print(f"[stability study] {msg}", flush=True)


def data_for(setup: Setup, out: Path, quick: bool):
    """(activations array, planted LowRankGroups or None)."""
    if setup.source == "synthetic":
        g = sm.synthetic.low_rank_groups(num_features=48, d=64, tokens=setup.tokens, groups=2, group_size=16,
                                         group_rank=3, mean_active=4, seed=0)
        return g.activations, g
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from reproduction_study import activations  # the demo's module and corpus, cached the same way

    folder = out / ("activations" if setup.corpus == "docstrings" else f"activations_{setup.corpus}")
    record = activations(folder, setup.corpus, max_documents=60 if quick and setup.max_tokens is None else None,
                         max_tokens=setup.max_tokens)
    from saematch.training import _Shards

    shards = _Shards(folder)
    return np.asarray(shards[slice(0, shards.shape[0])]), None


def planted_masks(saes, planted):
    from saematch.subspaces import orthonormal_basis

    planes = [orthonormal_basis(b) for b in planted.bases]
    masks = []
    for sae in saes:
        dec = sae.decoder.numpy()
        dec = dec / np.linalg.norm(dec, axis=1, keepdims=True)
        masks.append(np.max([np.linalg.norm(dec @ q, axis=1) ** 2 for q in planes], axis=0) > 0.9)
    return masks


def _mean_finite(values):
    """The mean of the finite values (a rank correlation is NaN when every latent has the same stability), or None."""
    values = np.asarray(values, dtype=float)
    return float(values[np.isfinite(values)].mean()) if np.isfinite(values).any() else None


def run(setup: Setup, out: Path, figures: Path, quick: bool) -> dict:
    cache = out / "runs" / f"{setup.name}.json"
    if cache.exists() and json.loads(cache.read_text()).get("setup") == json.loads(json.dumps(asdict(setup))):
        log(f"{setup.name}: cached")
        return json.loads(cache.read_text())
    start = time.time()
    x, planted = data_for(setup, out, quick)
    d = x.shape[1]
    steps = setup.passes * -(-x.shape[0] // setup.batch_size)
    cfg = sm.SAEConfig(d_in=d, num_latents=setup.num_latents, k=setup.k)
    train_options = dict(tokens=setup.passes * x.shape[0], batch_size=setup.batch_size, lr=setup.lr,
                         lr_warmup_steps=max(1, steps // 20))
    log(f"{setup.name}: training {len(setup.seeds)} seeds, {setup.num_latents} latents, {steps} steps")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sm.OrientationWarning)
        saes = sm.train(cfg, x, seeds=list(setup.seeds), track_every=max(1, steps // 10), progress=False,
                        **train_options)
        evaluation = x[-setup.eval_tokens:]
        st = sm.stability(saes, threshold=THRESHOLD, rule=RULE, data=evaluation)
        log(f"{setup.name}: stability done ({time.time() - start:.0f} s)")
        ov = sm.subspace_overlap(st.report, saes, pair=(0, 1), cos_threshold=THRESHOLD, null_draws=50)
        within = None
        if planted is not None:
            inside = planted_masks(saes, planted)
            within = sm.subspace_overlap(st.report, saes, pair=(0, 1), within=(inside[0], inside[1]),
                                         cos_threshold=THRESHOLD, null_draws=100)
        pooled = sm.consensus(saes, x, threshold=THRESHOLD, rule=RULE, report=st.report,
                              refit_steps=setup.refit_steps, eval_data=evaluation,
                              train_options=dict(progress=False) | train_options)
    log(f"{setup.name}: consensus done ({time.time() - start:.0f} s)")
    sm.plot.stability(st, path=figures / f"{setup.name}_stability.png")
    sm.plot.subspace_overlap(within or ov, path=figures / f"{setup.name}_subspaces.png")
    sm.plot.stabilization(saes, path=figures / f"{setup.name}_stabilization.png")

    lat = st.tables["per_latent"]
    stable, unstable = lat["group"] == "stable", lat["group"] == "unstable"
    curve = saes[0].history["stabilization"]
    result = {
        "setup": asdict(setup),
        "d": int(d), "tokens": int(x.shape[0]), "steps": int(steps),
        "final_fvu": [float(s.history["fvu"][-1]) for s in saes],
        "stability": {
            "mean": float(lat["stability"].mean()),
            "stable": int(stable.sum()), "unstable": int(unstable.sum()), "latents": int(lat["stability"].size),
            "fvu_rise_per_stable_latent": float(lat["fvu_rise"][stable].mean()) if stable.any() else None,
            "fvu_rise_per_unstable_latent": float(lat["fvu_rise"][unstable].mean()) if unstable.any() else None,
            "group_rise_stable": float(np.mean(st.tables["per_sae"]["fvu_rise_stable"])),
            "group_rise_unstable": float(np.mean(st.tables["per_sae"]["fvu_rise_unstable"])),
            "median_firing_stable": float(np.median(lat["firing"][stable])) if stable.any() else None,
            "median_firing_unstable": float(np.median(lat["firing"][unstable])) if unstable.any() else None,
            "spearman_firing": _mean_finite(st.tables["per_sae"]["spearman_firing"]),
            "spearman_fvu_rise": _mean_finite(st.tables["per_sae"]["spearman_fvu_rise"]),
        },
        "subspaces": {
            "unshared_latents": list(ov.unshared["latents"]), "unshared_rank": list(ov.unshared["rank"]),
            "unshared_above_null": ov.unshared["above_null"], "unshared_reproducible": ov.unshared["reproducible"],
            "reproducible_rank": ov.reproducible_rank,
            "top_min_cos": ov.by_rank["min_cos"][:8].round(3).tolist(),
            "null_top_min_cos": ov.by_rank["null_min_cos_high"][:8].round(3).tolist(),
        },
        "consensus": {k: np.asarray(v).tolist() for k, v in pooled.table.items()},
        "consensus_clusters": int(sum(1 for s in pooled.sources if len(s) > 1)),
        "stabilization": {k: np.asarray(v).tolist() for k, v in curve.items()},
        "seconds": round(time.time() - start, 1),
    }
    if within is not None:
        g_stab = np.concatenate([st.of(b)[m] for b, m in enumerate(planted_masks(saes, planted))])
        free = planted.dictionary[planted.group_of < 0]
        f_stab = []
        for b, sae in enumerate(saes):
            dec = sae.decoder.numpy()
            dec = dec / np.linalg.norm(dec, axis=1, keepdims=True)
            f_stab.append(st.of(b)[np.abs(dec @ free.T).max(axis=1) > 0.9])
        result["planted"] = {
            "stability_inside_groups": float(g_stab.mean()), "stability_free_features": float(np.concatenate(f_stab).mean()),
            "unshared_latents": list(within.unshared["latents"]), "unshared_rank": list(within.unshared["rank"]),
            "unshared_above_null": within.unshared["above_null"], "unshared_reproducible": within.unshared["reproducible"],
            "mean_cos": float(within.unshared["cosines"].mean()) if within.unshared["cosines"].size else None,
            "null_mean_cos": float(within.unshared["null_mean"].mean()) if within.unshared["cosines"].size else None,
        }
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(result, indent=1))
    log(f"{setup.name}: {result['seconds']} s")
    return result


# The Archetypal-SAE ablation. Its points come from the first batch, so at
# most batch_size of them: about two tokens per k-means centroid.
ARCHETYPAL_INITS = ("kmeans", "random")
# δ, the relaxation's bound, as a fraction of the data's mean centred token
# norm: small, as in Fel et al., so atoms stay close to the hull.
ARCHETYPAL_DELTA = 0.1


def archetypal(setup: Setup, out: Path, quick: bool) -> dict:
    """Per initialisation, four archetypal seeds on the setup's data and
    schedule: their mean pairwise shared fraction (RULE, THRESHOLD) and FVU on
    the evaluation tokens. Each initialisation is cached on its own in
    ``<out>/runs/archetypal_<name>_<init>.json``."""
    results, x = {}, None
    for init in ARCHETYPAL_INITS:
        cache = out / "runs" / f"archetypal_{setup.name}_{init}.json"
        key = {"setup": json.loads(json.dumps(asdict(setup))), "init": init, "delta_fraction": ARCHETYPAL_DELTA,
               "version": 2}  # 2: with the decoder rule's shared fractions
        if cache.exists() and {k: json.loads(cache.read_text()).get(k) for k in key} == key:
            log(f"archetypal {setup.name} {init}: cached")
            results[init] = json.loads(cache.read_text())
            continue
        start = time.time()
        if x is None:
            x, _ = data_for(setup, out, quick)
        centred_norm = float(np.linalg.norm(x - x.mean(0), axis=1).mean())
        steps = setup.passes * -(-x.shape[0] // setup.batch_size)
        cfg = sm.SAEConfig(d_in=x.shape[1], num_latents=setup.num_latents, k=setup.k, architecture="archetypal",
                           archetypal_points=setup.batch_size // 2, archetypal_init=init,
                           archetypal_delta=ARCHETYPAL_DELTA * centred_norm)
        log(f"archetypal {setup.name} {init}: training {len(setup.seeds)} seeds, {steps} steps")
        saes = sm.train(cfg, x, seeds=list(setup.seeds), tokens=setup.passes * x.shape[0],
                        batch_size=setup.batch_size, lr=setup.lr, lr_warmup_steps=max(1, steps // 20), progress=False)
        evaluation = x[-setup.eval_tokens:]
        import torch

        e = torch.as_tensor(evaluation)
        variance = float(((e - e.mean(0)) ** 2).sum())
        many = sm.compare_many(saes, threshold=THRESHOLD, rule=RULE, progress=False)
        results[init] = dict(key, points=cfg.archetypal_points, delta=cfg.archetypal_delta,
                             shared=[float(p.shared_fraction) for p in many.pairs.values()],
                             # Fel et al. score dictionaries: the decoder rule alone, beside the study's rule
                             shared_decoder=[float(p.with_rule("decoder").shared_fraction)
                                             for p in many.pairs.values()],
                             fvu=[float(((s.forward(e) - e) ** 2).sum()) / variance for s in saes],
                             seconds=round(time.time() - start, 1))
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(results[init], indent=1))
        log(f"archetypal {setup.name} {init}: {results[init]['seconds']} s")
    return results


def archetypal_verdict(r: dict):
    """(claim, measured, holds?) for the Archetypal ablation, under RULE: it
    holds when k-means points are clearly more stable than the TopK SAE of
    the same setup (its stabilization curve's last check) and random points
    lose that: k-means − random >= 0.1 and random <= TopK + 0.05. The
    decoder rule's numbers are reported beside them."""
    a = r["archetypal"]
    km, rnd = (float(np.mean(a[i]["shared"])) for i in ARCHETYPAL_INITS)
    km_dec, rnd_dec = (float(np.mean(a[i]["shared_decoder"])) for i in ARCHETYPAL_INITS)
    curve = r["stabilization"]
    topk, topk_dec = curve[f"shared_{RULE}"][-1], curve["shared_decoder"][-1]
    fvu = {i: float(np.mean(a[i]["fvu"])) for i in ARCHETYPAL_INITS}
    return ("Archetypal SAEs' stability vanishes under random initialisation",
            f"shared fraction (mean over {len(a['kmeans']['shared'])} pairs) {km:.3f} with k-means points vs "
            f"{rnd:.3f} with random points (TopK, same setup: {topk:.3f}); decoder rule {km_dec:.3f} vs "
            f"{rnd_dec:.3f} (TopK {topk_dec:.3f}); FVU {fvu['kmeans']:.3f} vs {fvu['random']:.3f}; "
            f"{a['kmeans']['points']} points, delta = {a['kmeans']['delta']:.3g}; by the decoder rule it "
            f"{'holds' if km_dec - rnd_dec >= 0.1 and km_dec > topk_dec and rnd_dec <= topk_dec + 0.05 else 'does not hold'}",
            km - rnd >= 0.1 and km > topk and rnd <= topk + 0.05)


def _fmt(value) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def verdicts(r: dict) -> list:
    """(claim, measured, holds?) for one dataset."""
    s, c, sub = r["stability"], r["consensus"], r["subspaces"]
    rows = []
    if s["fvu_rise_per_stable_latent"] is not None and s["fvu_rise_per_unstable_latent"] is not None:
        rows.append(("stable latents explain more variance",
                     f"FVU rise per ablated latent {s['fvu_rise_per_stable_latent']:.4f} (stable) vs "
                     f"{s['fvu_rise_per_unstable_latent']:.4f} (unstable); rank corr. {_fmt(s['spearman_fvu_rise'])}",
                     s["fvu_rise_per_stable_latent"] > s["fvu_rise_per_unstable_latent"]))
    if s["median_firing_stable"] is not None and s["median_firing_unstable"] is not None:
        rows.append(("unstable latents are rarer",
                     f"median firing {s['median_firing_stable']:.4f} (stable) vs {s['median_firing_unstable']:.4f} "
                     f"(unstable); rank corr. with stability {_fmt(s['spearman_firing'])}",
                     s["median_firing_unstable"] < s["median_firing_stable"]))
    if "planted" in r:
        p = r["planted"]
        rows.append(("unstable parts span reproducible subspaces (planted groups)",
                     f"stability inside planted groups {p['stability_inside_groups']:.2f} vs free features "
                     f"{p['stability_free_features']:.2f}; their unshared latents {p['unshared_latents']}: "
                     f"{p['unshared_above_null']} of {min(p['unshared_rank'])} principal cosines above the null, "
                     f"mean {p['mean_cos']:.2f} vs random {p['null_mean_cos']:.2f}",
                     p["stability_inside_groups"] < p["stability_free_features"]
                     and p["unshared_above_null"] >= min(p["unshared_rank"]) / 2))
    rows.append(("unstable parts span reproducible subspaces (all unshared latents, leading directions)",
                 f"unshared {sub['unshared_latents']} latents of ranks {sub['unshared_rank']}; smallest principal "
                 f"cosine of the top-r directions, r = 1..8: {sub['top_min_cos']} (random 99%: "
                 f"{sub['null_top_min_cos']}); reproducible rank {sub['reproducible_rank']}",
                 sub["reproducible_rank"] >= 1))
    k = {m: i for i, m in enumerate(c["model"])}
    fc, fs = c["fvu"][k["consensus"]], c["fvu"][k["single"]]
    sc, ss = c["stability"][k["consensus"]], c["stability"][k["single"]]
    rows.append(("pooled dictionaries are more stable at equal FVU",
                 f"{c['latents'][0]} latents ({r['consensus_clusters']} clusters): stability vs fresh seeds {sc:.3f} "
                 f"(consensus) vs {ss:.3f} (single); FVU {fc:.3f} vs {fs:.3f}",
                 sc > ss and fc <= fs + 0.02))
    if "archetypal" in r:
        rows.append(archetypal_verdict(r))
    return rows


def _seconds(r: dict) -> float:
    """One dataset's compute time: its TopK run and its archetypal runs."""
    return r["seconds"] + sum(a["seconds"] for a in r.get("archetypal", {}).values())


def results_md(results: dict) -> str:
    lines = ["## Beyond the paper: stability, subspaces, stabilization (`examples/stability_study.py`)", "",
             f"Budget `{results['budget']}`; each dataset's run took "
             + ", ".join(f"{name} {_seconds(r):.0f} s" for name, r in results["datasets"].items())
             + f" on this machine ({sum(_seconds(r) for r in results['datasets'].values()):.0f} s in all; a rerun "
             f"reads the cached ones); rule `{RULE}`, t = {THRESHOLD}, four seeds per dataset. Figures in `figures/`.", ""]
    for name, r in results["datasets"].items():
        s = r["setup"]
        lines += [f"### {name}: {r['tokens']:,} tokens, d = {r['d']}, {s['num_latents']} latents, k = {s['k']}, "
                  f"{r['steps']} steps (final FVU {np.mean(r['final_fvu']):.3f})", "",
                  "| claim | measured here | verdict |", "|---|---|---|"]
        for claim, measured, holds in verdicts(r):
            lines.append(f"| {claim} | {measured} | {'holds here' if holds else 'does not hold here'} |")
        curve = r["stabilization"]
        lines += ["", f"Stabilization: shared fraction (paper rule) {curve['shared_paper'][0]:.3f} at step 0, "
                      f"{curve['shared_paper'][len(curve['step']) // 2]:.3f} at step {curve['step'][len(curve['step']) // 2]}, "
                      f"{curve['shared_paper'][-1]:.3f} at step {curve['step'][-1]}; decoder-partner churn between the last "
                      f"two checks {curve['churn_dec'][-1]:.3f}.", ""]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="stability_study")
    parser.add_argument("--budget", default="cpu", choices=sorted(BUDGETS))
    parser.add_argument("--only", choices=tuple(s.name for s in BUDGETS["cpu"]), help="one dataset only")
    args = parser.parse_args(argv)
    out = Path(args.out)
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    start = time.time()
    datasets = {}
    for setup in BUDGETS[args.budget]:
        if args.only and setup.name != args.only:
            continue
        datasets[setup.name] = run(setup, out, figures, args.budget == "quick")
        datasets[setup.name]["archetypal"] = archetypal(setup, out, args.budget == "quick")
    results = {"budget": args.budget, "seconds": round(time.time() - start, 1), "datasets": datasets}
    (out / "results.json").write_text(json.dumps(results, indent=1))
    (out / "results.md").write_text(results_md(results))
    log(f"done in {results['seconds']} s: {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
