"""Data with a known dictionary, for training tests that score recovery."""

import torch


def superposition(features=40, d=20, active=3, count=20000, seed=0):
    """(dictionary, data): `count` rows, each a positive mix of `active` of the
    `features` unit directions in `dictionary`."""
    g = torch.Generator().manual_seed(seed)
    dictionary = torch.randn(features, d, generator=g)
    dictionary /= dictionary.norm(dim=1, keepdim=True)
    which = torch.rand(count, features, generator=g).argsort(dim=1)[:, :active]
    weight = torch.rand(count, active, generator=g) + 0.5
    codes = torch.zeros(count, features).scatter_(1, which, weight)
    return dictionary, codes @ dictionary


def recovered(dictionary, sae, threshold=0.9):
    """The fraction of dictionary directions some decoder vector of `sae` matches above `threshold`
    (an SAE trained on a GPU is scored on the dictionary's device)."""
    dec = sae.decoder.to(dictionary.device)
    dec = dec / dec.norm(dim=1, keepdim=True)
    return float(((dictionary @ dec.T).max(dim=1).values > threshold).float().mean())
