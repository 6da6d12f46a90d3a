"""Data-parallel training (saematch.distributed mode "data") under torchrun
with 2 processes on gloo: each process steps on its share of every batch
and the C++ trainer exchanges the batch-wide quantities through
torch.distributed, so the SAEs equal those of one process on whole batches
to 1e-6 (float sums split differently), for every architecture, through a
constant batch, shares of odd batches and a rank killed mid-run."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs torch")
transformers = pytest.importorskip("transformers", reason="online training needs transformers")
dist = pytest.importorskip("torch.distributed", reason="needs torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("this torch has no gloo backend", allow_module_level=True)

import saematch as sm  # noqa: E402

from tiny_bert import child_env, saved_model_and_data  # noqa: E402
from torchrun_runs import kill_a_worker_after, saved_step, torchrun  # noqa: E402

WORKER = Path(__file__).with_name("_data_parallel_worker.py")
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny BERT saved as a model folder, and a jsonl dataset."""
    return saved_model_and_data(tmp_path_factory.mktemp("data-parallel"), 200, seed=1)


def _env():
    return child_env(OMP_NUM_THREADS="1")  # one thread each, as torchrun gives its workers


def _run(cmd):
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


def _max_difference(got, want) -> float:
    assert set(got) == set(want)
    worst = 0.0
    for h in want:
        assert [s.seed for s in got[h]] == [s.seed for s in want[h]]
        for a, b in zip(got[h], want[h]):
            assert set(a.parameters) == set(b.parameters)
            for name in b.parameters:
                worst = max(worst, float((a.parameters[name] - b.parameters[name]).abs().max()))
    return worst


@pytest.fixture(scope="module")
def worker_runs(inputs):
    """The worker's online run alone and under torchrun (where it also checks the arrays path)."""
    single, two = inputs / "single", inputs / "two"
    for d in (single, two):
        d.mkdir()
    _run([sys.executable, str(WORKER), str(inputs), str(single)])
    _run(torchrun(str(WORKER), str(inputs), str(two)))
    return single, two


def test_every_architecture_trains_data_parallel_as_one_process(worker_runs):
    single, two = worker_runs
    want, got = sm.load(single / "run"), sm.load(two / "run")
    architectures = {h: saes[0].config.architecture for h, saes in want.items()}
    assert sorted(architectures.values()) == ["batchtopk", "gated", "jumprelu", "relu", "topk"]
    assert _max_difference(got, want) <= TOLERANCE
    # The step statistics are the whole batch's on both processes, and the firing counts those of one process.
    reference = json.loads((single / "summary.json").read_text())
    for r in range(2):
        summary = json.loads((two / f"summary{r}.json").read_text())
        for h, per_seed in reference.items():
            for a, b in zip(summary[h], per_seed):
                assert a["firing_counts"] == b["firing_counts"], (h, r)
                assert a["history"]["l0"] == b["history"]["l0"], (h, r)
                assert a["history"]["dead_fraction"] == b["history"]["dead_fraction"], (h, r)
                np.testing.assert_allclose(a["history"]["fvu"], b["history"]["fvu"], rtol=1e-5)
    # The SAEs trained, and TopK's AuxK had dead latents to work on.
    for h, per_seed in reference.items():
        assert per_seed[0]["history"]["fvu"][-1] < per_seed[0]["history"]["fvu"][0], h
    topk = next(h for h, a in architectures.items() if a == "topk")
    assert max(reference[topk][0]["history"]["dead_fraction"]) > 0
    # One copy of the checkpoints, written by process 0: no per-rank folders.
    assert not (two / "run" / ".ranks").exists()


def test_the_trainers_exchanges_on_arrays(worker_runs):
    """Each process's trainer on its share against a whole-batch trainer of
    its own: through a constant batch (skipped by both processes), batches
    of 7 and 2 rows (shares of 3 and 4, 1 and 1), and a NaN in process 1's
    share, which stops both with the weights as they were."""
    _, two = worker_runs
    ranks = [json.loads((two / f"rank{r}.json").read_text()) for r in range(2)]
    for arch in ("topk", "batchtopk", "relu"):
        for r, report in enumerate(ranks):
            got = report[arch]
            assert got["max_difference"] <= TOLERANCE, (arch, r)
            assert got["skipped"][1] == [True, True] and not any(any(s) for i, s in enumerate(got["skipped"]) if i != 1)
            assert got["firing_equal"], (arch, r)
            assert got["steps"] == 6 and got["tokens"] == 33 + 9 + 33 + 7 + 2 + 65
            np.testing.assert_allclose(got["fvu"][0], got["fvu"][1], rtol=1e-5)
        # Both processes hold the same weights, and both stopped at the NaN.
        assert ranks[0][arch]["weights"] == ranks[1][arch]["weights"]
        assert "this process's share of the batch has a non-finite value at token 4, dimension 4" in ranks[1][arch]["error"]
        assert "another process's share of the batch has a non-finite value" in ranks[0][arch]["error"]


def _cli_args(inputs, save_dir, *extra):
    return ["train", str(inputs / "model"), str(inputs / "data.jsonl"), "--hookpoints", "encoder.layer.0",
            "encoder.layer.1", "--seeds", "0", "1", "--expansion-factor", "2", "-k", "3", "--auxk-alpha", "0.03",
            "--batch-size", "45", "--ctx-len", "16", "--forward-batch-size", "3", "--lr-warmup-steps", "3",
            "--save-every", "2", "--quiet", "--save-dir", str(save_dir), *extra]


def test_a_killed_rank_resumes_to_the_one_process_result(inputs):
    """`saematch train` under torchrun without a --distribute-* flag trains
    data-parallel; a rank killed mid-run, the run resumed from process 0's
    checkpoint ends where one process ends."""
    single, run = inputs / "cli-single", inputs / "cli-killed"
    _run([sys.executable, "-m", "saematch.cli", *_cli_args(inputs, single)])
    kill_a_worker_after(torchrun("-m", "saematch.cli", *_cli_args(inputs, run)), _env(),
                        run / "encoder.layer.1" / "seed_1", 4)
    total = saved_step(single / "encoder.layer.0" / "seed_0")
    assert 4 <= saved_step(run / "encoder.layer.0" / "seed_0") < total  # killed midway
    _run(torchrun("-m", "saematch.cli", *_cli_args(inputs, run, "--data-parallel", "--resume")))
    assert saved_step(run / "encoder.layer.0" / "seed_0") == total
    assert _max_difference(sm.load(run), sm.load(single)) <= TOLERANCE
