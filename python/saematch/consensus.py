"""A consensus dictionary from N seeds (Gerasimov et al. 2026: pooling the
seeds' latents gives a more stable SAE at the same explained variance).

1. Cluster: every latent is joined to its partner in each other seed when the
   pair is shared under the rule (the decoder matching's partner: the
   decoder direction is what is averaged), transitively (union-find).
2. One latent per cluster: the mean of the members' unit decoder vectors,
   renormalised; the encoder row likewise, at the members' mean norm; the
   encoder bias the members' mean. Latents in no cluster (unique to one seed)
   are kept as they are (``keep_unique``).
3. Re-fit the encoder and its biases briefly on data with the decoder fixed
   (TopK: ReLU, then the k largest), so the pooled directions get an encoder
   that selects them.
4. Evaluate: FVU and L0 on data, and stability against fresh seeds of the
   same size, next to a single SAE of that size trained the usual way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from saematch.compare import ManyReport, compare, compare_many


def cluster_latents(report: ManyReport) -> list:
    """Cluster id of every latent of every SAE (a list of int arrays, ids
    0..clusters-1, singletons included), joining each shared latent to its
    decoder partner under the report's rule and threshold."""
    sizes = [len(c) for c in report.share_counts]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    parent = np.arange(offsets[-1])

    def find(x):
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    for (i, j), p in report.pairs.items():
        for latent in np.flatnonzero(np.asarray(p.shared)):
            partner = int(p.dec_partner[latent])
            if partner < 0:
                continue
            ra, rb = find(offsets[i] + latent), find(offsets[j] + partner)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
        # b's shared latents reach a through b's own decoder partner (the same bijection)
        for latent in np.flatnonzero(np.asarray(p.b_side["shared"])):
            partner = int(p.b_side["dec_partner"][latent])
            if partner < 0:
                continue
            ra, rb = find(offsets[j] + latent), find(offsets[i] + partner)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([find(x) for x in range(offsets[-1])], dtype=np.int64)
    _, labels = np.unique(roots, return_inverse=True)
    return [labels[offsets[b]:offsets[b + 1]] for b in range(len(sizes))]


