"""Checkpoints across libraries: what saematch saves loads in eai-sparsify with
identical encode/decode outputs and the reverse; SAELens-layout folders
(written here with the safetensors package, as SAELens writes them) load with
the transposed encoder, the threshold and a folded b_dec; paths work wherever
an SAE does, and damaged folders are reported."""

import json
import os

import numpy as np
import pytest

import saematch as sm

torch = pytest.importorskip("torch", reason="these tests need torch")


def _sparsify():
    # Its Triton decode kernel needs a GPU; sparsify's own switch selects the
    # eager one (read when it is imported).
    os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")
    return pytest.importorskip("sparsify", reason="eai-sparsify is not installed (scripts/setup.sh installs it)")


def _trained(architecture="topk", seed=0):
    rng = np.random.default_rng(seed)
    acts = torch.from_numpy(rng.standard_normal((600, 16)).astype(np.float32))
    cfg = sm.SAEConfig(d_in=16, num_latents=48, k=4, architecture=architecture)
    return sm.train(cfg, acts, seeds=[seed], batch_size=100, progress=False)[0], acts


def test_saematch_topk_loads_in_sparsify_with_identical_outputs(tmp_path):
    sparsify = _sparsify()
    sae, acts = _trained()
    sae.save(tmp_path / "ours")
    theirs = sparsify.SparseCoder.load_from_disk(tmp_path / "ours", device="cpu")
    x = acts[:40]
    values, indices = sae.encode(x)
    top_acts, top_indices, _ = theirs.encode(x)
    order = lambda v, i: torch.gather(v, 1, i.argsort(dim=1))  # noqa: E731 - compare as sets per row
    assert torch.equal(indices.sort(dim=1).values, top_indices.sort(dim=1).values)
    torch.testing.assert_close(order(values, indices), order(top_acts, top_indices), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sae.forward(x), theirs.decode(top_acts, top_indices), rtol=1e-5, atol=1e-5)


def test_a_sparsify_checkpoint_loads_in_saematch_with_identical_outputs(tmp_path):
    sparsify = _sparsify()
    torch.manual_seed(3)
    theirs = sparsify.SparseCoder(16, sparsify.SparseCoderConfig(num_latents=40, k=5), device="cpu")
    with torch.no_grad():
        theirs.b_dec.normal_(0, 0.1)
        theirs.encoder.bias.normal_(0, 0.1)
    run = tmp_path / "run"
    theirs.save_to_disk(run / "layers.3.mlp")
    theirs.save_to_disk(run / "layers.10.mlp")
    ours = sm.load(run / "layers.3.mlp")
    assert ours.config.architecture == "topk" and ours.config.k == 5 and ours.config.num_latents == 40
    x = torch.randn(30, 16)
    top_acts, top_indices, _ = theirs.encode(x)
    torch.testing.assert_close(ours.forward(x), theirs.decode(top_acts, top_indices), rtol=1e-5, atol=1e-5)
    hooks = sm.load(run)
    assert list(hooks) == ["layers.3.mlp", "layers.10.mlp"]  # natural order
    # Paths work wherever an SAE does; identical SAEs share every latent.
    r = sm.compare(run / "layers.3.mlp", str(run / "layers.10.mlp"), progress=False)
    assert r.shared_fraction == 1.0


def _write_saelens(folder, cfg, tensors):
    st = pytest.importorskip("safetensors.numpy", reason="the safetensors package is not installed")
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    st.save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(folder / "sae_weights.safetensors"))


