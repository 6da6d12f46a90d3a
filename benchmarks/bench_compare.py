#!/usr/bin/env python
"""Whole SAE comparison: saematch.compare against the authors' pipeline and the GEMM floor.

One SAE-like pair per size (``common.sae_pair``: n latents, d = 768, float32;
B holds noisy copies of 60% of A's latents, encoder and decoder perturbed
independently, and fresh latents for the rest, in a random order). Three
contenders, each in its own subprocess (``--child``) so that each one's peak
resident memory is its own:

* ``saematch``: ``sm.compare(a, b, progress=False)`` (method "auto");
* ``authors``: the pipeline of the authors' released notebook, per matching:
  NumPy row normalisation, ``cos = A_unit @ B_unit.T`` in float32, SciPy's
  ``linear_sum_assignment`` -- encoder, then decoder. To fit in memory at
  n = 32768 it gets ``-cos`` as float64, filled block by block in place, and
  minimises (the same assignment as ``maximize=True`` on ``cos``, minus the two
  n x n copies SciPy would make); it is killed after ``--authors-timeout``
  seconds and then reported as "> T s";
* ``floor``: just the two similarity GEMMs (encoder and decoder,
  ``A_unit @ B_unit.T`` in float32 with NumPy, in row blocks): no method that
  looks at every pair can beat it.

saematch's summed matched cosine must equal the authors' to a relative 1e-5
in both matchings (and both totals are recomputed in float64 from the
partners). The summary prints authors/saematch and saematch/floor and the
targets: >= 10x the authors' pipeline, <= 2x the GEMM floor, <= 3 GiB peak RSS
at n = 32768.

    python benchmarks/bench_compare.py                    # n = 8192, 32768 (~12 min on 2 cores)
    python benchmarks/bench_compare.py --quick            # n = 2048, about a minute
    python benchmarks/bench_compare.py --sizes 8192 --json benchmarks/results/compare.json
    python benchmarks/bench_compare.py --scale 147456     # saematch + floor (sampled) at the paper's largest size
    python benchmarks/bench_compare.py --report OUT.json --markdown   # reprint a saved run
    python benchmarks/bench_compare.py --device cuda --json OUT.json  # on a GPU: bench_compare_device.py
    python benchmarks/bench_compare.py --device cpu                   # its dry run, tiny sizes
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_compare_device  # noqa: E402
from common import (  # noqa: E402
    PeakRSS,
    best_of,
    blas_info,
    environment_env_vars,
    eprint,
    fmt_seconds,
    format_blas_info,
    git_dirty_summary,
    git_revision,
    mem_available_mb,
    package_versions,
    pair_checksum,
    sae_pair,
    thread_info,
    unit_rows_f32,
    vm_hwm_mb,
    write_json,
)

D = 768  # default input width; --d changes it
RTOL = 1e-5
DEFAULT_SIZES = [8192, 32768]
QUICK_SIZES = [2048]
TARGET_N = 32768
TARGETS = {"speedup_vs_authors": 10.0, "ratio_to_floor": 2.0, "peak_rss_gib": 3.0}
CONTENDERS = ("floor", "saematch", "authors")
LABELS = {"floor": "GEMM floor", "saematch": "saematch", "authors": "authors' pipeline"}
PARTS = ("encoder", "decoder")
GIB = 1024.0


# --------------------------------------------------------------------------- children


def _write_json_atomic(path: Path, payload) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        json.dump(payload, f, default=float)
    os.replace(tmp, path)


def _cpu() -> float:
    return time.process_time()


def child_floor(pair, args, out: Path) -> dict:
    """The two similarity GEMMs, in row blocks into one reused float32 buffer.

    With ``--floor-fraction f < 1`` only every (1/f)-th row block is computed
    and the time is extrapolated by the number of rows (each block is the same
    GEMM shape, so the time is linear in the rows)."""
    n, m = pair.enc_a.shape[0], pair.enc_b.shape[0]
    units = {}
    for part, (x, y) in (("encoder", (pair.enc_a, pair.enc_b)), ("decoder", (pair.dec_a, pair.dec_b))):
        units[part] = (unit_rows_f32(x.copy()), unit_rows_f32(y.copy()))  # normalising is not timed
    del pair
    rows = int(min(4096, max(256, (256 << 20) // (4 * m))))  # blocks of <= 256 MiB of output
    starts = list(range(0, n, rows))
    step = max(1, int(round(1.0 / args.floor_fraction))) if args.floor_fraction < 1 else 1
    chosen = starts[::step]
    rows_done = sum(min(n, r0 + rows) - r0 for r0 in chosen)
    buf = np.empty((rows, m), dtype=np.float32)

    def run():
        for part in PARTS:
            xu, yu = units[part]
            yt = yu.T
            for r0 in chosen:
                r1 = min(n, r0 + rows)
                np.matmul(xu[r0:r1], yt, out=buf[: r1 - r0])
        return None

    np.matmul(units["encoder"][0][:64], units["encoder"][1][:64].T)  # load BLAS, start its threads
    with PeakRSS() as mem:
        cpu0 = _cpu()
        timing = best_of(run, args.repeats)
        cpu = _cpu() - cpu0
    scale = n / rows_done
    return {
        "seconds": timing.best * scale,
        "measured_seconds": timing.best,
        "times": timing.times,
        "fraction_of_rows_timed": rows_done / n,
        "extrapolated": rows_done < n,
        "block_rows": rows,
        "gflops": 2 * 2 * rows_done * m * args.d / timing.best / 1e9,
        "cores": cpu / max(sum(timing.times), 1e-12),
        "call_peak_mb": mem.peak_mb,
        "call_extra_mb": mem.delta_mb,
    }


def child_saematch(pair, args, out: Path) -> dict:
    import saematch as sm

    tiny = sae_pair(64, args.d, seed=1)
    kw = dict(progress=False, threads=args.threads, screen=args.screen)
    sm.compare(tiny.a, tiny.b, **kw)  # load the module, start OpenMP threads
    del tiny
    with PeakRSS() as mem:
        cpu0 = _cpu()
        timing = best_of(lambda: sm.compare(pair.a, pair.b, **kw), args.repeats)
        cpu = _cpu() - cpu0
    r = timing.result
    np.save(out / "saematch_encoder.npy", np.asarray(r.enc_partner, dtype=np.int64))
    np.save(out / "saematch_decoder.npy", np.asarray(r.dec_partner, dtype=np.int64))
    return {
        "seconds": timing.best,
        "times": timing.times,
        "cores": cpu / max(sum(timing.times), 1e-12),
        "call_peak_mb": mem.peak_mb,
        "call_extra_mb": mem.delta_mb,
        "stats": r.stats,
        "certified_gap": r.certified_gap,
        "shared_fraction": r.shared_fraction,
        "screen": args.screen if args.screen != "auto" else ("bfloat16" if sm._core.bf16_available() else "float32"),
    }


def child_authors(pair, args, out: Path) -> dict:
    """The authors' notebook, one matching after the other, with progress in status.json."""
    from scipy.optimize import linear_sum_assignment

    status_path = out / "authors_status.json"
    status = {"pipeline_start": None, "parts": {}}
    linear_sum_assignment(np.zeros((4, 4)))  # import cost outside the timed region
    inputs = {"encoder": (pair.enc_a, pair.enc_b), "decoder": (pair.dec_a, pair.dec_b)}
    block = 2048
    with PeakRSS() as mem:
        cpu0 = _cpu()
        status["pipeline_start"] = time.time()
        _write_json_atomic(status_path, status)
        total_seconds = 0.0
        for part in PARTS:
            x, y = inputs[part]
            t0 = time.perf_counter()
            xu = x / np.linalg.norm(x, axis=1, keepdims=True)
            yu = y / np.linalg.norm(y, axis=1, keepdims=True)
            neg = np.empty((x.shape[0], y.shape[0]), dtype=np.float64)
            for r0 in range(0, x.shape[0], block):
                r1 = min(x.shape[0], r0 + block)
                np.negative(xu[r0:r1] @ yu.T, out=neg[r0:r1])  # float32 GEMM, stored as float64
            del xu, yu
            t1 = time.perf_counter()
            rows, cols = linear_sum_assignment(neg)  # minimise -cos == maximise cos
            t2 = time.perf_counter()
            total = -float(np.sum(neg[rows, cols]))
            del neg
            total_seconds += t2 - t0
            partner = np.full(x.shape[0], -1, dtype=np.int64)
            partner[rows] = cols
            np.save(out / f"authors_{part}.npy", partner)
            status["parts"][part] = {"seconds": t2 - t0, "gemm_seconds": t1 - t0, "lsa_seconds": t2 - t1,
                                     "total_cos": total}
            _write_json_atomic(status_path, status)
        cpu = _cpu() - cpu0
    return {
        "seconds": total_seconds,
        "parts": status["parts"],
        "cores": cpu / max(total_seconds, 1e-12),
        "call_peak_mb": mem.peak_mb,
        "call_extra_mb": mem.delta_mb,
    }


