#!/usr/bin/env python
"""Dense linear assignment: saematch against SciPy, lap, lapx and lapjv.

Every solver runs, in one process, on the same matrices:

* ``uniform``: independent uniform [0, 1) float64 entries, minimised;
* ``cosine``: SAE-like decoder cosine matrices (see ``common.sae_cosine_cost``):
  half of the columns are noisy copies (cosine ~0.7-0.9) of rows, the rest are
  unrelated; maximised.

Each solver is timed as best of R runs around the solver call only (the
negated matrix that solvers without ``maximize`` minimise is built once, outside
the timed region). Every solver's assignment is checked to be a permutation and
its objective, recomputed on the original matrix, must equal SciPy's to a
relative 1e-9. The summary gives anchor_time / saematch_time per anchor: > 1
means saematch is faster.

    python benchmarks/bench_lap.py                   # full run (a few minutes)
    python benchmarks/bench_lap.py --quick           # small sizes, seconds
    python benchmarks/bench_lap.py --sizes 4096 --cases uniform --repeats 5
    python benchmarks/bench_lap.py --json benchmarks/results/lap.json

lapx and lap both install a Python package called ``lap``, so the one
installed last wins. To benchmark both, install lapx to a side directory
(``pip install --no-deps --target DIR lapx``) and pass ``--lapx-path DIR``
(or set ``SAEMATCH_BENCH_LAPX_PATH``); see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    PeakRSS,
    best_of,
    environment_env_vars,
    eprint,
    fmt_seconds,
    git_revision,
    package_versions,
    sae_cosine_cost,
    settle,
    thread_info,
    uniform_cost,
    write_json,
)

RTOL = 1e-9
DEFAULT_SIZES = {"uniform": [1024, 2048, 4096], "cosine": [2048, 4096, 8192],
                 # Tie-heavy inputs from issue 11 (dead and duplicate latents): an
                 # all-zero matrix, an all-equal one, and a uniform matrix whose
                 # first third of rows are copies of one row.
                 "zeros": [1000, 4096], "constant": [1500, 4096], "duplicate_rows": [1500, 4096]}
QUICK_SIZES = {"uniform": [256, 512, 1024], "cosine": [512, 1024],
               "zeros": [1000], "constant": [1500], "duplicate_rows": [1500]}
TARGETS = [
    # (case, n, anchor, minimum anchor_time / saematch_time)
    ("uniform", 4096, "scipy", 3.0),
    ("uniform", 4096, "lapjv", 1.2),
    ("cosine", 8192, "scipy", 10.0),
]
REFERENCE = "scipy"  # objectives are compared with this solver's (saematch if absent)


# --------------------------------------------------------------------------- lapx / lap


def _dist_owns_file(dist_name: str, path: Path) -> bool | None:
    """Whether the file at ``path`` is the one ``dist_name``'s RECORD lists (by hash)."""
    from importlib import metadata

    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        return None
    path = path.resolve()
    for f in dist.files or []:
        try:
            if Path(dist.locate_file(f)).resolve() != path:
                continue
        except OSError:
            continue
        if f.hash is None:
            return None
        digest = hashlib.new(f.hash.mode, path.read_bytes()).digest()
        import base64

        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == f.hash.value
    return False