@dataclass
class Consensus:
    """``sae``: the consensus SAE (a :class:`saematch.SAE`). ``labels[b][i]``:
    the cluster of latent i of SAE b; ``sources[c]``: the (sae, latent)
    members behind the consensus latent c. ``table``: one row per model
    (``consensus``, ``single``), columns ``latents``, ``fvu``, ``l0`` and
    ``stability`` (mean shared fraction against the fresh seeds), when
    evaluated. ``fresh``: the fresh seeds, ``single``: the same-size SAE."""

    sae: object
    labels: list
    sources: list
    rule: str
    threshold: float
    table: dict = field(default_factory=dict)
    single: object = None
    fresh: list = field(default_factory=list, repr=False)
    refit_fvu: np.ndarray = field(default=None, repr=False)

    def summary(self) -> str:
        multi = sum(1 for s in self.sources if len(s) > 1)
        lines = [f"consensus of {len(self.labels)} SAEs ({self.rule}, t = {self.threshold:g}): "
                 f"{len(self.sources)} latents, {multi} from clusters of 2+, {len(self.sources) - multi} unique"]
        t = self.table
        for k in range(len(t.get("model", []))):
            lines.append(f"{t['model'][k]:>9}: {t['latents'][k]} latents, FVU {t['fvu'][k]:.3f}, L0 {t['l0'][k]:.1f}, "
                         f"stability vs {len(self.fresh)} fresh seeds {t['stability'][k]:.3f}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"Consensus\n{self.summary()}"


def _torch():
    import torch

    return torch


def _unit_rows(t):
    norms = t.norm(dim=1, keepdim=True)
    return t / norms.clamp_min(1e-30)


def _pooled_parameters(saes, labels, keep_unique: bool):
    torch = _torch()
    members: dict = {}
    for b, lab in enumerate(labels):
        for i, c in enumerate(lab.tolist()):
            members.setdefault(c, []).append((b, i))
    sources = [m for _, m in sorted(members.items()) if keep_unique or len(m) > 1]
    enc_rows, enc_bias, dec_rows = [], [], []
    for m in sources:
        enc = torch.stack([saes[b].parameters["encoder.weight"][i].double() for b, i in m])
        dec = torch.stack([saes[b].parameters["W_dec"][i].double() for b, i in m])
        bias = torch.stack([saes[b].parameters["encoder.bias"][i].double() for b, i in m])
        norm = enc.norm(dim=1).mean()
        enc_rows.append(_unit_rows(_unit_rows(enc).mean(0, keepdim=True))[0] * norm)
        dec_rows.append(_unit_rows(_unit_rows(dec).mean(0, keepdim=True))[0])
        enc_bias.append(bias.mean())
    b_dec = torch.stack([s.parameters["b_dec"].double() for s in saes]).mean(0)
    params = {"encoder.weight": torch.stack(enc_rows).float(), "encoder.bias": torch.stack(enc_bias).float(),
              "W_dec": torch.stack(dec_rows).float(), "b_dec": b_dec.float()}
    return params, sources


def _refit(params, k: int, data, steps: int, batch_size: int, lr: float, seed: int):
    """Adam on the encoder weight and both biases with the decoder fixed; the
    per-step FVU on the training batches."""
    torch = _torch()
    x_all = torch.as_tensor(np.asarray(data), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    enc = params["encoder.weight"].clone().requires_grad_(True)
    b_enc = params["encoder.bias"].clone().requires_grad_(True)
    b_dec = params["b_dec"].clone().requires_grad_(True)
    dec = params["W_dec"]
    opt = torch.optim.Adam([enc, b_enc, b_dec], lr=lr)
    fvus = []
    for _ in range(steps):
        x = x_all[torch.randint(0, x_all.shape[0], (min(batch_size, x_all.shape[0]),), generator=gen)]
        pre = torch.relu((x - b_dec) @ enc.T + b_enc)
        values, indices = pre.topk(k, dim=1)
        x_hat = torch.einsum("tk,tkd->td", values, dec[indices]) + b_dec
        variance = ((x - x.mean(0)) ** 2).sum()
        loss = ((x - x_hat) ** 2).sum() / variance
        opt.zero_grad()
        loss.backward()
        opt.step()
        fvus.append(float(loss.detach()))
    out = dict(params)
    out["encoder.weight"], out["encoder.bias"], out["b_dec"] = enc.detach(), b_enc.detach(), b_dec.detach()
    return out, np.asarray(fvus)


def fvu_and_l0(sae, data, batch_size: int = 4096) -> tuple[float, float]:
    """FVU (about the data's mean over all tokens) and mean active latents per token."""
    torch = _torch()
    x_all = torch.as_tensor(np.asarray(data), dtype=torch.float32)
    mean = x_all.double().mean(0)
    sse = var = active = 0.0
    for start in range(0, x_all.shape[0], batch_size):
        x = x_all[start:start + batch_size]
        dense = sae.encode_dense(x)
        x_hat = sae.decode(sae.encode(x))
        sse += float(((x.double() - x_hat.double()) ** 2).sum())
        var += float(((x.double() - mean) ** 2).sum())
        active += float((dense != 0).sum())
    return sse / var, active / x_all.shape[0]


def consensus(
    saes,
    data,
    threshold: float = 0.7,
    rule: str = "paper",
    *,
    report: ManyReport | None = None,
    keep_unique: bool = True,
    refit_steps: int = 200,
    refit_batch_size: int = 1024,
    refit_lr: float = 1e-3,
    fresh_seeds=(1000, 1001),
    train_options: dict | None = None,
    eval_data=None,
    seed: int = 0,
) -> Consensus:
    """A consensus SAE from N >= 2 TopK SAEs trained on ``data`` with
    different seeds (see the module docstring for the steps).

    ``report``: their :func:`saematch.compare_many` report, if already made
    (else matched here under ``rule`` at ``threshold``). ``keep_unique``:
    keep the latents found in one seed only (the pooled dictionary) or only
    the clusters. ``refit_*``: the re-fit's Adam steps, batch and learning
    rate (``refit_steps=0`` skips it). ``fresh_seeds``: seeds of fresh SAEs of
    the consensus's size, trained with :func:`saematch.train` on ``data``
    (``train_options``: its keyword arguments, e.g. ``batch_size``), against
    which the consensus and a single same-size SAE (seed ``fresh_seeds[0] -
    1``) are compared; ``()`` skips the evaluation. ``eval_data``: where FVU
    and L0 are measured (default ``data``).
    """
    from saematch.training import SAE, SAEConfig, train

    saes = list(saes)
    if len(saes) < 2:
        raise ValueError(f"consensus needs at least 2 SAEs, got {len(saes)}")
    configs = {(s.config.architecture, s.config.d_in, s.config.k) for s in saes}
    if len(configs) != 1:
        raise ValueError(f"the SAEs differ in architecture, d_in or k: {sorted(configs)}; pool SAEs of one kind")
    arch, d_in, k = configs.pop()
    if arch != "topk":
        raise ValueError(f"consensus re-fits TopK SAEs; these are {arch!r} (its encoder would need that "
                         "architecture's own re-fit)")
    if report is None:
        report = compare_many(saes, threshold=threshold, rule=rule, progress=False)
    elif threshold != report.threshold or rule != report.rule:
        report = report.with_rule(rule, threshold)
    if len(report.share_counts) != len(saes):
        raise ValueError(f"the report compares {len(report.share_counts)} SAEs but {len(saes)} were given")
    labels = cluster_latents(report)
    params, sources = _pooled_parameters(saes, labels, keep_unique)
    m = len(sources)
    if m < k:
        raise ValueError(f"the consensus has {m} latents, fewer than k = {k}: keep_unique=True, or a lower threshold")
    refit_fvu = None
    if refit_steps:
        params, refit_fvu = _refit(params, k, data, refit_steps, refit_batch_size, refit_lr, seed)
    config = SAEConfig(d_in=d_in, num_latents=m, k=k, architecture="topk", auxk_alpha=saes[0].config.auxk_alpha,
                       multi_topk=saes[0].config.multi_topk)
    pooled = SAE(config, params, seed=None)
    out = Consensus(sae=pooled, labels=labels, sources=sources, rule=report.rule, threshold=report.threshold,
                    refit_fvu=refit_fvu)
    fresh_seeds = list(fresh_seeds)
    if not fresh_seeds:
        return out
    options = dict(progress=False) | dict(train_options or {})
    trained = train(config, data, seeds=[fresh_seeds[0] - 1, *fresh_seeds], **options)
    out.single, out.fresh = trained[0], trained[1:]
    evaluate = data if eval_data is None else eval_data
    table = {"model": [], "latents": [], "fvu": [], "l0": [], "stability": []}
    for name, model in (("consensus", pooled), ("single", out.single)):
        fvu, l0 = fvu_and_l0(model, evaluate)
        shared = [compare(model, f, threshold=report.threshold, rule=report.rule, progress=False).shared_fraction
                  for f in out.fresh]
        for key, value in zip(table, (name, m, fvu, l0, float(np.mean(shared)))):
            table[key].append(value)
    out.table = {key: np.asarray(v) for key, v in table.items()}
    return out


__all__ = ["consensus", "Consensus", "cluster_latents", "fvu_and_l0"]