CHILDREN = {"floor": child_floor, "saematch": child_saematch, "authors": child_authors}


def child_main(args) -> int:
    out = Path(args.child_dir)
    load0 = os.getloadavg()[0]
    pair = sae_pair(args.n, args.d, args.seed)
    info = {"checksum": pair_checksum(pair), "load1_start": round(load0, 2), "input_mb": pair.nbytes / 2**20}
    info["generation_peak_mb"] = vm_hwm_mb()  # before PeakRSS resets the high-water mark
    try:
        info.update(CHILDREN[args.child](pair, args, out))
    except Exception as e:  # noqa: BLE001 - reported to the parent, which decides
        import traceback

        traceback.print_exc()
        info["error"] = f"{type(e).__name__}: {e}"
    info["process_peak_mb"] = max(x for x in (info.get("generation_peak_mb"), info.get("call_peak_mb"), 0) if x)
    info["load1_end"] = round(os.getloadavg()[0], 2)
    _write_json_atomic(out / f"{args.child}.json", info)
    return 1 if "error" in info else 0


# --------------------------------------------------------------------------- parent


def authors_memory_mb(n: int, d: int = D) -> float:
    """What the authors' child needs at its peak: the float64 n x n matrix, the
    inputs and their normalised copies, one float32 block, and the interpreter."""
    return (n * n * 8 + 6 * n * d * 4 + 2048 * n * 4) / 2**20 + 300


