"""Which latents do two SAEs, or N SAEs trained with different seeds, share?

The paper's analysis (Paulo & Belrose): match encoder rows and decoder
vectors of two SAEs by the exact optimal one-to-one assignment on cosine
similarity, then call a latent shared under one of three rules:

- ``"paper"``: the same partner in both matchings, both cosines >= t;
- ``"separate"``: encoder cosine >= t and decoder cosine >= t, partners may differ
  (the authors' released notebook, which wrote > t: the same for every t that
  no float cosine equals, such as 0.7);
- ``"decoder"``: decoder cosine >= t alone.

Dead latents (all-zero rows) match nothing: partner -1, cosine 0. Among equally
good matchings (exact duplicate latents) the same canonical one is returned by
every method, screen and thread count.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace

import numpy as np

from saematch import _core
from saematch._arrays import as_numpy, is_torch_tensor, readable_in_place
from saematch._progress import progress_bar

# The shared rules and the matcher's defaults are the C++ core's
# (compare/shared_rules.hpp, compare/latent_matching.hpp): read, never restated.
RULES = tuple(name for name, _meaning in _core.shared_rules)
SWEEP_THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)

_DEFAULTS = _core.match_defaults


def _to_numpy(x, what: str) -> np.ndarray:
    try:
        array = as_numpy(x, fallback="float32")
    except Exception as e:  # noqa: BLE001 - report what could not be read
        raise ValueError(f"{what} is not an array: {e}") from None
    if array.ndim != 2:
        raise ValueError(f"{what} must be 2-D (n_latents, d), got shape {array.shape}")
    if array.dtype not in (np.float32, np.float64):
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{what} must hold real numbers, got dtype {array.dtype}")
        array = array.astype(np.float32)
    return readable_in_place(array)


def _weights(sae, name: str):
    """The raw ``(encoder, decoder)`` of an in-memory SAE, encoder one row per
    latent, or None when ``sae`` is none of the shapes :func:`compare` takes.

    - saematch's :class:`~saematch.SAE`, or anything with ``.encoder`` and
      ``.decoder`` (both ``(n_latents, d)``);
    - sparsify's ``SparseCoder``: ``encoder`` is a ``Linear(d, n)`` whose
      ``weight`` is ``(n, d)``, ``W_dec`` is ``(n, d)``;
    - SAELens's ``SAE``: ``W_enc`` is ``(d, n)`` (row-vector convention), so it
      is transposed here, and ``W_dec`` is ``(n, d)``;
    - an ``(encoder, decoder)`` pair.
    """
    if hasattr(sae, "encoder") and hasattr(sae, "decoder"):
        return sae.encoder, sae.decoder
    if hasattr(sae, "W_dec") and hasattr(getattr(sae, "encoder", None), "weight"):  # sparsify
        if sae.W_dec is None:
            raise ValueError(f"{name} ({type(sae).__name__}) has no decoder (W_dec is None: a transcoder "
                             "without one?); there are no decoder vectors to match")
        return sae.encoder.weight, sae.W_dec
    if hasattr(sae, "W_enc") and hasattr(sae, "W_dec"):  # SAELens
        w_enc, w_dec = sae.W_enc, sae.W_dec
        if tuple(w_enc.shape) != tuple(w_dec.shape)[::-1]:
            raise ValueError(f"{name} ({type(sae).__name__}): W_enc has shape {tuple(w_enc.shape)} and W_dec "
                             f"{tuple(w_dec.shape)}; SAELens's layout is W_enc (d, n) and W_dec (n, d)")
        return w_enc.T, w_dec
    if isinstance(sae, (tuple, list)) and len(sae) == 2:
        return sae[0], sae[1]
    return None


def encoder_decoder(sae, name: str = "sae") -> tuple:
    """``(encoder, decoder)`` of an in-memory SAE as 2-D float NumPy arrays,
    each ``(n_latents, d)``: ``sae`` is an ``(encoder, decoder)`` pair, has
    ``.encoder``/``.decoder``, or is a sparsify ``SparseCoder`` or a SAELens
    ``SAE``."""
    weights = _weights(sae, name)
    if weights is None:
        raise ValueError(
            f"{name} must be an (encoder, decoder) pair of (n_latents, d) arrays, an object with "
            f".encoder and .decoder, a sparsify SparseCoder or a SAELens SAE; got {type(sae).__name__}"
        )
    return _to_numpy(weights[0], f"{name} encoder"), _to_numpy(weights[1], f"{name} decoder")


class OrientationWarning(UserWarning):
    """An SAE's arrays look as if they were passed transposed ``(d, n_latents)``."""


