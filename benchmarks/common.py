"""Shared helpers for the saematch benchmarks.

Nothing here is timed itself: matrix generation, peak-memory bookkeeping and
environment reporting all happen outside the timed regions.

    timing        best_of(fn, repeats)            -> Timing(best, times, cpu_times, result)
                  settle(seconds)                 let spinning BLAS/OpenMP threads go idle
    matrices      uniform_cost(n, seed)           -> float64 [0, 1) square matrix
                  sae_cosine_cost(n, d, seed)     -> (cost, truth) SAE-like cosine matrix
    SAE pairs     sae_pair(n, d, seed)            -> SaePair: float32 encoder/decoder of two SAEs
                  unit_rows_f32(x), pair_checksum(pair)
    memory        PeakRSS()                       -> context manager, .delta_mb / .peak_mb
                  vm_hwm_mb(), mem_available_mb()
    environment   thread_info(), blas_info(), package_versions(names), git_revision(),
                  git_dirty_summary()
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


# --------------------------------------------------------------------------- SAE pairs


@dataclass
class SaePair:
    """Two SAE-like models: float32 ``(n, d)`` encoder rows and decoder vectors.

    ``truth[i]`` is the latent of B that is a noisy copy of latent i of A, or -1
    when latent i of A has no copy in B. Rows are unit length.
    """

    enc_a: np.ndarray
    dec_a: np.ndarray
    enc_b: np.ndarray
    dec_b: np.ndarray
    truth: np.ndarray

    @property
    def a(self):
        return (self.enc_a, self.dec_a)

    @property
    def b(self):
        return (self.enc_b, self.dec_b)

    @property
    def nbytes(self) -> int:
        return sum(x.nbytes for x in (self.enc_a, self.dec_a, self.enc_b, self.dec_b))


def unit_rows_f32(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in place (float32; a zero row stays zero)."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1
    x /= norms
    return x


def _noise_sigma(cos: np.ndarray, d: int) -> np.ndarray:
    # For a unit a and e ~ N(0, s^2 I_d): cos(a, a + e) ~= 1 / sqrt(1 + s^2 d).
    return (np.sqrt(1.0 / cos**2 - 1.0) / np.sqrt(d)).astype(np.float32)


def _noisy_copy(rows: np.ndarray, cos: np.ndarray, rng) -> np.ndarray:
    out = rng.standard_normal(rows.shape, dtype=np.float32)
    out *= _noise_sigma(cos, rows.shape[1])[:, None]
    out += rows
    return unit_rows_f32(out)


def sae_pair(
    n: int,
    d: int = 768,
    seed: int = 0,
    *,
    shared_fraction: float = 0.6,
    cos_range: tuple[float, float] = (0.6, 0.95),
    enc_dec_cos_range: tuple[float, float] = (0.5, 0.9),
    chunk: int = 4096,
) -> SaePair:
    """Two SAE-like models with ``n`` latents each on inputs of width ``d``, float32.

    SAE A: encoder rows are random unit vectors; each decoder vector is a noisy
    copy of its encoder row (cosine drawn uniformly from ``enc_dec_cos_range``),
    so encoder and decoder are correlated as in trained SAEs. SAE B is a random
    permutation of: for the first ``round(shared_fraction * n)`` latents of A, a
    noisy copy whose encoder row and decoder vector are perturbed independently
    (each with a cosine to A's drawn uniformly from ``cos_range``); for the rest,
    fresh latents built like A's. The cosines are exact in expectation (noise
    scale from ``1 / sqrt(1 + s^2 d)``); realised values scatter by ~0.02.

    Generation is deterministic for given (n, d, seed, chunk) and runs in
    chunks of ``chunk`` latents, all in float32: besides the four (n, d)
    outputs it needs O(chunk * d) memory, never O(n^2).
    """
    if n < 1 or d < 1:
        raise ValueError(f"n and d must be positive, got n={n}, d={d}")
    rng = np.random.default_rng(seed)
    k = min(int(round(shared_fraction * n)), n)
    enc_a = np.empty((n, d), dtype=np.float32)
    dec_a = np.empty((n, d), dtype=np.float32)
    enc_b = np.empty((n, d), dtype=np.float32)
    dec_b = np.empty((n, d), dtype=np.float32)
    for r0 in range(0, n, chunk):
        r1 = min(n, r0 + chunk)
        e = unit_rows_f32(rng.standard_normal((r1 - r0, d), dtype=np.float32))
        enc_a[r0:r1] = e
        dec_a[r0:r1] = _noisy_copy(e, rng.uniform(*enc_dec_cos_range, size=r1 - r0), rng)
    perm = rng.permutation(n)  # B[j] = unshuffled[perm[j]]
    inverse = np.empty(n, dtype=np.int64)
    inverse[perm] = np.arange(n)  # unshuffled latent u sits at row inverse[u] of B
    for r0 in range(0, n, chunk):
        r1 = min(n, r0 + chunk)
        rows = inverse[r0:r1]
        s1 = min(r1, k)  # [r0, s1): copies of A's latents; [max(r0, k), r1): fresh
        if s1 > r0:
            c = s1 - r0
            enc_b[rows[:c]] = _noisy_copy(enc_a[r0:s1], rng.uniform(*cos_range, size=c), rng)
            dec_b[rows[:c]] = _noisy_copy(dec_a[r0:s1], rng.uniform(*cos_range, size=c), rng)
        f0 = max(r0, k)
        if r1 > f0:
            c = r1 - f0
            e = unit_rows_f32(rng.standard_normal((c, d), dtype=np.float32))
            enc_b[rows[f0 - r0:]] = e
            dec_b[rows[f0 - r0:]] = _noisy_copy(e, rng.uniform(*enc_dec_cos_range, size=c), rng)
    truth = np.full(n, -1, dtype=np.int64)
    truth[:k] = inverse[:k]
    return SaePair(enc_a, dec_a, enc_b, dec_b, truth)


def pair_checksum(pair: SaePair) -> str:
    """A cheap fingerprint of a pair, to confirm two processes generated the same one."""
    sums = [float(np.sum(x, dtype=np.float64)) for x in (pair.enc_a, pair.dec_a, pair.enc_b, pair.dec_b)]
    return ",".join(f"{v:.9g}" for v in sums) + f",{int(pair.truth.sum())}"


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


def vm_hwm_mb() -> float | None:
    """This process's peak resident memory so far (since the last reset), MB."""
    kb = _read_status_kb("VmHWM")
    return None if kb is None else kb / 1024


def mem_available_mb() -> float | None:
    """MemAvailable from /proc/meminfo, MB (None where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


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


def blas_info() -> list | None:
    """The BLAS / OpenMP libraries loaded in this process and their thread counts
    (threadpoolctl's view; None when threadpoolctl is not installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    keep = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture",
            "filepath")
    return [{k: lib.get(k) for k in keep if k in lib} for lib in threadpool_info()]


def format_blas_info(info) -> str:
    if info is None:
        return "threadpoolctl not installed (pip install threadpoolctl) -- BLAS threads unknown"
    parts = []
    for lib in info:
        name = Path(lib.get("filepath", "?")).name
        layer = f", {lib['threading_layer']}" if lib.get("threading_layer") else ""
        parts.append(f"{lib.get('internal_api')} {lib.get('version') or ''} ({name}{layer}): "
                     f"{lib.get('num_threads')} threads")
    return "; ".join(parts)


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


def git_dirty_summary() -> str:
    """How the working tree differs from HEAD: 'clean', or counts of modified and untracked files."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain"],
            cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    if not out:
        return "clean"
    untracked = sum(1 for line in out if line.startswith("??"))
    modified = len(out) - untracked
    return f"{modified} tracked file(s) modified, {untracked} untracked path(s)"


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
