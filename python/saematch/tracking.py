"""Stabilization curves (Brzozowski & Chung 2026, "Ablating Archetypes"):
agreement between seeds followed *during* training, not only at the end.

``sm.train(..., track_every=N)`` matches every pair of seeds on their current
weights at step 0 and every N steps (the same exact matcher as
:func:`saematch.compare_many`) and records, per seed, averaged over the other
seeds:

- ``shared_<rule>``: the fraction of its latents shared under each rule at
  :data:`THRESHOLD`;
- ``mean_cos_enc`` / ``mean_cos_dec``: the mean matched cosine;
- ``churn_enc`` / ``churn_dec``: the fraction of its latents whose partner
  changed since the previous check (NaN at the first check).

They land in ``sae.history["stabilization"]`` (a dict of arrays, one entry per
check, with ``step`` and ``tokens``). With ``save_dir`` the curve and the last
check's partners are written beside the checkpoint (``stabilization.npz``)
each time it is, so a resumed run continues the same curve.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from saematch.compare import RULES, _shared, compare_many
from saematch.folders import encoder_of

THRESHOLD = 0.7  # the paper's default; every rule is recorded at it
FILE = "stabilization.npz"
_SIDE = ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "agree")
FIELDS = ("step", "tokens", *(f"shared_{r}" for r in RULES), "mean_cos_enc", "mean_cos_dec", "churn_enc", "churn_dec")


def check_track_every(track_every, seeds) -> None:
    if track_every is None:
        return
    if isinstance(track_every, (bool, np.bool_)) or not isinstance(track_every, (int, np.integer)) or track_every < 1:
        raise ValueError(f"track_every must be a number of steps >= 1 (or None), got {track_every!r}")
    if len(seeds) < 2:
        raise ValueError(f"track_every matches the seeds with each other: it needs at least 2 seeds, got {seeds}")


class Tracker:
    """Matches the trainer's seeds every ``every`` steps; one per training run."""

    def __init__(self, every: int, n_seeds: int, names: list, trainer, save_dir=None, resume: bool = False):
        self.every, self.n, self.names = int(every), n_seeds, names
        self.rows = [{f: [] for f in FIELDS} for _ in range(n_seeds)]
        self.partners = None  # {(i, j): (enc_a, dec_a, enc_b, dec_b)} of the last check
        if resume and save_dir is not None and (Path(save_dir) / FILE).exists():
            self._load(Path(save_dir) / FILE, trainer.steps)
        if not self.rows[0]["step"]:  # the starting point: step 0, or where an untracked run resumes
            self.check(trainer)

    def after_step(self, trainer) -> None:
        if trainer.steps % self.every == 0:
            self.check(trainer)

    def check(self, trainer) -> None:
        saes = []
        for i in range(self.n):
            params = dict(zip(self.names, trainer.parameters(i)))
            saes.append((encoder_of(params).detach(), params["W_dec"].detach()))
        many = compare_many(saes, threshold=THRESHOLD, progress=False)
        sums = [{f: 0.0 for f in FIELDS[2:]} for _ in range(self.n)]
        partners = {}
        for (i, j), p in many.pairs.items():
            a = {k: getattr(p, k) for k in _SIDE}
            b = {k: p.b_side[k] for k in _SIDE}
            partners[(i, j)] = tuple(np.array(x, copy=True) for x in
                                     (a["enc_partner"], a["dec_partner"], b["enc_partner"], b["dec_partner"]))
            old = None if self.partners is None else self.partners[(i, j)]
            for k, (s, side) in enumerate(((i, a), (j, b))):
                for r in RULES:
                    sums[s][f"shared_{r}"] += float(np.mean(_shared(side, r, THRESHOLD)))
                sums[s]["mean_cos_enc"] += float(np.mean(side["enc_cos"], dtype=np.float64))
                sums[s]["mean_cos_dec"] += float(np.mean(side["dec_cos"], dtype=np.float64))
                # no previous check: NaN (and it stays NaN through the sum)
                sums[s]["churn_enc"] += np.nan if old is None else float(np.mean(old[2 * k] != side["enc_partner"]))
                sums[s]["churn_dec"] += np.nan if old is None else float(np.mean(old[2 * k + 1] != side["dec_partner"]))
        self.partners = partners
        for s in range(self.n):
            self.rows[s]["step"].append(int(trainer.steps))
            self.rows[s]["tokens"].append(int(trainer.tokens))
            for f, v in sums[s].items():
                self.rows[s][f].append(v / (self.n - 1))

    def history(self, seed_index: int) -> dict:
        row = self.rows[seed_index]
        return {f: np.asarray(row[f], dtype=np.int64 if f in ("step", "tokens") else np.float64) for f in FIELDS}

    def save(self, save_dir) -> None:
        """Writes the curve and the last partners beside the checkpoint, atomically."""
        arrays = {f"{s}/{f}": v for s in range(self.n) for f, v in self.history(s).items()}
        for (i, j), parts in (self.partners or {}).items():
            for name, v in zip(("enc_a", "dec_a", "enc_b", "dec_b"), parts):
                arrays[f"partners/{i}-{j}/{name}"] = v
        path = Path(save_dir) / FILE
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, every=np.array(self.every), seeds=np.array(self.n), **arrays)
        os.replace(tmp, path)

    def _load(self, path: Path, step: int) -> None:
        with np.load(path) as z:
            if int(z["seeds"]) != self.n:
                raise ValueError(f"{path} tracks {int(z['seeds'])} seeds but this run trains {self.n}")
            if int(z["every"]) != self.every:
                raise ValueError(f"{path} was tracked every {int(z['every'])} steps; resume with "
                                 f"track_every={int(z['every'])} (got {self.every})")
            steps = z["0/step"]
            if steps.size and steps[-1] > step:
                raise ValueError(f"{path} holds checks up to step {int(steps[-1])} but the checkpoint is at step "
                                 f"{step}: the two were not saved together")
            for s in range(self.n):
                for f in FIELDS:
                    self.rows[s][f] = z[f"{s}/{f}"].tolist()
            pairs = {k.split("/")[1] for k in z.files if k.startswith("partners/")}
            if pairs:
                self.partners = {tuple(int(x) for x in key.split("-")): tuple(
                    z[f"partners/{key}/{name}"] for name in ("enc_a", "dec_a", "enc_b", "dec_b")) for key in pairs}


__all__ = ["Tracker", "THRESHOLD", "FIELDS", "check_track_every"]