def _check_orientation(enc: np.ndarray, dec: np.ndarray, name: str) -> None:
    """Rows are latents. An encoder that is the decoder's transpose cannot be
    right (an error); an SAE with fewer latents than input dimensions is
    unusual but legal (small test SAEs), so it gets a warning, not an error."""
    if enc.shape != dec.shape:
        hint = ""
        if enc.shape == dec.shape[::-1]:
            hint = ("; one of them is the other's transpose: pass both one row per latent, e.g. "
                    "(W_enc.T, W_dec) for a SAELens-style W_enc of shape (d, n_latents)")
        raise ValueError(
            f"{name}: encoder has shape {enc.shape} but decoder has shape {dec.shape}; both must be "
            f"(n_latents, d){hint}"
        )
    n, d = enc.shape
    if 0 < n < d:
        import warnings

        warnings.warn(
            f"{name} has {n} latents of width d = {d}: fewer latents than input dimensions. If its arrays "
            f"are (d, n_latents), pass them transposed (encoder.T, decoder.T); SAEs are read one row per latent",
            OrientationWarning,
            stacklevel=_caller_level(),
        )


def _caller_level() -> int:
    """The warnings stacklevel of the first frame outside this package, so that
    a warning points at the user's call whichever function led here."""
    import sys

    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1  # frame 1 (level 1): the function that calls warnings.warn
    while frame is not None and os.path.dirname(os.path.abspath(frame.f_code.co_filename)) == package:
        frame, level = frame.f_back, level + 1
    return level


def directions(sae, name: str = "sae") -> "_core.SaeDirections":
    """Unit-normalised encoder rows and decoder vectors of an SAE.

    ``sae`` is an ``(encoder, decoder)`` pair of arrays or tensors, each shaped
    ``(n_latents, d)`` with one row per latent, an object with ``encoder``
    and ``decoder`` attributes of that shape, or the path of an SAE folder
    (saematch's, sparsify's or SAELens's; no torch needed). Normalise once and pass the result
    to several comparisons to save the work.
    """
    if isinstance(sae, _core.SaeDirections):
        return sae
    if isinstance(sae, (str, os.PathLike)):
        from saematch.folders import encoder_of, read_folder, sae_folders

        folders = sae_folders(sae)
        if len(folders) != 1:
            raise ValueError(
                f"{name} ({sae}) holds {len(folders)} SAEs ({', '.join(p.name for p in folders[:4])}...); "
                "pick one sub-folder"
            )
        _, params, _ = read_folder(folders[0])
        encoder = encoder_of(params)
        if encoder is None or "W_dec" not in params:
            raise ValueError(f"{folders[0]}: the weights lack an encoder (encoder.weight / W_enc) or W_dec; "
                             f"they hold {sorted(params)}")
        return _core.sae_directions(encoder, params["W_dec"], name)
    enc, dec = encoder_decoder(sae, name)
    _check_orientation(enc, dec, name)
    if enc.dtype != dec.dtype:
        dec = dec.astype(enc.dtype)
    return _core.sae_directions(enc, dec, name)


def _shared(side: dict, rule: str, threshold: float) -> np.ndarray:
    return _core.shared_mask(side["enc_partner"], side["dec_partner"], side["enc_cos"], side["dec_cos"], rule,
                             threshold)


