"""sm.train(..., track_every=N): the stabilization curve against compare_many
on the weights saved at each tracked step, resume against an uninterrupted
run, and every architecture."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import saematch as sm  # noqa: E402
from saematch import tracking  # noqa: E402
from saematch.compare import RULES  # noqa: E402

D, BATCH, EVERY = 12, 128, 4


def _data():
    return sm.synthetic.superposition(num_features=40, d=D, tokens=4096, seed=0, mean_active=3).activations


def _train(steps, save_dir=None, resume=False, architecture="topk", seeds=(0, 1, 2), track_every=EVERY, **kw):
    cfg = sm.SAEConfig(d_in=D, num_latents=24, k=3, architecture=architecture, sparsity_coefficient=0.05,
                       archetypal_points=16)  # archetypal: its points come from the first batch
    # lr_warmup_steps=0: the warm-up is capped by the run's planned length, and the runs here differ in length
    return sm.train(cfg, _data(), seeds=list(seeds), tokens=steps * BATCH, batch_size=BATCH, progress=False,
                    lr_warmup_steps=0, save_dir=save_dir, resume=resume, track_every=track_every, **kw)


def _expected(saes, previous):
    """Per seed, the curve's fields from compare_many on these weights, by explicit loops."""
    many = sm.compare_many([(s.encoder, s.decoder) for s in saes], threshold=tracking.THRESHOLD, progress=False)
    n = len(saes)
    out = []
    partners = {}
    for s in range(n):
        row = {f"shared_{r}": [] for r in RULES} | {"mean_cos_enc": [], "mean_cos_dec": [], "churn_enc": [],
                                                     "churn_dec": []}
        for o in range(n):
            if o == s:
                continue
            p = many.pairs[(min(s, o), max(s, o))]
            if s < o:
                side = {"enc_partner": p.enc_partner, "dec_partner": p.dec_partner, "enc_cos": p.enc_cos,
                        "dec_cos": p.dec_cos}
                masks = {r: p.shared_mask(r) for r in RULES}
            else:  # s is the pair's b side
                side = p.b_side
                masks = {r: p.with_rule(r).b_side["shared"] for r in RULES}
            for r in RULES:
                row[f"shared_{r}"].append(masks[r].mean())
            row["mean_cos_enc"].append(side["enc_cos"].mean(dtype=np.float64))
            row["mean_cos_dec"].append(side["dec_cos"].mean(dtype=np.float64))
            partners[(s, o)] = (side["enc_partner"].copy(), side["dec_partner"].copy())
            if previous is None:
                row["churn_enc"].append(np.nan)
                row["churn_dec"].append(np.nan)
            else:
                row["churn_enc"].append(np.mean(previous[(s, o)][0] != side["enc_partner"]))
                row["churn_dec"].append(np.mean(previous[(s, o)][1] != side["dec_partner"]))
        out.append({k: float(np.mean(v)) for k, v in row.items()})
    return out, partners


def test_the_curve_equals_compare_many_on_the_weights_saved_at_each_tracked_step(tmp_path):
    full = _train(3 * EVERY)
    previous = None
    for k in range(4):  # steps 0, N, 2N, 3N: each run resumes the last and stops at the next check
        if k == 0:
            cfg = full[0].config
            saved = [sm.SAE(cfg, dict(p)) for p in _initial(cfg)]
        else:
            _train(k * EVERY, save_dir=tmp_path, resume=k > 1)
            saved = sm.load(tmp_path)
        want, previous = _expected(saved, previous)
        for s, sae in enumerate(full):
            curve = sae.history["stabilization"]
            assert curve["step"][k] == k * EVERY and curve["tokens"][k] == k * EVERY * BATCH
            for field, value in want[s].items():
                np.testing.assert_allclose(curve[field][k], value, rtol=1e-12, err_msg=f"{field} at check {k}")
    curve = full[0].history["stabilization"]
    assert np.isnan(curve["churn_dec"][0]) and np.all(np.isfinite(curve["churn_dec"][1:]))
    assert curve["shared_decoder"][-1] >= curve["shared_paper"][-1]
    assert np.nanmax(curve["churn_dec"]) > 0  # partners do change early in training: the check can see it


def _initial(cfg, seeds=(0, 1, 2)):
    """The seeds' weights at step 0: a run with a 1-token budget never steps, so take them from a
    tracked run's first check instead -- here, from the trainer directly."""
    from saematch import _train

    trainer = _train.Trainer(config=cfg._as_dict(), seeds=list(seeds), batch_size=BATCH, lr=0.0, lr_warmup_steps=0,
                             dead_after_tokens=10_000_000, device="cpu", optimizer="adam", bf16_encoder=False,
                             planned_steps=0)
    names = _train.parameter_names(cfg.architecture)
    return [dict(zip(names, trainer.parameters(i))) for i in range(len(seeds))]


def test_resume_continues_the_same_curve(tmp_path):
    full = _train(3 * EVERY + 2)
    _train(EVERY + 1, save_dir=tmp_path, save_every=3)  # checkpoints at steps 3 and 5, between checks
    resumed = _train(3 * EVERY + 2, save_dir=tmp_path, resume=True)
    for a, b in zip(full, resumed):
        for field in tracking.FIELDS:
            np.testing.assert_array_equal(a.history["stabilization"][field], b.history["stabilization"][field])
    assert list(full[0].history["stabilization"]["step"]) == [0, 4, 8, 12]


def test_resume_with_another_interval_is_refused(tmp_path):
    _train(EVERY, save_dir=tmp_path)
    with pytest.raises(ValueError, match="track_every=4"):
        _train(2 * EVERY, save_dir=tmp_path, resume=True, track_every=2)


@pytest.mark.parametrize("architecture", sm.training.ARCHITECTURES)
def test_every_architecture_is_tracked(architecture):
    saes = _train(2 * EVERY, architecture=architecture, seeds=(0, 1))
    curve = saes[1].history["stabilization"]
    assert list(curve["step"]) == [0, EVERY, 2 * EVERY]
    for field in tracking.FIELDS[2:]:
        values = curve[field][1:]
        assert np.all((values >= 0) & (values <= 1)), field
    # two seeds: each one's figures are the same pair's, seen from either side
    np.testing.assert_allclose(curve["shared_paper"], saes[0].history["stabilization"]["shared_paper"])


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        _train(EVERY, seeds=(0,))
    with pytest.raises(ValueError, match="track_every"):
        _train(EVERY, track_every=0)
    saes = _train(EVERY, track_every=None, seeds=(0, 1))
    assert "stabilization" not in saes[0].history


def test_figure(tmp_path):
    pytest.importorskip("matplotlib")
    saes = _train(2 * EVERY)
    fig = sm.plot.stabilization(saes, path=tmp_path / "s.png", x="tokens")
    assert len(fig.axes) == 3 and (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    line = fig.axes[0].get_lines()[0]  # the paper rule: the mean over seeds at each check
    np.testing.assert_allclose(line.get_ydata(), np.mean([s.history["stabilization"]["shared_paper"] for s in saes], 0))
    sm.plot.stabilization(saes[0].history["stabilization"])
    with pytest.raises(ValueError, match="track_every"):
        sm.plot.stabilization(_train(EVERY, track_every=None, seeds=(0, 1)))
