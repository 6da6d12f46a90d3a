"""The judging logic of ``bench_train.py --device`` (benchmarks/train_device.py),
which decides MET / NOT MET on the one GPU run a session gets: targets at the
issue's shapes only, failures recorded instead of ending the table, step
counts trimmed to the budget."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import train_device as td  # noqa: E402


def ok(ms, peak=None):
    e = {"status": "ok", "median": ms / 1e3}
    if peak is not None:
        e["peak_bytes"] = peak
    return e


def by_what(rows, shape):
    return {r["what"]: r for r in rows if r["shape"] == shape}


def test_targets_are_the_issues_and_judged_only_at_its_shapes():
    results = {
        "768x131072x32": {"floor_fp32": ok(16, 2), "floor_bf16": ok(4), "sparsify_0": ok(16, 10),
                          "saematch_1_bf16": ok(12, 8), "saematch_1": ok(21, 12), "saematch_4_bf16": ok(40),
                          **{f"sparsify_{s}": ok(16) for s in (1, 2, 3)}},
        "768x16384x32": {"sparsify_0": ok(6.0), "saematch_1_bf16": ok(4.5)},  # 1.33x: not the 1.5x this shape needs
        "32x256x8": {"sparsify_0": ok(60), "saematch_1_bf16": ok(1)},  # a dry run's shape: nothing judged
    }
    shapes = [(768, 131072, 32), (768, 16384, 32), (32, 256, 8)]
    rows = td.ratios(results, shapes)
    big = by_what(rows, "768x131072x32")
    like = big["sparsify x1 / saematch x1 bf16 (like for like: both bf16 encoders)"]
    assert like["value"] == pytest.approx(16 / 12) and like["target"] == ">= 1.25" and like["ok"] is True
    fp32 = big["sparsify x1 / saematch x1 fp32"]
    assert fp32["ok"] is False
    floor = big["saematch x1 fp32 / fp32 GEMM floor"]
    assert floor["value"] == pytest.approx(21 / 16) and floor["target"] == "<= 1.25" and floor["ok"] is False
    four = big["sparsify x4 sequential / saematch x4 one pass bf16"]
    assert four["value"] == pytest.approx(64 / 40) and four["ok"] is True  # the four seeds' medians summed
    assert big["sparsify x4 sequential / saematch x4 one pass fp32"]["value"] is None  # not measured: no verdict
    mem = big["peak memory saematch x1 fp32 / sparsify x1 (each alone)"]
    assert mem["value"] == pytest.approx(1.2) and mem["ok"] is False
    assert big["peak memory saematch x1 bf16 / sparsify x1 (each alone)"]["ok"] is True

    small = by_what(rows, "768x16384x32")
    assert small["sparsify x1 / saematch x1 bf16 (like for like: both bf16 encoders)"]["target"] == ">= 1.5"
    assert small["sparsify x1 / saematch x1 bf16 (like for like: both bf16 encoders)"]["ok"] is False
    assert small["saematch x1 fp32 / fp32 GEMM floor"]["target"] is None  # the floor target is n = 131072's

    dry = by_what(rows, "32x256x8")
    assert all(r["target"] is None and r["ok"] is None for r in dry.values())
    assert not any(w.startswith("peak memory") for w in dry)  # no device memory measured there


def test_a_failed_contender_is_recorded_and_leaves_its_ratios_open():
    results = {"768x131072x32": {"sparsify_0": ok(16), "saematch_1_bf16": {"status": "oom", "error": "x"},
                                 "sparsify_1": {"status": "error", "error": "y"}}}
    rows = by_what(td.ratios(results, [(768, 131072, 32)]), "768x131072x32")
    assert rows["sparsify x1 / saematch x1 bf16 (like for like: both bf16 encoders)"]["ok"] is None
    assert td.four_sequential(results["768x131072x32"]) is None


class Counting:
    seeds = 1

    def __init__(self, fail_at=None):
        self.calls, self.fail_at, self.fvu = 0, fail_at, None

    def prepare(self, x):
        pass

    def step(self, x):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        self.fvu = [1.0 / self.calls]


def test_measure_times_warm_up_apart_trims_to_its_slice_and_records_failures():
    torch = pytest.importorskip("torch")
    cpu = torch.device("cpu")
    batches = [torch.zeros(2, 2)]
    made = []

    def factory(cfg, device, init):
        made.append(Counting())
        return made[-1]

    e = td.measure(factory, {}, cpu, batches, warmup=2, steps=7, slice_s=None, init_cpu=None)
    assert e["status"] == "ok" and e["steps"] == 7 and len(e["times"]) == 7 and made[-1].calls == 9
    assert e["first_fvu"] == [1.0] and e["last_fvu"] == [1.0 / 9]
    e = td.measure(factory, {}, cpu, batches, warmup=2, steps=50, slice_s=0.0, init_cpu=None)
    assert e["steps"] == 3  # no time left in its slice: the minimum
    e = td.measure(lambda c, d, i: Counting(fail_at=4), {}, cpu, batches, warmup=2, steps=5, slice_s=None,
                   init_cpu=None)
    assert e["status"] == "oom" and "out of memory" in e["error"] and "median" not in e
    e = td.measure(lambda c, d, i: Counting(fail_at=1), {}, cpu, batches, warmup=1, steps=1, slice_s=None,
                   init_cpu=None)
    assert e["status"] == "oom"

    def broken(cfg, device, init):
        raise ValueError("SAEConfig.k = 32 exceeds num_latents = 8")

    e = td.measure(broken, {}, cpu, batches, warmup=1, steps=1, slice_s=None, init_cpu=None)
    assert e["status"] == "error" and e["error"].startswith("ValueError: SAEConfig.k")