@dataclass
class PairReport:
    """Two SAEs compared: arrays are per latent of SAE ``a`` (``b_side`` holds
    the same arrays for SAE ``b``'s latents).

    ``enc_partner``/``dec_partner``: the latent of ``b`` matched in the encoder
    and decoder matchings (-1 when ``b`` has fewer latents and this one is left
    over); ``enc_cos``/``dec_cos``: the matched cosines (0 when unmatched);
    ``agree``: same partner in both; ``shared``: the mask under ``rule`` at
    ``threshold``; ``max_cos_enc``/``max_cos_dec``: the largest cosine with any
    latent of ``b`` (mean max cosine, Braun et al.). ``certified_gap`` bounds how
    far the summed matched cosines of both matchings could be from the optimum
    (0: proven optimal).
    """

    threshold: float
    rule: str
    enc_partner: np.ndarray
    dec_partner: np.ndarray
    enc_cos: np.ndarray
    dec_cos: np.ndarray
    agree: np.ndarray
    shared: np.ndarray
    max_cos_enc: np.ndarray
    max_cos_dec: np.ndarray
    b_side: dict
    certified_gap: float
    stats: dict
    sweep: dict = field(repr=False)

    @classmethod
    def _from_core(cls, core_report, threshold: float, rule: str) -> "PairReport":
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        a = core_report.side(True)
        b = core_report.side(False)
        stats = core_report.stats()
        b["shared"] = _shared(b, rule, threshold)
        sweep = {"threshold": SWEEP_THRESHOLDS.copy()}
        for r in RULES:
            sweep[r] = np.array([_shared(a, r, t).mean() for t in SWEEP_THRESHOLDS])
        return cls(
            threshold=float(threshold),
            rule=rule,
            shared=_shared(a, rule, threshold),
            b_side=b,
            certified_gap=float(stats["encoder"]["certified_gap"] + stats["decoder"]["certified_gap"]),
            stats=stats,
            sweep=sweep,
            **a,
        )

    @property
    def shared_fraction(self) -> float:
        return float(self.shared.mean())

    def shared_mask(self, rule: str | None = None, threshold: float | None = None) -> np.ndarray:
        """The shared mask over ``a``'s latents under another rule or threshold."""
        rule = self.rule if rule is None else rule
        threshold = _check_threshold(self.threshold if threshold is None else threshold, rule)
        side = {k: getattr(self, k) for k in ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "agree")}
        return _shared(side, rule, threshold)

    def with_rule(self, rule: str | None = None, threshold: float | None = None) -> "PairReport":
        """The same matchings with ``shared`` (both sides) under another rule or threshold."""
        rule = self.rule if rule is None else rule
        threshold = self.threshold if threshold is None else threshold
        threshold = _check_threshold(threshold, rule)
        b = dict(self.b_side)
        b["shared"] = _shared(b, rule, threshold)
        return replace(self, rule=rule, threshold=float(threshold), b_side=b,
                                   shared=self.shared_mask(rule, threshold))

    def metrics(self) -> dict:
        """The scalar results, as plain floats."""
        out = {
            "latents_a": int(self.enc_cos.size),
            "latents_b": int(self.b_side["enc_cos"].size),
            "rule": self.rule,
            "threshold": self.threshold,
            "shared_fraction": self.shared_fraction,
            "agreement": float(self.agree.mean()),
            "mean_matched_cos_enc": float(self.enc_cos.mean()),
            "mean_matched_cos_dec": float(self.dec_cos.mean()),
            "mean_max_cos_enc_ab": float(self.max_cos_enc.mean()),
            "mean_max_cos_dec_ab": float(self.max_cos_dec.mean()),
            "mean_max_cos_enc_ba": float(self.b_side["max_cos_enc"].mean()),
            "mean_max_cos_dec_ba": float(self.b_side["max_cos_dec"].mean()),
            "certified_gap": self.certified_gap,
        }
        for r in RULES:
            out[f"shared_fraction_{r}"] = float(self.shared_mask(r).mean())
        for side in ("a", "b"):
            for part in ("encoder", "decoder"):
                out[f"dead_{part}_{side}"] = int(self.stats[f"dead_{part}_{side}"])
        return out

    def summary(self) -> str:
        """A readable table of the main numbers."""
        m = self.metrics()
        rows = [
            ("latents (a, b)", f"{m['latents_a']}, {m['latents_b']}"),
            (f"shared ({self.rule}, t = {self.threshold:g})", f"{m['shared_fraction']:.3f}"),
            ("shared under paper / separate / decoder",
             f"{m['shared_fraction_paper']:.3f} / {m['shared_fraction_separate']:.3f} / {m['shared_fraction_decoder']:.3f}"),
            ("same partner in both matchings", f"{m['agreement']:.3f}"),
            ("mean matched cosine enc / dec", f"{m['mean_matched_cos_enc']:.3f} / {m['mean_matched_cos_dec']:.3f}"),
            ("mean max cosine enc / dec (a->b)", f"{m['mean_max_cos_enc_ab']:.3f} / {m['mean_max_cos_dec_ab']:.3f}"),
            ("mean max cosine enc / dec (b->a)", f"{m['mean_max_cos_enc_ba']:.3f} / {m['mean_max_cos_dec_ba']:.3f}"),
            ("dead latents enc / dec (a; b)",
             f"{m['dead_encoder_a']} / {m['dead_decoder_a']}; {m['dead_encoder_b']} / {m['dead_decoder_b']}"),
            ("certified optimality gap", f"{m['certified_gap']:.3g}"),
            ("method enc / dec", f"{self.stats['encoder']['method']} / {self.stats['decoder']['method']}"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def to_dict(self) -> dict:
        """Everything, JSON-serialisable."""
        arrays = {
            k: getattr(self, k).tolist()
            for k in ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "agree", "shared", "max_cos_enc", "max_cos_dec")
        }
        return {
            "metrics": self.metrics(),
            "a": arrays,
            "b": {k: np.asarray(v).tolist() for k, v in self.b_side.items()},
            "sweep": {k: np.asarray(v).tolist() for k, v in self.sweep.items()},
            "stats": self.stats,
        }

    def to_frame(self):
        """One row per latent of ``a`` (index: the latent), one column per
        per-latent array, as a pandas DataFrame (pandas is imported here only)."""
        pd = _pandas()
        columns = ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "agree", "shared", "max_cos_enc", "max_cos_dec")
        frame = pd.DataFrame({k: np.asarray(getattr(self, k)) for k in columns})
        frame.index.name = "latent"
        return frame

    def __repr__(self) -> str:
        return f"PairReport({self.enc_cos.size} x {self.b_side['enc_cos'].size} latents)\n{self.summary()}"


