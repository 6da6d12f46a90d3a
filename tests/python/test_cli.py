"""The saematch command: compare and compare-many on saved SAE folders, the
report written as JSON and figures as PNG, exit status 2 for bad input."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

import saematch as sm
from saematch import cli

torch = pytest.importorskip("torch", reason="these tests train small SAEs with torch")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    rng = np.random.default_rng(0)
    acts = torch.from_numpy(rng.standard_normal((800, 12)).astype(np.float32))
    folder = tmp_path_factory.mktemp("cli") / "run"
    sm.train(sm.SAEConfig(d_in=12, num_latents=24, k=3), acts, seeds=[0, 1, 2], batch_size=100,
             save_dir=folder, progress=False)
    return folder


def test_compare_prints_the_table_and_writes_json_and_plots(run_folder, tmp_path, capsys):
    code = cli.main(["compare", str(run_folder / "seed_0"), str(run_folder / "seed_1"), "--threshold", "0.5",
                     "--json", str(tmp_path / "r.json"), "--plots", str(tmp_path / "figs")])
    assert code == 0
    out = capsys.readouterr().out
    assert "shared (paper, t = 0.5)" in out and "certified optimality gap" in out
    report = json.loads((tmp_path / "r.json").read_text())
    direct = sm.compare(run_folder / "seed_0", run_folder / "seed_1", threshold=0.5, progress=False)
    assert report["metrics"]["shared_fraction"] == pytest.approx(direct.shared_fraction)
    for name in ("fig1_matched_cosines.png", "figA2_threshold_sweep.png", "figA3_matched_vs_max.png"):
        assert (tmp_path / "figs" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_many_takes_a_run_folder(run_folder, tmp_path, capsys):
    code = cli.main(["compare-many", str(run_folder), "--json", str(tmp_path / "m.json"),
                     "--plots", str(tmp_path / "figs")])
    assert code == 0
    assert "3 SAEs" in capsys.readouterr().out
    report = json.loads((tmp_path / "m.json").read_text())
    assert len(report["saes"]) == 3
    assert (tmp_path / "figs" / "figA1_only_in_base.png").exists()


def test_bad_input_exits_2_with_a_message(run_folder, tmp_path, capsys):
    assert cli.main(["compare", str(run_folder / "seed_0"), str(tmp_path / "nowhere"), "--quiet"]) == 2
    assert "no such SAE folder" in capsys.readouterr().err
    assert cli.main(["compare", str(run_folder), str(run_folder / "seed_0"), "--quiet"]) == 2
    assert "use compare-many" in capsys.readouterr().err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "cfg.json").write_text("{not json")
    assert cli.main(["compare", str(tmp_path / "broken"), str(run_folder / "seed_0"), "--quiet"]) == 2
    assert "cfg.json: not valid JSON" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:  # argparse's own errors are bad input too
        cli.main(["compare", "--rule", "both", "a", "b"])
    assert e.value.code == 2


def test_the_console_script_is_installed(run_folder):
    exe = shutil.which("saematch")
    command = [exe] if exe else [sys.executable, "-m", "saematch.cli"]
    done = subprocess.run(command + ["compare", str(run_folder / "seed_1"), str(run_folder / "seed_2")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "same partner in both matchings" in done.stdout
    assert exe is not None, "pip install did not put a saematch script on PATH"
