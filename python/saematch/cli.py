"""The ``saematch`` command.

    saematch compare PATH_A PATH_B [--rule paper|separate|decoder] [--threshold 0.7]
                     [--json OUT] [--plots DIR] [--device cuda] [--screen auto|float32|bfloat16]
    saematch compare-many PATH... [--rule ...] [--threshold ...] [--json OUT] [--plots DIR] [--device ...]
    saematch report RUN_OR_SAES... [--activations ACTS_DIR] [--out report] [--base 0] [--contexts 8]
                    [--rule ...] [--threshold ...] [--device ...]
    saematch demo [--out saematch-demo] [--scale cpu|full|quick] [--device cpu|cuda]
    saematch train MODEL DATASET --hookpoints H... [--seeds 0 1 2] [--expansion-factor 32] [-k 32]
                   [--batch-size TOKENS] [--save-dir DIR] [--resume] (saematch/_cli_train.py: all options)

PATHs are SAE folders (saematch's, sparsify's or SAELens's); for compare-many
a folder holding several (a training run's ``seed_<s>``) counts as all of
them. Prints a summary table and writes the full report as JSON and the
paper's figures as PNG when asked. ``report`` compares the SAEs the same
way and writes a static HTML browser of their latents (open
``report/index.html`` from the disk; see :mod:`saematch.viewer`).

Exit status: 0 done, 2 bad input (a missing or damaged file, a bad option),
1 an internal failure (a bug: please report it with the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1


class BadInput(Exception):
    """Raised for what the user can fix; everything else is internal."""


def _threshold(text: str) -> float:
    from saematch.compare import _check_threshold

    try:
        return _check_threshold(float(text), "paper")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="saematch", description="Which features do SAEs trained with different seeds share?")
    sub = p.add_subparsers(dest="command", required=True)

    from saematch.compare import RULES, SCREENS

    def matching(q):
        q.add_argument("--rule", choices=RULES, default="paper",
                       help="what makes a latent shared (default: paper)")
        q.add_argument("--threshold", type=_threshold, default=0.7, help="cosine threshold in [0, 1] (default 0.7)")
        q.add_argument("--quiet", action="store_true",
                       help="no progress bar and no summary (errors still go to stderr; use --json for results)")
        q.add_argument("--device", default=None,
                       help="torch device for the streamed matching, e.g. cuda (default: this CPU's core); "
                            "same result, only O(n * candidates) numbers cross to the host")
        q.add_argument("--screen", choices=SCREENS, default="auto",
                       help="arithmetic of the cosine screen (default auto); never changes the result")

    def common(q):
        matching(q)
        q.add_argument("--json", metavar="OUT", help="write the full report as JSON")
        q.add_argument("--plots", metavar="DIR", help="write the paper's figures as PNG into DIR")

    c = sub.add_parser("compare", help="compare two SAEs")
    c.add_argument("a", help="SAE folder A")
    c.add_argument("b", help="SAE folder B")
    common(c)
    m = sub.add_parser("compare-many", help="compare N SAEs pairwise (the paper's multi-seed analysis)")
    m.add_argument("paths", nargs="+", help="SAE folders, or folders of them")
    common(m)
    r = sub.add_parser("report", help="compare N SAEs and write an HTML browser of their shared and unshared latents")
    r.add_argument("paths", nargs="+", metavar="RUN_OR_SAES", help="SAE folders, or folders of them (a run's seeds)")
    r.add_argument("--activations", metavar="ACTS_DIR",
                   help="the folder saematch.collect.collect wrote: contexts and firing frequencies (without it the "
                        "report has no contexts)")
    r.add_argument("--out", default="report", help="report folder (default report)")
    r.add_argument("--base", type=int, default=0, help="index of the SAE whose latents the table lists (default 0)")
    r.add_argument("--contexts", type=int, default=8, help="top-activating contexts per latent (default 8)")
    matching(r)
    dm = sub.add_parser("demo", help="the paper's experiment on all-MiniLM-L6-v2, offline, into a report folder")
    dm.add_argument("--out", default="saematch-demo", help="report folder (default saematch-demo)")
    dm.add_argument("--scale", choices=("quick", "cpu", "full"), default="cpu",
                    help="cpu (default, ~5 minutes on 2 cores), full (the paper's expansion factor; a GPU), quick")
    dm.add_argument("--device", default="cpu", help="training device (cpu, cuda)")
    dm.add_argument("--quiet", action="store_true", help="no progress output")
    from saematch import _cli_train

    _cli_train.add_parser(sub)
    return p


def _expand(paths) -> list[Path]:
    from saematch.folders import sae_folders

    out = []
    for p in paths:
        try:
            out.extend(sae_folders(p))
        except ValueError as e:
            raise BadInput(str(e)) from None
    return out


def _check_outputs(args) -> None:
    """Fails before a long comparison, not after it, when --json or --plots
    cannot be written (a missing permission, a path through a file)."""
    for flag, path, is_dir in (("--json", args.json, False), ("--plots", args.plots, True)):
        if not path:
            continue
        path = Path(path)
        try:
            (path if is_dir else path.parent).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"{flag} {path}: cannot create {e.filename}: {e.strerror}") from None
        if is_dir and not path.is_dir():
            raise BadInput(f"{flag} {path}: not a folder")
        if not is_dir and path.is_dir():
            raise BadInput(f"{flag} {path}: is a folder; give a file name")
        where = path if is_dir else path.parent
        if not os.access(where, os.W_OK | os.X_OK) or (not is_dir and path.exists() and not os.access(path, os.W_OK)):
            raise BadInput(f"{flag} {path}: not writable (permission denied)")


def _write_json(path, payload) -> None:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # allow_nan=False: NaN is not JSON; the reports write null instead.
        path.write_text(json.dumps(payload, indent=1, allow_nan=False))
    except OSError as e:
        raise BadInput(f"--json {path}: {e.strerror}") from None


def _plots(write) -> None:
    try:
        write()
    except OSError as e:
        raise BadInput(f"--plots: cannot write {e.filename}: {e.strerror}") from None


def _compare(args) -> int:
    import saematch as sm
    from saematch import plot

    _check_outputs(args)
    folders = _expand([args.a, args.b])
    if len(folders) != 2:
        raise BadInput(f"compare takes two SAE folders, found {len(folders)} ({', '.join(map(str, folders))}); "
                       "use compare-many")
    try:
        report = sm.compare(folders[0], folders[1], threshold=args.threshold, rule=args.rule,
                            progress=not args.quiet, device=args.device, screen=args.screen)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if not args.quiet:
        print(f"A: {folders[0]}\nB: {folders[1]}")
        print(report.summary())
    if args.json:
        _write_json(args.json, {"a": str(folders[0]), "b": str(folders[1]), **report.to_dict()})
    if args.plots:
        out = Path(args.plots)

        def write():
            out.mkdir(parents=True, exist_ok=True)
            plot.matched_cosines(report, path=out / "fig1_matched_cosines.png")
            plot.threshold_sweep(report, path=out / "figA2_threshold_sweep.png")
            plot.matched_vs_max(report, path=out / "figA3_matched_vs_max.png")

        _plots(write)
    return 0


def _compare_many(args) -> int:
    import saematch as sm
    from saematch import plot

    _check_outputs(args)
    folders = _expand(args.paths)
    if len(folders) < 2:
        raise BadInput(f"compare-many needs at least two SAE folders, found {len(folders)}")
    try:
        many = sm.compare_many([str(f) for f in folders], threshold=args.threshold, rule=args.rule,
                               progress=not args.quiet, device=args.device, screen=args.screen)
    except ValueError as e:
        raise BadInput(str(e)) from None
    if not args.quiet:
        for i, f in enumerate(folders):
            print(f"SAE {i}: {f}")
        print(many.summary())
    if args.json:
        _write_json(args.json, {"saes": [str(f) for f in folders], **many.to_dict()})
    if args.plots:
        out = Path(args.plots)

        def write():
            out.mkdir(parents=True, exist_ok=True)
            if len(folders) >= 3:
                plot.only_in_base(many, path=out / "figA1_only_in_base.png")
            first = many.pairs[(0, 1)]
            plot.matched_cosines(first, path=out / "fig1_matched_cosines_0_1.png")
            plot.threshold_sweep(first, path=out / "figA2_threshold_sweep_0_1.png")

        _plots(write)
    return 0


def _report(args) -> int:
    import saematch as sm
    from saematch.viewer import report

    folders = _expand(args.paths)
    if len(folders) < 2:
        raise BadInput(f"report needs at least two SAE folders, found {len(folders)}")
    if not 0 <= args.base < len(folders):
        raise BadInput(f"--base {args.base}: there are {len(folders)} SAEs (0..{len(folders) - 1})")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out}: is a file; give a folder")
    try:
        many = sm.compare_many([str(f) for f in folders], threshold=args.threshold, rule=args.rule,
                               progress=not args.quiet, device=args.device, screen=args.screen)
        index = report(many, [str(f) for f in folders], activations=args.activations, out=out, base=args.base,
                       contexts=args.contexts, progress=not args.quiet)
    except ValueError as e:
        raise BadInput(str(e)) from None
    except OSError as e:
        raise BadInput(f"--out {out}: cannot write {e.filename}: {e.strerror}") from None
    if not args.quiet:
        for i, f in enumerate(folders):
            print(f"SAE {i}: {f}")
        print(many.summary())
        print(f"report: {index.resolve().as_uri()}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "compare":
            return _compare(args)
        if args.command == "train":
            from saematch import _cli_train

            return _cli_train.run(args, BadInput)
        if args.command == "report":
            return _report(args)
        if args.command == "demo":
            from saematch import demo

            try:
                demo.run(args.out, scale=args.scale, device=args.device, progress=not args.quiet)
            except ImportError as e:
                raise BadInput(str(e)) from None
            return 0
        return _compare_many(args)
    except BadInput as e:
        print(f"saematch: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # noqa: BLE001 - anything else is a bug; say so, with the traceback
        traceback.print_exc()
        print("saematch: internal error (a bug; please report it with the traceback above)", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
