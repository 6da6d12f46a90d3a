"""The archetypal architecture from Python: trained with sm.train like the
others (arrays, shards, iterables), its constraints after training, the two
initialisations' points, save/load and resume, compared as any SAE."""

import numpy as np
import pytest

import saematch as sm

torch = pytest.importorskip("torch", reason="training needs torch")

from planted_features import recovered, superposition  # noqa: E402

CFG = dict(d_in=20, num_latents=48, k=3, architecture="archetypal", archetypal_points=64, archetypal_delta=0.5)
RUN = dict(batch_size=256, lr=4e-3, lr_warmup_steps=10, progress=False)


def _parts(sae):
    p = sae.parameters
    return p["archetypal.weights"], p["archetypal.relaxation"], p["archetypal.points"]


def test_trains_keeps_its_constraints_and_compares_like_any_sae():
    dictionary, acts = superposition(count=6000, seed=3)
    saes = sm.train(sm.SAEConfig(**CFG), acts, seeds=[0, 1], tokens=3 * len(acts), **RUN)
    for s in saes:
        W, L, C = _parts(s)
        assert W.shape == (48, 64) and L.shape == (48, 20) and C.shape == (64, 20)
        assert float(W.min()) >= 0.0
        torch.testing.assert_close(W.sum(1), torch.ones(48), rtol=0, atol=1e-5)
        assert float(L.norm(dim=1).max()) <= 0.5 * (1 + 1e-5)
        torch.testing.assert_close(s.decoder, W @ C + L, rtol=0, atol=1e-5)
        x = acts[:2000]
        fvu = float(((s.forward(x) - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
        assert fvu < 0.5 < s.history["fvu"][0], fvu
        values, indices = s.encode(x)
        assert values.shape == indices.shape == (2000, 3)
        assert recovered(dictionary, s, threshold=0.8) > 0.3  # atoms near the hull of the data still find directions
    report = sm.compare(saes[0], saes[1], progress=False)
    assert report.enc_cos.shape == (48,) and 0.0 <= report.shared_fraction <= 1.0


@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_kmeans_points_are_every_seeds_random_ones_are_not(init):
    _, acts = superposition(count=1000, seed=4)
    saes = sm.train(sm.SAEConfig(**CFG, archetypal_init=init), acts, seeds=[0, 1, 2], **RUN)
    points = [_parts(s)[2] for s in saes]
    same = [torch.equal(points[0], p) for p in points[1:]]
    assert same == ([True, True] if init == "kmeans" else [False, False])
    first = acts[:256] - acts[:256].mean(0)
    # The points lie in (random: are rows of) the first batch, centred by its mean.
    # (the largest coordinate difference to the nearest token: exact, where cdist rounds)
    nearest = (points[1][:, None, :] - first[None, :, :]).abs().amax(2).min(1).values
    if init == "random":
        assert float(nearest.max()) == 0.0
    else:
        assert float(nearest.max()) > 1e-3  # centroids, not single tokens


def test_shards_and_an_iterable_give_the_array_result(tmp_path):
    _, acts = superposition(count=1024, seed=5)
    cfg = sm.SAEConfig(**CFG, archetypal_init="random")
    kw = dict(seeds=[7], batch_size=256, lr=4e-3, lr_warmup_steps=1, progress=False)
    plain = sm.train(cfg, acts, **kw)[0]
    np.save(tmp_path / "a.npy", acts[:512].numpy())
    np.save(tmp_path / "b.npy", acts[512:].numpy())
    sharded = sm.train(cfg, tmp_path, **kw)[0]
    batches = sm.train(cfg, iter([acts[i : i + 256] for i in range(0, 1024, 256)]), **kw)[0]
    for name, value in plain.parameters.items():
        assert torch.equal(sharded.parameters[name], value), name
        assert torch.equal(batches.parameters[name], value), name


def test_save_load_and_resume(tmp_path):
    _, acts = superposition(count=2000, seed=6)
    cfg = sm.SAEConfig(**CFG)
    kw = dict(seeds=[1, 2], batch_size=128, lr=4e-3, lr_warmup_steps=1, progress=False)
    straight = sm.train(cfg, acts, tokens=3000, **kw)
    sm.train(cfg, acts, tokens=1280, save_dir=tmp_path / "run", **kw)
    resumed = sm.train(cfg, acts, tokens=3000, save_dir=tmp_path / "run", resume=True, **kw)
    for a, b in zip(straight, resumed):
        for name, value in a.parameters.items():
            assert torch.equal(b.parameters[name], value), name
    straight[0].save(tmp_path / "one")
    back = sm.load(tmp_path / "one")
    assert back.config == cfg
    for name, value in straight[0].parameters.items():
        assert torch.equal(back.parameters[name], value), name
    torch.testing.assert_close(back.forward(acts[:20]), straight[0].forward(acts[:20]))
    with pytest.raises(ValueError, match="sparsify's layout only"):
        straight[0].save(tmp_path / "two", format="saelens")


def test_a_first_batch_shorter_than_the_points_is_refused():
    _, acts = superposition(count=500, seed=7)
    with pytest.raises(ValueError, match=r"archetypal_points = 64 .* only 50 tokens: raise batch_size"):
        sm.train(sm.SAEConfig(**CFG), acts, batch_size=50, progress=False)


def test_data_parallel_is_refused_by_name():
    """Its points come from the first batch, which a data-parallel process
    holds only a share of: the trainer refuses the exchange rather than
    start each process from different points."""
    from saematch import training

    class OneRank:  # what saematch.distributed.TorchRanks offers the trainer
        rank, world = 0, 1

        def sum(self, tensors):
            pass

        def gather(self, t):
            return t[None]

    cfg = sm.SAEConfig(d_in=8, num_latents=16, k=2, architecture="archetypal", archetypal_points=4)
    trainer = training._make_trainer(cfg, [0], 8, 1e-3, 1, 100, "cpu", "adam", False, 0)
    with pytest.raises(ValueError, match="archetypal architecture cannot train data-parallel.*--distribute-seeds"):
        trainer.set_ranks(OneRank())
