"""``bench_train.py --device cuda`` (and its CPU dry run, ``--device cpu``): issue 12's table.

One process, one device, three shapes (d, latents, k) = (768, 16384, 32),
(768, 131072, 32), (4096, 131072, 64), batch 4096, Adam. Unlike the CPU
benchmark's interleaved rounds (a shared 2-core machine needs them), every
contender here is built, warmed up, timed and freed on its own, so that its
peak GPU memory is its own and the largest shapes fit: a lent GPU runs
nothing else.

Contenders per shape (``CONTENDERS`` below):

* GEMM floors, the encoder product as sparsify calls it, ``F.linear(x, W, b)``:
  fp32 (``torch.set_float32_matmul_precision("highest")``: plain fp32, the
  floor the issue's target names), bf16 (x, W, b already bfloat16: the
  tensor-core floor), and for information TF32 (fp32 under "high", what
  sparsify's Trainer switches on) and bf16 autocast from fp32 tensors (what
  sparsify's forward does: the GEMM plus casting W every call).
* sparsify seed s (0..3): ``bench_train.Sparsify``, stepped as its Trainer
  steps it with Adam, under ``set_float32_matmul_precision("high")`` (its
  ``Trainer.fit`` sets that); its ``SparseCoder.forward`` runs under bfloat16
  autocast on CUDA by its own decorator, and its decoder is the Triton kernel
  when Triton is importable and ``SPARSIFY_DISABLE_TRITON`` is unset (the run
  prints which). Seed 0 is "sparsify x1"; "sparsify x4 sequential" is the sum
  of the four seeds' median steps (four runs one after another).
* saematch: ``_train.Trainer(..., device=...)``, seeds [0] and [0, 1, 2, 3],
  fp32 (precision "highest") and ``bf16_encoder=True`` (sparsify's like for
  like); every other architecture with one seed at the first shape, for
  information.

Timing: ``warmup`` untimed steps, then each timed step between two
``torch.cuda.synchronize()`` calls (perf_counter), so a step's time includes
its host work and ends when its kernels have. Memory:
``torch.cuda.reset_peak_memory_stats()`` before the contender is built, then
``max_memory_allocated()`` after its last step, minus what was allocated
before it was built (the shape's batches): construction, optimiser state and
the steps' transients. An out-of-memory error or any other failure is
recorded for that contender and the run goes on.

Budget: contenders run in priority order (the ones the targets need at every
shape first, information last); with ``--budget-s`` each gets a slice of what
is left (timed steps trimmed to fit, at least 3) and those that no longer fit
are reported as skipped.
"""

from __future__ import annotations

import gc
import statistics
import time

QUICK_SHAPES = [(32, 256, 8), (32, 512, 8), (64, 512, 16)]
ISSUE_SHAPES = [(768, 16384, 32), (768, 131072, 32), (4096, 131072, 64)]
SEEDS4 = [0, 1, 2, 3]
OTHER_ARCHITECTURES = ["batchtopk", "relu", "gated", "jumprelu"]
# The issue's targets (issue 12, "Done means").
SPEEDUP_1 = {(768, 16384, 32): 1.5}  # every other shape: 1.25
SPEEDUP_1_DEFAULT = 1.25
FLOOR_RATIO = 1.25  # at n = 131072
FLOOR_MIN_LATENTS = 131072
SPEEDUP_4 = 1.5
# Same start: sparsify drawn on the CPU (as saematch draws) gives the same first-step FVU.
SAME_START_MAX_PARAMS = 1 << 24  # draw sparsify on the CPU up to this many encoder weights (cheap)
FVU_RTOL_FP32 = 1e-4
FVU_RTOL_BF16 = 2e-2  # sparsify's bf16 autocast forward against either saematch


# --------------------------------------------------------------------------- contenders


