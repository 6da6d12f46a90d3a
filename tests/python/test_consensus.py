"""sm.consensus: its clusters against a brute-force search over the
matchings' graph, the pooled directions on planted duplicates, and a small
end-to-end run whose reported FVU is recomputed independently."""

import numpy as np
import pytest

import saematch as sm
from saematch.consensus import cluster_latents


def _arrays(n_saes=4, latents=20, d=16, seed=0):
    rng = np.random.default_rng(seed)
    pool = rng.standard_normal((latents, d))
    out = []
    for s in range(n_saes):
        noise = rng.uniform(0.05, 1.2, (latents, 1)) * rng.standard_normal((latents, d))
        dec = pool + noise
        dec[0] = pool[0]  # latent 0 is the same in every seed
        order = rng.permutation(latents)  # seeds list their latents in different orders
        dec = dec[order]
        out.append((dec.astype(np.float32), (dec + 0.05 * rng.standard_normal((latents, d))).astype(np.float32)))
    return out


def _components(report):
    """Connected components of the graph whose edges join each shared latent to its decoder partner, by BFS."""
    nodes = [(b, i) for b, c in enumerate(report.share_counts) for i in range(len(c))]
    edges = {v: set() for v in nodes}
    for (i, j), p in report.pairs.items():
        for side, mine, other in ((p, i, j), (None, j, i)):
            shared = p.shared if side is not None else p.b_side["shared"]
            partner = p.dec_partner if side is not None else p.b_side["dec_partner"]
            for latent in range(len(shared)):
                if shared[latent] and partner[latent] >= 0:
                    edges[(mine, latent)].add((other, int(partner[latent])))
                    edges[(other, int(partner[latent]))].add((mine, latent))
    seen, parts = set(), []
    for v in nodes:
        if v in seen:
            continue
        todo, part = [v], set()
        while todo:
            u = todo.pop()
            if u in part:
                continue
            part.add(u)
            todo.extend(edges[u] - part)
        seen |= part
        parts.append(frozenset(part))
    return set(parts)


@pytest.mark.parametrize("rule,threshold", [("paper", 0.7), ("decoder", 0.5), ("separate", 0.6)])
def test_clusters_equal_connected_components_of_the_matchings(rule, threshold):
    many = sm.compare_many(_arrays(), threshold=threshold, rule=rule, progress=False)
    labels = cluster_latents(many)
    got = {}
    for b, lab in enumerate(labels):
        for i, c in enumerate(lab):
            got.setdefault(int(c), set()).add((b, i))
    assert {frozenset(v) for v in got.values()} == _components(many)
    assert sorted(got) == list(range(len(got)))  # ids 0..clusters-1
    sizes = sorted(len(v) for v in got.values())
    assert sizes[-1] >= 4 and sizes[0] == 1  # a varied case: a cluster across all seeds, and singletons


def test_a_latent_common_to_all_seeds_is_one_cluster():
    saes = _arrays()
    many = sm.compare_many(saes, threshold=0.99, rule="decoder", progress=False)
    labels = cluster_latents(many)
    # latent "0" of the pool sits at a different index in each seed; find it by its exact direction
    first = saes[0][0]
    target = None
    for row in first:
        if all(np.any(np.all(s[0] == row, axis=1)) for s in saes):
            target = row
    assert target is not None
    ids = {int(lab[np.flatnonzero(np.all(s[0] == target, axis=1))[0]]) for s, lab in zip(saes, labels)}
    assert len(ids) == 1


torch = pytest.importorskip("torch")


def _trained(seeds=(0, 1, 2)):
    data = sm.synthetic.superposition(num_features=40, d=12, tokens=6000, seed=0, mean_active=3).activations
    cfg = sm.SAEConfig(d_in=12, num_latents=24, k=3)
    return sm.train(cfg, data, seeds=list(seeds), batch_size=256, progress=False), data


def test_pooled_directions_and_end_to_end_figures():
    saes, data = _trained()
    c = sm.consensus(saes, data, threshold=0.6, refit_steps=60, refit_batch_size=512,
                     train_options=dict(batch_size=256))
    labels = cluster_latents(sm.compare_many(saes, threshold=0.6, progress=False))
    assert [list(x) for x in c.labels] == [list(x) for x in labels]
    m = c.sae.config.num_latents
    assert m == len(c.sources) == int(max(x.max() for x in labels)) + 1  # every cluster once (keep_unique)
    dec = c.sae.decoder.numpy()
    np.testing.assert_allclose(np.linalg.norm(dec, axis=1), 1, rtol=1e-5)
    # a consensus latent is the renormalised mean of its members' unit decoder vectors
    for latent, members in enumerate(c.sources):
        rows = np.stack([saes[b].decoder[i].numpy() for b, i in members]).astype(np.float64)
        mean = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).mean(0)
        np.testing.assert_allclose(dec[latent], mean / np.linalg.norm(mean), atol=1e-6)
    assert c.refit_fvu[-5:].mean() < c.refit_fvu[:5].mean()  # the re-fit learns
    t = c.table
    assert list(t["model"]) == ["consensus", "single"] and list(t["latents"]) == [m, m]
    assert c.single.config.num_latents == m and len(c.fresh) == 2
    from saematch._ablation import fvu_rise

    for k, model in enumerate((c.sae, c.single)):
        independent = fvu_rise(model, data, {})
        assert t["fvu"][k] == pytest.approx(independent["fvu"], rel=1e-6)
        assert t["l0"][k] == pytest.approx(independent["firing"].sum(), rel=1e-9)
        assert 0 <= t["stability"][k] <= 1
    assert "consensus of 3 SAEs" in c.summary()


def test_clusters_only_and_no_evaluation():
    saes, data = _trained()
    c = sm.consensus(saes, data, threshold=0.6, keep_unique=False, refit_steps=0, fresh_seeds=())
    assert all(len(m) > 1 for m in c.sources) and c.table == {} and c.single is None


def test_errors():
    saes, data = _trained(seeds=(0,))
    with pytest.raises(ValueError, match="at least 2"):
        sm.consensus(saes, data)
    relu = sm.train(sm.SAEConfig(d_in=12, num_latents=8, architecture="relu"), data[:512], seeds=[0, 1],
                    batch_size=256, progress=False)
    with pytest.raises(ValueError, match="TopK"):
        sm.consensus(relu, data)