def _import_lap_from(directory: str):
    """Import the package ``lap`` found in ``directory`` without disturbing the
    ``lap`` already imported (or importable) from site-packages."""
    saved = {k: v for k, v in sys.modules.items() if k == "lap" or k.startswith("lap.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, directory)
    loaded = {}
    try:
        module = importlib.import_module("lap")
        if not str(Path(module.__file__).resolve()).startswith(str(Path(directory).resolve())):
            raise ImportError(f"no package 'lap' in {directory}")
        # lapx resolves its functions lazily by absolute name ("lap._lapjv"):
        # resolve them now, while "lap" still means this copy.
        for name in getattr(module, "__all__", []):
            try:
                getattr(module, name)
            except Exception:  # noqa: BLE001 - optional attributes
                pass
        loaded = {k: v for k, v in sys.modules.items() if k == "lap" or k.startswith("lap.")}
        return module
    finally:
        sys.path.remove(directory)
        for k in loaded:
            sys.modules.pop(k, None)
        sys.modules.update(saved)


def load_lap_and_lapx(lapx_path: str | None):
    """Return (lap_module | None, lapx_module | None, notes: list[str], lapx_origin: str)."""
    notes = []
    lap_mod = lapx_mod = None
    lapx_origin = "unavailable"
    try:
        import lap as lap_mod  # noqa: F811
    except ImportError as e:
        notes.append(f"lap: not importable ({e})")
    if lap_mod is not None:
        init = Path(lap_mod.__file__)
        owner_lap = _dist_owns_file("lap", init)
        owner_lapx = _dist_owns_file("lapx", init)
        is_lapx = hasattr(lap_mod, "lapjvx") or "lapjvx" in getattr(lap_mod, "__all__", [])
        if is_lapx:
            # The importable 'lap' is lapx's copy: report it as lapx, not as lap.
            notes.append(
                f"'import lap' gives lapx {lap_mod.__version__} ({init}); lapx installs a package named "
                "'lap' and shadows PyPI lap, so lap itself is not measured"
            )
            lapx_mod, lap_mod, lapx_origin = lap_mod, None, f"'import lap' ({init.parent})"
        elif owner_lapx is not None and owner_lap:
            notes.append(
                "lapx is recorded as installed too, but its files under lap/ were overwritten by lap "
                f"{lap_mod.__version__}; 'import lap' gives PyPI lap"
            )
    try:
        import lapx as lapx_direct  # a future lapx may ship a module named lapx

        lapx_mod, lapx_origin = lapx_direct, f"'import lapx' ({lapx_direct.__file__})"
    except ImportError:
        pass
    if lapx_mod is None and lapx_path:
        try:
            lapx_mod = _import_lap_from(lapx_path)
            lapx_origin = f"side install, package 'lap' from {lapx_path}"
        except Exception as e:  # noqa: BLE001
            notes.append(f"lapx: could not import 'lap' from --lapx-path {lapx_path}: {e}")
    if lapx_mod is None:
        notes.append(
            "lapx: not measured (no module 'lapx', and 'lap' is PyPI lap). Install it beside lap with "
            "'pip install --no-deps --target DIR lapx' and pass --lapx-path DIR"
        )
    return lap_mod, lapx_mod, notes, lapx_origin


# --------------------------------------------------------------------------- solvers
#
# Each solver is a function (cost, neg, maximize) -> col_of_row (int64, length n),
# where ``neg`` is -cost when maximising and cost otherwise (built outside the
# timed region), so that solvers without a maximize flag minimise ``neg``.
# The callable returned by ``make`` is what gets timed; it returns the raw
# result, and ``to_cols`` turns it into col_of_row outside the timed region.


class Solver:
    def __init__(self, name, label, call, to_cols, note=""):
        self.name, self.label, self.call, self.to_cols, self.note = name, label, call, to_cols, note


def build_solvers(args, lap_mod, lapx_mod):
    import saematch as sm
    from scipy.optimize import linear_sum_assignment

    solvers = []
    threads = args.threads

    def sm_call(cost, neg, maximize):
        return sm.solve_assignment(cost, maximize, threads=threads)

    def sm_cols(r, n):
        cols = np.full(n, -1, dtype=np.int64)
        cols[r.row_ind] = r.col_ind
        return cols

    solvers.append(Solver("saematch", "saematch", sm_call, sm_cols, "solve_assignment(cost, maximize)"))

    def sp_call(cost, neg, maximize):
        return linear_sum_assignment(cost, maximize=maximize)

    def sp_cols(r, n):
        cols = np.full(n, -1, dtype=np.int64)
        cols[r[0]] = r[1]
        return cols

    solvers.append(Solver("scipy", "SciPy", sp_call, sp_cols, "linear_sum_assignment(cost, maximize)"))

    if lap_mod is not None:
        solvers.append(Solver(
            "lap", "lap", lambda c, neg, mx: lap_mod.lapjv(neg),
            lambda r, n: np.asarray(r[1], dtype=np.int64), "lap.lapjv(cost or -cost)",
        ))

    if lapx_mod is not None:
        for fname in args.lapx_solvers:
            fn = getattr(lapx_mod, fname, None)
            if fn is None:
                eprint(f"lapx has no function {fname!r}; skipped")
                continue
            if fname == "lapjv":  # (cost, x, y): x[i] = column of row i
                to_cols = lambda r, n: np.asarray(r[1], dtype=np.int64)  # noqa: E731
            else:  # (cost, rows, cols), aligned like SciPy
                to_cols = sp_cols_from_triplet
            solvers.append(Solver(
                f"lapx.{fname}", f"lapx.{fname}",
                (lambda f: lambda c, neg, mx: f(neg))(fn), to_cols, f"lapx.{fname}(cost or -cost)",
            ))

    try:
        import lapjv as lapjv_mod
    except ImportError:
        lapjv_mod = None
    if lapjv_mod is not None:
        # lapjv.lapjv(cost) solves float64 input in float32 unless force_doubles=True;
        # both are measured. row_ind[i] is the column of row i.
        solvers.append(Solver(
            "lapjv", "lapjv", lambda c, neg, mx: lapjv_mod.lapjv(neg),
            lambda r, n: np.asarray(r[0], dtype=np.int64), "lapjv.lapjv(cost or -cost) (float32 inside)",
        ))
        if not args.no_lapjv_f64:
            solvers.append(Solver(
                "lapjv-f64", "lapjv f64", lambda c, neg, mx: lapjv_mod.lapjv(neg, force_doubles=True),
                lambda r, n: np.asarray(r[0], dtype=np.int64), "lapjv.lapjv(cost or -cost, force_doubles=True)",
            ))

    if args.solvers:
        keep = set(args.solvers) | {"saematch"}
        solvers = [s for s in solvers if s.name in keep]
    return solvers


def sp_cols_from_triplet(r, n):
    cols = np.full(n, -1, dtype=np.int64)
    cols[np.asarray(r[1], dtype=np.int64)] = np.asarray(r[2], dtype=np.int64)
    return cols


# --------------------------------------------------------------------------- running


def make_case(kind, n, seed):
    if kind == "uniform":
        return uniform_cost(n, seed), None, False
    if kind == "cosine":
        cost, truth = sae_cosine_cost(n, 768, seed)
        return cost, truth, True
    if kind == "zeros":
        return np.zeros((n, n)), None, False
    if kind == "constant":
        return np.ones((n, n)), None, False
    if kind == "duplicate_rows":
        cost = uniform_cost(n, seed)
        cost[1 : n // 3] = cost[0]
        return cost, None, False
    raise ValueError(kind)


def objective_of(cost, cols):
    """Sum of cost[i, cols[i]] (math.fsum, so the check is not blurred by rounding)."""
    return math.fsum(cost[np.arange(cost.shape[0]), cols].tolist())


def is_permutation(cols, n):
    return cols.shape == (n,) and cols.min() >= 0 and cols.max() < n and np.bincount(cols, minlength=n).max() == 1


def run_case(kind, n, repeats, seed, solvers, settle_s=0.3):
    t0 = time.perf_counter()
    cost, truth, maximize = make_case(kind, n, seed)
    neg = -cost if maximize else cost
    # Read-only inputs: a solver that tried to write into the shared matrix
    # would raise instead of silently changing what the next solver sees.
    cost.setflags(write=False)
    neg.setflags(write=False)
    gen_s = time.perf_counter() - t0
    eprint(f"\n[{kind} n={n}] matrix built in {gen_s:.1f}s; {'maximise' if maximize else 'minimise'}, R={repeats}")

    rows = {}
    for s in solvers:
        entry = {"seconds": None, "all_seconds": None, "mean_seconds": None, "cpu_seconds": None, "objective": None,
                 "cores": None, "extra_mem_mb": None, "error": None}
        try:
            fn = lambda: s.call(cost, neg, maximize)  # noqa: E731
            settle(settle_s)  # let the GEMM's / previous solver's threads stop spinning
            with PeakRSS() as mem:
                timing = best_of(fn, repeats)
            raw = timing.result
            timing.result = None
            cols = s.to_cols(raw, n)
            entry.update(seconds=timing.best, all_seconds=timing.times, mean_seconds=timing.mean,
                         cpu_seconds=timing.cpu_times, cores=timing.cores, extra_mem_mb=mem.delta_mb)
            if not is_permutation(cols, n):
                entry["error"] = "assignment is not a permutation"
            else:
                entry["objective"] = objective_of(cost, cols)
            if s.name == "saematch":
                entry["reported_objective"] = raw.objective
                entry["stats"] = raw.stats
                if truth is not None:
                    shared = truth >= 0
                    entry["truth_recovered"] = float(np.mean(cols[shared] == truth[shared]))
            del raw
        except Exception as e:  # noqa: BLE001 - report and go on
            entry["error"] = f"{type(e).__name__}: {e}"
        rows[s.name] = entry
        if entry["error"]:
            msg = entry["error"]
        else:
            msg = f"{fmt_seconds(entry['seconds'])}  obj={entry['objective']!r}"
            if "truth_recovered" in entry:
                msg += f"  (planted pairs recovered: {100 * entry['truth_recovered']:.1f}%)"
        eprint(f"  {s.label:14s} {msg}")

    ref_name = REFERENCE if rows.get(REFERENCE, {}).get("objective") is not None else "saematch"
    ref = rows.get(ref_name, {}).get("objective")
    for name, e in rows.items():
        if e["objective"] is None or ref is None:
            e["objective_ok"] = None
            continue
        rel = abs(e["objective"] - ref) / abs(ref) if ref != 0 else abs(e["objective"])
        e["objective_rel_diff"] = rel
        e["objective_ok"] = bool(rel <= RTOL)
    sm_entry = rows.get("saematch", {})
    if sm_entry.get("reported_objective") is not None and sm_entry.get("objective") is not None:
        o, r = sm_entry["objective"], sm_entry["reported_objective"]
        sm_entry["reported_objective_ok"] = bool(abs(o - r) <= RTOL * max(abs(o), 1e-300))
    sm_time = sm_entry.get("seconds")
    ratios = {}
    for name, e in rows.items():
        if name != "saematch" and sm_time and e["seconds"]:
            ratios[name] = e["seconds"] / sm_time
    return {
        "case": kind, "n": n, "maximize": maximize, "repeats": repeats, "seed": seed,
        "generate_seconds": gen_s, "reference": ref_name, "solvers": rows, "ratios": ratios,
    }


def warm_up(solvers):
    """One tiny solve per solver: loads libraries and starts thread pools."""
    rng = np.random.default_rng(12345)
    c = rng.random((64, 64))
    for s in solvers:
        try:
            s.call(c, c, False)
        except Exception as e:  # noqa: BLE001
            eprint(f"warm-up of {s.label} failed: {e}")


# --------------------------------------------------------------------------- reporting


def _table(header, body, align=None):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    align = align or ["<"] + [">"] * (len(header) - 1)
    line = lambda cells: "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align, widths))  # noqa: E731
    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in body]
    return "\n".join(out)


def _md_table(header, body, align=None):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in body]
    return "\n".join(out)


def target_status(results):
    out = []
    for case, n, anchor, need in TARGETS:
        res = next((r for r in results if r["case"] == case and r["n"] == n), None)
        ratio = res["ratios"].get(anchor) if res else None
        if ratio is None:
            status = "not measured"
        else:
            ok_obj = res["solvers"]["saematch"].get("objective_ok") is not False
            status = ("MET" if ratio >= need else "NOT MET") + ("" if ok_obj else " (saematch objective WRONG)")
        out.append({"case": case, "n": n, "anchor": anchor, "need": need, "ratio": ratio, "status": status})
    return out


def report(results, solvers, markdown=False):
    names = [s.name for s in solvers]
    labels = {s.name: s.label for s in solvers}
    anchors = [x for x in names if x != "saematch"]
    tab = _md_table if markdown else _table

    def cell_time(e):
        if e is None:
            return "-"
        if e["error"]:
            return "error"
        flag = "" if e.get("objective_ok") is not False else " (!)"
        return fmt_seconds(e["seconds"]) + flag

    header = ["case", "n", "R"] + [labels[x] for x in names] + ["objectives agree"]
    body = []
    for r in results:
        oks = [e.get("objective_ok") for e in r["solvers"].values()]
        bad = [labels[k] for k, e in r["solvers"].items() if e.get("objective_ok") is False or e["error"]]
        agree = "yes" if all(o is True for o in oks) else ("NO: " + ", ".join(bad) if bad else "n/a")
        body.append([r["case"], r["n"], r["repeats"]] + [cell_time(r["solvers"].get(x)) for x in names] + [agree])
    print("\nSeconds per solve (best of R; lower is better; (!) = objective differs from "
          f"{REFERENCE} by more than {RTOL:g} relative)")
    print(tab(header, body))

    header = ["case", "n"] + [f"{labels[x]}/saematch" for x in anchors]
    body = []
    for r in results:
        body.append([r["case"], r["n"]] + [
            f"{r['ratios'][x]:.2f}x" if x in r["ratios"] else "-" for x in anchors])
    print("\nSpeed-up of saematch = anchor time / saematch time (> 1: saematch is faster)")
    print(tab(header, body))

    header = ["case", "n"] + [labels[x] for x in names]
    body = []
    for r in results:
        cells = []
        for x in names:
            e = r["solvers"].get(x)
            if not e or e["seconds"] is None:
                cells.append("-")
                continue
            mem = "?" if e["extra_mem_mb"] is None else f"{e['extra_mem_mb']:.0f}MB"
            cells.append(f"{mem} {e['cores']:.1f}c")
        body.append([r["case"], r["n"]] + cells)
    print("\nExtra peak memory during the solves (MB above the resident size before them) and "
          "cores used (CPU time / wall time)")
    print(tab(header, body))

    print("\nTargets")
    header = ["target", "measured", "status"]
    body = []
    for t in target_status(results):
        body.append([f">= {t['need']:g}x {labels.get(t['anchor'], t['anchor'])} on {t['case']} {t['n']}",
                     "-" if t["ratio"] is None else f"{t['ratio']:.2f}x", t["status"]])
    print(tab(header, body, ["<", ">", "<"]))


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="small sizes only (uniform 256/512/1024, cosine 512/1024)")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",") if x],
                   help="comma-separated n, used for every case family (default: uniform 1024,2048,4096; "
                        "cosine 2048,4096,8192)")
    p.add_argument("--cases", type=lambda s: [x for x in s.split(",") if x], default=["uniform", "cosine"],
                   help="comma-separated case families: uniform,cosine (default both)")
    p.add_argument("--repeats", type=int, default=3, help="R for n <= 4096 (default 3)")
    p.add_argument("--repeats-large", type=int, default=1, help="R for n > 4096 (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--settle", type=float, default=0.3,
                   help="seconds to pause before each solver, so BLAS/OpenMP threads left spinning by "
                        "earlier work go idle (default 0.3)")
    p.add_argument("--threads", type=int, default=None, help="OpenMP threads for saematch (default: all)")
    p.add_argument("--solvers", type=lambda s: [x for x in s.split(",") if x],
                   help="only these solvers (names as in the JSON: scipy,lap,lapx.lapjv,lapx.lapjvh,lapjv,"
                        "lapjv-f64); saematch always runs")
    p.add_argument("--lapx-path", default=os.environ.get("SAEMATCH_BENCH_LAPX_PATH"),
                   help="directory holding a side install of lapx (its package 'lap'); "
                        "default $SAEMATCH_BENCH_LAPX_PATH")
    p.add_argument("--lapx-solvers", type=lambda s: [x for x in s.split(",") if x], default=["lapjv", "lapjvh"],
                   help="lapx functions to time (default lapjv,lapjvh; also lapjvr, lapjvx, lapjvc, lapjvs)")
    p.add_argument("--no-lapjv-f64", action="store_true", help="skip lapjv with force_doubles=True")
    p.add_argument("--json", metavar="OUT", help="also save all results as JSON")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = p.parse_args(argv)
    for c in args.cases:
        if c not in DEFAULT_SIZES:
            p.error(f"unknown case {c!r}; choose from {', '.join(DEFAULT_SIZES)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    lap_mod, lapx_mod, notes, lapx_origin = load_lap_and_lapx(args.lapx_path)
    solvers = build_solvers(args, lap_mod, lapx_mod)

    versions = package_versions(["saematch", "numpy", "scipy", "lap", "lapx", "lapjv"])
    if lapx_mod is not None:
        versions["lapx (measured)"] = getattr(lapx_mod, "__version__", "?")
    if lap_mod is not None:
        versions["lap (measured)"] = getattr(lap_mod, "__version__", "?")
    import saematch

    threads = thread_info(args.threads)
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    rev = git_revision()
    print(f"bench_lap  {when}  saematch commit {rev}  ({saematch.__file__})")
    print(f"CPU: {threads['cpu_model']}; os.cpu_count()={threads['os_cpu_count']}, usable CPUs="
          f"{threads['usable_cpus']}, OMP_NUM_THREADS={threads['OMP_NUM_THREADS']}; saematch threads="
          f"{threads['saematch_threads']} ({threads['saematch_threads_source']}); the anchors are "
          "single-threaded (see the cores table)")
    print(f"load average at start (1/5/15 min): {threads['load_average']} -- other work on the machine skews timings")
    print("versions: " + ", ".join(f"{k} {v if v else 'not installed'}" for k, v in versions.items()))
    print(f"lapx measured from: {lapx_origin}")
    env = environment_env_vars()
    if env:
        print("env: " + " ".join(f"{k}={v}" for k, v in env.items())
              + "  (OPENBLAS_* only affect the numpy GEMM that builds the cosine matrices)")
    for n_ in notes:
        print("note: " + n_)
    print("solvers: " + "; ".join(f"{s.label} = {s.note}" for s in solvers))

    if args.quick and not args.sizes:
        plan = [(c, n) for c in args.cases for n in QUICK_SIZES[c]]
    else:
        plan = [(c, n) for c in args.cases for n in (args.sizes or DEFAULT_SIZES[c])]

    warm_up(solvers)
    results = []
    for kind, n in plan:
        repeats = args.repeats if n <= 4096 else args.repeats_large
        results.append(run_case(kind, n, repeats, args.seed, solvers, args.settle))

    report(results, solvers, markdown=args.markdown)
    threads["load_average_end"] = thread_info(args.threads)["load_average"]
    print(f"\nload average at end (1/5/15 min): {threads['load_average_end']}")
    problems = []
    for r in results:
        for name, e in r["solvers"].items():
            if e["error"]:
                problems.append(f"{r['case']} {r['n']}: {name}: {e['error']}")
            elif e.get("objective_ok") is False:
                problems.append(f"{r['case']} {r['n']}: {name}: objective {e['objective']!r} differs from "
                                f"{r['reference']} by {e['objective_rel_diff']:.2e} relative")
        sm_e = r["solvers"].get("saematch", {})
        if sm_e.get("reported_objective_ok") is False:
            problems.append(f"{r['case']} {r['n']}: saematch's reported objective "
                            f"{sm_e['reported_objective']!r} != recomputed {sm_e['objective']!r}")
    if problems:
        print("\nPROBLEMS")
        for p_ in problems:
            print("  " + p_)
    else:
        print(f"\nAll solvers reached the same objective (relative {RTOL:g}) in every case.")

    if args.json:
        write_json(args.json, {
            "benchmark": "bench_lap", "date": when, "commit": rev, "threads": threads,
            "versions": versions, "lapx_origin": lapx_origin, "notes": notes, "env": env,
            "solvers": {s.name: s.note for s in solvers}, "targets": target_status(results),
            "results": results, "problems": problems,
        })
        print(f"saved {args.json}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