class Floor:
    """``F.linear(x, W, b)`` of the encoder's shape."""

    seeds = 1

    def __init__(self, cfg, device, mode: str, seed: int = 123):
        import torch

        # Drawn on the device: 2 GiB of CPU random numbers would cost seconds of the budget.
        g = torch.Generator(device=device).manual_seed(seed)
        d, n = cfg["d"], cfg["latents"]
        bound = 1.0 / d**0.5
        W = torch.empty(n, d, device=device).uniform_(-bound, bound, generator=g)
        b = torch.zeros(n, device=device)
        self.mode = mode
        self.precision = "high" if mode == "tf32" else "highest"
        if mode == "bf16":
            W, b = W.bfloat16(), b.bfloat16()
        self.W, self.b = W, b
        self.fvu = None

    def prepare(self, x):
        import torch

        torch.set_float32_matmul_precision(self.precision)
        self.x = x.bfloat16() if self.mode == "bf16" else x  # cast outside the timed step

    def step(self, x):
        import torch
        import torch.nn.functional as F

        if self.mode == "autocast":
            with torch.autocast(device_type=self.W.device.type, dtype=torch.bfloat16):
                F.linear(self.x, self.W, self.b)
        else:
            F.linear(self.x, self.W, self.b)


class Saematch:
    def __init__(self, cfg, device, seeds, architecture="topk", bf16=False):
        import saematch
        from saematch import _train

        from bench_train import DEAD_AFTER_TOKENS, WARMUP_STEPS_LR

        self.seeds = len(seeds)
        config = saematch.SAEConfig(d_in=cfg["d"], num_latents=cfg["latents"], k=cfg["k"],
                                    architecture=architecture)._as_dict()
        self.t = _train.Trainer(
            config=config, seeds=list(seeds), batch_size=cfg["batch"], lr=0.0, lr_warmup_steps=WARMUP_STEPS_LR,
            dead_after_tokens=DEAD_AFTER_TOKENS, device=str(device), bf16_encoder=bool(bf16))
        self.fvu = None

    def prepare(self, x):
        import torch

        torch.set_float32_matmul_precision("highest")  # fp32 means fp32 (sparsify's "high" is process-wide)

    def step(self, x):
        self.fvu = [s["fvu"] for s in self.t.step(x)]


class SparsifyOnDevice:
    """bench_train.Sparsify under what sparsify's Trainer.fit sets: TF32 ("high")."""

    seeds = 1

    def __init__(self, cfg, device, seed, init_device=None):
        from bench_train import Sparsify

        self.inner = Sparsify(cfg, seed, "adam", device=str(device), init_device=init_device)
        self.fvu = None

    def prepare(self, x):
        import torch

        torch.set_float32_matmul_precision("high")

    def step(self, x):
        self.inner.step(x)
        self.fvu = self.inner.fvu


def contender_specs(shapes, archs: bool):
    """(shape, name, label, factory(cfg, device, init_device)) in run order: what the targets need first."""
    essential, extra = [], []
    for i, shape in enumerate(shapes):
        essential += [
            (shape, "floor_fp32", "GEMM floor fp32 (F.linear)", lambda c, dev, ic: Floor(c, dev, "fp32")),
            (shape, "floor_bf16", "GEMM floor bf16 (F.linear)", lambda c, dev, ic: Floor(c, dev, "bf16")),
            (shape, "sparsify_0", "sparsify x1 (seed 0)", lambda c, dev, ic: SparsifyOnDevice(c, dev, 0, ic)),
            (shape, "saematch_1_bf16", "saematch x1 bf16 encoder",
             lambda c, dev, ic: Saematch(c, dev, [0], bf16=True)),
            (shape, "saematch_1", "saematch x1 fp32", lambda c, dev, ic: Saematch(c, dev, [0])),
            (shape, "saematch_4_bf16", "saematch x4 one pass, bf16 encoder",
             lambda c, dev, ic: Saematch(c, dev, SEEDS4, bf16=True)),
        ]
        essential += [(shape, f"sparsify_{s}", f"sparsify seed {s}",
                       lambda c, dev, ic, s=s: SparsifyOnDevice(c, dev, s, ic)) for s in SEEDS4[1:]]
        extra += [
            (shape, "saematch_4", "saematch x4 one pass, fp32", lambda c, dev, ic: Saematch(c, dev, SEEDS4)),
            (shape, "floor_tf32", "GEMM floor TF32 (information)", lambda c, dev, ic: Floor(c, dev, "tf32")),
            (shape, "floor_autocast", "GEMM floor bf16 autocast from fp32 (information)",
             lambda c, dev, ic: Floor(c, dev, "autocast")),
        ]
        if archs and i == 0:
            extra += [(shape, f"arch_{a}", f"saematch x1 {a} fp32 (information)",
                       lambda c, dev, ic, a=a: Saematch(c, dev, [0], architecture=a)) for a in OTHER_ARCHITECTURES]
    return essential + extra