def _pandas():
    try:
        import pandas
    except ImportError as e:
        raise ImportError("to_frame() needs pandas (pip install pandas)") from e
    return pandas


SCREENS = _DEFAULTS["screens"]


def _tensor_device(sae):
    """The torch device of an SAE's weights when they are torch tensors on a
    GPU (or any non-CPU device), else None."""
    if isinstance(sae, (str, os.PathLike, _core.SaeDirections)):
        return None
    parts = _weights(sae, "sae")
    if parts is None:
        return None
    for x in parts:
        if is_torch_tensor(x) and x.device.type != "cpu":
            return x.device
    return None


def _device_for(device, saes):
    """The torch device the streamed method runs on: ``device`` when given,
    else the inputs' GPU when they live on one, else None (the CPU core)."""
    if device is None:
        device = next((d for d in map(_tensor_device, saes) if d is not None), None)
        if device is None:
            return None
    from ._torch_gemm import torch_device

    return torch_device(device)


def _device_module():
    """saematch's compiled device module (LibTorch; built where torch was found)."""
    import torch  # noqa: F401 - loads torch's CUDA kernels before ATen is used from C++

    try:
        from saematch import _device
    except ImportError as e:
        raise ImportError(f"device=... needs saematch's _device module, which is built only where torch is "
                          f"installed at build time; reinstall saematch with torch installed ({e})") from None
    return _device


