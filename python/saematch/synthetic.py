"""Synthetic activations with a known dictionary, for asking what the paper
could not: which true features each seed recovers, and whether the latents
that seeds share are the recovered ones.

    >>> data = sm.synthetic.superposition(num_features=1024, d=128, tokens=200_000, seed=0)
    >>> saes = sm.train(sm.SAEConfig(d_in=128, num_latents=1024, k=8), data.activations, seeds=[0, 1])
    >>> found = sm.synthetic.match_to_dictionary(saes[0], data.dictionary)
    >>> found.recovered_features().mean(), found.true_latents().mean()

Each token is a sparse non-negative combination of unit-norm feature
directions, more features than dimensions (superposition). Feature ``f``
fires independently with probability proportional to ``(f + 1) ** -zipf_exponent``
(a long tail of rare features, as in language-model SAEs), scaled so that on
average ``mean_active`` features fire per token; a firing feature's
coefficient is uniform in ``magnitude``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from saematch.compare import encoder_decoder


@dataclass
class Superposition:
    """``activations`` (tokens, d) float32, ``dictionary`` (features, d) unit
    rows, ``frequencies`` each feature's firing probability, ``counts`` how
    often each fired in ``activations``."""

    activations: np.ndarray
    dictionary: np.ndarray
    frequencies: np.ndarray
    counts: np.ndarray


def superposition(num_features: int = 1024, d: int = 128, tokens: int = 200_000, *, mean_active: float = 5.0,
                  zipf_exponent: float = 0.5, magnitude: tuple = (0.5, 1.5), seed: int = 0,
                  chunk_tokens: int = 16_384) -> Superposition:
    """Draws a random dictionary and ``tokens`` activations from it (see the
    module docstring); the same ``seed`` gives the same data."""
    for name, value in (("num_features", num_features), ("d", d), ("tokens", tokens)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not (np.isfinite(mean_active) and 0 < mean_active <= num_features):
        raise ValueError(f"mean_active must be in (0, num_features = {num_features}], got {mean_active!r}")
    if not (np.isfinite(zipf_exponent) and zipf_exponent >= 0):
        raise ValueError(f"zipf_exponent must be a finite number >= 0, got {zipf_exponent!r}")
    low, high = (float(m) for m in magnitude)
    if not (0 < low <= high and np.isfinite(high)):
        raise ValueError(f"magnitude must be (low, high) with 0 < low <= high, got {magnitude!r}")

    rng = np.random.default_rng(seed)
    dictionary = rng.standard_normal((num_features, d))
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    return _draw(dictionary, tokens, mean_active, zipf_exponent, (low, high), rng, chunk_tokens)


def _draw(dictionary, tokens, mean_active, zipf_exponent, magnitude, rng, chunk_tokens) -> Superposition:
    """Activations from ``dictionary`` (unit rows) as the module docstring says."""
    num_features, d = dictionary.shape
    low, high = magnitude
    weights = np.arange(1, num_features + 1, dtype=np.float64) ** -zipf_exponent
    frequencies = np.minimum(weights * (mean_active / weights.sum()), 1.0)
    if frequencies.sum() < 0.99 * mean_active:
        raise ValueError(f"mean_active = {mean_active} is not reachable with zipf_exponent = {zipf_exponent}: the "
                         "most frequent features would have to fire on more than every token")

    dictionary = dictionary.astype(np.float32)
    activations = np.empty((tokens, d), dtype=np.float32)
    counts = np.zeros(num_features, dtype=np.int64)
    for start in range(0, tokens, chunk_tokens):
        rows = min(chunk_tokens, tokens - start)
        fires = rng.random((rows, num_features)) < frequencies
        codes = np.where(fires, rng.uniform(low, high, (rows, num_features)), 0.0).astype(np.float32)
        counts += fires.sum(axis=0)
        activations[start:start + rows] = codes @ dictionary
    return Superposition(activations, dictionary, frequencies, counts)


@dataclass
class DictionaryMatch:
    """An SAE's decoder directions against the true dictionary, by largest
    cosine (no bijection: a feature may be found by several latents).

    ``feature_cos[f]``: the best cosine of any latent with true feature f, and
    ``feature_latent[f]`` that latent; ``latent_cos[i]`` / ``latent_feature[i]``
    the same from latent i's side."""

    feature_cos: np.ndarray
    feature_latent: np.ndarray
    latent_cos: np.ndarray
    latent_feature: np.ndarray

    def recovered_features(self, threshold: float = 0.9) -> np.ndarray:
        """Per true feature: is some latent's decoder direction within ``threshold`` cosine of it?"""
        return self.feature_cos >= threshold

    def true_latents(self, threshold: float = 0.9) -> np.ndarray:
        """Per latent: is its decoder direction within ``threshold`` cosine of some true feature?"""
        return self.latent_cos >= threshold