# --------------------------------------------------------------------------- running


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _is_oom(e: BaseException) -> bool:
    import torch

    return isinstance(e, torch.cuda.OutOfMemoryError) or "out of memory" in str(e).lower()


def measure(factory, cfg, device, batches, warmup, steps, slice_s, init_cpu):
    """Build, warm up and time one contender alone; its entry for the results."""
    import torch

    cuda = device.type == "cuda"
    if cuda:
        gc.collect()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    out = {"status": "ok"}
    c = None
    t_start = time.perf_counter()
    try:
        c = factory(cfg, device, init_cpu)
        _sync(device)
        out["build_s"] = time.perf_counter() - t_start
        out["seeds"] = c.seeds
        first_fvu = None
        t_warm = 0.0
        for w in range(warmup):
            x = batches[w % len(batches)]
            c.prepare(x)
            t0 = time.perf_counter()
            c.step(x)
            _sync(device)
            t_warm = time.perf_counter() - t0
            if w == 0 and c.fvu is not None:
                first_fvu = list(c.fvu)
        # Trim the timed steps to the contender's slice of the budget (the last warm-up step estimates one).
        n_steps = steps if slice_s is None else max(3, min(steps, int(slice_s / max(t_warm, 1e-6))))
        times = []
        for r in range(n_steps):
            x = batches[(warmup + r) % len(batches)]
            c.prepare(x)
            _sync(device)
            t0 = time.perf_counter()
            c.step(x)
            _sync(device)
            times.append(time.perf_counter() - t0)
        out.update(times=times, median=statistics.median(times), best=min(times), steps=n_steps, warmup=warmup,
                   first_fvu=first_fvu, last_fvu=None if c.fvu is None else list(c.fvu))
        if cuda:
            out["peak_bytes"] = torch.cuda.max_memory_allocated(device) - base
    except Exception as e:  # noqa: BLE001 - one contender's failure must not end the table
        out["status"] = "oom" if _is_oom(e) else "error"
        out["error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:400] if str(e).strip() else ''}"
        if cuda:
            out["peak_bytes"] = torch.cuda.max_memory_allocated(device) - base
    finally:
        del c
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    out["wall_s"] = time.perf_counter() - t_start
    return out


def shape_key(shape) -> str:
    return "x".join(str(v) for v in shape)


def run_table(args, device, shapes, batch, eprint):
    """Every contender of every shape, in priority order, within the budget."""
    import torch

    from bench_train import make_batches

    specs = contender_specs(shapes, archs=not args.no_archs)
    if args.only:
        wanted = set(args.only.split(","))
        specs = [s for s in specs if s[1] in wanted]
    results = {shape_key(s): {} for s in shapes}
    batches_of = {}
    t0 = time.perf_counter()
    for i, (shape, name, label, factory) in enumerate(specs):
        key = shape_key(shape)
        d, n, k = shape
        cfg = {"d": d, "latents": n, "k": k, "batch": batch}
        elapsed = time.perf_counter() - t0
        slice_s = None
        if args.budget_s is not None:
            left = args.budget_s - elapsed
            if left <= 0:
                results[key][name] = {"label": label, "status": "skipped", "error": "budget spent"}
                eprint(f"[{elapsed:6.1f} s] {key} {name}: skipped (budget of {args.budget_s:g} s spent)")
                continue
            slice_s = left / (len(specs) - i) / 2  # half for timing, half for building and warming up
        if key not in batches_of:
            batches_of.clear()  # one shape's batches on the device at a time
            gc.collect()
            batches_of[key] = [b.to(device) for b in make_batches(args.batches, batch, d, args.seed)]
        init_cpu = "cpu" if d * n <= SAME_START_MAX_PARAMS else None
        entry = measure(factory, cfg, device, batches_of[key], args.warmup, args.steps, slice_s, init_cpu)
        entry["label"] = label
        results[key][name] = entry
        if entry["status"] == "ok":
            mem = f", peak {entry['peak_bytes'] / 2**30:.2f} GiB" if "peak_bytes" in entry else ""
            eprint(f"[{time.perf_counter() - t0:6.1f} s] {key} {name}: {entry['median'] * 1e3:.2f} ms/step "
                   f"(median of {entry['steps']}; built in {entry['build_s']:.1f} s{mem})")
        else:
            eprint(f"[{time.perf_counter() - t0:6.1f} s] {key} {name}: {entry['status'].upper()} {entry['error']}")
    del batches_of
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return results, time.perf_counter() - t0


# --------------------------------------------------------------------------- analysis


def _median(entry):
    return entry["median"] if entry and entry.get("status") == "ok" else None


def four_sequential(res: dict):
    """sparsify x4 sequential: the four seeds' median steps, one run after another."""
    meds = [_median(res.get(f"sparsify_{s}")) for s in SEEDS4]
    return None if any(m is None for m in meds) else sum(meds)


def ratios(results: dict, shapes) -> list:
    """The issue's targets, per shape: value, target, ok (None where a side is missing)."""
    out = []

    def add(shape, what, num, den, target, higher):
        value = None if num is None or den is None else num / den
        ok = None if value is None or target is None else (value >= target if higher else value <= target)
        out.append({"shape": shape_key(shape), "what": what, "value": value,
                    "target": None if target is None else f"{'>=' if higher else '<='} {target}", "ok": ok})

    for shape in shapes:
        res = results.get(shape_key(shape), {})
        sp1, seq4 = _median(res.get("sparsify_0")), four_sequential(res)
        # The speed targets are the issue's for its shapes; elsewhere (a dry run's tiny shapes) they say nothing.
        issue_shape = tuple(shape) in ISSUE_SHAPES
        need1 = SPEEDUP_1.get(tuple(shape), SPEEDUP_1_DEFAULT) if issue_shape else None
        need4 = SPEEDUP_4 if issue_shape else None
        add(shape, "sparsify x1 / saematch x1 bf16 (like for like: both bf16 encoders)", sp1,
            _median(res.get("saematch_1_bf16")), need1, True)
        add(shape, "sparsify x1 / saematch x1 fp32", sp1, _median(res.get("saematch_1")), need1, True)
        floor_target = FLOOR_RATIO if issue_shape and shape[1] >= FLOOR_MIN_LATENTS else None
        floor = _median(res.get("floor_fp32"))
        add(shape, "saematch x1 fp32 / fp32 GEMM floor", _median(res.get("saematch_1")), floor, floor_target, False)
        add(shape, "saematch x1 bf16 / fp32 GEMM floor", _median(res.get("saematch_1_bf16")), floor, floor_target,
            False)
        add(shape, "saematch x1 bf16 / bf16 GEMM floor (information)", _median(res.get("saematch_1_bf16")),
            _median(res.get("floor_bf16")), None, False)
        add(shape, "sparsify x1 / fp32 GEMM floor (information)", sp1, floor, None, False)
        add(shape, "sparsify x4 sequential / saematch x4 one pass bf16", seq4, _median(res.get("saematch_4_bf16")),
            need4, True)
        add(shape, "sparsify x4 sequential / saematch x4 one pass fp32", seq4, _median(res.get("saematch_4")),
            need4, True)
        if not any("peak_bytes" in e for e in res.values()):
            continue  # on the CPU: no device memory to compare
        peak = lambda name: (res.get(name) or {}).get("peak_bytes") if (res.get(name) or {}).get(  # noqa: E731
            "status") == "ok" else None
        for name, label in (("saematch_1_bf16", "saematch x1 bf16"), ("saematch_1", "saematch x1 fp32")):
            add(shape, f"peak memory {label} / sparsify x1 (each alone)", peak(name), peak("sparsify_0"), 1.0, False)
        add(shape, "peak memory saematch x4 bf16 / sparsify x1 (information: its init_seeds=4 mode holds 4 SAEs)",
            peak("saematch_4_bf16"), peak("sparsify_0"), None, False)
    return out


def same_start(results: dict, device_type: str) -> dict:
    """First-step FVU (first batch, before any update) of saematch against sparsify drawn on the CPU."""
    out, ok = {}, True
    for key, res in results.items():
        d, n, _ = (int(v) for v in key.split("x"))
        if d * n > SAME_START_MAX_PARAMS:
            continue  # sparsify drawn on the device there: other weights
        sp = res.get("sparsify_0") or {}
        if sp.get("status") != "ok" or not sp.get("first_fvu"):
            continue
        ref = sp["first_fvu"][0]
        for name in ("saematch_1", "saematch_1_bf16", "saematch_4", "saematch_4_bf16"):
            e = res.get(name) or {}
            if e.get("status") != "ok" or not e.get("first_fvu"):
                continue
            fp32_both = device_type == "cpu" and not name.endswith("bf16")
            rtol = FVU_RTOL_FP32 if fp32_both else FVU_RTOL_BF16
            rel = abs(e["first_fvu"][0] - ref) / abs(ref)
            out[f"{key} {name}"] = {"sparsify": ref, "saematch": e["first_fvu"][0], "rel_diff": rel, "rtol": rtol,
                                    "ok": rel <= rtol}
            ok &= rel <= rtol
    return {"checks": out, "ok": ok}


# --------------------------------------------------------------------------- report


def _ms(v):
    return "-" if v is None else f"{v * 1e3:.2f}"


def _cell(entry):
    if not entry:
        return "-"
    if entry.get("status") != "ok":
        return entry.get("status", "?").upper()
    return _ms(entry["median"])


def report(saved, table, markdown=False):
    results = saved["results"]
    shapes = [tuple(s) for s in saved["config"]["shapes"]]
    cols = [("floor_fp32", "floor fp32"), ("floor_bf16", "floor bf16"), ("sparsify_0", "sparsify x1"),
            ("saematch_1", "saematch x1 fp32"), ("saematch_1_bf16", "saematch x1 bf16"), (None, "sparsify x4 seq"),
            ("saematch_4_bf16", "saematch x4 bf16"), ("saematch_4", "saematch x4 fp32")]
    body = []
    for shape in shapes:
        res = results.get(shape_key(shape), {})
        row = [f"{shape[0]}, {shape[1]}, {shape[2]}"]
        for name, _ in cols:
            row.append(_ms(four_sequential(res)) if name is None else _cell(res.get(name)))
        body.append(row)
    how = "its bf16 autocast forward, TF32" if saved["device"]["type"] == "cuda" else "fp32 (its autocast is CUDA's)"
    print(f"\nms per step (median), batch {saved['config']['batch']}, Adam; sparsify: {how}, decoder "
          f"{saved.get('sparsify_decoder')}")
    print(table(["d, latents, k"] + [c[1] for c in cols], body, markdown))

    if saved["device"]["type"] == "cuda":
        mcols = [("floor_fp32", "floor fp32"), ("sparsify_0", "sparsify x1"), ("saematch_1", "saematch x1 fp32"),
                 ("saematch_1_bf16", "saematch x1 bf16"), ("saematch_4_bf16", "saematch x4 bf16"),
                 ("saematch_4", "saematch x4 fp32")]
        body = []
        for shape in shapes:
            res = results.get(shape_key(shape), {})
            row = [f"{shape[0]}, {shape[1]}, {shape[2]}"]
            for name, _ in mcols:
                e = res.get(name) or {}
                row.append(f"{e['peak_bytes'] / 2**30:.2f}" if "peak_bytes" in e and e.get("status") == "ok"
                           else _cell(e))
            body.append(row)
        print("\nPeak GPU memory, GiB (max_memory_allocated while each contender was built and stepped alone, "
              "minus the batches)")
        print(table(["d, latents, k"] + [c[1] for c in mcols], body, markdown))

    body = []
    for r in saved["ratios"]:
        st = "-" if r["ok"] is None else ("MET" if r["ok"] else "NOT MET")
        body.append([r["shape"], r["what"], "-" if r["value"] is None else f"{r['value']:.2f}x", r["target"] or "-",
                     st])
    print("\nRatios of medians against the issue's targets (judged at the issue's shapes only)")
    print(table(["shape", "what", "value", "target", "status"], body, markdown))

    body = []
    for key, res in results.items():
        for name, e in res.items():
            if e.get("status") == "ok":
                fvu = e.get("last_fvu")
                body.append([key, e["label"], _ms(e["median"]), _ms(e["best"]), e["steps"],
                             "-" if "peak_bytes" not in e else f"{e['peak_bytes'] / 2**30:.3f}",
                             f"{e['build_s']:.1f}", "-" if not fvu else ", ".join(f"{v:.4f}" for v in fvu)])
            else:
                body.append([key, e.get("label", name), e["status"].upper(), "-", "-", "-", "-", e.get("error", "")])
    print("\nEvery contender")
    print(table(["shape", "contender", "median ms", "best ms", "steps", "peak GiB", "build s", "last fvu / error"],
                body, markdown, left=("shape", "contender", "last fvu / error")))

    chk = saved.get("same_start") or {}
    if chk.get("checks"):
        body = [[k, f"{v['sparsify']:.6f}", f"{v['saematch']:.6f}", f"{v['rel_diff']:.1e}", f"{v['rtol']:g}",
                 "OK" if v["ok"] else "MISMATCH"] for k, v in chk["checks"].items()]
        print("\nSame start: first-step FVU, saematch vs sparsify drawn on the CPU with the same seed")
        print(table(["shape contender", "sparsify", "saematch", "rel diff", "rtol", "status"], body, markdown,
                    left=("shape contender", "status")))
    failed = [f"{k} {n}: {e['status']}" for k, res in results.items() for n, e in res.items()
              if e.get("status") in ("error", "oom")]
    if failed:
        print("\nFAILED contenders: " + "; ".join(failed))


def run(args, eprint, table, header):
    """The device table; returns (saved, exit status)."""
    import torch

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device (torch.cuda.is_available() is False)")
    if args.shapes:
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]
    else:
        shapes = ISSUE_SHAPES if device.type == "cuda" and not args.quick else QUICK_SHAPES
    batch = args.batch or (4096 if device.type == "cuda" and not args.quick else 256)
    if args.warmup is None:  # on CUDA the first steps also pay Triton's JIT and cuBLAS's heuristics
        args.warmup = 3 if device.type == "cuda" else 2
    if args.steps is None:
        args.steps = 10 if device.type == "cuda" else 3
    import sparsify.utils as sparsify_utils

    decoder = sparsify_utils.decoder_impl.__name__
    info = header()
    dev = {"type": device.type, "name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    if device.type == "cuda":
        p = torch.cuda.get_device_properties(device)
        dev.update(total_memory_gib=p.total_memory / 2**30, capability=f"{p.major}.{p.minor}",
                   cuda=torch.version.cuda, bf16_supported=torch.cuda.is_bf16_supported())
        try:
            import triton

            dev["triton"] = triton.__version__
        except ImportError:
            dev["triton"] = None
        if decoder != "triton_decode":
            eprint("WARNING: sparsify is not using its Triton decoder on the GPU (Triton missing or "
                   "SPARSIFY_DISABLE_TRITON=1): the anchor is slower than the issue's")
    print(f"device: {dev}")
    print(f"shapes (d, latents, k): {shapes}; batch {batch}; {args.warmup} warm-up + up to {args.steps} timed "
          f"steps per contender; budget {args.budget_s} s; sparsify decoder {decoder}")
    results, wall = run_table(args, device, shapes, batch, eprint)
    torch.set_float32_matmul_precision("highest")
    saved = dict(info, benchmark="bench_train_device", device=dev, sparsify_decoder=decoder,
                 config={"shapes": [list(s) for s in shapes], "batch": batch, "warmup": args.warmup,
                         "steps": args.steps, "budget_s": args.budget_s, "batches": args.batches,
                         "data_seed": args.seed},
                 wall_s=wall, results=results, ratios=ratios(results, shapes),
                 same_start=same_start(results, device.type))
    report(saved, table, markdown=args.markdown)
    print(f"\ntable measured in {wall:.1f} s")
    failed = any(e.get("status") in ("error", "oom") for res in results.values() for e in res.values())
    return saved, (1 if failed or not saved["same_start"]["ok"] else 0)