def _options(method, candidates, dense_max_pairs, block_rows, block_cols, threads, screen):
    # Checked in the core (bind_compare.cpp / device_module.cpp); None: its defaults.
    return dict(
        method=str(method),
        candidates=int(candidates),
        dense_max_pairs=int(dense_max_pairs),
        block_rows=0 if block_rows is None else int(block_rows),
        block_cols=0 if block_cols is None else int(block_cols),
        threads=0 if threads is None else int(threads),
        screen=str(screen),
    )


def _compare_pair(da, db, opts, device, progress):
    """One pair on the CPU core, or on ``device`` (the report's stats then
    say how many bytes crossed between host and device)."""
    if device is None:
        return _core.compare_pair(da, db, **opts, progress=progress)
    core, traffic = _device_module().compare_pair(da, db, device=str(device), **opts, progress=progress)
    return _WithTraffic(core, traffic)


class _WithTraffic:
    """A core PairReport whose stats also hold the device traffic."""

    def __init__(self, core, traffic):
        self._core, self._traffic = core, traffic

    def side(self, a):
        return self._core.side(a)

    def stats(self):
        stats = self._core.stats()
        stats["device"] = dict(self._traffic)
        return stats


def _check_threshold(threshold, rule: str) -> float:
    """``threshold`` as a float in [0, 1], or a ValueError naming it.

    Cosines lie in [-1, 1], but a negative threshold means nothing here: an
    unmatched latent has cosine 0 and would count as shared. A threshold above
    1 (70 meant as 70 %) would share nothing, silently."""
    if isinstance(threshold, (bool, np.bool_)) or not isinstance(threshold, (int, float, np.integer, np.floating)):
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r} ({type(threshold).__name__})")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number in [0, 1], got {threshold}")
    if not 0.0 <= threshold <= 1.0:
        hint = f" (a percentage? use {threshold / 100:g})" if 1 < threshold <= 100 else ""
        raise ValueError(f"threshold must be a cosine in [0, 1], got {threshold:g}{hint}")
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    return float(threshold)


def _width_mismatch(message: str, name_a: str, da, name_b: str, db) -> ValueError:
    """The error for two SAEs of different input widths, saying which one
    looks transposed when its latent count is the other's width."""
    hint = ""
    a_suspect, b_suspect = da.latents == db.width, db.latents == da.width
    if a_suspect and b_suspect:  # the one with fewer latents than its width is the likelier transposed
        a_suspect, b_suspect = da.latents < da.width, not da.latents < da.width
    if b_suspect:
        hint = f"; {name_b} has {db.latents} latents, {name_a}'s width: is {name_b} transposed (d, n_latents)?"
    elif a_suspect:
        hint = f"; {name_a} has {da.latents} latents, {name_b}'s width: is {name_a} transposed (d, n_latents)?"
    return ValueError(message + hint)


