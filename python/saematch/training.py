"""Training SAEs with several seeds in one pass (the compiled trainer on
LibTorch), and the SAE objects it returns.

    >>> cfg = sm.SAEConfig(d_in=768, num_latents=16384, k=32)
    >>> saes = sm.train(cfg, activations, seeds=[0, 1, 2])   # same batches, same order
    >>> sm.compare_many(saes)

Architectures: ``"topk"`` (sparsify's), ``"batchtopk"``, ``"relu"`` (ReLU with
an L1 penalty weighted by decoder norms, SAELens's "standard"), ``"gated"`` and
``"jumprelu"`` (SAELens's).

torch is imported on first use, so ``import saematch`` stays light.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

ARCHITECTURES = ("topk", "batchtopk", "relu", "gated", "jumprelu")
_TRAINERS = {"topk": "TopKTrainer", "batchtopk": "BatchTopKTrainer", "relu": "ReluTrainer",
             "gated": "GatedTrainer", "jumprelu": "JumpReluTrainer"}


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
    """

    d_in: int
    num_latents: int
    k: int = 32
    architecture: str = "topk"
    sparsity_coefficient: float = 1.0
    jumprelu_init_threshold: float = 0.001
    jumprelu_bandwidth: float = 0.001
    batchtopk_threshold_momentum: float = 0.01

    def _as_dict(self) -> dict:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        for name in ("d_in", "num_latents", "k"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"SAEConfig.{name} must be a positive integer, got {value!r}")
        if self.k > self.num_latents:
            raise ValueError(f"SAEConfig.k = {self.k} exceeds num_latents = {self.num_latents}")
        for name in ("sparsity_coefficient", "jumprelu_init_threshold", "jumprelu_bandwidth"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0 or (value == 0 and name != "sparsity_coefficient"):
                raise ValueError(f"SAEConfig.{name} must be a finite positive number, got {value!r}")
        if not 0 < self.batchtopk_threshold_momentum <= 1:
            raise ValueError("SAEConfig.batchtopk_threshold_momentum must be in (0, 1]")


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover - torch is a test dependency
        raise ImportError("saematch.train needs torch (pip install torch)") from e
    return torch


def _trainer_module():
    _torch()  # loads LibTorch before the module that links it
    try:
        from saematch import _train
    except ImportError as e:
        raise ImportError(
            "this saematch build has no training module: torch was not importable when it was built "
            "(reinstall with `pip install --no-build-isolation .` where torch is installed)"
        ) from e
    return _train


@dataclass
class SAE:
    """A trained (or loaded) SAE. ``parameters``: name -> tensor, named as in
    sparsify's files (topk, batchtopk) or SAELens's (relu, gated, jumprelu),
    with every matrix stored one row per latent. ``encoder`` and ``decoder``
    are ``(num_latents, d_in)`` tensors, so an SAE can be passed to
    :func:`saematch.compare` as it is. ``history``: per step ``fvu``, ``l0``
    and ``dead_fraction``; ``firing_counts``: how often each latent fired.

    ``encode(x)`` returns ``(values, indices)`` (both (tokens, width)) for topk
    and batchtopk, and the (tokens, num_latents) activations otherwise;
    ``decode`` takes what ``encode`` returns."""

    config: SAEConfig
    parameters: dict
    seed: int | None = None
    firing_counts: object = None
    history: dict = field(default_factory=dict)

    @property
    def encoder(self):
        p = self.parameters
        return p["encoder.weight"] if "encoder.weight" in p else p["W_enc"]

    @property
    def decoder(self):
        return self.parameters["W_dec"]

    def _call(self, what, arg):
        fn = getattr(_trainer_module(), f"{what}_{self.config.architecture}")
        return fn(self.config._as_dict(), list(self.parameters.values()), arg)

    def encode(self, x):
        return self._call("encode", _as_batch(x, self.config.d_in, self.decoder))

    def decode(self, codes):
        return self._call("decode", codes)

    def forward(self, x):
        """The reconstruction of ``x``."""
        return self.decode(self.encode(x))

    __call__ = forward


def _as_batch(x, d_in: int, like):
    torch = _torch()
    t = torch.as_tensor(x)
    if t.dim() != 2 or t.shape[1] != d_in:
        raise ValueError(f"expected activations of shape (tokens, {d_in}), got {tuple(t.shape)}")
    return t.to(device=like.device, dtype=torch.float32)


def _batches(data, batch_size: int, d_in: int):
    """(batch, source description) pairs: consecutive slices of an array or
    tensor, or the items of an iterable of them."""
    torch = _torch()
    if isinstance(data, (np.ndarray, torch.Tensor)):
        t = torch.as_tensor(data)
        if t.dim() != 2 or t.shape[1] != d_in:
            raise ValueError(f"data must be (tokens, {d_in}), got shape {tuple(t.shape)}")
        if t.shape[0] < 2:
            raise ValueError(f"data needs at least 2 tokens, got {t.shape[0]}")
        for start in range(0, t.shape[0], batch_size):
            piece = t[start : start + batch_size]
            if piece.shape[0] >= 2:
                yield piece, f"rows {start}..{start + piece.shape[0] - 1}"
        return
    for i, item in enumerate(data):
        t = torch.as_tensor(item)
        if t.dim() != 2 or t.shape[1] != d_in:
            raise ValueError(f"batch {i} of the data must be (tokens, {d_in}), got shape {tuple(t.shape)}")
        yield t, f"batch {i}"


def train(
    config: SAEConfig,
    data,
    seeds=(0,),
    tokens: int | None = None,
    batch_size: int = 4096,
    lr: float | None = None,
    device: str = "cpu",
    progress: bool = True,
    *,
    lr_warmup_steps: int = 1000,
    dead_after_tokens: int = 10_000_000,
) -> list[SAE]:
    """Trains one SAE per seed on the same batches in the same order and
    returns them in seed order.

    ``data``: a (tokens, d_in) array or tensor (read in order, ``batch_size``
    rows per step, again from the start until ``tokens`` are used; default one
    pass), or an iterable of (batch, d_in) tensors (used as given, until it
    ends or ``tokens`` are used). ``lr=None``: ``2e-4 / sqrt(num_latents /
    2**14)``. ``device``: "cpu" or a CUDA device. On the CPU, equal inputs give
    bitwise-equal SAEs.
    """
    if not isinstance(config, SAEConfig):
        raise TypeError(f"config must be a saematch.SAEConfig, got {type(config).__name__}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must differ, got {seeds}")
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2, got {batch_size}")
    if lr is not None and not lr > 0:
        raise ValueError(f"lr must be positive (or None for the default), got {lr}")
    _train = _trainer_module()
    trainer = getattr(_train, _TRAINERS[config.architecture])(
        config=config._as_dict(),
        seeds=seeds,
        batch_size=batch_size,
        lr=0.0 if lr is None else float(lr),
        lr_warmup_steps=lr_warmup_steps,
        dead_after_tokens=dead_after_tokens,
        device=str(device),
    )
    history = {s: {"fvu": [], "l0": [], "dead_fraction": []} for s in seeds}
    goal = tokens
    if goal is None and hasattr(data, "shape"):
        goal = int(data.shape[0])
    bar = _progress_bar(progress, goal)
    start = time.perf_counter()
    try:
        while True:
            used_any = False
            for batch, where in _batches(data, batch_size, config.d_in):
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
                used_any = True
                for s, st in zip(seeds, stats):
                    for key, value in st.items():
                        history[s][key].append(value)
                if bar is not None:
                    bar.update(batch.shape[0])
                    rate = trainer.tokens / max(time.perf_counter() - start, 1e-9)
                    bar.set_postfix(
                        tok_s=f"{rate:,.0f}",
                        fvu=f"{np.mean([st['fvu'] for st in stats]):.3f}",
                        dead=f"{np.mean([st['dead_fraction'] for st in stats]):.1%}",
                    )
            # An array is read again from the start until `tokens` are used;
            # an iterable is used once.
            if not used_any or goal is None or trainer.tokens >= goal or not hasattr(data, "shape"):
                break
    finally:
        if bar is not None:
            bar.close()
    counts = trainer.firing_counts
    names = getattr(_train, f"parameter_names_{config.architecture}")()
    out = []
    for i, s in enumerate(seeds):
        out.append(
            SAE(config, dict(zip(names, trainer.parameters(i))), seed=s, firing_counts=counts[i].clone(),
                history={k: np.asarray(v) for k, v in history[s].items()})
        )
    return out


def _progress_bar(enabled: bool, total):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="training", unit="tok", unit_scale=True)


__all__ = ["SAEConfig", "SAE", "train", "ARCHITECTURES"]