def match_to_dictionary(sae, dictionary, part: str = "decoder") -> DictionaryMatch:
    """Compares ``sae``'s decoder (or encoder) directions with the rows of
    ``dictionary`` (features, d). ``sae``: an object with ``.encoder`` and
    ``.decoder`` (n_latents, d), or an ``(encoder, decoder)`` pair."""
    if part not in ("decoder", "encoder"):
        raise ValueError(f"part must be 'decoder' or 'encoder', got {part!r}")
    d = np.asarray(dictionary, dtype=np.float64)
    if d.ndim != 2 or not np.all(np.isfinite(d)):
        raise ValueError(f"dictionary must be a finite (features, d) array, got shape {d.shape}")
    norms = np.linalg.norm(d, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("dictionary has a zero row: a true feature needs a direction")
    encoder, decoder = encoder_decoder(sae)
    latents = (encoder if part == "encoder" else decoder).astype(np.float64)
    if latents.ndim != 2 or latents.shape[1] != d.shape[1]:
        raise ValueError(f"the SAE's {part} has shape {latents.shape} but the dictionary's rows have width {d.shape[1]}")
    lnorm = np.linalg.norm(latents, axis=1, keepdims=True)
    cos = (d / norms) @ (latents / np.where(lnorm == 0, 1.0, lnorm)).T  # dead latents: cosine 0 with everything
    return DictionaryMatch(feature_cos=cos.max(axis=1), feature_latent=cos.argmax(axis=1),
                           latent_cos=cos.max(axis=0), latent_feature=cos.argmax(axis=0))


@dataclass
class LowRankGroups(Superposition):
    """:class:`Superposition` data whose first ``groups * group_size``
    features lie in low-rank subspaces: ``group_of[f]`` is feature f's group
    (-1: a free feature) and ``bases[g]`` (rank, d) an orthonormal basis of
    group g's subspace."""

    group_of: np.ndarray = None
    bases: list = None


def low_rank_groups(num_features: int = 256, d: int = 64, tokens: int = 100_000, *, groups: int = 4,
                    group_size: int = 8, group_rank: int = 2, mean_active: float = 5.0, zipf_exponent: float = 0.5,
                    magnitude: tuple = (0.5, 1.5), seed: int = 0, chunk_tokens: int = 16_384) -> LowRankGroups:
    """Like :func:`superposition`, but ``groups`` groups of ``group_size``
    features each are random unit directions inside one random
    ``group_rank``-dimensional subspace: more features than the subspace has
    dimensions, so no single basis of it is the right one, and seeds may each
    pick their own while agreeing on the subspace (Gerasimov et al. 2026's
    reproducible subspaces). The grouped features are the most frequent
    (features 0..groups * group_size - 1); the rest are free directions."""
    for name, value in (("groups", groups), ("group_size", group_size), ("group_rank", group_rank)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if groups * group_size > num_features:
        raise ValueError(f"groups * group_size = {groups * group_size} features exceed num_features = {num_features}")
    if not group_rank < d:
        raise ValueError(f"group_rank must be below d = {d} (a subspace, not the whole space), got {group_rank}")
    base = superposition(num_features, d, 1, mean_active=mean_active, zipf_exponent=zipf_exponent,
                         magnitude=magnitude, seed=seed)  # validates the shared arguments
    rng = np.random.default_rng([seed, 1])
    dictionary = base.dictionary.astype(np.float64)
    group_of = np.full(num_features, -1)
    bases = []
    for g in range(groups):
        q, _ = np.linalg.qr(rng.standard_normal((d, group_rank)))
        members = slice(g * group_size, (g + 1) * group_size)
        coords = rng.standard_normal((group_size, group_rank))
        rows = coords @ q.T
        dictionary[members] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
        group_of[members] = g
        bases.append(q.T.copy())
    drawn = _draw(dictionary, tokens, mean_active, zipf_exponent, tuple(float(m) for m in magnitude), rng, chunk_tokens)
    return LowRankGroups(drawn.activations, drawn.dictionary, drawn.frequencies, drawn.counts, group_of=group_of,
                         bases=bases)


__all__ = ["Superposition", "superposition", "LowRankGroups", "low_rank_groups", "DictionaryMatch", "match_to_dictionary"]


def __dir__():
    # Tab completion (dir() of a module, PEP 562) offers the public functions,
    # not the modules imported to write them (np, os, sys, ...).
    return sorted(__all__)
