"""How much of the reconstruction each latent, or a group of latents, carries:
the rise in FVU when its activations are set to zero on given data (the
other latents' activations kept as they were: a TopK SAE does not pick a
replacement).

Every architecture decodes linearly, x_hat = codes @ W_dec + b_dec, so with
the error e = x - x_hat, removing latent i adds c_i w_i to every token's error:

    SSE_-i = SSE + 2 sum_t c_ti (e_t . w_i) + |w_i|^2 sum_t c_ti^2,

one (latents x d) product per batch for all latents at once. A group's rise
is not the sum of its members' (their decoder vectors interact), so groups
are ablated as such. FVU here divides by the data's total variance about its
mean over all tokens (training's FVU uses each batch's own mean).
"""

from __future__ import annotations

import numpy as np


def _torch():
    import torch

    return torch


def _check_model(sae, name: str):
    if not (hasattr(sae, "encode_dense") and hasattr(sae, "decode") and hasattr(sae, "decoder")):
        raise ValueError(f"{name} ({type(sae).__name__}) cannot encode data: ablation on data needs saematch SAEs "
                         "(sm.train or sm.load); pass saes=[...] with the models, or drop data=")


def fvu_rise(sae, data, groups: dict, batch_size: int = 1024, name: str = "sae") -> dict:
    """``{"fvu", "rise" (per latent), "firing" (fraction of tokens each latent
    is non-zero on), "groups": {name: rise}}`` for one SAE on ``data``
    (tokens, d). ``groups``: name -> bool mask over the latents."""
    _check_model(sae, name)
    torch = _torch()
    x_all = torch.as_tensor(np.asarray(data) if not hasattr(data, "detach") else data.detach())
    if x_all.dim() != 2 or x_all.shape[1] != sae.decoder.shape[1]:
        raise ValueError(f"data must be (tokens, {sae.decoder.shape[1]}), got shape {tuple(x_all.shape)}")
    tokens = int(x_all.shape[0])
    if tokens < 2:
        raise ValueError(f"data needs at least 2 tokens to have a variance, got {tokens}")
    w = sae.decoder.detach().to("cpu", torch.float64)
    n = w.shape[0]
    masks = {}
    for g, mask in groups.items():
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (n,):
            raise ValueError(f"group {g!r} of {name} must be a mask over its {n} latents, got shape {mask.shape}")
        masks[g] = torch.from_numpy(np.flatnonzero(mask))
    shift = x_all[: min(tokens, batch_size)].to(torch.float64).mean(0)  # keeps the variance sum free of cancellation
    sum_x = torch.zeros_like(shift)
    sum_sq = 0.0
    sse = 0.0
    cross = torch.zeros(n, dtype=torch.float64)  # sum_t c_ti (e_t . w_i)
    code_sq = torch.zeros(n, dtype=torch.float64)
    fired = torch.zeros(n, dtype=torch.float64)
    group_sse = {g: 0.0 for g in masks}
    with torch.no_grad():
        for start in range(0, tokens, batch_size):
            x = x_all[start:start + batch_size]
            xf = x.to(device=sae.decoder.device, dtype=torch.float32)
            codes_raw = sae.encode(xf)
            x_hat = sae.decode(codes_raw).to("cpu", torch.float64)
            if isinstance(codes_raw, tuple):  # (values, indices); BatchTopK's zero padding may repeat an index
                values, indices = codes_raw
                c = torch.zeros(x.shape[0], n, dtype=torch.float64).scatter_add_(
                    1, indices.to("cpu").long(), values.to("cpu", torch.float64))
            else:
                c = codes_raw.to("cpu", torch.float64)
            x64 = x.to(torch.float64)
            e = x64 - x_hat
            centred = x64 - shift
            sum_x += centred.sum(0)
            sum_sq += float((centred * centred).sum())
            sse += float((e * e).sum())
            cross += ((c.T @ e) * w).sum(1)
            code_sq += (c * c).sum(0)
            fired += (c != 0).sum(0)
            for g, idx in masks.items():
                r = e + c[:, idx] @ w[idx]
                group_sse[g] += float((r * r).sum())
    variance = sum_sq - float(sum_x @ sum_x) / tokens
    if not variance > 0:
        raise ValueError("data has no variance (all tokens equal): there is no FVU to ablate; pass varied data")
    rise = (2 * cross + (w * w).sum(1) * code_sq) / variance
    return {
        "fvu": sse / variance,
        "rise": rise.numpy(),
        "firing": (fired / tokens).numpy(),
        "groups": {g: (group_sse[g] - sse) / variance for g in masks},
        "tokens": tokens,
    }
