"""Running saematch under torchrun in tests: the command, the step a seed
folder has saved, and a run whose last worker is killed partway."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def torchrun(*args):
    """The command that runs `args` in 2 processes on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]


def saved_step(folder: Path) -> int:
    """The step of the SAE saved in `folder` (0: none saved yet)."""
    from saematch import _core

    try:
        return int(_core.safetensors_metadata(str(folder / "sae.safetensors")).get("step", "0"))
    except Exception:  # noqa: BLE001 - not written yet, or being replaced
        return 0


def _workers(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out.extend(int(t) for t in (task / "children").read_text().split())
    return out


def kill_a_worker_after(cmd, env, watched: Path, step: int) -> None:
    """Starts `cmd` (a torchrun command) and SIGKILLs its last worker once
    the seed folder `watched` has saved `step`; asserts the run then failed."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, killed = time.time() + 300, False
    while proc.poll() is None and time.time() < deadline:
        if saved_step(watched) >= step:
            workers = _workers(proc.pid)
            if workers:
                os.kill(workers[-1], signal.SIGKILL)
                killed = True
                break
        time.sleep(0.01)
    proc.wait(timeout=300)
    err = proc.stderr.read()
    assert killed and proc.returncode != 0, f"the run ended before a worker was killed: {err[-2000:]}"
