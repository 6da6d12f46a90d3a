"""Crafted SAE folders: a tensor of the wrong length (once heap corruption in
the b_dec fold), cfg.json edge cases (invalid UTF-8, a directory, integers
that are not integers) and a run whose seeds were saved at different steps.
Each is a ValueError naming the file and the problem in sm.load and
sm.compare, and exit status 2 in the command, never a crash."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import saematch as sm

st = pytest.importorskip("safetensors.numpy", reason="the safetensors package is not installed")
torch = pytest.importorskip("torch", reason="sm.load builds torch tensors")

D, N = 6, 10


def _saelens(folder, architecture="standard", apply_b_dec=True, shapes=None, cfg_extra=None):
    """An SAELens-layout folder with d_in = 6, d_sae = 10; `shapes` overrides a tensor's shape."""
    rng = np.random.default_rng(0)
    shapes = {"W_enc": (D, N), "W_dec": (N, D), "b_dec": (D,), **(shapes or {})}
    names = {"standard": ["b_enc"], "topk": ["b_enc"], "jumprelu": ["b_enc", "threshold"],
             "gated": ["b_gate", "b_mag", "r_mag"]}[architecture]
    for n in names:
        shapes.setdefault(n, (N,))
    tensors = {n: rng.standard_normal(shapes[n]).astype(np.float32) for n in ["W_enc", "W_dec", "b_dec", *names]}
    if "threshold" in tensors:
        tensors["threshold"] = np.abs(tensors["threshold"]) + 0.1
    cfg = {"architecture": architecture, "d_in": D, "d_sae": N, "apply_b_dec_to_input": apply_b_dec,
           "dtype": "float32", **({"k": 3} if architecture == "topk" else {}), **(cfg_extra or {})}
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps(cfg))
    st.save_file(tensors, str(folder / "sae_weights.safetensors"))
    return folder


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "saematch.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("architecture,bias", [("standard", "b_enc"), ("jumprelu", "b_enc"),
                                               ("jumprelu", "threshold"), ("topk", "b_enc"), ("gated", "b_gate"),
                                               ("gated", "b_mag"), ("gated", "r_mag")])
def test_a_short_bias_without_b_dec_subtraction_is_a_clear_error_everywhere(tmp_path, architecture, bias):
    bad = _saelens(tmp_path / "bad", architecture, apply_b_dec=False, shapes={bias: (3,)})
    good = _saelens(tmp_path / "good", architecture)
    expected = rf"sae_weights\.safetensors: tensor '{bias}' does not have the shape cfg\.json gives: \[3\], " \
               r"expected \(d_sae\) = \[10\]"
    with pytest.raises(ValueError, match=expected):
        sm.load(bad)
    with pytest.raises(ValueError, match=expected):
        sm.compare(bad, good, progress=False)
    # In a fresh process, so that heap damage would show as a crash.
    result = _cli("compare", bad, good, "--quiet")
    assert result.returncode == 2, result.stderr
    assert f"tensor '{bias}' does not have the shape" in result.stderr


@pytest.mark.parametrize("name,shape", [("W_enc", (N, D)), ("W_dec", (D, N)), ("b_dec", (D + 1,)),
                                        ("b_enc", (N, 1))])
def test_every_tensor_is_shape_checked(tmp_path, name, shape):
    bad = _saelens(tmp_path / "bad", shapes={name: shape})
    with pytest.raises(ValueError, match=rf"tensor '{name}' does not have the shape cfg\.json gives"):
        sm.load(bad)


def test_a_stray_tensor_is_refused(tmp_path):
    folder = _saelens(tmp_path / "s")
    tensors = st.load_file(str(folder / "sae_weights.safetensors"))
    tensors["W_skip"] = np.zeros((D, D), np.float32)
    st.save_file(tensors, str(folder / "sae_weights.safetensors"))
    with pytest.raises(ValueError, match="unexpected tensor 'W_skip' for a relu SAE"):
        sm.load(folder)


