"""What the Python package reads from the C++ core instead of keeping a copy:
the shared rules and their masks, the matcher's defaults, the architecture
registry, the SAE config's validator and defaults (through the same reader
as a saved cfg.json), the walk over array data, and the folder reader and
writer -- all but the trainer torch-free."""

import math
import subprocess
import sys

import numpy as np
import pytest

import saematch as sm
from saematch import _core
from saematch.compare import RULES, SCREENS, _shared


def _torch_free(code: str) -> str:
    """Runs code in a fresh interpreter and returns its output, failing if it loaded torch."""
    full = code + "\nimport sys\nassert 'torch' not in sys.modules, 'loaded torch'\n"
    return subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, check=True).stdout


def test_the_architecture_list_is_the_registry_of_the_core():
    names = [name for name, _ in _core.architectures()]
    assert sm.training.ARCHITECTURES == tuple(names)
    assert set(names) == {"topk", "batchtopk", "relu", "gated", "jumprelu", "archetypal"}
    assert {name for name, uses_k in _core.architectures() if uses_k} == {"topk", "batchtopk", "archetypal"}
    assert _torch_free("import saematch; print(saematch.training.ARCHITECTURES)").strip() == str(tuple(names))


@pytest.mark.parametrize("field", ["jumprelu_init_threshold", "jumprelu_bandwidth", "sparsity_coefficient",
                                   "auxk_alpha"])
