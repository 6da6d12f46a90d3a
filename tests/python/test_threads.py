"""Small work stays on the calling thread (issue 11, "a busy machine").

On a busy machine every parallel region of tiny work waits for a descheduled
team mate while the others spin, which made small training 25-85x slower
next to one other process. Small training steps and small comparisons must
therefore start no worker threads at all; larger ones still do (the control,
so the check can fail). Each case runs in a fresh interpreter with two
OpenMP threads allowed (OpenBLAS kept to one, whose threads would otherwise
be counted), and counts the process's threads in /proc/self/task: OpenMP
runtimes start their workers at the first region that has more than one
thread and keep them.
"""

import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc/self/task")

COUNT = "import os\ndef threads(): return len(os.listdir('/proc/self/task'))\n"


def _run(body: str) -> list[int]:
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="1")
    env.pop("MKL_NUM_THREADS", None)  # MKL would follow it rather than the OpenMP cap
    out = subprocess.run([sys.executable, "-c", COUNT + textwrap.dedent(body)], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return [int(x) for x in out.stdout.split()]


def test_small_training_starts_no_worker_threads_and_large_training_does():
    pytest.importorskip("torch")
    before, small, large = _run("""
        import numpy as np, torch, saematch as sm
        print(threads())
        x = np.random.default_rng(0).standard_normal((8192, 32)).astype(np.float32)
        sm.train(sm.SAEConfig(d_in=32, num_latents=256, k=8), x, seeds=[0, 1], progress=False)
        print(threads())
        x = np.random.default_rng(0).standard_normal((4096, 128)).astype(np.float32)
        sm.train(sm.SAEConfig(d_in=128, num_latents=4096, k=8), x, seeds=[0], progress=False)
        print(threads())
    """)
    assert small == before, "a training step of 4096 tokens x 512 latents x d 32 started threads"
    assert large > small, "a step 32x larger should use both threads"


def test_small_comparison_starts_no_worker_threads():
    before, small = _run("""
        import numpy as np, saematch as sm
        print(threads())
        rng = np.random.default_rng(1)
        a, b = (rng.standard_normal((512, 64)).astype(np.float32) for _ in range(2))
        sm.compare((a, a), (b, b), progress=False)
        print(threads())
    """)
    assert small == before, "comparing two SAEs of 512 latents, d 64 started threads"