def run_child(name: str, n: int, args, workdir: Path) -> dict:
    """Runs one contender in a fresh interpreter and returns what it reported."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--n", str(n), "--seed", str(args.seed),
           "--child-dir", str(workdir), "--repeats", str(args.repeats_for(n)),
           "--floor-fraction", str(args.floor_fraction_for(n))]
    if args.threads is not None:
        cmd += ["--threads", str(args.threads)]
    cmd += ["--screen", args.screen, "--d", str(args.d)]
    eprint(f"[n={n}] {LABELS[name]} ...")
    if name == "authors":
        need, avail = authors_memory_mb(n, args.d), mem_available_mb()
        if avail is not None and need > 0.92 * avail:
            return {"skipped": f"not run: needs ~{need / GIB:.1f} GiB, {avail / GIB:.1f} GiB available"}
    timeout = args.authors_timeout if name == "authors" else None
    start = time.time()
    proc = subprocess.Popen(cmd)
    killed_after = None
    while proc.poll() is None:
        time.sleep(0.5)
        if timeout is None:
            continue
        status = workdir / "authors_status.json"
        try:
            t0 = json.loads(status.read_text()).get("pipeline_start")
        except (OSError, ValueError):
            t0 = None
        if t0 is not None and time.time() - t0 > timeout:
            killed_after = time.time() - t0
            proc.kill()  # the child we started, by its handle
            proc.wait()
    wall = time.time() - start
    result_path = workdir / f"{name}.json"
    if killed_after is not None:
        res = {"timed_out": True, "lower_bound_seconds": killed_after}
        try:
            st = json.loads((workdir / "authors_status.json").read_text())
            res["parts"] = st.get("parts", {})
        except (OSError, ValueError):
            pass
        eprint(f"[n={n}] {LABELS[name]}: stopped after {killed_after:.0f} s (--authors-timeout {timeout:g})")
        return res
    if not result_path.exists():
        return {"error": f"child exited with status {proc.returncode} and no result"
                         + (" (killed by signal 9: out of memory?)" if proc.returncode == -9 else "")}
    res = json.loads(result_path.read_text())
    res["child_wall_seconds"] = wall
    if "error" not in res:
        eprint(f"[n={n}] {LABELS[name]}: {fmt_seconds(res['seconds'])}")
    return res


def _recomputed_total(x, y, partner) -> float:
    """sum_i cos(x_i, y_partner[i]) in float64, from the float32 inputs."""
    total = 0.0
    for r0 in range(0, x.shape[0], 8192):
        p = partner[r0:r0 + 8192]
        ok = p >= 0
        xa = x[r0:r0 + 8192][ok].astype(np.float64)
        yb = y[p[ok]].astype(np.float64)
        num = np.einsum("ij,ij->i", xa, yb)
        total += float(np.sum(num / (np.linalg.norm(xa, axis=1) * np.linalg.norm(yb, axis=1))))
    return total


def verify(n: int, pair, res: dict, workdir: Path) -> dict:
    """saematch's totals against the authors' (and both recomputed from the partners)."""
    out = {}
    sm_res, au_res = res.get("saematch", {}), res.get("authors", {})
    inputs = {"encoder": (pair.enc_a, pair.enc_b), "decoder": (pair.dec_a, pair.dec_b)}
    for part in PARTS:
        e = {"saematch": None, "authors": None, "rel_diff": None, "ok": None}
        x, y = inputs[part]
        if "stats" in sm_res:
            e["saematch"] = sm_res["stats"][part]["total_cos"]
            p = np.load(workdir / f"saematch_{part}.npy")
            e["saematch_recomputed"] = _recomputed_total(x, y, p)
            e["saematch_is_permutation"] = bool(np.array_equal(np.sort(p), np.arange(n)))
            truth = pair.truth
            planted = truth >= 0
            e["planted_recovered"] = float(np.mean(p[planted] == truth[planted]))
        parts = au_res.get("parts", {})
        if part in parts:
            e["authors"] = parts[part]["total_cos"]
            e["authors_recomputed"] = _recomputed_total(x, y, np.load(workdir / f"authors_{part}.npy"))
        if e["saematch"] is not None and e["authors"] is not None:
            ref = max(abs(e["authors"]), 1e-300)
            e["rel_diff"] = abs(e["saematch"] - e["authors"]) / ref
            e["rel_diff_recomputed"] = abs(e["saematch_recomputed"] - e["authors_recomputed"]) / ref
            e["ok"] = (e["rel_diff"] <= RTOL and e["rel_diff_recomputed"] <= RTOL
                       and e["saematch_is_permutation"])
        out[part] = e
    return out


def run_size(n: int, args, contenders) -> dict:
    eprint(f"[n={n}] generating the pair (float32, n={n}, d={args.d}, seed={args.seed})")
    pair = sae_pair(n, args.d, args.seed)
    checksum = pair_checksum(pair)
    workdir = Path(tempfile.mkdtemp(prefix=f"bench_compare_{n}_"))
    res = {}
    try:
        for name in contenders:
            time.sleep(args.settle)
            res[name] = run_child(name, n, args, workdir)
            if res[name].get("checksum") not in (None, checksum):
                res[name]["error"] = "generated a different pair than the parent (checksum mismatch)"
        checks = verify(n, pair, res, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"n": n, "d": args.d, "seed": args.seed, "checksum": checksum, "contenders": res, "verify": checks,
            "ratios": ratios(res)}


def ratios(res: dict) -> dict:
    out = {}
    s = res.get("saematch", {}).get("seconds")
    f = res.get("floor", {}).get("seconds")
    a = res.get("authors", {})
    if s:
        if a.get("seconds"):
            out["authors_over_saematch"] = {"value": a["seconds"] / s, "lower_bound": False}
        elif a.get("timed_out"):
            out["authors_over_saematch"] = {"value": a["lower_bound_seconds"] / s, "lower_bound": True}
        if f:
            out["saematch_over_floor"] = {"value": s / f, "lower_bound": False,
                                          "floor_extrapolated": res["floor"].get("extrapolated", False)}
    return out


# --------------------------------------------------------------------------- reporting


def _table(header, body, markdown=False, left=("contender", "matching", "method", "target", "status", "notes")):
    if markdown:
        rule = ["---" if i == 0 or h in left else "---:" for i, h in enumerate(header)]
        out = ["| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
        return "\n".join(out + ["| " + " | ".join(str(c) for c in r) + " |" for r in body])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    align = [">" if i and h not in left else "<" for i, h in enumerate(header)]
    line = lambda cells: "  ".join(f"{str(c):{a}{w}}" for c, a, w in zip(cells, align, widths))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in body])


def _mb(x):
    if x is None:
        return "-"
    return f"{x / GIB:.2f} GiB" if x >= GIB else f"{x:.0f} MB"


def _secs(e):
    if e is None:
        return "-"
    if e.get("skipped"):
        return "not run"
    if e.get("timed_out"):
        return f"> {e['lower_bound_seconds']:.0f}s"
    if e.get("error"):
        return "error"
    s = fmt_seconds(e["seconds"])
    return s + (" (extrapolated)" if e.get("extrapolated") else "")


def _ratio(r):
    if r is None:
        return "-"
    return ("> " if r["lower_bound"] else "") + f"{r['value']:.2f}x"


def target_status(results) -> list:
    """The issue's targets, at n = 32768 (other sizes shown for information)."""
    out = []
    for r in results:
        n = r["n"]
        tag = "" if n == TARGET_N else " (informational: the target is for 32768)"
        ra = r["ratios"].get("authors_over_saematch")
        need = TARGETS["speedup_vs_authors"]
        if ra is None:
            st = "not measured"
        elif ra["value"] >= need:
            st = "MET"
        else:
            st = "NOT SHOWN (only a lower bound)" if ra["lower_bound"] else "NOT MET"
        if "authors" in r["contenders"] or ra is not None:
            out.append({"n": n, "target": f">= {need:g}x the authors' pipeline" + tag, "measured": _ratio(ra),
                        "status": st})
        rf = r["ratios"].get("saematch_over_floor")
        need = TARGETS["ratio_to_floor"]
        if rf is not None or "floor" in r["contenders"]:
            st = "not measured" if rf is None else ("MET" if rf["value"] <= need else "NOT MET")
            out.append({"n": n, "target": f"<= {need:g}x the GEMM floor" + tag, "measured": _ratio(rf),
                        "status": st})
        sm_e = r["contenders"].get("saematch", {})
        peak = sm_e.get("process_peak_mb")
        need = TARGETS["peak_rss_gib"]
        st = "not measured" if peak is None else ("MET" if peak / GIB <= need else "NOT MET")
        out.append({"n": n, "target": f"<= {need:g} GiB peak RSS (saematch process)" + tag, "measured": _mb(peak),
                    "status": st})
    return out