def compare(
    a,
    b,
    threshold: float = 0.7,
    rule: str = "paper",
    method: str = "auto",
    progress: bool = True,
    *,
    candidates: int = _DEFAULTS["candidates"],
    dense_max_pairs: int = _DEFAULTS["dense_max_pairs"],
    block_rows: int | None = None,
    block_cols: int | None = None,
    threads: int | None = None,
    screen: str = "auto",
    device=None,
) -> PairReport:
    """Compare two SAEs: match their encoder rows, and separately their decoder
    vectors, by the exact optimal one-to-one assignment on cosine similarity
    (Paulo & Belrose), and report per latent of ``a`` its partners, the
    matched cosines and whether it is shared.

    ``a`` and ``b``: each an ``(encoder, decoder)`` pair of ``(n_latents, d)``
    arrays or tensors (one row per latent), an object with
    ``.encoder``/``.decoder`` of that shape (:class:`saematch.SAE`), a
    sparsify ``SparseCoder``, a SAELens ``SAE`` (its ``(d, n_latents)``
    ``W_enc`` is read transposed), or the path of an SAE folder. Arrays with
    fewer latents than input dimensions get an :class:`OrientationWarning`:
    they may have been passed transposed.

    ``threshold`` (a cosine in [0, 1], default 0.7) and ``rule`` decide which
    latents count as shared:

    - ``"paper"``: the same partner in both matchings and both cosines >= t;
    - ``"separate"``: encoder cosine >= t and decoder cosine >= t, partners may
      differ (the authors' released notebook);
    - ``"decoder"``: decoder cosine >= t alone.

    A latent left unmatched (dead: an all-zero row, which takes no part in
    the matching; or the larger SAE's extra) is never shared.

    ``report.with_rule(rule, threshold)`` re-applies another one without
    matching again. ``method``:
    ``"dense"`` stores the full cosine matrices, ``"sparse"`` streams them
    (each latent's ``candidates`` best partners, a sparse solve, and a dual
    certificate over all pairs), ``"auto"`` picks dense up to
    ``dense_max_pairs`` pairs. Both are exact. ``screen``: the arithmetic of
    the streamed pass's tiles, ``"bfloat16"`` (4x the float32 GEMM's speed on
    CPUs with AVX512-BF16), ``"float32"``, or ``"auto"`` (bfloat16 where the
    CPU has it). It decides how many pairs are re-scored exactly, never the
    result. ``device``: a torch device for the streamed method (default: the
    inputs' GPU when they are CUDA tensors, else the CPU core). The cosine
    tiles are computed and reduced there to each latent's candidates, and the
    certificate's recomputed rows too, so only O(n * candidates) numbers
    cross to the host (``report.stats["device"]`` counts the bytes); on a
    device, ``screen="auto"`` means bfloat16 on CUDA (tensor cores, a
    rigorous error bound widening the candidate lists) and float32
    elsewhere. The result is the CPU's, bit for bit. A device this machine
    lacks is a ValueError. ``block_rows``/``block_cols``: the tile shape
    (default: the core's, larger tiles on a device); results never depend
    on it. ``candidates`` above the
    larger SAE's latent count mean that count (longer lists hold nothing).
    """
    threshold = _check_threshold(threshold, rule)
    dev = _device_for(device, (a, b))
    opts = _options(method, candidates, dense_max_pairs, block_rows, block_cols, threads, screen)
    da, db = directions(a, "a"), directions(b, "b")
    if da.width != db.width:
        raise _width_mismatch(f"a and b have different input widths: a is d = {da.width}, b is d = {db.width}",
                              "a", da, "b", db)
    with progress_bar(progress, total=2, desc="matching encoder, decoder") as bar:
        # Each pair streams two cosine matrices; the bar moves per matching.
        core = _compare_pair(da, db, opts, dev, bar.fraction_callback(2))
    return PairReport._from_core(core, threshold, rule)


