"""sm.train with arguments from the wild (issue 11): lengths and seeds that
are not what they seem, data that requires grad, constant and huge batches,
resuming with other options, and a warm-up longer than the run."""

import numpy as np
import pytest

import saematch as sm

torch = pytest.importorskip("torch", reason="training needs torch")

from planted_features import recovered, superposition  # noqa: E402

CFG = sm.SAEConfig(d_in=12, num_latents=24, k=3)


def data(count=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(count, 12, generator=g)


@pytest.mark.parametrize("kw, match", [
    (dict(tokens=0), r"tokens must be a positive integer"),
    (dict(tokens=-100), r"tokens must be a positive integer.*-100"),
    (dict(tokens=1e4), r"tokens must be a positive integer.*10000.0"),
    (dict(seeds=[0, -1]), r"each seed must be an integer >= 0.*-1"),
    (dict(seeds=[0.5]), r"each seed must be an integer >= 0.*0.5"),
    (dict(batch_size=16.5), r"batch_size must be an integer >= 2, got 16.5"),
    (dict(batch_size=True), r"batch_size must be an integer >= 2, got True"),
    (dict(lr_warmup_steps=-1), r"lr_warmup_steps must be an integer >= 0"),
    (dict(lr="1e-3"), r"lr must be a positive number"),
    (dict(device="cuda:7" if not torch.cuda.is_available() else "gpu"), r"device="),
])
def test_bad_arguments_name_themselves_not_a_pybind_signature(kw, match):
    with pytest.raises(ValueError, match=match) as e:
        sm.train(CFG, data(), progress=False, **kw)
    assert "incompatible constructor arguments" not in str(e.value)


def test_an_empty_iterable_is_an_error_not_the_initial_weights():
    with pytest.raises(ValueError, match=r"no batch to train on \(an empty iterable\?\)"):
        sm.train(CFG, iter([]), progress=False)


def test_data_that_requires_grad_trains_as_the_same_data_without():
    x = data()
    plain = sm.train(CFG, x, batch_size=100, progress=False)[0]
    leaf = x.clone().requires_grad_(True)
    from_leaf = sm.train(CFG, leaf, batch_size=100, progress=False)[0]
    batches = [leaf[i : i + 100] * 1.0 for i in range(0, 600, 100)]  # non-leaf tensors with a grad_fn
    from_iterable = sm.train(CFG, iter(batches), progress=False)[0]
    plain_iterable = sm.train(CFG, iter([x[i : i + 100] for i in range(0, 600, 100)]), progress=False)[0]
    for name in plain.parameters:
        assert torch.equal(plain.parameters[name], from_leaf.parameters[name]), name
        assert torch.equal(plain_iterable.parameters[name], from_iterable.parameters[name]), name


@pytest.mark.parametrize("architecture", ["topk", "relu", "gated", "jumprelu", "batchtopk"])
def test_a_constant_batch_is_skipped_with_a_warning_and_changes_nothing(architecture):
    cfg = sm.SAEConfig(d_in=12, num_latents=24, k=3, architecture=architecture)
    x = data()
    batches = [x[i : i + 100] for i in range(0, 600, 100)]
    constant = torch.full((100, 12), 0.25)
    with pytest.warns(RuntimeWarning, match=r"1 constant batch\(es\) \(batch 2\) skipped.*no variance to explain"):
        mixed = sm.train(cfg, iter(batches[:2] + [constant] + batches[2:]), progress=False)[0]
    clean = sm.train(cfg, iter(batches), progress=False)[0]
    fvu = mixed.history["fvu"]
    assert len(fvu) == 7 and np.isnan(fvu[2]) and np.isfinite(np.delete(fvu, 2)).all()
    np.testing.assert_array_equal(np.delete(fvu, 2), clean.history["fvu"])
    for name in clean.parameters:  # the skipped batch left no trace: not b_dec's start, not the warm-up
        assert torch.equal(mixed.parameters[name], clean.parameters[name]), name
    with pytest.warns(RuntimeWarning, match="constant batch"):  # even as the very first batch
        first = sm.train(cfg, iter([constant] + batches), progress=False)[0]
    assert torch.equal(first.decoder, clean.decoder)


def test_values_whose_squares_overflow_float32_get_a_message_naming_the_data():
    x = data()
    x[150, 3] = 1e30
    for architecture in ("topk", "relu"):
        cfg = sm.SAEConfig(d_in=12, num_latents=24, k=3, architecture=architecture)
        with pytest.raises(ValueError, match=r"rows 100\.\.199 of the data: .*too large for float32.*1e\+30|"
                                             r"rows 100\.\.199 of the data: .*too large for float32"):
            sm.train(cfg, x, batch_size=100, progress=False)


def test_a_constant_batch_resumes_bitwise(tmp_path):
    x = data()
    batches = [x[i : i + 100] for i in range(0, 600, 100)]
    batches.insert(3, torch.zeros(100, 12))
    kw = dict(progress=False, lr_warmup_steps=3)
    with pytest.warns(RuntimeWarning):
        whole = sm.train(CFG, iter(batches), **kw)[0]
    sm.train(CFG, iter(batches[:2]), save_dir=tmp_path / "run", **kw)
    with pytest.warns(RuntimeWarning):
        sm.train(CFG, iter(batches[:5]), save_dir=tmp_path / "run", resume=True, **kw)
    resumed = sm.train(CFG, iter(batches), save_dir=tmp_path / "run", resume=True, **kw)[0]
    assert torch.equal(whole.encoder, resumed.encoder)
    np.testing.assert_array_equal(whole.history["fvu"], resumed.history["fvu"])


@pytest.mark.parametrize("field, change", [
    ("lr", dict(lr=2e-3)),
    ("optimizer", dict(optimizer="signum")),
    ("batch_size", dict(batch_size=50)),
    ("lr_warmup_steps", dict(lr_warmup_steps=7)),
])
def test_resuming_with_other_options_is_refused_naming_the_field(tmp_path, field, change):
    kw = dict(batch_size=100, lr=1e-3, lr_warmup_steps=5, progress=False)
    sm.train(CFG, data(), tokens=300, save_dir=tmp_path / "run", **kw)
    with pytest.raises(ValueError, match=rf"saved with {field} = .*this one asks for .*resume with the saved {field}"):
        sm.train(CFG, data(), tokens=600, save_dir=tmp_path / "run", resume=True, **{**kw, **change})
    again = sm.train(CFG, data(), tokens=600, save_dir=tmp_path / "run", resume=True, **kw)  # same options: fine
    assert len(again[0].history["fvu"]) == 6


def test_the_warm_up_is_capped_at_a_tenth_of_a_run_of_known_length():
    _, acts = superposition(count=2000, seed=3)
    cfg = sm.SAEConfig(d_in=20, num_latents=80, k=3)
    kw = dict(seeds=[0], batch_size=100, lr=4e-3, progress=False)
    default = sm.train(cfg, acts, tokens=6000, **kw)[0]  # 60 steps: the default 1000-step warm-up capped at 6
    explicit = sm.train(cfg, acts, tokens=6000, lr_warmup_steps=6, **kw)[0]
    assert torch.equal(default.decoder, explicit.decoder)
    # Shorter warm-ups than the cap are kept as asked.
    short = sm.train(cfg, acts, tokens=6000, lr_warmup_steps=2, **kw)[0]
    assert not torch.equal(short.decoder, explicit.decoder)


def test_the_capped_warm_up_lets_a_short_run_learn_the_planted_features():
    # 60K tokens at batch 256: 235 steps, a quarter of the default warm-up.
    dictionary, acts = superposition(count=20000, seed=0)
    cfg = sm.SAEConfig(d_in=20, num_latents=80, k=3)
    kw = dict(seeds=[0], batch_size=256, lr=4e-3, progress=False)
    capped = sm.train(cfg, acts, tokens=60000, **kw)[0]
    # The same batches as an iterable, whose length the trainer cannot know: the full 1000-step warm-up.
    batches = [acts[i : i + 256] for i in range(0, 20000, 256)] * 3
    uncapped = sm.train(cfg, iter(batches), **kw)[0]
    assert recovered(dictionary, capped) >= 0.9  # 0.975 when written
    assert recovered(dictionary, uncapped) < 0.5  # 0.0 when written: the rate never got past a quarter


def test_an_iterable_of_unknown_length_keeps_the_asked_warm_up():
    x = data()
    batches = [x[i : i + 100] for i in range(0, 600, 100)]
    a = sm.train(CFG, iter(batches), lr_warmup_steps=1000, progress=False)[0]
    b = sm.train(CFG, iter(batches), lr_warmup_steps=1, progress=False)[0]
    assert not torch.equal(a.decoder, b.decoder)


def test_sae_repr_is_one_line_and_equality_is_identity():
    saes = sm.train(CFG, data(), seeds=[3, 4], batch_size=100, progress=False)
    text = repr(saes[0])
    assert "\n" not in text and len(text) < 200
    assert text.startswith("SAE(topk, d_in=12, num_latents=24, k=3, seed=3, 6 steps")
    assert saes[0] in saes and saes[1] in saes
    assert saes.index(saes[1]) == 1
    assert saes[0] != saes[1] and saes[0] == saes[0]
    assert len({saes[0], saes[1]}) == 2


def test_the_progress_bar_shows_one_throughput(capsys):
    pytest.importorskip("tqdm")
    sm.train(CFG, data(), batch_size=100, progress=True)
    err = capsys.readouterr().err
    assert "tok/s" in err
    assert "tok_s=" not in err
