"""What the Python package reads from the C++ core instead of keeping a copy:
the architecture registry, the SAE config's validator (through the same
reader as a saved cfg.json), the walk over array data, and the folder reader
and writer -- all but the trainer torch-free."""

import math
import subprocess
import sys

import numpy as np
import pytest

import saematch as sm
from saematch import _core


def _torch_free(code: str) -> str:
    """Runs code in a fresh interpreter and returns its output, failing if it loaded torch."""
    full = code + "\nimport sys\nassert 'torch' not in sys.modules, 'loaded torch'\n"
    return subprocess.run([sys.executable, "-c", full], capture_output=True, text=True, check=True).stdout


def test_the_architecture_list_is_the_registry_of_the_core():
    names = [name for name, _ in _core.architectures()]
    assert sm.training.ARCHITECTURES == tuple(names)
    assert set(names) == {"topk", "batchtopk", "relu", "gated", "jumprelu"}
    assert {name for name, uses_k in _core.architectures() if uses_k} == {"topk", "batchtopk"}
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
    (dict(architecture="matryoshka"), r"architecture must be one of topk, batchtopk, relu, gated, jumprelu"),
    (dict(batchtopk_threshold_momentum=0.0), r"batchtopk_threshold_momentum must be in \(0, 1\], got 0"),
    (dict(multi_topk="yes"), r'field "multi_topk" has the wrong type'),
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


torch = pytest.importorskip("torch", reason="the trainer needs torch")


@pytest.mark.parametrize("architecture", sm.training.ARCHITECTURES)
def test_one_trainer_factory_for_every_architecture(architecture):
    from saematch import _train

    cfg = sm.SAEConfig(d_in=6, num_latents=12, k=3, architecture=architecture)
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
