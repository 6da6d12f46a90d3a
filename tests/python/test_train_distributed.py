"""`saematch train --distribute-seeds / --distribute-hookpoints` under
torchrun with 2 processes on gloo: the final weights are bitwise those of
one process (each process with one thread, as torchrun gives it, and two
seeds per process: the trainer's encoder GEMM takes another ATen path for a
single seed), and a run whose rank is killed resumes to them."""

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="training needs torch")
transformers = pytest.importorskip("transformers", reason="online training needs transformers")
dist = pytest.importorskip("torch.distributed", reason="needs torch.distributed")
if not dist.is_available() or not dist.is_gloo_available():
    pytest.skip("this torch has no gloo backend", allow_module_level=True)

import saematch as sm  # noqa: E402

from tiny_bert import child_env, saved_model_and_data  # noqa: E402
from torchrun_runs import kill_a_worker_after, saved_step, torchrun  # noqa: E402
HOOKS = ["encoder.layer.0", "encoder.layer.1"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A tiny BERT saved as a model folder, and a jsonl dataset."""
    return saved_model_and_data(tmp_path_factory.mktemp("dist"), 300, seed=0)


def _args(inputs, save_dir, *extra):
    return ["train", str(inputs / "model"), str(inputs / "data.jsonl"), "--hookpoints", *HOOKS,
            "--seeds", "0", "1", "2", "3", "--expansion-factor", "2", "-k", "4", "--batch-size", "50", "--ctx-len", "16",
            "--forward-batch-size", "3", "--lr-warmup-steps", "3", "--save-every", "2", "--quiet",
            "--save-dir", str(save_dir), *extra]


def _env():
    return child_env(OMP_NUM_THREADS="1")  # one thread each, as torchrun gives its workers


def _torchrun(args):
    return torchrun("-m", "saematch.cli", *args)


def _run(cmd):
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]


@pytest.fixture(scope="module")
def single(inputs):
    """The reference: one process, one thread."""
    _run([sys.executable, "-m", "saematch.cli", *_args(inputs, inputs / "single")])
    return sm.load(inputs / "single")


def _assert_equal_runs(got, want):
    assert set(got) == set(want) == set(HOOKS)
    for h in HOOKS:
        assert [s.seed for s in got[h]] == [s.seed for s in want[h]] == [0, 1, 2, 3]
        for a, b in zip(got[h], want[h]):
            for name in b.parameters:
                assert torch.equal(a.parameters[name], b.parameters[name]), (h, a.seed, name)


@pytest.mark.parametrize("mode", ["seeds", "hookpoints"])
def test_two_processes_train_bitwise_what_one_does(inputs, single, mode):
    run = inputs / f"two-{mode}"
    _run(_torchrun(_args(inputs, run, f"--distribute-{mode}")))
    _assert_equal_runs(sm.load(run), single)
    # The two processes did not train the same SAEs twice: each seed folder was written by its owner only.
    if mode == "seeds":
        ranks = sorted(p.name for p in (run / ".ranks" / "seeds-of-2").iterdir())
        assert ranks == ["rank0", "rank1"]
        assert sorted(p.name for p in (run / ".ranks/seeds-of-2/rank1" / HOOKS[0]).iterdir()) == [
            "seed_1", "seed_3", "trainer_state.safetensors"]


def test_a_killed_rank_resumes_to_the_uninterrupted_result(inputs, single):
    run = inputs / "killed"
    kill_a_worker_after(_torchrun(_args(inputs, run, "--distribute-seeds")), _env(), run / HOOKS[1] / "seed_1", 4)
    total_steps = saved_step(inputs / "single" / HOOKS[0] / "seed_0")
    assert saved_step(run / HOOKS[0] / "seed_0") < total_steps  # killed midway
    _run(_torchrun(_args(inputs, run, "--distribute-seeds", "--resume")))
    _assert_equal_runs(sm.load(run), single)
