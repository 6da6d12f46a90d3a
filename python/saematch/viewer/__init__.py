"""A static HTML browser of the latents N seeds share and do not share.

    >>> many = sm.compare_many("run/")                       # seed_0, seed_1, ...
    >>> sm.report(many, "run/", activations="acts/", out="report/")

writes ``report/index.html``: open it in a browser from the disk (no server,
no network). It shows

- a table of every latent of the base SAE: with how many other seeds it is
  shared under each rule (at the report's threshold), its matched encoder and
  decoder partners and cosines in every other seed, its firing frequency over
  the collected tokens, dead or alive; sortable, filterable, and virtualised
  (131,072 rows scroll and filter without stalls);
- a page per latent (``index.html#latent=123``): its top-activating contexts
  (tokens shaded by activation) beside those of its partner in every other
  seed, its nearest own latents, the histograms of matched cosines with its
  own marked, and for an unshared latent the other seeds' nearest latents and
  what they fire on;
- the run's summary (model, hook point, corpus, sizes, rule, threshold,
  certified gaps) and the paper's figures.

The page reads ``data.js`` (the table and summary, JSON assigned to
``window.SAEMATCH_DATA``) and ``contexts/s<sae>_<chunk>.js`` (the contexts,
loaded when a latent page needs them): script files, because a browser
refuses to fetch JSON from ``file://``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from saematch.compare import RULES
from saematch.viewer import _table

ASSETS = Path(__file__).with_name("assets")
PAGE_FILES = ("index.html", "app.js", "style.css")
FORMAT = 1
CHUNK = 512  # latents per contexts file: a latent page loads a few small files, never all of them
_COS_DIGITS = 4


def _rounded(values, digits: int = _COS_DIGITS) -> list:
    return np.round(np.asarray(values, dtype=np.float64), digits).tolist()


def _load_saes(saes, latents: list):
    """SAE objects for ``saes``: already SAEs, or folders (a run's folder or
    a list of SAE folders) read with :func:`saematch.load`."""
    if saes is None:
        return None
    if isinstance(saes, (str, os.PathLike)):
        from saematch.folders import sae_folders

        saes = sae_folders(saes)
    saes = list(saes)
    if len(saes) != len(latents):
        raise ValueError(f"saes holds {len(saes)} SAEs but the report compares {len(latents)}; pass the same SAEs, in the "
                         "same order, as to compare_many")
    if any(isinstance(s, (str, os.PathLike)) for s in saes):
        from saematch.training import load

        saes = [load(s) if isinstance(s, (str, os.PathLike)) else s for s in saes]
    from saematch.compare import encoder_decoder

    for i, (sae, count) in enumerate(zip(saes, latents)):
        have = encoder_decoder(sae, f"saes[{i}]")[1].shape[0]
        if have != count:
            raise ValueError(f"saes[{i}] has {have} latents but the report's SAE {i} has {count}: pass the SAEs "
                             "compare_many compared, in its order")
    return saes


def _names(saes, n: int) -> list:
    names = []
    for i in range(n):
        seed = getattr(saes[i], "seed", None) if saes is not None else None
        names.append(f"SAE {i}" + (f" (seed {seed})" if seed is not None else ""))
    return names


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {out}: is a file; give a folder for the report")
    if out.is_dir():
        foreign = [p.name for p in out.iterdir() if p.name not in (*PAGE_FILES, "data.js", "contexts", "figures")]
        if foreign and not (out / "index.html").exists():
            raise ValueError(f"out {out}: a folder holding other files ({', '.join(sorted(foreign)[:4])}); give an "
                             "empty or new folder (the report replaces its contexts/ and figures/)")


def _summary(many, base, saes, names, record, extra, table) -> dict:
    n = _table.saes_in(many)
    latents = [len(c) for c in many.share_counts]
    configs = []
    for s in saes or []:
        c = getattr(s, "config", None)
        configs.append(None if c is None else {"architecture": c.architecture, "d_in": c.d_in,
                                                "num_latents": c.num_latents, "k": c.k})
    pairs = {}
    for (i, j), p in sorted(many.pairs.items()):
        pairs[f"{i}-{j}"] = {**{r: float(p.shared_mask(r, many.threshold).mean()) for r in RULES},
                             "agreement": float(np.mean(p.agree)), "certified_gap": float(p.certified_gap)}
    fit = None if not np.all(np.isfinite(many.fit)) else [float(v) for v in many.fit]
    summary = {
        "model": record.get("model"), "module": record.get("module"), "corpus": record.get("corpus"),
        "tokens": record.get("tokens"), "documents": record.get("documents"), "d": record.get("d"),
        "saes": names, "latents": latents, "configs": configs or None, "base": base, "rule": many.rule,
        "threshold": many.threshold, "rules": list(RULES), "pairs": pairs,
        "largest_certified_gap": max(p["certified_gap"] for p in pairs.values()),
        "only_in_base": {str(k): float(v) for k, v in many.only_in_base.items()}, "fit": fit,
        "fit_note": many.fit_note,
        "shared_with": {r: np.bincount(table["share_counts"][r], minlength=n).tolist() for r in RULES},
    }
    summary.update(extra or {})
    return summary


def _figures(many, base: int, counts, tokens, folder: Path) -> list:
    from saematch import plot

    folder.mkdir(parents=True, exist_ok=True)
    other = 1 if base == 0 else 0
    pair = many.pairs[(min(base, other), max(base, other))]
    tag = f"{min(base, other)}_{max(base, other)}"
    written = []

    def draw(name, fn, *args, **kwargs):
        fn(*args, path=folder / name, **kwargs)
        written.append({"file": f"figures/{name}", "title": name[:-4].replace("_", " ")})

    draw(f"fig1_matched_cosines_{tag}.png", plot.matched_cosines, pair)
    if counts is not None:
        draw(f"fig2_similarity_vs_frequency_base{base}.png", plot.similarity_vs_frequency_many, many, base,
             firing_counts=counts, n_tokens=tokens)
    if _table.saes_in(many) >= 3:
        draw("figA1_only_in_base.png", plot.only_in_base, many)
    draw(f"figA2_threshold_sweep_{tag}.png", plot.threshold_sweep, pair)
    draw(f"figA3_matched_vs_max_{tag}.png", plot.matched_vs_max, pair)
    return written


def _copy_figures(files, folder: Path) -> list:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for f in files:
        shutil.copyfile(f, folder / f.name)
        written.append({"file": f"figures/{f.name}", "title": f.stem.replace("_", " ")})
    return written


def _write_script(path: Path, head: str, payload) -> None:
    """``head`` + the payload as JSON + ``);``: a script that hands the data
    to a function of the page. allow_nan=False: NaN is not JSON."""
    path.write_text(f"{head}{json.dumps(payload, separators=(',', ':'), allow_nan=False)});\n")


def _write_contexts(saes, activations, out: Path, top, before, after, tokenizer, names, progress):
    """Encodes the collection with every SAE and writes contexts/s<i>_<chunk>.js;
    returns (collection.json's record, tokens, firing counts per SAE, token texts)."""
    from saematch.viewer import _contexts, _tokens

    collection = _contexts.Collection(activations)
    counts, ctx = [], []
    for i, sae in enumerate(saes):
        c, lists = _contexts.top_contexts(sae, collection, top, before, after, progress, names[i])
        counts.append(c)
        ctx.append(lists)
    if tokenizer is None:
        tokenizer = _tokens.load_tokenizer(collection.record)
    ids = {t for lists in ctx for latent in lists for context in latent for t in context[3]}
    (out / "contexts").mkdir()
    for i, lists in enumerate(ctx):
        for chunk in range(0, len(lists), CHUNK):
            _write_script(out / "contexts" / f"s{i}_{chunk // CHUNK}.js", f"saematchContexts({i},{chunk // CHUNK},",
                          lists[chunk : chunk + CHUNK])
    return collection.record, collection.tokens, counts, _tokens.token_texts(tokenizer, ids)


def _nearest_latents(saes, base: int, others: list, count: int, names, progress):
    """Each base latent's nearest own latents and nearest latents in each other SAE, by decoder cosine."""
    if count == 0:
        return None
    from saematch.compare import encoder_decoder
    from saematch.viewer._neighbours import nearest, unit_rows

    units = [unit_rows(encoder_decoder(s, f"saes[{i}]")[1]) for i, s in enumerate(saes)]
    own = nearest(units[base], units[base], count, exclude_self=True, progress=progress, desc="nearest own latents")
    near = {"own": {"index": own[0].tolist(), "cos": _rounded(own[1])}, "others": []}
    for o in others:
        idx, cos = nearest(units[base], units[o], count, progress=progress, desc=f"nearest latents in {names[o]}")
        near["others"].append({"index": idx.tolist(), "cos": _rounded(cos)})
    return near


def _dead(many, base: int, saes, table, counts):
    """(dead mask, what dead means, firing counts or None) of the base's latents.
    Dead: never fired on the collected tokens when there are some; else an
    all-zero row (what the matching leaves unmatched), read from the SAEs or,
    without them, from being unmatched in every pair."""
    if counts is not None:
        fired = np.asarray(counts[base])
        return fired == 0, "never fired on the collected tokens", fired
    fired = None if many.firing_counts is None else np.asarray(many.firing_counts[base])
    if saes is not None:
        from saematch.compare import encoder_decoder

        enc, dec = encoder_decoder(saes[base], f"saes[{base}]")
        dead = (np.linalg.norm(enc, axis=1) == 0) | (np.linalg.norm(dec, axis=1) == 0)
        return dead, "an all-zero encoder or decoder row", fired
    dead = np.all([p < 0 for p in table["enc_partner"] + table["dec_partner"]], axis=0)
    return dead, "matched in no pair (an all-zero row)", fired


def report(many, saes=None, *, activations=None, out="report", base: int = 0, contexts: int = 8,
           before: int = 10, after: int = 4, neighbours: int = 5, tokenizer=None, figures=True,
           run: dict | None = None, progress: bool = True) -> Path:
    """Writes the browser of ``many`` (a :func:`saematch.compare_many`
    result) into the folder ``out`` and returns the path of its index.html.

    ``saes``: the compared SAEs in the same order (SAE objects, SAE folders,
    or a run's folder); needed for the contexts (with ``activations``) and the
    nearest latents. ``activations``: the folder :func:`saematch.collect.collect`
    wrote; each SAE encodes every collected token (in batches, with progress)
    for firing frequencies and each latent's ``contexts`` (default 8)
    strongest tokens, shown with ``before`` (10) tokens before and ``after``
    (4) after. The tokens are decoded by ``tokenizer``, default the one
    collection.json names (loaded offline; token ids are shown when it
    cannot be). ``base`` (default 0): the SAE whose latents the table lists.
    ``neighbours`` (default 5): nearest latents listed per latent, by decoder
    cosine. ``figures``: True (default) draws the paper's figures (PNG,
    :mod:`saematch.plot`) into the report; False none; a list of image files
    copies those instead (figures already drawn).
    ``run``: extra summary entries (e.g. ``{"model": ...}``) over the
    collection's own. Without ``saes`` and ``activations`` the page has the
    table, the histograms and the summary only.
    """
    n = _table.saes_in(many)
    table = _table.latent_table(many, base)
    for name, value, least in (("contexts", contexts, 0), ("before", before, 0), ("after", after, 0),
                               ("neighbours", neighbours, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if activations is not None and saes is None:
        raise ValueError("activations need saes: pass the compared SAEs (objects or folders) to encode them")
    if not (figures is True or figures is False or figures is None):
        figures = [Path(f) for f in figures]
        missing = [str(f) for f in figures if not f.is_file()]
        if missing:
            raise ValueError(f"figures: {', '.join(missing)} is not a file; pass True to draw the figures, or "
                             "existing image files")
    latents = [len(c) for c in many.share_counts]
    saes = _load_saes(saes, latents)
    out = Path(out)
    _check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    for sub in ("contexts", "figures"):
        shutil.rmtree(out / sub, ignore_errors=True)
    names = _names(saes, n)

    record, counts, tokens, token_text = {}, None, None, {}
    if activations is not None:
        record, tokens, counts, token_text = _write_contexts(saes, activations, out, contexts, before, after,
                                                             tokenizer, names, progress)
    near = _nearest_latents(saes, base, table["others"], neighbours, names, progress) if saes is not None else None
    dead, dead_means, base_counts = _dead(many, base, saes, table, counts)
    if figures is True:
        fig_list = _figures(many, base, None if counts is None else counts[base], tokens, out / "figures")
    elif figures is False or figures is None:
        fig_list = []
    else:
        fig_list = _copy_figures(figures, out / "figures")

    data = {
        "format": FORMAT,
        "summary": _summary(many, base, saes, names, record, run, table),
        "figures": fig_list,
        "table": {
            "latents": int(latents[base]),
            "others": table["others"],
            "share_counts": {r: table["share_counts"][r].tolist() for r in RULES},
            "enc_partner": [np.asarray(a).tolist() for a in table["enc_partner"]],
            "dec_partner": [np.asarray(a).tolist() for a in table["dec_partner"]],
            "enc_cos": [_rounded(a) for a in table["enc_cos"]],
            "dec_cos": [_rounded(a) for a in table["dec_cos"]],
            "agree": [np.asarray(a).astype(int).tolist() for a in table["agree"]],
            "shared": {r: [np.asarray(a).astype(int).tolist() for a in table["shared"][r]] for r in RULES},
            "fired": None if base_counts is None else base_counts.astype(np.int64).tolist(),
            "frequency": None if counts is None else [float(f"{v:.4g}") for v in base_counts / max(tokens, 1)],
            "dead": dead.astype(int).tolist(),
            "dead_means": dead_means,
        },
        "neighbours": near,
        "contexts": None if counts is None else {"chunk": CHUNK, "top": contexts, "before": before, "after": after,
                                              "fired": [np.asarray(c).astype(np.int64).tolist() for c in counts]},
        "tokens": {str(k): v for k, v in token_text.items()},
    }
    (out / "data.js").write_text("window.SAEMATCH_DATA = " + json.dumps(data, separators=(",", ":"),
                                                                       allow_nan=False) + ";\n")
    for name in PAGE_FILES:
        shutil.copyfile(ASSETS / name, out / name)
    return out / "index.html"


def read_data(folder) -> dict:
    """The JSON the page reads, from a report folder's data.js."""
    text = (Path(folder) / "data.js").read_text()
    prefix = "window.SAEMATCH_DATA = "
    if not text.startswith(prefix):
        raise ValueError(f"{folder}/data.js: not a saematch report's data (it must start with {prefix!r})")
    return json.loads(text[len(prefix):].rstrip().rstrip(";"))


def read_contexts(folder, sae: int, chunk: int) -> list:
    """The contexts of latents ``chunk * CHUNK ...`` of SAE ``sae`` from a report folder."""
    text = (Path(folder) / "contexts" / f"s{sae}_{chunk}.js").read_text().strip()
    head = f"saematchContexts({sae},{chunk},"
    if not (text.startswith(head) and text.endswith(");")):
        raise ValueError(f"{folder}/contexts/s{sae}_{chunk}.js: not a saematch contexts file")
    return json.loads(text[len(head):-2])


__all__ = ["report", "read_data", "read_contexts"]
