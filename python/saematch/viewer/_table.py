"""The per-latent table of one base SAE out of a :class:`~saematch.ManyReport`:
for every other seed its encoder and decoder partners and matched cosines,
and how many seeds share each latent under every rule."""

from __future__ import annotations

import numpy as np

from saematch.compare import RULES, _shared

_SIDE_KEYS = ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "agree", "max_cos_enc", "max_cos_dec")


def side(many, base: int, other: int) -> dict:
    """The arrays of ``base``'s latents matched against SAE ``other``: a pair
    stores (i, j) once with i < j, so the base is its ``a`` side or its
    ``b_side``."""
    if (base, other) in many.pairs:
        p = many.pairs[(base, other)]
        return {k: np.asarray(getattr(p, k)) for k in _SIDE_KEYS}
    if (other, base) in many.pairs:
        b = many.pairs[(other, base)].b_side
        return {k: np.asarray(b[k]) for k in _SIDE_KEYS}
    raise ValueError(f"the report holds no pair of SAEs {base} and {other}; its pairs are {sorted(many.pairs)}")


def saes_in(many) -> int:
    return len(many.share_counts)


def latent_table(many, base: int) -> dict:
    """Per latent of SAE ``base``: ``others`` (the other SAEs' indices, the
    order of every per-seed list), per other seed the partners, cosines,
    agreement and shared mask per rule, and ``share_counts`` per rule, all at
    ``many.threshold``. The shared rule is applied by
    :func:`saematch.compare._shared`, the one Python definition of it."""
    n = saes_in(many)
    if not (isinstance(base, (int, np.integer)) and 0 <= base < n):
        raise ValueError(f"base must be the index of one of the report's {n} SAEs, got {base!r}")
    others = [o for o in range(n) if o != base]
    sides = [side(many, base, o) for o in others]
    counts = {rule: np.sum([_shared(s, rule, many.threshold) for s in sides], axis=0).astype(np.int32)
              for rule in RULES}
    table = {"others": others, "share_counts": counts}
    for key in _SIDE_KEYS:
        table[key] = [s[key] for s in sides]
    table["shared"] = {rule: [_shared(s, rule, many.threshold) for s in sides] for rule in RULES}
    return table