@dataclass
class ManyReport:
    """N SAEs compared pairwise.

    ``share_counts[b]``: for each latent of SAE ``b``, with how many of the
    other N-1 SAEs it is shared (a 2-D array when all SAEs have the same
    number of latents, else a list). ``only_in_base[k]``: the fraction of base
    latents shared with none of the other k-1 SAEs, averaged over every
    combination of k SAEs and every base in it (exact closed form).
    ``fit``: ``(a, b, c)`` of ``only_in_base ~ a * k**-b + c``; NaNs when
    there are fewer than 4 SAEs (three parameters need three values of k =
    2..N). :attr:`fit_note` says when the fit is missing or meaningless (an
    offset ``c``, the fraction left only in the base as k grows, outside
    [0, 1]); ``to_dict`` writes a missing fit as null, with the note.
    ``pairs[(i, j)]``: the :class:`PairReport` of SAE i against SAE j.
    ``shared_with_exactly[b][m]``: latents of SAE b shared with exactly m others.
    """

    threshold: float
    rule: str
    share_counts: object
    only_in_base: dict
    fit: tuple
    fit_rmse: float
    shared_with_exactly: np.ndarray
    pairs: dict = field(repr=False)
    firing_counts: list | None = field(default=None, repr=False)

    def summary(self) -> str:
        n = len(self.shared_with_exactly)
        lines = [f"{n} SAEs, rule {self.rule}, t = {self.threshold:g}"]
        lines.append("k  only in base: " + "  ".join(f"{k}:{v:.3f}" for k, v in self.only_in_base.items()))
        a, b, c = self.fit
        note = self.fit_note
        if not np.all(np.isfinite(self.fit)):
            lines.append(f"fit only_in_base ~ a * k^-b + c: none ({note})")
        else:
            lines.append(f"fit only_in_base ~ {a:.3f} * k^-{b:.3f} + {c:.3f} (rmse {self.fit_rmse:.2g})"
                         + (f"; {note}" if note else ""))
        for base in range(n):
            counts = self.shared_with_exactly[base]
            total = counts.sum()
            lines.append(
                f"SAE {base}: shared with all {n - 1} others {counts[-1] / total:.1%}, with none {counts[0] / total:.1%}"
            )
        gaps = max(p.certified_gap for p in self.pairs.values())
        lines.append(f"largest certified optimality gap over pairs: {gaps:.3g}")
        return "\n".join(lines)

    @property
    def fit_note(self) -> str | None:
        """Why the power-law fit is missing or meaningless; None when it is usable."""
        n = len(self.shared_with_exactly)
        if not np.all(np.isfinite(self.fit)):
            return f"the fit needs at least 4 SAEs, there are {n}"
        c = self.fit[2]
        if not 0.0 <= c <= 1.0:
            return f"meaningless: the offset c = {c:.3g} is a fraction of latents and must lie in [0, 1]"
        return None

    def with_rule(self, rule: str | None = None, threshold: float | None = None) -> "ManyReport":
        """The same comparison under another shared rule or threshold, without
        matching again: the matchings do not depend on either."""
        rule = self.rule if rule is None else rule
        threshold = self.threshold if threshold is None else threshold
        threshold = _check_threshold(threshold, rule)
        pairs = {key: p.with_rule(rule, threshold) for key, p in self.pairs.items()}
        latents = [len(c) for c in self.share_counts]
        return _many_from_pairs(pairs, latents, threshold, rule, self.firing_counts)

    def to_dict(self) -> dict:
        counts = self.share_counts
        return {
            "threshold": self.threshold,
            "rule": self.rule,
            "share_counts": [np.asarray(c).tolist() for c in counts],
            "only_in_base": {str(k): v for k, v in self.only_in_base.items()},
            # null, never NaN (invalid JSON), when no fit was made; fit_note says why, or
            # that a fit that was made is meaningless
            "fit": None if not np.all(np.isfinite(self.fit)) else {"a": self.fit[0], "b": self.fit[1],
                                                                   "c": self.fit[2], "rmse": self.fit_rmse},
            "fit_note": self.fit_note,
            "shared_with_exactly": self.shared_with_exactly.tolist(),
            "pairs": {f"{i}-{j}": p.metrics() for (i, j), p in self.pairs.items()},
        }

    def to_frame(self):
        """One row per pair of SAEs (index: ``a``, ``b``), one column per scalar
        of :meth:`PairReport.metrics`, as a pandas DataFrame."""
        pd = _pandas()
        rows = [{"a": i, "b": j, **p.metrics()} for (i, j), p in sorted(self.pairs.items())]
        return pd.DataFrame(rows).set_index(["a", "b"])

    def __repr__(self) -> str:
        return f"ManyReport\n{self.summary()}"


