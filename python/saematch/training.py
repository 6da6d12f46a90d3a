"""Training SAEs with several seeds in one pass (the compiled trainer on
LibTorch), and the SAE objects it returns.

    >>> cfg = sm.SAEConfig(d_in=768, num_latents=16384, k=32)
    >>> saes = sm.train(cfg, activations, seeds=[0, 1, 2])   # same batches, same order
    >>> sm.compare_many(saes)

Architectures: ``"topk"`` (sparsify's), ``"batchtopk"``, ``"relu"`` (ReLU with
an L1 penalty weighted by decoder norms, SAELens's "standard"), ``"gated"`` and
``"jumprelu"`` (SAELens's), ``"archetypal"`` (TopK with decoder rows kept near
the convex hull of data points, RA-SAE; Fel et al. 2025).

torch is imported on first use, so ``import saematch`` stays light.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from saematch import _core
from saematch.folders import encoder_of, read_folder, sae_folders  # noqa: F401 - their old home; callers import them from here

# The architecture registry is C++'s (sae/config.hpp); read from the
# torch-free module, so that `import saematch` still loads no torch.
ARCHITECTURES = tuple(name for name, _ in _core.architectures())
_USES_K = frozenset(name for name, uses_k in _core.architectures() if uses_k)  # their codes are sparse
# SAEConfig's defaults are C++'s SaeConfig's (sae/config.hpp), as cfg.json
# spells them; a field C++ gains and this class lacks fails every
# construction (the C++ reader requires it), so the two cannot drift quietly.
_CONFIG_DEFAULTS = _core.sae_config_defaults
# train()'s defaults are TrainOptions' (train/defaults.hpp), likewise.
_TRAIN_DEFAULTS = _core.train_defaults


@dataclass(frozen=True)
class SAEConfig:
    """What defines an SAE apart from its weights.

    ``k``: active latents per token (topk; batchtopk on average).
    ``sparsity_coefficient``: weight of the L1 penalty (relu, gated) or of the
    L0 (jumprelu), in the units of the activations' squared norm, so scale it
    with your data. ``jumprelu_init_threshold`` and ``jumprelu_bandwidth``:
    the thresholds' start and the straight-through window (SAELens's 0.001;
    raise both for activations of large norm). ``batchtopk_threshold_momentum``:
    how fast BatchTopK's inference threshold follows training batches.
    ``auxk_alpha`` and ``multi_topk`` (topk): sparsify's AuxK loss (the top
    d/2 dead latents predicting the residual; 0 turns it off, sparsify's
    current default) and multi-TopK loss (the FVU with 4k latents, weight 1/8).
    ``archetypal_points``, ``archetypal_delta``, ``archetypal_init``
    (archetypal): decoder rows are W C + Λ with C the ``archetypal_points``
    candidate points taken from the first batch (which needs at least that
    many tokens), W row-stochastic and each row of Λ of norm at most
    ``archetypal_delta`` (in the activations' units); ``"kmeans"`` takes C as
    k-means centroids, the same for every seed, ``"random"`` as tokens drawn
    with each seed (sae/archetypal.hpp in the C++ headers).
    """

    d_in: int
    num_latents: int
    k: int = _CONFIG_DEFAULTS["k"]
    architecture: str = _CONFIG_DEFAULTS["architecture"]
    sparsity_coefficient: float = _CONFIG_DEFAULTS["sparsity_coefficient"]
    jumprelu_init_threshold: float = _CONFIG_DEFAULTS["jumprelu_init_threshold"]
    jumprelu_bandwidth: float = _CONFIG_DEFAULTS["jumprelu_bandwidth"]
    batchtopk_threshold_momentum: float = _CONFIG_DEFAULTS["batchtopk_threshold_momentum"]
    auxk_alpha: float = _CONFIG_DEFAULTS["auxk_alpha"]
    multi_topk: bool = _CONFIG_DEFAULTS["multi_topk"]
    archetypal_points: int = _CONFIG_DEFAULTS["archetypal_points"]
    archetypal_delta: float = _CONFIG_DEFAULTS["archetypal_delta"]
    archetypal_init: str = _CONFIG_DEFAULTS["archetypal_init"]

    def _as_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    def __post_init__(self):
        # The one validator is C++'s (SaeConfig::validate), reached the way a
        # saved cfg.json is read; it raises ValueError naming the field.
        _core.check_sae_config(self._as_dict())


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is a test dependency
        raise ImportError("saematch.train needs torch (pip install torch)") from e
    return torch


def _trainer_module():
    torch = _torch()  # loads LibTorch before the module that links it
    try:
        from saematch import _train
    except ImportError as e:
        raise ImportError(
            "this saematch build has no training module: torch was not importable when it was built "
            "(reinstall with `pip install --no-build-isolation .` where torch is installed)"
        ) from e
    if not _train.cuda_kernels and torch.cuda.is_available():
        import warnings

        warnings.warn(
            "this saematch build has no CUDA kernels (nvcc or torch's CUDA libraries were missing when it was "
            "built): training on CUDA tensors takes the ATen fallback, which is slower and not bitwise "
            "reproducible. Reinstall with `pip install --no-build-isolation .` where nvcc is on the PATH.",
            stacklevel=3,
        )
    return _train


@dataclass(eq=False, repr=False)  # identity equality: `s in saes` must not compare tensors
class SAE:
    """A trained (or loaded) SAE. ``parameters``: name -> tensor, named as in
    sparsify's files (topk, batchtopk, archetypal) or SAELens's (relu, gated, jumprelu),
    with every matrix stored one row per latent. ``encoder`` and ``decoder``
    are ``(num_latents, d_in)`` tensors, so an SAE can be passed to
    :func:`saematch.compare` as it is. ``history``: per step ``fvu``, ``l0``
    and ``dead_fraction``; ``firing_counts``: how often each latent fired.

    ``encode(x)`` returns ``(values, indices)`` (both (tokens, width)) for topk,
    batchtopk and archetypal, and the (tokens, num_latents) activations otherwise;
    ``decode`` takes what ``encode`` returns."""

    config: SAEConfig
    parameters: dict
    seed: int | None = None
    firing_counts: object = None
    history: dict = field(default_factory=dict)
    # From disk: "layout" (sparsify / saelens) and "stored_dtype" (e.g. F16;
    # the weights are read as float32).
    metadata: dict = field(default_factory=dict)

    def __repr__(self) -> str:
        # One line: the default repr printed every tensor (19,000 characters).
        c = self.config
        parts = [c.architecture, f"d_in={c.d_in}", f"num_latents={c.num_latents}"]
        if c.architecture in _USES_K:
            parts.append(f"k={c.k}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        steps = len(self.history.get("fvu", ()))
        if steps:
            parts.append(f"{steps} steps, last fvu {float(self.history['fvu'][-1]):.3g}")
        if self.metadata.get("layout"):
            parts.append(f"from {self.metadata['layout']}")
        return f"SAE({', '.join(parts)})"

    @property
    def encoder(self):
        return encoder_of(self.parameters)

    @property
    def decoder(self):
        return self.parameters["W_dec"]

    def _call(self, what, arg):
        fn = getattr(_trainer_module(), what)
        return fn(self.config._as_dict(), list(self.parameters.values()), arg)

    def encode(self, x):
        """The latent activations of ``x`` (tokens, d_in). TopK and BatchTopK
        give them sparse, as ``(values, indices)``, each (tokens, width)
        (BatchTopK pads a token's row with zero values); the other
        architectures a dense (tokens, num_latents) tensor. ``decode`` takes
        either form; :meth:`encode_dense` always gives the dense one."""
        return self._call("encode", _as_batch(x, self.config.d_in, self.decoder))

    def encode_dense(self, x):
        """The latent activations of ``x`` as a dense (tokens, num_latents) tensor."""
        codes = self.encode(x)
        if not isinstance(codes, tuple):
            return codes
        values, indices = codes
        dense = values.new_zeros(values.shape[0], self.config.num_latents)
        return dense.scatter_add_(1, indices.long(), values)  # add: BatchTopK's zero padding may repeat an index

    def decode(self, codes):
        return self._call("decode", codes)

    def forward(self, x):
        """The reconstruction of ``x``."""
        return self.decode(self.encode(x))

    __call__ = forward

    def save(self, path, format: str = "auto") -> None:
        """Writes the SAE as a folder that sparsify or SAELens load as well as
        :func:`saematch.load`: ``format="sparsify"`` (cfg.json +
        sae.safetensors; topk, batchtopk and archetypal, which sparsify itself
        cannot load), ``"saelens"`` (cfg.json + sae_weights.safetensors; all
        but batchtopk and archetypal), ``"auto"`` (sparsify's for those three,
        SAELens's for the others)."""
        torch = _torch()
        metadata = {} if self.seed is None else {"seed": str(self.seed)}
        names = list(self.parameters)
        arrays = [self.parameters[n].detach().to("cpu", torch.float32).contiguous().numpy() for n in names]
        try:
            _core.write_sae_folder(str(path), self.config._as_dict(), names, arrays, metadata, format)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from None


def _as_batch(x, d_in: int, like):
    torch = _torch()
    t = torch.as_tensor(x)
    if t.dim() != 2 or t.shape[1] != d_in:
        raise ValueError(f"expected activations of shape (tokens, {d_in}), got {tuple(t.shape)}")
    return t.to(device=like.device, dtype=torch.float32)


def _check_int(name: str, value, minimum: int, message: str | None = None) -> None:
    """An integer argument, or a ValueError naming it (pybind11 would print its
    whole signature for a float or a negative number)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(message or f"{name} must be an integer >= {minimum}, got {value!r}")


def _array_batches(t, goal: int, trainer):
    """Slices of a (tokens, d) tensor (or shards) along the trainer's own walk
    over the data (Trainer::next_slice, which the C++ Trainer::train takes
    too), until it has used ``goal`` tokens; so a resumed run continues
    exactly."""
    while (piece := trainer.next_slice(t.shape[0], goal)) is not None:
        start, count = piece
        yield t[start : start + count], f"rows {start}..{start + count - 1}"


class _Shards:
    """A folder (or file) of activation shards as a (tokens, d) source that
    slices like a tensor: each slice is read from the mapped files."""

    def __init__(self, path):
        self._shards = _core.ActivationShards(str(path))
        self.shape = (self._shards.tokens, self._shards.d)

    def __getitem__(self, rows: slice):
        torch = _torch()
        return torch.from_numpy(self._shards.read(rows.start, rows.stop - rows.start))


def _iterable_batches(data, d_in: int, skip: int, goal):
    torch = _torch()
    for i, item in enumerate(data):
        if i < skip:  # consumed before the checkpoint
            continue
        t = torch.as_tensor(item).detach()  # data that requires grad would fail inside the trainer's addmm
        if t.dim() != 2 or t.shape[1] != d_in:
            raise ValueError(f"batch {i} of the data must be (tokens, {d_in}), got shape {tuple(t.shape)}")
        yield t, f"batch {i}"


def train(
    config: SAEConfig,
    data=None,
    seeds=(0,),
    tokens: int | None = None,
    batch_size: int = _TRAIN_DEFAULTS["batch_size"],
    lr: float | None = None,
    device: str = "cpu",
    save_dir=None,
    progress: bool = True,
    *,
    save_every: int | None = None,
    resume: bool = False,
    optimizer: str = "adam",
    bf16: bool = False,
    lr_warmup_steps: int = _TRAIN_DEFAULTS["lr_warmup_steps"],
    dead_after_tokens: int = _TRAIN_DEFAULTS["dead_after_tokens"],
    track_every: int | None = None,
    model=None,
    hookpoints=None,
    dataset=None,
    **online,
) -> list[SAE]:
    """Trains one SAE per seed on the same batches in the same order and
    returns them in seed order.

    ``data``: a (tokens, d_in) array or tensor, or the path of a folder of
    ``.npy`` / ``.safetensors`` shards (memory-mapped, in natural file-name
    order) -- read in order, ``batch_size`` rows per step, again from the start
    until ``tokens`` are used (default one pass) -- or an iterable of
    (batch, d_in) tensors (used as given, until it ends or ``tokens`` are
    used). ``lr=None``: ``2e-4 / sqrt(num_latents /
    2**14)``. ``device``: "cpu" or a CUDA device. On the CPU, equal inputs give
    bitwise-equal SAEs.

    ``save_dir``: a checkpoint folder, written every ``save_every`` steps and
    at the end: ``seed_<s>/`` holds each SAE (loadable with
    :func:`saematch.load`), ``trainer_state.safetensors`` everything needed to
    go on. ``resume=True`` continues from it when it exists (same config and
    seeds; the same ``data``, of which an iterable is replayed past the
    batches already used), ending bitwise where the uninterrupted run would.

    ``lr_warmup_steps``: the learning rate rises linearly over this many
    steps, but over at most 10 % of the run when its length is known (array
    or shard data: ``tokens``, or one pass, over ``batch_size``), so that a
    short run reaches its learning rate (the rule lives in the C++
    ``TrainOptions``; an iterable's length is unknown, so it is not capped).
    Resuming with another ``optimizer``, ``lr``,
    ``batch_size``, ``lr_warmup_steps`` or ``dead_after_tokens`` than the
    saved run's is refused, naming the field.

    A batch whose tokens are all equal has no variance to explain: it is
    skipped (no update; NaN in ``history["fvu"]``) with a warning. Data so
    large that its squares overflow float32 is refused with a message.

    ``optimizer``: ``"adam"`` or ``"signum"`` (the sign of the gradient's
    moving average). ``bf16=True``: the encoder GEMM of topk/batchtopk in
    bfloat16 (like sparsify's autocast on GPUs; gradients stay float32).

    Online, from a model instead of ``data``: ``model`` (a transformers
    model, a local model folder, or "minilm"), ``hookpoints`` (its module
    names), ``dataset`` (texts, token ids, a ``datasets`` dataset or file, a
    built-in corpus) and the options of :func:`saematch.online.train_online`
    (``tokenizer``, ``context_length``, ``exclude_tokens``,
    ``normalize_activations``, ...); returns {hook point: [SAE per seed]}.

    ``track_every=N`` (at least 2 seeds): match the seeds with each other at
    step 0 and every N steps, recording shared fractions, mean matched cosines
    and partner churn in each SAE's ``history["stabilization"]``
    (:mod:`saematch.tracking`; persisted beside the checkpoint, so resuming
    continues the curve). Each check costs one :func:`saematch.compare_many`.
    """
    if model is not None or hookpoints is not None or dataset is not None:
        if data is not None:
            raise ValueError("pass either data (activations) or model=, hookpoints= and dataset= (online), not both")
        if model is None or hookpoints is None or dataset is None:
            raise ValueError("online training needs model=, hookpoints= and dataset= together")
        from saematch.online import train_online

        return train_online(config, model, hookpoints, dataset, seeds=seeds, tokens=tokens, batch_size=batch_size,
                            lr=lr, device=device, save_dir=save_dir, progress=progress, save_every=save_every,
                            resume=resume, optimizer=optimizer, bf16=bf16, lr_warmup_steps=lr_warmup_steps,
                            dead_after_tokens=dead_after_tokens, track_every=track_every, **online)
    if online:
        raise TypeError(f"train() got unexpected keyword argument(s) {', '.join(online)} (they are online "
                        "training's: pass model=, hookpoints= and dataset= too)")
    if data is None:
        raise ValueError("data is required: activations (an array, shards or an iterable), or train online with "
                         "model=, hookpoints= and dataset=")
    if not isinstance(config, SAEConfig):
        raise TypeError(f"config must be a saematch.SAEConfig, got {type(config).__name__}")
    seeds = _seed_list(seeds)
    _check_run(seeds, batch_size, tokens, lr, lr_warmup_steps, dead_after_tokens, save_every, save_dir, resume,
               track_every, "data")
    from saematch import tracking

    torch = _torch()
    _trainer_module()  # here, so that its warning names the caller (stacklevel)
    if str(device) != "cpu":
        from saematch._torch_gemm import torch_device

        torch_device(device)
    if isinstance(data, (str, os.PathLike)):
        data = _Shards(data)
    length = None  # tokens in the data, when it is an array
    if isinstance(data, (np.ndarray, torch.Tensor, _Shards)):
        if len(data.shape) != 2 or data.shape[1] != config.d_in:
            raise ValueError(f"data must be (tokens, {config.d_in}), got shape {tuple(data.shape)}")
        length = int(data.shape[0])
        if length < 2:
            raise ValueError(f"data needs at least 2 tokens, got {length}")
    # The run's length in steps when it is known (array data; an iterable's
    # batches have their own sizes): the trainer caps the warm-up at a share of
    # it (TrainOptions::lr_warmup_steps in train/trainer.hpp).
    planned = 0 if length is None else -(-int(tokens if tokens is not None else length) // batch_size)
    trainer = _make_trainer(config, seeds, batch_size, lr, lr_warmup_steps, dead_after_tokens, device, optimizer, bf16,
                            planned)
    if save_dir is not None:
        save_dir = Path(save_dir)
        if resume and (save_dir / "trainer_state.safetensors").exists():
            trainer.load_checkpoint(str(save_dir))

    if length is not None:
        t = data if isinstance(data, _Shards) else torch.as_tensor(data).detach()  # a tensor that requires grad
        goal = int(tokens) if tokens is not None else trainer.tokens + int(t.shape[0])
        batches = _array_batches(t, goal, trainer)
    else:
        goal = tokens
        batches = _iterable_batches(data, config.d_in, trainer.steps, goal)

    tracker = None if track_every is None else tracking.Tracker(
        track_every, len(seeds), _trainer_module().parameter_names(config.architecture), trainer, save_dir, resume)
    bar = _progress_bar(progress, goal, trainer.tokens)
    first_step, skipped = trainer.steps, []
    try:
        for batch, where in batches:
            if goal is not None and trainer.tokens >= goal:
                break
            if goal is not None and trainer.tokens + batch.shape[0] > goal:
                batch = batch[: goal - trainer.tokens]
                if batch.shape[0] < 2:
                    break
            try:
                stats = trainer.step(batch)
            except ValueError as e:
                raise ValueError(f"{where} of the data: {e}") from None
            if stats[0]["skipped"]:
                skipped.append(where)
            if tracker is not None:
                tracker.after_step(trainer)
            if save_every is not None and trainer.steps % save_every == 0:
                trainer.save_checkpoint(str(save_dir))
                if tracker is not None:
                    tracker.save(save_dir)
            if bar is not None:
                bar.update(batch.shape[0])
                # The bar shows the throughput itself (tok/s); a second one here disagreed with it.
                bar.set_postfix(
                    fvu=f"{np.mean([st['fvu'] for st in stats]):.3f}",
                    dead=f"{np.mean([st['dead_fraction'] for st in stats]):.1%}",
                )
    finally:
        if bar is not None:
            bar.close()
    if trainer.steps == first_step and not (resume and trainer.steps > 0):
        raise ValueError("the data gave no batch to train on (an empty iterable?); the SAEs would be their "
                         "initial weights")
    if skipped:
        import warnings

        warnings.warn(f"{len(skipped)} constant batch(es) ({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''}) "
                      "skipped: all their tokens are equal, so there is no variance to explain and no FVU; "
                      "their history holds NaN", RuntimeWarning, stacklevel=2)
    if save_dir is not None:
        trainer.save_checkpoint(str(save_dir))
        if tracker is not None:
            tracker.save(save_dir)
    saes = _saes_of(trainer, config, seeds)
    if tracker is not None:
        for i, sae in enumerate(saes):
            sae.history["stabilization"] = tracker.history(i)
    return saes


def _seed_list(seeds) -> list[int]:
    try:
        seeds = list(seeds)
    except TypeError:
        raise ValueError(f"seeds must be a list of integers, got {seeds!r}") from None
    for s in seeds:
        _check_int("seeds", s, 0, f"each seed must be an integer >= 0 (they seed the initialisation), got {s!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    return seeds


def _check_run(seeds, batch_size, tokens, lr, lr_warmup_steps, dead_after_tokens, save_every, save_dir, resume,
               track_every, source: str) -> None:
    """The run's options, checked alike for training from arrays and online
    (``source`` names what one pass goes over in the message)."""
    from saematch import tracking

    _check_int("batch_size", batch_size, 2)
    if tokens is not None:
        _check_int("tokens", tokens, 1, f"tokens must be a positive integer (or None: one pass over the {source}), "
                                        f"got {tokens!r}")
    _check_int("lr_warmup_steps", lr_warmup_steps, 0)
    _check_int("dead_after_tokens", dead_after_tokens, 1)
    if lr is not None and not (isinstance(lr, (int, float, np.integer, np.floating)) and np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number (or None for the default), got {lr!r}")
    if save_every is not None:
        _check_int("save_every", save_every, 1)
        if save_dir is None:
            raise ValueError("save_every needs a save_dir")
    if resume and save_dir is None:
        raise ValueError("resume=True needs the save_dir to resume from")
    tracking.check_track_every(track_every, seeds)


def _make_trainer(config, seeds, batch_size, lr, lr_warmup_steps, dead_after_tokens, device, optimizer, bf16,
                  planned):
    """The compiled trainer of ``config``'s architecture for ``seeds``
    (training from arrays and online, saematch.online, share it)."""
    return _trainer_module().Trainer(
        config=config._as_dict(),
        seeds=seeds,
        batch_size=batch_size,
        lr=0.0 if lr is None else float(lr),
        lr_warmup_steps=lr_warmup_steps,
        dead_after_tokens=dead_after_tokens,
        device=str(device),
        optimizer=optimizer,
        bf16_encoder=bool(bf16),
        planned_steps=planned,
    )


def _saes_of(trainer, config, seeds) -> list:
    """The trainer's SAEs, one per seed, in seed order."""
    counts = trainer.firing_counts
    names = _trainer_module().parameter_names(config.architecture)
    return [SAE(config, dict(zip(names, trainer.parameters(i))), seed=s, firing_counts=counts[i].clone(),
                history={k: np.asarray(v) for k, v in trainer.history(i).items()})
            for i, s in enumerate(seeds)]


def load(path, format: str = "auto"):
    """Reads SAEs from disk: saematch's folders, sparsify's (cfg.json +
    sae.safetensors) or SAELens's (cfg.json + sae_weights.safetensors);
    ``format`` may insist on one ("saematch", "sparsify", "saelens").

    One folder gives an :class:`SAE`; a folder of SAE folders gives a list
    (a run's seeds: ``seed_<s>``, sparsify's ``seed<k>``; by seed) or a dict
    by sub-folder name (hook points; a sparsify run's ``<run>/<hook>/seed<k>``
    gives a list per hook). A run whose seeds were saved at different steps
    (a save killed midway) is refused, naming each seed's step.
    """
    if format not in ("auto", "saematch", "sparsify", "saelens"):
        raise ValueError(f"format must be auto, saematch, sparsify or saelens, got {format!r}")
    from saematch import _run_folders

    folders = _run_folders.tree(path)
    if isinstance(folders, list):
        return [load(p, format) for p in folders]
    if isinstance(folders, dict):
        return {name: load(p, format) if isinstance(p, Path) else [load(s, format) for s in p]
                for name, p in folders.items()}
    path = Path(path)
    torch = _torch()
    config, params, metadata = read_folder(path)
    _train = _trainer_module()
    names = _train.parameter_names(config.architecture)
    missing = [n for n in names if n not in params]
    if missing:
        raise ValueError(f"{path}: no tensor(s) {missing} for a {config.architecture} SAE")
    if metadata.get("unsupported"):  # the compiled reader names the flag (compare still reads the directions)
        raise ValueError(f"{metadata['unsupported']}; saematch's SAE would compute another function")
    seed = int(metadata["seed"]) if metadata.get("seed", "").isdigit() else _run_folders.seed_from_name(path)
    if format in ("sparsify", "saelens") and metadata.get("layout") != format:
        raise ValueError(f"{path}: a {metadata.get('layout')} folder, not {format}")
    return SAE(config, {n: torch.from_numpy(params[n]) for n in names}, seed=seed,
               metadata={k: metadata[k] for k in ("layout", "stored_dtype", "folded", "notes") if k in metadata})


def _progress_bar(enabled: bool, total, done: int = 0):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, initial=done, desc="training", unit="tok", unit_scale=True)


__all__ = ["SAEConfig", "SAE", "train", "load", "ARCHITECTURES"]
