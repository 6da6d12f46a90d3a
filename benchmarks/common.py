"""Shared helpers for the saematch benchmarks.

Nothing here is timed itself: matrix generation, peak-memory bookkeeping and
environment reporting all happen outside the timed regions.

    timing        best_of(fn, repeats)            -> Timing(best, times, cpu_times, result)
                  settle(seconds)                 let spinning BLAS/OpenMP threads go idle
    matrices      uniform_cost(n, seed)           -> float64 [0, 1) square matrix
                  sae_cosine_cost(n, d, seed)     -> (cost, truth) SAE-like cosine matrix
    memory        PeakRSS()                       -> context manager, .delta_mb / .peak_mb
    environment   thread_info(), package_versions(names), git_revision()
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- timing


@dataclass
class Timing:
    """What :func:`best_of` measured: wall seconds per call, CPU seconds per call
    (all threads of this process; cpu / wall ~ cores busy) and the last result."""

    best: float
    times: list
    cpu_times: list
    result: object = None

    @property
    def mean(self) -> float:
        return sum(self.times) / len(self.times)

    @property
    def cores(self) -> float:
        """CPU time / wall time over all calls: about how many cores were busy."""
        return sum(self.cpu_times) / max(sum(self.times), 1e-12)


def best_of(fn, repeats: int = 3, *, warmup: int = 0) -> Timing:
    """Call ``fn()`` ``warmup`` + ``repeats`` times and time the last ``repeats``.

    Garbage is collected before each call and the collector is paused during
    the call, so a collection triggered by someone else's garbage is not
    charged to the solver. Only the call itself is inside the timed region.
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    result = None
    for _ in range(warmup):
        result = fn()
    times, cpu_times = [], []
    for _ in range(repeats):
        result = None  # let the previous result go before the next run
        gc.collect()
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            cpu0 = time.process_time()
            start = time.perf_counter()
            result = fn()
            elapsed = time.perf_counter() - start
            cpu_times.append(time.process_time() - cpu0)
            times.append(elapsed)
        finally:
            if gc_was_enabled:
                gc.enable()
    return Timing(min(times), times, cpu_times, result)


def settle(seconds: float = 0.3) -> None:
    """Sleep so that worker threads of earlier work go idle before a timing.

    OpenBLAS (the GEMM that builds a cosine matrix) and OpenMP pools keep their
    threads spinning for a while after a parallel region; on a 2-core machine
    such a spinning thread takes a core from the next solver (and shows up in
    its CPU time). A few hundred milliseconds is enough for them to sleep.
    """
    gc.collect()
    if seconds > 0:
        time.sleep(seconds)


# --------------------------------------------------------------------------- matrices


def uniform_cost(n: int, seed: int = 0, m: int | None = None) -> np.ndarray:
    """A float64 matrix of independent uniform [0, 1) entries (n x m, default square)."""
    rng = np.random.default_rng(seed)
    return rng.random((n, n if m is None else m))