@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_knob_is_refused_by_the_one_validator(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        sm.SAEConfig(d_in=8, num_latents=16, k=4, architecture="jumprelu", **{field: value})
    with pytest.raises(ValueError, match=f"{field} must be a finite number"):
        _core.check_sae_config({**sm.SAEConfig(d_in=8, num_latents=16, k=4)._as_dict(), field: value})


@pytest.mark.parametrize("fields, message", [
    (dict(d_in=8.5), r'field "d_in" must be an integer, got 8\.5'),
    (dict(d_in=True), r'field "d_in" has the wrong type'),
    (dict(d_in="8"), r'field "d_in" has the wrong type'),
    (dict(num_latents=0), r"num_latents must be a positive integer, got 0"),
    (dict(num_latents=2**70), r'field "num_latents" must be an integer below'),
    (dict(k=0, architecture="relu"), r"k must be a positive integer, got 0"),
    (dict(k=20), r"k = 20 exceeds num_latents = 16"),
    (dict(architecture="matryoshka"), r"architecture must be one of topk, batchtopk, relu, gated, jumprelu, archetypal"),
    (dict(batchtopk_threshold_momentum=0.0), r"batchtopk_threshold_momentum must be in \(0, 1\], got 0"),
    (dict(multi_topk="yes"), r'field "multi_topk" has the wrong type'),
    (dict(archetypal_points=0, architecture="archetypal"), r"archetypal_points must be a positive integer, got 0"),
    (dict(archetypal_delta=-1.0), r"archetypal_delta must be a finite number >= 0, got -1"),
    (dict(archetypal_init="furthest"), r'archetypal_init must be "kmeans" or "random", got "furthest"'),
    (dict(archetypal_init=3), r'field "archetypal_init" has the wrong type'),
    (dict(k=[3]), r'field "k" must be a number, bool or string, got a list'),
])
def test_config_errors_name_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        sm.SAEConfig(**{**dict(d_in=8, num_latents=16, k=4), **fields})


def test_numpy_scalars_are_the_numbers_they_hold():
    c = sm.SAEConfig(d_in=np.int64(8), num_latents=np.int32(16), k=np.int16(4), sparsity_coefficient=np.float32(0.5),
                     multi_topk=np.bool_(True))
    assert c.d_in == 8 and c.k == 4
    with pytest.raises(ValueError, match='field "d_in" must be an integer'):
        sm.SAEConfig(d_in=np.float64(8.5), num_latents=16)


def test_the_config_is_validated_without_torch():
    out = _torch_free("import saematch as sm\n"
                      "try:\n    sm.SAEConfig(d_in=8, num_latents=16, k=99)\n"
                      "except ValueError as e:\n    print(e)")
    assert "k = 99 exceeds num_latents = 16" in out


def test_folders_are_written_and_read_without_torch(tmp_path):
    out = _torch_free(
        "import numpy as np, saematch as sm\n"
        "from saematch import _core\n"
        "from saematch.folders import encoder_of, read_folder, sae_folders\n"
        "cfg = sm.SAEConfig(d_in=3, num_latents=4, architecture='relu', sparsity_coefficient=0.5)\n"
        "rng = np.random.default_rng(0)\n"
        "p = {'W_enc': rng.standard_normal((4, 3), dtype=np.float32), 'b_enc': np.zeros(4, np.float32),\n"
        "     'W_dec': rng.standard_normal((4, 3), dtype=np.float32), 'b_dec': np.ones(3, np.float32)}\n"
        f"_core.write_sae_folder({str(tmp_path / 'run' / 'seed_0')!r}, cfg._as_dict(), list(p), list(p.values()), {{}})\n"
        f"[folder] = sae_folders({str(tmp_path / 'run')!r})\n"
        "config, params, _ = read_folder(folder)\n"
        "assert config == cfg, config\n"
        "assert np.array_equal(encoder_of(params), p['W_enc'])\n"
        "assert np.array_equal(params['b_dec'], p['b_dec'])\n"
        "print('ok')")
    assert out.strip() == "ok"
    # The old home still answers, for callers that import from there.
    from saematch import folders, training

    assert training.read_folder is folders.read_folder and training.sae_folders is folders.sae_folders


def test_a_folder_write_names_a_bad_format_and_a_name_count_mismatch(tmp_path):
    fields = sm.SAEConfig(d_in=3, num_latents=4, k=2)._as_dict()
    arrays = [np.zeros((4, 3), np.float32), np.zeros(4, np.float32), np.zeros((4, 3), np.float32),
              np.zeros(3, np.float32)]
    names = ["encoder.weight", "encoder.bias", "W_dec", "b_dec"]
    with pytest.raises(ValueError, match="format must be 'auto', 'sparsify' or 'saelens', got 'onnx'"):
        _core.write_sae_folder(str(tmp_path / "a"), fields, names, arrays, {}, "onnx")
    with pytest.raises(ValueError, match="one name per parameter"):
        _core.write_sae_folder(str(tmp_path / "b"), fields, names[:3], arrays, {})


def _side(rng, n, m):
    """One side of a pair report: partners (-1 for some: unmatched) and cosines, with ties at 0.7."""
    partner = lambda: np.where(rng.random(n) < 0.1, -1, rng.integers(0, m, n)).astype(np.int32)
    cos = lambda: rng.choice(np.float32([0.0, 0.3, 0.69, 0.7, 0.71, 0.95, 1.0]), n)
    ep = partner()
    dp = np.where(rng.random(n) < 0.5, ep, partner()).astype(np.int32)
    return dict(enc_partner=ep, dec_partner=dp, enc_cos=cos(), dec_cos=cos())


def test_the_rules_are_the_cores_and_their_masks_match_the_papers_definitions():
    assert RULES == tuple(name for name, _ in _core.shared_rules) == ("paper", "separate", "decoder")
    side = _side(np.random.default_rng(4), 500, 40)
    ep, dp, ec, dc = side["enc_partner"], side["dec_partner"], side["enc_cos"], side["dec_cos"]
    for t in (0.0, 0.7, 1.0):
        # The cosine against t as the numbers they are (float32 0.7 is below
        # 0.7); NumPy would compare in float32 and call them equal.
        enc = [p >= 0 and float(c) >= t for p, c in zip(ep, ec)]
        dec = [p >= 0 and float(c) >= t for p, c in zip(dp, dc)]
        by_hand = {"paper": [e and d and a == b for e, d, a, b in zip(enc, dec, ep, dp)],
                   "separate": [e and d for e, d in zip(enc, dec)],
                   "decoder": dec}
        for rule in RULES:
            got = _shared(side, rule, t)
            assert got.dtype == bool and got.tolist() == by_hand[rule], (rule, t)
    with pytest.raises(ValueError, match="rule must be one of 'paper', 'separate', 'decoder', got 'both'"):
        _core.shared_mask(ep, dp, ec, dc, "both", 0.7)
    with pytest.raises(ValueError, match="must be 1-D of one length"):
        _core.shared_mask(ep, dp[:-1], ec, dc, "paper", 0.7)


def test_the_matchers_defaults_are_the_cores():
    import inspect

    for fn in (sm.compare, sm.compare_many):
        params = inspect.signature(fn).parameters
        assert params["candidates"].default == _core.match_defaults["candidates"] == 32
        assert params["dense_max_pairs"].default == _core.match_defaults["dense_max_pairs"] == 512 * 512
    assert SCREENS == _core.match_defaults["screens"] == ("auto", "float32", "bfloat16")


def test_the_configs_defaults_are_the_cores():
    import dataclasses

    fields = {f.name: f.default for f in dataclasses.fields(sm.SAEConfig)}
    assert {k: fields[k] for k in _core.sae_config_defaults} == _core.sae_config_defaults
    assert fields["k"] == 32 and fields["architecture"] == "topk" and fields["multi_topk"] is False
    assert set(fields) == set(_core.sae_config_defaults) | {"d_in", "num_latents"}


def test_the_trainers_defaults_are_the_cores():
    import inspect

    params = inspect.signature(sm.train).parameters
    for name, value in _core.train_defaults.items():
        assert params[name].default == value, name
    assert _core.train_defaults == dict(batch_size=4096, lr_warmup_steps=1000, dead_after_tokens=10_000_000)


def test_every_header_of_a_module_is_in_its_module_header():
    from pathlib import Path

    include = Path(__file__).resolve().parents[2] / "include" / "saematch"
    for module in ("lap", "similarity", "compare", "io", "sae", "train"):
        text = (include / f"{module}.hpp").read_text()
        for header in sorted((include / module).glob("*.hpp")):
            assert f'#include "saematch/{module}/{header.name}"' in text, f"{module}.hpp lacks {header.name}"


torch = pytest.importorskip("torch", reason="the trainer needs torch")


@pytest.mark.parametrize("architecture", sm.training.ARCHITECTURES)
def test_one_trainer_factory_for_every_architecture(architecture):
    from saematch import _train

    cfg = sm.SAEConfig(d_in=6, num_latents=12, k=3, architecture=architecture,
                       archetypal_points=4)  # archetypal: its points come from the first batch of 8
    t = _train.Trainer(config=cfg._as_dict(), seeds=[0, 1], batch_size=8, lr=1e-3, lr_warmup_steps=0,
                       dead_after_tokens=100, device="cpu")
    assert type(t).__name__ == f"Trainer_{architecture}"
    assert len(t.parameters(1)) == len(_train.parameter_names(architecture))
    t.step(torch.randn(8, 6))
    assert t.steps == 1


def test_duplicate_seeds_are_refused_by_the_trainer_itself():
    from saematch import _train

    with pytest.raises(ValueError, match="seeds must differ, got seed 5 twice"):
        _train.Trainer(config=sm.SAEConfig(d_in=6, num_latents=12, k=3)._as_dict(), seeds=[5, 2, 5], batch_size=8,
                       lr=1e-3, lr_warmup_steps=0, dead_after_tokens=100, device="cpu")


def test_python_walks_array_data_as_the_trainer_does():
    from saematch import _train
    from saematch.training import _array_batches

    cfg = sm.SAEConfig(d_in=6, num_latents=12, k=3)
    t = _train.Trainer(config=cfg._as_dict(), seeds=[0], batch_size=4, lr=1e-3, lr_warmup_steps=0,
                       dead_after_tokens=100, device="cpu")
    data = torch.arange(9 * 6, dtype=torch.float32).reshape(9, 6)
    seen = []
    for batch, where in _array_batches(data, 20, t):
        seen.append((int(batch[0, 0]) // 6, batch.shape[0], where))
        t.step(batch)
    # 9 rows in batches of 4: row 8 alone has no variance, so each pass ends at row 7.
    assert seen == [(0, 4, "rows 0..3"), (4, 4, "rows 4..7"), (0, 4, "rows 0..3"), (4, 4, "rows 4..7"),
                    (0, 4, "rows 0..3")]
    assert t.data_row == 4 and t.tokens == 20
    assert t.next_slice(9, 21) is None and t.data_row == 4