def test_invalid_utf8_is_reported_with_the_file_name(tmp_path):
    folder = _saelens(tmp_path / "cfg")
    (folder / "cfg.json").write_bytes(b'{"architecture": "stan\xffdard", "d_in": 6}')
    with pytest.raises(ValueError, match=r"cfg\.json: not valid JSON .*\\xff"):
        sm.load(folder)
    result = _cli("compare", folder, folder, "--quiet")
    assert result.returncode == 2 and "cfg.json: not valid JSON" in result.stderr, result.stderr

    folder = _saelens(tmp_path / "header")
    path = folder / "sae_weights.safetensors"
    data = bytearray(path.read_bytes())
    at = data.index(b"W_dec")
    data[at + 1] = 0xC3  # a lead byte followed by ASCII
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"sae_weights\.safetensors: header is not valid JSON"):
        sm.load(folder)
    with pytest.raises(ValueError, match=r"sae_weights\.safetensors: header is not valid JSON"):
        sm.compare(folder, folder, progress=False)


def test_a_cfg_json_directory_is_named(tmp_path):
    folder = _saelens(tmp_path / "s")
    (folder / "cfg.json").unlink()
    (folder / "cfg.json").mkdir()
    with pytest.raises(ValueError, match=r"cfg\.json: is a directory, not the SAE's config file"):
        sm.load(folder)


@pytest.mark.parametrize("value,message", [
    (2**70, r"must be an integer below 2\^53, got 1\.18"),
    (8.5, "must be an integer, got 8.5"),
    (True, "has the wrong type: must be an integer, got true"),
])
def test_d_in_must_be_an_integer(tmp_path, value, message):
    folder = _saelens(tmp_path / "s", cfg_extra={"d_in": value})
    with pytest.raises(ValueError, match=r"cfg\.json: cfg\.json field \"d_in\" " + message):
        sm.load(folder)
    with pytest.raises(ValueError, match=r"field \"d_in\" " + message):
        sm.compare(folder, folder, progress=False)


def _run(tmp_path, seeds=(0, 1, 2)):
    rng = np.random.default_rng(1)
    acts = torch.from_numpy(rng.standard_normal((400, 8)).astype(np.float32))
    run = tmp_path / "run"
    cfg = sm.SAEConfig(d_in=8, num_latents=16, k=2)
    sm.train(cfg, acts, seeds=list(seeds), batch_size=100, save_dir=run, save_every=2, progress=False)
    return run, cfg, acts


def test_a_run_saved_at_one_step_loads_and_one_seed_ahead_is_named(tmp_path):
    run, cfg, acts = _run(tmp_path)
    assert [s.seed for s in sm.load(run)] == [0, 1, 2]
    # A save killed midway: seed_1 was written at the next step, the other
    # seeds and the trainer state were not.
    sm.train(cfg, acts, seeds=[0, 1, 2], batch_size=100, tokens=500, save_dir=tmp_path / "ahead", progress=False)
    shutil.rmtree(run / "seed_1")
    shutil.copytree(tmp_path / "ahead" / "seed_1", run / "seed_1")
    expected = (r"run: its seeds were not saved at one step \(seed_0 at step 4, seed_1 at step 5, seed_2 at step 4, "
                r"trainer_state\.safetensors at step 4\)")
    with pytest.raises(ValueError, match=expected):
        sm.load(run)
    with pytest.raises(ValueError, match=expected):
        sm.compare_many(run, progress=False)
    result = _cli("compare-many", run, "--quiet")
    assert result.returncode == 2 and "not saved at one step" in result.stderr, result.stderr
    # A seed folder on its own still loads.
    assert sm.load(run / "seed_1").seed == 1


def test_resuming_an_interrupted_save_makes_the_run_consistent_again(tmp_path):
    run, cfg, acts = _run(tmp_path)
    meta_file = run / "seed_2" / "sae.safetensors"
    tensors = st.load_file(str(meta_file))
    from safetensors import safe_open

    with safe_open(str(meta_file), "np") as f:
        meta = dict(f.metadata())
    meta["step"] = "5"  # as if the next save had reached seed_2 only
    st.save_file(tensors, str(meta_file), metadata=meta)
    with pytest.raises(ValueError, match="seed_2 at step 5"):
        sm.load(run)
    sm.train(cfg, acts, seeds=[0, 1, 2], batch_size=100, tokens=600, save_dir=run, resume=True, progress=False)
    assert [s.seed for s in sm.load(run)] == [0, 1, 2]
