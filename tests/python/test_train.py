"""saematch.train and its SAE objects: recovery of a known dictionary,
bitwise reproducibility, the same result from a tensor and from an iterable of
its batches, encode/decode against a plain-torch reference, and errors that
name what is wrong."""

import subprocess
import sys

import numpy as np
import pytest

import saematch as sm

torch = pytest.importorskip("torch", reason="training needs torch")

from planted_features import recovered, superposition  # noqa: E402


def test_two_seeds_recover_the_dictionary_and_compare_as_saes():
    dictionary, acts = superposition()
    cfg = sm.SAEConfig(d_in=20, num_latents=80, k=3)
    saes = sm.train(cfg, acts, seeds=[0, 1], tokens=3 * len(acts), batch_size=256, lr=4e-3,
                    lr_warmup_steps=20, progress=False)
    assert [s.seed for s in saes] == [0, 1]
    for s in saes:
        assert recovered(dictionary, s) >= 0.95
        fvu = float(((s.forward(acts) - acts) ** 2).sum() / ((acts - acts.mean(0)) ** 2).sum())
        assert fvu < 0.15 < 0.5 < s.history["fvu"][0]  # 0.10 when written
        assert s.history["fvu"].shape == s.history["l0"].shape == (3 * -(-len(acts) // 256),)  # 3 passes, short last batches
        assert int(s.firing_counts.sum()) > 0
    report = sm.compare(saes[0], saes[1], progress=False)
    # Both recovered the same dictionary, so most latents that fire are shared.
    assert report.enc_cos.shape == (80,)
    assert report.shared_fraction > 0.3


def test_training_is_bitwise_reproducible_and_seeds_differ():
    _, acts = superposition(count=3000, seed=1)
    cfg = sm.SAEConfig(d_in=20, num_latents=32, k=2)
    run = lambda: sm.train(cfg, acts, seeds=[3, 4], batch_size=100, progress=False)  # noqa: E731
    a, b = run(), run()
    for x, y in zip(a, b):
        for name in x.parameters:
            assert torch.equal(x.parameters[name], y.parameters[name]), name
        np.testing.assert_array_equal(x.history["fvu"], y.history["fvu"])
    assert not torch.allclose(a[0].decoder, a[1].decoder)


def test_an_iterable_of_batches_trains_exactly_like_the_tensor():
    _, acts = superposition(count=1000, seed=2)
    cfg = sm.SAEConfig(d_in=20, num_latents=32, k=2)
    # The tensor's known length caps its warm-up at 10 % of the run, an iterable's is unknown:
    # a warm-up of one step is the same for both.
    kw = dict(seeds=[0], batch_size=100, lr_warmup_steps=1, progress=False)
    whole = sm.train(cfg, acts, **kw)[0]
    pieces = sm.train(cfg, (acts[i : i + 100] for i in range(0, 1000, 100)), **kw)[0]
    assert torch.equal(whole.decoder, pieces.decoder)
    # numpy input reads the same
    as_numpy = sm.train(cfg, acts.numpy(), **kw)[0]
    assert torch.equal(whole.encoder, as_numpy.encoder)


def test_encode_decode_match_a_plain_torch_topk():
    _, acts = superposition(count=600, seed=3)
    sae = sm.train(sm.SAEConfig(d_in=20, num_latents=48, k=4), acts, seeds=[7], batch_size=200, progress=False)[0]
    x = acts[:50]
    values, indices = sae.encode(x)
    p = sae.parameters
    assert list(p) == ["encoder.weight", "encoder.bias", "W_dec", "b_dec"]  # sparsify's names
    pre = torch.relu((x - p["b_dec"]) @ p["encoder.weight"].T + p["encoder.bias"])
    ref_values, ref_indices = pre.topk(4, dim=1)
    torch.testing.assert_close(values.sort(dim=1, descending=True).values, ref_values)
    dense = torch.zeros_like(pre).scatter_(1, ref_indices, ref_values)
    torch.testing.assert_close(sae.forward(x), dense @ p["W_dec"] + p["b_dec"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sae.decoder.norm(dim=1), torch.ones(48), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sae.encode_dense(x), dense)


@pytest.mark.parametrize("architecture", ["batchtopk", "relu"])
def test_encode_dense_agrees_with_decode(architecture):
    _, acts = superposition(count=600, seed=4)
    cfg = sm.SAEConfig(d_in=20, num_latents=48, k=4, architecture=architecture)
    sae = sm.train(cfg, acts, seeds=[1], batch_size=200, progress=False)[0]
    x = acts[:50]
    dense = sae.encode_dense(x)
    assert dense.shape == (50, 48) and bool((dense >= 0).all())
    # The dense codes through the decoder reconstruct what the SAE's own forward does.
    torch.testing.assert_close(dense @ sae.decoder + sae.parameters["b_dec"], sae.forward(x), rtol=1e-5, atol=1e-5)
    if architecture == "batchtopk":
        values, _ = sae.encode(x)
        assert int((dense > 0).sum()) == int((values > 0).sum())  # padding adds nothing


def test_bad_input_is_reported_with_its_position():
    cfg = sm.SAEConfig(d_in=8, num_latents=16, k=2)
    data = torch.randn(300, 8)
    data[150, 5] = float("nan")
    with pytest.raises(ValueError, match=r"rows 100\.\.199 of the data: .*token 50, dimension 5"):
        sm.train(cfg, data, batch_size=100, progress=False)
    with pytest.raises(ValueError, match=r"data must be \(tokens, 8\)"):
        sm.train(cfg, torch.randn(10, 9), progress=False)
    with pytest.raises(ValueError, match="batch 1 of the data"):
        sm.train(cfg, [torch.randn(10, 8), torch.randn(10, 7)], progress=False)
    with pytest.raises(ValueError, match="seeds must differ"):
        sm.train(cfg, torch.randn(10, 8), seeds=[1, 1], progress=False)
    with pytest.raises(ValueError, match="k = 20 exceeds num_latents"):
        sm.SAEConfig(d_in=8, num_latents=16, k=20)
    with pytest.raises(ValueError, match="architecture must be one of"):
        sm.SAEConfig(d_in=8, num_latents=16, architecture="matryoshka")
    assert sm.SAEConfig(d_in=8, num_latents=16, architecture="relu").k == 32  # k matters to topk kinds only
    with pytest.raises(ValueError, match="sparsity_coefficient must be"):
        sm.SAEConfig(d_in=8, num_latents=16, k=2, architecture="relu", sparsity_coefficient=float("nan"))
    with pytest.raises(ValueError, match=r"expected activations of shape \(tokens, 8\)"):
        sm.train(cfg, torch.randn(10, 8), progress=False)[0].encode(torch.randn(3, 5))


def test_importing_saematch_does_not_load_torch():
    code = "import sys, saematch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_training_learns_and_matches_the_cpu_closely():
    dictionary, acts = superposition(count=8000, seed=4)
    cfg = sm.SAEConfig(d_in=20, num_latents=80, k=3)
    kw = dict(seeds=[0], batch_size=256, lr=4e-3, lr_warmup_steps=20, progress=False)
    gpu = sm.train(cfg, acts, device="cuda", **kw)[0]
    cpu = sm.train(cfg, acts, **kw)[0]
    assert gpu.decoder.device.type == "cuda"
    assert recovered(dictionary, gpu) >= 0.9
    assert abs(gpu.history["fvu"][-1] - cpu.history["fvu"][-1]) < 0.02


@pytest.mark.parametrize("architecture", ["batchtopk", "relu", "gated", "jumprelu"])
def test_every_architecture_trains_and_round_trips_through_encode_decode(architecture):
    dictionary, acts = superposition(features=24, d=16, active=2, count=8000, seed=5)
    cfg = sm.SAEConfig(d_in=16, num_latents=48, k=2, architecture=architecture,
                       sparsity_coefficient=1.0 if architecture in ("gated", "jumprelu") else 0.5,
                       jumprelu_init_threshold=0.2, jumprelu_bandwidth=0.1)  # thresholds at this data's scale
    saes = sm.train(cfg, acts, seeds=[0, 1], tokens=2 * len(acts), batch_size=200, lr=3e-3, lr_warmup_steps=10,
                    progress=False)
    for s in saes:
        x = acts[:1000]
        fvu = float(((s.forward(x) - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())
        assert fvu < 0.3, (architecture, fvu)
        assert s.history["l0"][-1] < 16
        assert s.encoder.shape == s.decoder.shape == (48, 16)
    assert sm.compare(saes[0], saes[1], progress=False).enc_cos.shape == (48,)


@pytest.mark.parametrize("architecture", ["topk", "jumprelu"])
def test_save_and_load_round_trip(tmp_path, architecture):
    _, acts = superposition(count=600, seed=6)
    cfg = sm.SAEConfig(d_in=20, num_latents=40, k=3, architecture=architecture, jumprelu_init_threshold=0.1,
                       jumprelu_bandwidth=0.1)
    sae = sm.train(cfg, acts, seeds=[11], batch_size=100, progress=False)[0]
    sae.save(tmp_path / "one")
    back = sm.load(tmp_path / "one")
    assert back.config == cfg and back.seed == 11
    for name, value in sae.parameters.items():
        torch.testing.assert_close(back.parameters[name], value, rtol=1e-6, atol=1e-7)  # jumprelu: exp, then log
    torch.testing.assert_close(back.forward(acts[:20]), sae.forward(acts[:20]), rtol=1e-5, atol=1e-5)
    expected = "sae.safetensors" if architecture == "topk" else "sae_weights.safetensors"
    assert (tmp_path / "one" / expected).exists() and (tmp_path / "one" / "cfg.json").exists()


def test_interrupted_training_resumes_bitwise(tmp_path):
    _, acts = superposition(count=2000, seed=7)
    cfg = sm.SAEConfig(d_in=20, num_latents=40, k=3)
    kw = dict(seeds=[1, 2], batch_size=128, progress=False, lr_warmup_steps=5)
    # A warm-up of one step: the "interruption" below is a shorter run, whose
    # warm-up cap (10 % of its 10 steps) would otherwise differ from the whole run's.
    kw_array = dict(kw, lr_warmup_steps=1)
    straight = sm.train(cfg, acts, tokens=3000, **kw_array)
    sm.train(cfg, acts, tokens=1280, save_dir=tmp_path / "run", **kw_array)  # "interrupted" after 10 steps
    resumed = sm.train(cfg, acts, tokens=3000, save_dir=tmp_path / "run", resume=True, **kw_array)
    for a, b in zip(straight, resumed):
        for name in a.parameters:
            assert torch.equal(a.parameters[name], b.parameters[name]), name
        np.testing.assert_array_equal(a.history["fvu"], b.history["fvu"])
        assert torch.equal(a.firing_counts, b.firing_counts)
    from_disk = sm.load(tmp_path / "run")
    assert [s.seed for s in from_disk] == [1, 2]
    assert torch.equal(from_disk[1].decoder, straight[1].decoder)
    # An iterable is replayed past the batches already used.
    batches = [acts[i : i + 128] for i in range(0, 2000, 128)]
    sm.train(cfg, iter(batches[:5]), save_dir=tmp_path / "it", **kw)
    resumed_it = sm.train(cfg, iter(batches), save_dir=tmp_path / "it", resume=True, **kw)
    whole_it = sm.train(cfg, iter(batches), **kw)
    assert torch.equal(resumed_it[0].encoder, whole_it[0].encoder)

    # A crash mid-run: the last save_every checkpoint (step 6) resumes exactly.
    def crashing():
        for i, b in enumerate(batches):
            if i == 7:
                raise RuntimeError("power cut")
            yield b

    with pytest.raises(RuntimeError, match="power cut"):
        sm.train(cfg, crashing(), save_dir=tmp_path / "crash", save_every=3, **kw)
    after_crash = sm.train(cfg, iter(batches), save_dir=tmp_path / "crash", resume=True, **kw)
    assert torch.equal(after_crash[1].decoder, whole_it[1].decoder)
    assert len(after_crash[1].history["fvu"]) == len(batches)


def test_load_reports_damaged_folders(tmp_path):
    _, acts = superposition(count=300, seed=8)
    sae = sm.train(sm.SAEConfig(d_in=20, num_latents=40, k=3), acts, batch_size=100, progress=False)[0]
    sae.save(tmp_path / "s")
    weights = tmp_path / "s" / "sae.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"sae\.safetensors.*(truncated|ends at byte|cover)"):
        sm.load(tmp_path / "s")
    (tmp_path / "s" / "cfg.json").write_text('{"saematch": {"architecture": "topk", "d_in": "twenty"}}')
    with pytest.raises(ValueError, match="cfg.json"):
        sm.load(tmp_path / "s")
    with pytest.raises(ValueError, match="save_every needs a save_dir"):
        sm.train(sae.config, acts, save_every=5, progress=False)


def test_training_from_a_folder_of_shards_equals_training_from_the_tensor(tmp_path):
    _, acts = superposition(count=1000, seed=9)
    shards = tmp_path / "acts"
    shards.mkdir()
    # Uneven shards in natural order (shard_10 after shard_9), float32 and float64.
    bounds = [0, 130, 400, 555, 1000]
    for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
        part = acts[a:b].numpy()
        np.save(shards / f"shard_{[2, 9, 10, 11][i]}.npy", part.astype(np.float64) if i == 2 else part)
    cfg = sm.SAEConfig(d_in=20, num_latents=40, k=3)
    kw = dict(seeds=[0, 1], batch_size=128, tokens=2500, progress=False)
    from_tensor = sm.train(cfg, acts, **kw)
    from_disk = sm.train(cfg, shards, **kw)
    for a, b in zip(from_tensor, from_disk):
        assert torch.equal(a.decoder, b.decoder)


def test_a_bad_shard_is_named(tmp_path):
    folder = tmp_path / "acts"
    folder.mkdir()
    good = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    bad = good.copy()
    bad[7, 2] = np.inf
    np.save(folder / "a.npy", good)
    np.save(folder / "b.npy", bad)
    with pytest.raises(ValueError, match=r"b\.npy: row 7, column 2 is NaN or infinite"):
        sm.train(sm.SAEConfig(d_in=8, num_latents=16, k=2), folder, batch_size=40, progress=False)
    with pytest.raises(ValueError, match=r"data must be \(tokens, 9\)"):
        sm.train(sm.SAEConfig(d_in=9, num_latents=16, k=2), folder, progress=False)


def test_signum_and_bf16_options_are_accepted_and_checked():
    _, acts = superposition(count=2000, seed=10)
    cfg = sm.SAEConfig(d_in=20, num_latents=40, k=3, multi_topk=True, auxk_alpha=1 / 32)
    adam = sm.train(cfg, acts, batch_size=200, progress=False)[0]
    signum = sm.train(cfg, acts, batch_size=200, optimizer="signum", progress=False)[0]
    bf16 = sm.train(cfg, acts, batch_size=200, bf16=True, progress=False)[0]
    assert not torch.equal(adam.decoder, signum.decoder) and not torch.equal(adam.decoder, bf16.decoder)
    assert abs(bf16.history["fvu"][0] - adam.history["fvu"][0]) < 0.01 * adam.history["fvu"][0]
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'signum'"):
        sm.train(cfg, acts, optimizer="sgd", progress=False)