def _unit_rows(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def sae_cosine_cost(
    n: int,
    d: int = 768,
    seed: int = 0,
    *,
    shared_fraction: float = 0.5,
    cos_range: tuple[float, float] = (0.7, 0.9),
    m: int | None = None,
):
    """An SAE-like decoder cosine matrix between two "seeds".

    A is ``n`` random unit vectors in ``d`` dimensions (the first SAE's
    decoder directions). B (``m`` rows, default ``n``) is a random permutation
    of: noisy copies of the first ``round(shared_fraction * n)`` rows of A,
    whose cosine with their original is drawn uniformly from ``cos_range``,
    and fresh random unit vectors for the rest (features only the second seed
    learned). Returns ``(cost, truth)`` with ``cost = A @ B.T`` in float64
    (to be maximised) and ``truth`` an int64 array where ``truth[i]`` is the
    column of B that is the noisy copy of row i of A, or -1.

    The noise level gives the cosine exactly in expectation: for a unit a and
    e ~ N(0, s^2 I_d), cos(a, a + e) ~= 1 / sqrt(1 + s^2 d), so
    s = sqrt(1 / c^2 - 1) / sqrt(d) targets cosine c.
    """
    m = n if m is None else m
    rng = np.random.default_rng(seed)
    a = _unit_rows(rng.standard_normal((n, d)))
    k = min(int(round(shared_fraction * n)), n, m)
    target = rng.uniform(cos_range[0], cos_range[1], size=k)
    sigma = np.sqrt(1.0 / target**2 - 1.0) / np.sqrt(d)
    copies = a[:k] + sigma[:, None] * rng.standard_normal((k, d))
    fresh = rng.standard_normal((m - k, d))
    b_unshuffled = _unit_rows(np.vstack([copies, fresh]))
    perm = rng.permutation(m)  # B[j] = b_unshuffled[perm[j]]
    b = b_unshuffled[perm]
    cost = np.ascontiguousarray(a @ b.T, dtype=np.float64)
    inverse = np.empty(m, dtype=np.int64)
    inverse[perm] = np.arange(m)
    truth = np.full(n, -1, dtype=np.int64)
    truth[:k] = inverse[:k]
    return cost, truth


# --------------------------------------------------------------------------- memory


def _read_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakRSS(contextlib.AbstractContextManager):
    """Peak resident memory of this process during a ``with`` block.

    ``delta_mb`` is the peak minus the resident size on entry: roughly the
    extra memory the block needed (inputs already in memory are not counted).
    On systems without /proc/self/clear_refs the peak cannot be reset and the
    values are ``None``.
    """

    def __init__(self):
        self.start_mb = self.peak_mb = self.delta_mb = None
        self._ok = False

    def __enter__(self):
        gc.collect()
        self._ok = _reset_peak_rss()
        rss = _read_status_kb("VmRSS")
        self._ok = self._ok and rss is not None
        if self._ok:
            self.start_mb = rss / 1024
        return self

    def __exit__(self, *exc):
        if self._ok:
            hwm = _read_status_kb("VmHWM")
            if hwm is not None:
                self.peak_mb = hwm / 1024
                self.delta_mb = max(0.0, self.peak_mb - self.start_mb)
        return False


# --------------------------------------------------------------------------- environment


def thread_info(threads: int | None = None) -> dict:
    """CPU and OpenMP thread facts worth printing next to any timing."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    omp = os.environ.get("OMP_NUM_THREADS")
    if threads is not None:
        used = int(threads)
        how = "--threads"
    elif omp:
        used = int(omp.split(",")[0])
        how = "OMP_NUM_THREADS"
    else:
        used = affinity or os.cpu_count()
        how = "OpenMP default (one per usable CPU)"
    return {
        "os_cpu_count": os.cpu_count(),
        "usable_cpus": affinity,
        "OMP_NUM_THREADS": omp,
        "saematch_threads": used,
        "saematch_threads_source": how,
        "cpu_model": _cpu_model(),
        "load_average": _loadavg(),
    }


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def package_versions(names) -> dict:
    """Installed distribution versions (None where not installed)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_revision() -> str:
    """Short commit of the repository, with '+dirty' for local changes, or 'uncommitted'."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "uncommitted"
    try:
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        dirty = ""
    return rev + ("+dirty" if dirty else "")


def environment_env_vars(prefixes=("OMP_", "OPENBLAS_", "MKL_", "GOMP_")) -> dict:
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(prefixes)}


def write_json(path, payload) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, default=_json_default)
        f.write("\n")


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def fmt_seconds(t) -> str:
    if t is None:
        return "-"
    if t < 1e-2:
        return f"{t * 1e3:.2f}ms"
    if t < 100:
        return f"{t:.3f}s"
    return f"{t:.0f}s"


def eprint(*args, **kwargs):
    print(*args, file=sys.stderr, flush=True, **kwargs)
