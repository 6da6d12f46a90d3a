"""How SAE folders group on disk, for :func:`saematch.load` and every
function that takes a path.

- an SAE folder: it holds a ``cfg.json`` (saematch's, sparsify's, SAELens's);
- a run's seeds: sub-folders named ``seed_<s>`` (saematch's ``train``) or
  ``seed<k>`` (sparsify's ``init_seeds``), in seed order;
- hook points: sub-folders named otherwise, each one SAE folder (sparsify's
  ``<run>/<hook>``) or a folder of seeds (sparsify's ``<run>/<hook>/seed<k>``).

A saematch run writes each seed folder's step into its weights' metadata and
into ``trainer_state.safetensors``, the seeds first and the state last. A save
killed midway leaves some seeds a step ahead of the others and of the state;
such a run is refused with every seed's step named, since the set mixes
models from different points of training.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

SEED_FOLDER = re.compile(r"seed_?(\d+)")
_STATE = "trainer_state.safetensors"
_WEIGHTS = ("sae.safetensors", "sae_weights.safetensors")


def natural_key(p: Path):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def is_sae_folder(p: Path) -> bool:
    return (p / "cfg.json").exists()


def seed_from_name(p: Path) -> int | None:
    m = SEED_FOLDER.fullmatch(p.name)
    return int(m.group(1)) if m else None


def _metadata(file: Path) -> dict:
    from saematch import _core

    try:
        return _core.safetensors_metadata(str(file))
    except Exception:  # noqa: BLE001 - damage is reported when the folder itself is read
        return {}


def _step(meta: dict):
    value = meta.get("step", "")
    return int(value) if value.isdigit() else None


def check_one_step(run: Path, seeds: list[Path]) -> None:
    """Refuses seed folders (and a trainer state) saved at different steps."""
    steps = {}
    for folder in seeds:
        for name in _WEIGHTS:
            if (folder / name).is_file():
                step = _step(_metadata(folder / name))
                if step is not None:
                    steps[folder.name] = step
                break
    parts = [f"{name} at step {step}" for name, step in steps.items()]
    state_step, missing = None, []
    if (run / _STATE).is_file():
        meta = _metadata(run / _STATE)
        state_step = _step(meta)
        if state_step is not None:
            parts.append(f"{_STATE} at step {state_step}")
        try:
            saved = [f"seed_{s}" for s in json.loads(meta.get("seeds", "[]"))]
        except ValueError:
            saved = []
        names = {p.name for p in seeds}
        missing = [s for s in saved if s not in names]
    distinct = set(steps.values()) | ({state_step} if state_step is not None else set())
    if len(distinct) > 1 or (missing and steps):
        lacking = f"; {', '.join(missing)} missing" if missing else ""
        raise ValueError(
            f"{run}: its seeds were not saved at one step ({', '.join(parts)}{lacking}), as a save interrupted "
            f"midway leaves them. Resume the run (saematch.train(..., save_dir={str(run)!r}, resume=True)) to "
            "write every seed at one step, or load a seed folder on its own."
        )


def tree(path):
    """The SAE folders at ``path``: a Path (one SAE), a list of seed folders,
    or a dict by hook name of either."""
    path = Path(path)
    if is_sae_folder(path):
        return path
    if not path.is_dir():
        raise ValueError(f"{path}: no such SAE folder")
    children = sorted((c for c in path.iterdir() if c.is_dir()), key=natural_key)
    saes = [c for c in children if is_sae_folder(c)]
    if saes:
        if all(seed_from_name(c) is not None for c in saes):
            check_one_step(path, saes)
            return saes
        return {c.name: c for c in saes}
    hooks = {}
    for c in children:
        seeds = sorted((g for g in c.iterdir() if g.is_dir() and is_sae_folder(g)), key=natural_key)
        if seeds and all(seed_from_name(g) is not None for g in seeds):
            check_one_step(c, seeds)
            hooks[c.name] = seeds
    if not hooks:
        raise ValueError(f"{path}: holds no cfg.json, neither itself nor in a sub-folder "
                         "(nor a sparsify run's <hook>/seed<k>)")
    return hooks


def flat(path) -> list[Path]:
    """The SAE folders at ``path`` as one list, for functions that take
    several SAEs; a run of several hook points, each with seeds, is refused:
    its SAEs are not comparable as one set."""
    t = tree(path)
    if isinstance(t, Path):
        return [t]
    if isinstance(t, list):
        return t
    if all(isinstance(v, Path) for v in t.values()):
        return list(t.values())
    if len(t) == 1:
        return next(iter(t.values()))
    first = next(iter(t))
    raise ValueError(f"{path}: holds the hook points {', '.join(t)}, each a folder of seeds; "
                     f"pass one of them (e.g. {Path(path) / first})")