def test_saelens_jumprelu_without_b_dec_subtraction_loads_as_the_same_function(tmp_path):
    rng = np.random.default_rng(5)
    d, n = 12, 30
    W_enc = rng.standard_normal((d, n)).astype(np.float32)  # SAELens: (d_in, d_sae)
    b_enc = rng.standard_normal(n).astype(np.float32) * 0.1
    W_dec = rng.standard_normal((n, d)).astype(np.float32)
    b_dec = rng.standard_normal(d).astype(np.float32) * 0.3
    threshold = rng.uniform(0.2, 1.0, n).astype(np.float32)
    _write_saelens(tmp_path / "jr", {"architecture": "jumprelu", "d_in": d, "d_sae": n, "apply_b_dec_to_input": False,
                                     "dtype": "float32"},
                   {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec, "threshold": threshold})
    sae = sm.load(tmp_path / "jr")
    assert sae.config.architecture == "jumprelu"
    x = rng.standard_normal((25, d)).astype(np.float32)
    pre = x @ W_enc + b_enc  # SAELens's forward without the b_dec subtraction
    acts = pre * (pre > threshold)
    np.testing.assert_allclose(sae.encode(torch.from_numpy(x)).numpy(), acts, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(sae.forward(torch.from_numpy(x)).numpy(), acts @ W_dec + b_dec, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(sae.encoder.numpy(), W_enc.T)


def test_saelens_standard_and_gated_load_in_float16(tmp_path):
    rng = np.random.default_rng(6)
    d, n = 8, 20
    W_enc = rng.standard_normal((d, n)).astype(np.float16)
    common = {"W_enc": W_enc, "W_dec": rng.standard_normal((n, d)).astype(np.float16),
              "b_dec": np.zeros(d, np.float16)}
    _write_saelens(tmp_path / "std", {"architecture": "standard", "d_in": d, "d_sae": n},
                   {**common, "b_enc": np.zeros(n, np.float16)})
    _write_saelens(tmp_path / "gated", {"architecture": "gated", "d_in": d, "d_sae": n},
                   {**common, "b_gate": np.zeros(n, np.float16), "b_mag": np.zeros(n, np.float16),
                    "r_mag": np.zeros(n, np.float16)})
    for name, arch in (("std", "relu"), ("gated", "gated")):
        sae = sm.load(tmp_path / name)
        assert sae.config.architecture == arch
        np.testing.assert_array_equal(sae.encoder.numpy(), W_enc.T.astype(np.float32))
    r = sm.compare(tmp_path / "std", tmp_path / "gated", progress=False)
    assert r.shared_fraction == 1.0  # same encoder and decoder directions


def test_damaged_folders_name_the_file_and_the_problem(tmp_path):
    sae, _ = _trained(seed=2)
    sae.save(tmp_path / "s")
    cfg = json.loads((tmp_path / "s" / "cfg.json").read_text())
    cfg["saematch"]["d_in"] = 17
    (tmp_path / "s" / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"sae\.safetensors: tensor '(encoder\.weight|W_dec)' does not have .* shape cfg\.json"):
        sm.load(tmp_path / "s")
    with pytest.raises(ValueError, match="no such SAE folder"):
        sm.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no cfg.json"):
        sm.compare(tmp_path / "empty", tmp_path / "s", progress=False)
    bad = np.ones((4, 8), np.float32)
    bad[1, 2] = np.nan
    _write_saelens(tmp_path / "nan", {"architecture": "standard", "d_in": 4, "d_sae": 8},
                   {"W_enc": bad, "b_enc": np.zeros(8, np.float32), "W_dec": bad.T.copy(),
                    "b_dec": np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match=r"sae_weights\.safetensors: tensor '(W_enc|W_dec)' holds NaN"):
        sm.load(tmp_path / "nan")
    _write_saelens(tmp_path / "missing_t", {"architecture": "standard", "d_in": 4, "d_sae": 8},
                   {"W_enc": np.ones((4, 8), np.float32), "b_dec": np.zeros(4, np.float32)})
    with pytest.raises(ValueError, match=r"no tensor\(s\) \['b_enc', 'W_dec'\]"):
        sm.load(tmp_path / "missing_t")
    with pytest.raises(ValueError, match="lack an encoder .* or W_dec"):
        sm.compare(tmp_path / "missing_t", tmp_path / "missing_t", progress=False)
    _write_saelens(tmp_path / "arch", {"architecture": "matryoshka", "d_in": 4, "d_sae": 8},
                   {"W_enc": np.ones((4, 8), np.float32)})
    with pytest.raises(ValueError, match="SAELens architecture 'matryoshka' is not supported"):
        sm.load(tmp_path / "arch")
    _write_saelens(tmp_path / "types", {"architecture": "standard", "d_in": "four", "d_sae": 8},
                   {"W_enc": np.ones((4, 8), np.float32)})
    with pytest.raises(ValueError, match=r"cfg\.json field \"d_in\" has the wrong type"):
        sm.load(tmp_path / "types")


def _sae_lens():
    return pytest.importorskip("sae_lens", reason="sae-lens is not installed (scripts/setup.sh installs it)")


@pytest.mark.parametrize("kind", ["StandardSAE", "JumpReLUSAE", "GatedSAE", "TopKSAE"])
def test_a_saelens_checkpoint_loads_in_saematch_with_identical_outputs(tmp_path, kind):
    _sae_lens()
    import importlib

    module = {"StandardSAE": "standard_sae", "JumpReLUSAE": "jumprelu_sae", "GatedSAE": "gated_sae",
              "TopKSAE": "topk_sae"}[kind]
    mod = importlib.import_module(f"sae_lens.saes.{module}")
    config = getattr(mod, kind + "Config")(d_in=8, d_sae=20, **({"k": 4} if kind == "TopKSAE" else {}))
    torch.manual_seed(1)
    theirs = getattr(mod, kind)(config)
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.3)
        if hasattr(theirs, "threshold"):
            theirs.threshold.abs_()
    theirs.save_model(tmp_path / kind)
    ours = sm.load(tmp_path / kind)
    x = torch.randn(16, 8)
    torch.testing.assert_close(ours.forward(x), theirs.decode(theirs.encode(x)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("architecture", ["relu", "jumprelu", "gated"])
def test_saematch_saves_load_in_saelens_with_identical_outputs(tmp_path, architecture):
    sae_lens = _sae_lens()
    acts = torch.randn(500, 8, generator=torch.Generator().manual_seed(2))
    cfg = sm.SAEConfig(d_in=8, num_latents=20, k=2, architecture=architecture, jumprelu_init_threshold=0.1,
                       jumprelu_bandwidth=0.1)
    ours = sm.train(cfg, acts, batch_size=100, progress=False)[0]
    ours.save(tmp_path / "ours")
    theirs = sae_lens.SAE.load_from_disk(tmp_path / "ours")
    x = torch.randn(16, 8)
    torch.testing.assert_close(theirs.decode(theirs.encode(x)), ours.forward(x), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(theirs.encode(x), ours.encode(x), rtol=1e-5, atol=1e-5)


def test_save_in_either_layout_and_the_stored_dtype_is_reported(tmp_path):
    sae, acts = _trained()
    sae.save(tmp_path / "as_saelens", format="saelens")
    assert (tmp_path / "as_saelens" / "sae_weights.safetensors").exists()
    back = sm.load(tmp_path / "as_saelens", format="saelens")
    assert back.metadata == {"layout": "saelens", "stored_dtype": "F32"}
    torch.testing.assert_close(back.forward(acts[:10]), sae.forward(acts[:10]), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="a saelens folder, not sparsify"):
        sm.load(tmp_path / "as_saelens", format="sparsify")
    relu, _ = _trained("relu")
    with pytest.raises(ValueError, match="sparsify's layout cannot hold a relu SAE"):
        relu.save(tmp_path / "no", format="sparsify")
    if pytest.importorskip("sae_lens", reason="sae-lens is not installed"):
        import sae_lens

        theirs = sae_lens.SAE.load_from_disk(tmp_path / "as_saelens")
        torch.testing.assert_close(theirs.decode(theirs.encode(acts[:10])), sae.forward(acts[:10]), rtol=1e-5,
                                   atol=1e-5)
    half = {"architecture": "standard", "d_in": 4, "d_sae": 6}
    _write_saelens(tmp_path / "half", half, {"W_enc": np.ones((4, 6), np.float16), "b_enc": np.zeros(6, np.float16),
                                             "W_dec": np.ones((6, 4), np.float16), "b_dec": np.zeros(4, np.float16)})
    assert sm.load(tmp_path / "half").metadata["stored_dtype"] == "F16"


@pytest.mark.parametrize("apply_b_dec", [True, False])
def test_a_saelens_topk_training_checkpoint_with_decoder_norm_rescaling_computes_saelens_forward(
        tmp_path, apply_b_dec):
    sae_lens = _sae_lens()
    from sae_lens.saes.topk_sae import TopKTrainingSAE, TopKTrainingSAEConfig

    config = TopKTrainingSAEConfig(d_in=8, d_sae=24, k=4, rescale_acts_by_decoder_norm=True,
                                   apply_b_dec_to_input=apply_b_dec)
    torch.manual_seed(4)
    theirs = TopKTrainingSAE(config)
    with torch.no_grad():
        for p in theirs.parameters():
            p.normal_(0, 0.3)
        theirs.W_dec.mul_(torch.linspace(0.2, 3.0, 24)[:, None])  # decoder norms far from 1
    theirs.save_model(tmp_path / "ckpt")  # a training checkpoint: its cfg keeps the flag
    assert json.loads((tmp_path / "ckpt" / "cfg.json").read_text())["rescale_acts_by_decoder_norm"] is True
    reference = sae_lens.SAE.load_from_disk(tmp_path / "ckpt")
    ours = sm.load(tmp_path / "ckpt")
    assert "rescale_acts_by_decoder_norm" in ours.metadata["folded"]
    x = torch.randn(200, 8)
    with torch.no_grad():
        expected = reference(x)
        acts = reference.encode(x)
    fvu = lambda recon: float(((x - recon) ** 2).sum() / ((x - x.mean(0)) ** 2).sum())  # noqa: E731
    torch.testing.assert_close(ours.forward(x), expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ours.encode_dense(x), acts, rtol=1e-5, atol=1e-5)
    assert fvu(ours.forward(x)) == pytest.approx(fvu(expected), rel=1e-5)
    # The directions are unchanged by the fold: the checkpoint shares all its
    # latents with SAELens's own weights.
    assert sm.compare(tmp_path / "ckpt", (reference.W_enc.T.detach(), reference.W_dec.detach()),
                      progress=False).shared_fraction == 1.0


def test_saelens_input_normalisation_flags_load_or_are_refused_by_name(tmp_path):
    _sae_lens()
    from sae_lens.saes.standard_sae import StandardSAE, StandardSAEConfig

    def saved(name, **kwargs):
        torch.manual_seed(5)
        sae = StandardSAE(StandardSAEConfig(d_in=8, d_sae=20, **kwargs))
        with torch.no_grad():
            for p in sae.parameters():
                p.normal_(0, 0.3)
        sae.save_model(tmp_path / name)
        return sae

    x = torch.randn(30, 8)
    for mode in ("layer_norm", "constant_norm_rescale"):
        saved(mode, normalize_activations=mode)
        with pytest.raises(ValueError, match=rf"cfg\.json: normalize_activations = {mode}: SAELens normalises"):
            sm.load(tmp_path / mode)
        # The directions do not depend on it: comparing still works.
        assert sm.compare(tmp_path / mode, tmp_path / mode, progress=False).shared_fraction == 1.0
    # The constant of expected_average_only_in is not in the folder, and
    # SAELens's forward does not apply it either: the same function.
    theirs = saved("average", normalize_activations="expected_average_only_in")
    ours = sm.load(tmp_path / "average")
    assert "expected_average_only_in" in ours.metadata["notes"]
    with torch.no_grad():
        torch.testing.assert_close(ours.forward(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_a_sparsify_run_with_seeds_loads_as_hooks_of_seeds(tmp_path):
    sparsify = _sparsify()
    transformers = pytest.importorskip("transformers")
    datasets = pytest.importorskip("datasets")
    torch.manual_seed(0)
    model = transformers.GPT2Model(transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50,
                                                           n_positions=16))
    data = datasets.Dataset.from_dict({"input_ids": torch.randint(0, 50, (16, 16)).tolist()}).with_format("torch")
    cfg = sparsify.TrainConfig(sparsify.SparseCoderConfig(num_latents=32, k=4), batch_size=8,
                               hookpoints=["h.0", "h.1"], init_seeds=[3, 7], save_dir=str(tmp_path),
                               run_name="run", log_to_wandb=False)
    sparsify.Trainer(cfg, data, model).fit()  # writes run/<hook>/seed<k>/, plus its own state files
    run = tmp_path / "run"
    assert (run / "h.0" / "seed7" / "sae.safetensors").exists()

    hooks = sm.load(run)
    assert list(hooks) == ["h.0", "h.1"]
    assert [s.seed for s in hooks["h.1"]] == [3, 7]
    seeds = sm.load(run / "h.1")
    assert [s.seed for s in seeds] == [3, 7]
    theirs = sparsify.SparseCoder.load_from_disk(run / "h.1" / "seed7", device="cpu")
    x = torch.randn(20, 16)
    top_acts, top_indices, _ = theirs.encode(x)
    torch.testing.assert_close(seeds[1].forward(x), theirs.decode(top_acts, top_indices), rtol=1e-5, atol=1e-5)

    many = sm.compare_many(run / "h.0", progress=False)
    assert len(many.pairs) == 1
    pair = sm.compare(run / "h.0" / "seed3", run / "h.0" / "seed7", progress=False)
    assert many.pairs[(0, 1)].shared_fraction == pair.shared_fraction
    with pytest.raises(ValueError, match=r"holds the hook points h\.0, h\.1, each a folder of seeds; pass one"):
        sm.compare_many(run, progress=False)
    with pytest.raises(ValueError, match=r"holds 2 SAEs"):
        sm.compare(run / "h.0", run / "h.1", progress=False)