def compare_many(
    saes,
    threshold: float = 0.7,
    rule: str = "paper",
    method: str = "auto",
    progress: bool = True,
    *,
    firing_counts=None,
    candidates: int = _DEFAULTS["candidates"],
    dense_max_pairs: int = _DEFAULTS["dense_max_pairs"],
    block_rows: int | None = None,
    block_cols: int | None = None,
    threads: int | None = None,
    screen: str = "auto",
    device=None,
) -> ManyReport:
    """Compare N SAEs (same data, different seeds): each of the N(N-1)/2 pairs
    is matched once. ``firing_counts`` (one array per SAE, optional) is kept for
    the firing-frequency figure. Options as for :func:`compare`. ``saes`` may
    also be one path: a run's seed folders (``seed_<s>``, sparsify's
    ``<hook>/seed<k>``)."""
    threshold = _check_threshold(threshold, rule)
    if isinstance(saes, (str, os.PathLike)):
        from saematch.folders import sae_folders

        saes = sae_folders(saes)
    saes = list(saes)
    if len(saes) < 2:
        raise ValueError(f"compare_many needs at least 2 SAEs, got {len(saes)}")
    dev = _device_for(device, saes)
    opts = _options(method, candidates, dense_max_pairs, block_rows, block_cols, threads, screen)
    dirs = [directions(s, f"saes[{i}]") for i, s in enumerate(saes)]
    for i, d in enumerate(dirs[1:], start=1):
        if d.width != dirs[0].width:
            raise _width_mismatch(f"saes[{i}] has input width d = {d.width} but saes[0] has d = {dirs[0].width}",
                                  "saes[0]", dirs[0], f"saes[{i}]", d)
    if firing_counts is not None:
        firing_counts = [np.asarray(f) for f in firing_counts]
        if len(firing_counts) != len(dirs) or any(f.shape != (d.latents,) for f, d in zip(firing_counts, dirs)):
            raise ValueError(
                "firing_counts must hold one 1-D array per SAE with one count per latent; got shapes "
                f"{[f.shape for f in firing_counts]} for SAEs with {[d.latents for d in dirs]} latents"
            )
    total = len(dirs) * (len(dirs) - 1) // 2
    with progress_bar(progress, total=total, desc="matching SAE pairs") as bar:
        if dev is None:
            results = _core.compare_many(dirs, **opts, on_pair=bar.count_callback())
        else:  # each SAE uploaded once, every pair matched there
            results, traffic = _device_module().compare_many(dirs, device=str(dev), **opts,
                                                             on_pair=bar.count_callback())
            results = [(i, j, _WithTraffic(core, traffic)) for i, j, core in results]
    pairs = {(i, j): PairReport._from_core(core, threshold, rule) for i, j, core in results}
    return _many_from_pairs(pairs, [d.latents for d in dirs], threshold, rule, firing_counts)


def _many_from_pairs(pairs: dict, latents: list, threshold: float, rule: str, firing_counts) -> ManyReport:
    """The N-seed statistics from every pair's shared masks (already under ``rule`` at ``threshold``)."""
    n = len(latents)
    counts = [np.zeros(m, dtype=np.int32) for m in latents]
    for (i, j), p in pairs.items():
        counts[i] += p.shared
        counts[j] += p.b_side["shared"]
    lists = [c.tolist() for c in counts]
    only = _core.only_in_base_fraction(lists)
    only_in_base = {k: float(v) for k, v in zip(range(2, n + 1), only)}
    if n >= 4:
        a_, b_, c_, rmse, _ = _core.fit_power_law_with_offset([float(k) for k in only_in_base], list(only_in_base.values()))
    else:  # a three-parameter fit needs at least three points (k = 2..N)
        a_, b_, c_, rmse = float("nan"), float("nan"), float("nan"), float("nan")
    return ManyReport(
        threshold=float(threshold),
        rule=rule,
        share_counts=np.stack(counts) if len(set(latents)) == 1 else counts,
        only_in_base=only_in_base,
        fit=(a_, b_, c_),
        fit_rmse=rmse,
        shared_with_exactly=np.asarray(_core.shared_with_exactly(lists), dtype=np.int64),
        pairs=pairs,
        firing_counts=firing_counts,
    )


def save_json(report, path) -> None:
    """Writes ``report.to_dict()`` to ``path``."""
    with open(path, "w") as f:
        json.dump(report.to_dict(), f, indent=1, allow_nan=False)  # NaN is not JSON: fail rather than write it


__all__ = ["compare", "compare_many", "directions", "PairReport", "ManyReport", "OrientationWarning", "RULES",
           "save_json"]