def report(results, contenders, markdown=False) -> None:
    md = markdown
    body = []
    for r in results:
        for name in contenders:
            e = r["contenders"].get(name)
            if e is None:
                continue
            extra = ""
            if e.get("skipped"):
                extra = e["skipped"]
            elif e.get("error"):
                extra = e["error"]
            elif name == "floor":
                extra = f"{e['gflops']:.0f} GFLOP/s, block {e['block_rows']} rows"
                if e.get("extrapolated"):
                    extra += (f"; {e['fraction_of_rows_timed']:.1%} of the rows timed "
                              f"({fmt_seconds(e['measured_seconds'])}), scaled to all")
            elif name == "authors":
                parts = e.get("parts", {})
                extra = "; ".join(f"{p[:3]}: GEMM {fmt_seconds(v['gemm_seconds'])} + LSA {fmt_seconds(v['lsa_seconds'])}"
                                  for p, v in parts.items())
                if e.get("timed_out"):
                    extra = (extra + "; " if extra else "") + "killed at the timeout"
            elif name == "saematch":
                st = e["stats"]
                extra = f"{st['encoder']['method']}/{st['decoder']['method']}"
            reps = len(e.get("times", [])) or (1 if e.get("seconds") else "-")
            body.append([r["n"], LABELS[name], reps, _secs(e), f"{e['cores']:.2f}" if "cores" in e else "-",
                         _mb(e.get("call_peak_mb")), _mb(e.get("call_extra_mb")), _mb(e.get("process_peak_mb")),
                         e.get("load1_start", "-"), extra])
    print("\nSeconds (best of R), cores (CPU time / wall), peak resident memory: during the call (inputs "
          "included), extra above the resident size before the call, whole child process (generation included)")
    print(_table(["n", "contender", "R", "seconds", "cores", "peak RSS (call)", "extra", "peak RSS (process)",
                  "load1", "notes"], body, md))

    body = []
    for r in results:
        sm_e = r["contenders"].get("saematch", {})
        body.append([r["n"], _ratio(r["ratios"].get("authors_over_saematch")),
                     _ratio(r["ratios"].get("saematch_over_floor")), _mb(sm_e.get("process_peak_mb"))])
    print("\nRatios: authors/saematch (> 1: saematch faster), saematch/floor (1 = as fast as the GEMMs alone)")
    print(_table(["n", "authors/saematch", "saematch/GEMM floor", "saematch peak RSS"], body, md))

    body = []
    for r in results:
        st = r["contenders"].get("saematch", {}).get("stats")
        if not st:
            continue
        for part in PARTS:
            p = st[part]
            v = r["verify"][part]
            body.append([r["n"], part, p["method"], f"{p['total_cos']:.6f}", f"{p['certified_gap']:.3g}",
                         p["certificate_rounds"], f"{p['recomputed_rows']} ({p['recomputed_rows'] / r['n']:.0%})",
                         p.get("candidate_pairs", "-"),
                         "-" if v.get("planted_recovered") is None else f"{v['planted_recovered']:.2%}"])
    if body:
        print("\nsaematch: method, summed matched cosine, certified gap, certificate rounds, rows recomputed, "
              "candidate pairs, planted pairs recovered")
        print(_table(["n", "matching", "method", "total cos", "certified gap", "rounds", "recomputed rows",
                      "candidate pairs", "planted recovered"], body, md))

    body = []
    for r in results:
        for part in PARTS:
            v = r["verify"][part]
            if v["authors"] is None:
                why = "authors' pipeline did not finish this matching" if "authors" in r["contenders"] else "-"
                body.append([r["n"], part, "-" if v["saematch"] is None else f"{v['saematch']:.6f}", "-", "-", "-",
                             "not verified: " + why if "authors" in r["contenders"] else "-"])
                continue
            body.append([r["n"], part, f"{v['saematch']:.6f}", f"{v['authors']:.6f}", f"{v['rel_diff']:.1e}",
                         f"{v['rel_diff_recomputed']:.1e}", "OK" if v["ok"] else "MISMATCH"])
    if any("authors" in r["contenders"] for r in results):
        print(f"\nVerification: summed matched cosine, saematch vs the authors' pipeline (relative {RTOL:g}); "
              "'recomputed' = both totals recomputed in float64 from the partners")
        print(_table(["n", "matching", "saematch", "authors", "rel diff", "rel diff (recomputed)", "status"], body,
                     md))

    print("\nTargets")
    ts = target_status(results)
    print(_table(["n", "target", "measured", "status"], [[t["n"], t["target"], t["measured"], t["status"]]
                                                       for t in ts], md))


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="n = 2048 only")
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",") if x],
                   help="comma-separated n (default 8192,32768)")
    p.add_argument("--scale", type=int, metavar="N",
                   help="only saematch and the GEMM floor at n = N (e.g. 147456, the paper's largest SAE); "
                        "the floor is timed on --floor-fraction of its rows and extrapolated")
    p.add_argument("--contenders", type=lambda s: [x for x in s.split(",") if x],
                   help=f"subset of {','.join(CONTENDERS)} (default all; --scale: floor,saematch)")
    p.add_argument("--authors-timeout", type=float, default=None,
                   help="seconds the authors' pipeline may run (both matchings) before it is stopped and "
                        "reported as '> T s' (default 1800; with --device 60)")
    p.add_argument("--floor-fraction", type=float, default=None,
                   help="fraction of the GEMM floor's row blocks to time (default 1; 1/8 with --scale above "
                        "32768)")
    p.add_argument("--repeats", type=int, default=None,
                   help="best of R for saematch and the floor (default 3 for n <= 8192, else 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--d", type=int, default=D, help=f"input width of the SAEs (default {D}; Llama-3.1-8B: 4096)")
    p.add_argument("--threads", type=int, default=None, help="saematch's threads (default: all)")
    p.add_argument("--screen", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="saematch's screening arithmetic (default auto: bfloat16 where the CPU has AVX512-BF16)")
    p.add_argument("--settle", type=float, default=1.0, help="pause before each child, seconds (default 1)")
    p.add_argument("--json", metavar="OUT", help="also save all results as JSON")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--report", metavar="JSON", help="print the tables of a run saved with --json, run nothing")
    bench_compare_device.add_arguments(p)
    # internal: one contender in this process
    p.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    p.add_argument("--child-dir", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.device:
        return args
    if args.authors_timeout is None:
        args.authors_timeout = 1800.0
    if args.contenders:
        for c in args.contenders:
            if c not in CONTENDERS:
                p.error(f"unknown contender {c!r}; choose from {', '.join(CONTENDERS)}")
    if args.child:
        args.floor_fraction = 1.0 if args.floor_fraction is None else args.floor_fraction
        args.repeats = args.repeats or 1
        return args
    fixed_repeats, fixed_fraction = args.repeats, args.floor_fraction
    scale = args.scale
    args.repeats_for = lambda n: fixed_repeats or (3 if n <= 8192 else 1)
    args.floor_fraction_for = lambda n: (fixed_fraction if fixed_fraction is not None
                                         else (0.125 if scale and n > 32768 else 1.0))
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.device:  # the whole comparison on a torch device: bench_compare_device.py
        return bench_compare_device.main(args)
    if args.child:
        return child_main(args)
    if args.report:
        saved = json.loads(Path(args.report).read_text())
        print(f"bench_compare run of {saved['date']}, commit {saved['commit']} (working tree: "
              f"{saved.get('working_tree')}); load average {saved['threads']['load_average']} at the start, "
              f"{saved['threads'].get('load_average_end')} at the end")
        report(saved["results"], saved["contenders"], markdown=args.markdown)
        return 0

    if args.scale:
        sizes = [args.scale]
        contenders = [c for c in (args.contenders or ["floor", "saematch"]) if c != "authors"]
    else:
        sizes = args.sizes or (QUICK_SIZES if args.quick else DEFAULT_SIZES)
        contenders = args.contenders or list(CONTENDERS)
    contenders = [c for c in CONTENDERS if c in contenders]

    import saematch  # also so that threadpoolctl sees the OpenMP and BLAS it links

    importlib.import_module("scipy.optimize")

    threads = thread_info(args.threads)
    blas = blas_info()
    versions = package_versions(["saematch", "numpy", "scipy", "threadpoolctl"])
    when = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    rev, tree = git_revision(), git_dirty_summary()
    print(f"bench_compare  {when}  commit {rev} (working tree: {tree})  ({saematch.__file__})")
    print(f"CPU: {threads['cpu_model']}; os.cpu_count()={threads['os_cpu_count']}, usable CPUs="
          f"{threads['usable_cpus']}, OMP_NUM_THREADS={threads['OMP_NUM_THREADS']}; saematch threads="
          f"{threads['saematch_threads']} ({threads['saematch_threads_source']}); memory available "
          f"{_mb(mem_available_mb())}")
    print(f"BLAS/OpenMP (threadpoolctl, parent with numpy, scipy, saematch loaded): {format_blas_info(blas)}")
    print(f"load average at start (1/5/15 min): {threads['load_average']} -- other work on the machine skews timings")
    print("versions: " + ", ".join(f"{k} {v if v else 'not installed'}" for k, v in versions.items()))
    env = environment_env_vars()
    if env:
        print("env: " + " ".join(f"{k}={v}" for k, v in env.items()))
    print(f"pair: n latents x d={args.d}, float32, seed {args.seed}; B = shuffled noisy copies of 60% of A's latents "
          "(cos 0.6-0.95, encoder and decoder independently) + fresh latents; sizes " + ", ".join(map(str, sizes)))
    print(f"contenders: {', '.join(LABELS[c] for c in contenders)}; authors' timeout {args.authors_timeout:g} s")

    results = [run_size(n, args, contenders) for n in sizes]

    report(results, contenders, markdown=args.markdown)
    threads["load_average_end"] = thread_info(args.threads)["load_average"]
    print(f"\nload average at end (1/5/15 min): {threads['load_average_end']}")

    problems = []
    for r in results:
        for name, e in r["contenders"].items():
            if e.get("error"):
                problems.append(f"n={r['n']}: {LABELS[name]}: {e['error']}")
        for part, v in r["verify"].items():
            if v["ok"] is False:
                problems.append(f"n={r['n']} {part}: saematch {v['saematch']!r} vs authors {v['authors']!r} "
                                f"(relative {v['rel_diff']:.2e}, recomputed {v['rel_diff_recomputed']:.2e})")
            if v.get("saematch_is_permutation") is False:
                problems.append(f"n={r['n']} {part}: saematch's partners are not a permutation")
    if problems:
        print("\nPROBLEMS")
        for p_ in problems:
            print("  " + p_)
    if args.json:
        write_json(args.json, {
            "benchmark": "bench_compare", "date": when, "commit": rev, "working_tree": tree, "threads": threads,
            "blas": blas, "versions": versions, "env": env, "contenders": contenders,
            "authors_timeout": args.authors_timeout, "targets": target_status(results), "results": results,
            "problems": problems,
        })
        print(f"saved {args.json}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
