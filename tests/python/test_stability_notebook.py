"""examples/stability.ipynb runs top to bottom in a headless kernel and says
what it claims: planted-subspace latents less stable than free ones, their
unshared parts agreeing on a subspace, a stabilization curve, a consensus."""

from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the notebook trains SAEs")
NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "stability.ipynb"


def test_stability_notebook_runs_top_to_bottom(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # stability, subspace overlap, stabilization
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "Warning" not in text, text
    assert "stability of 4 SAEs" in text and "reproducible up to rank" in text and "consensus of 4 SAEs" in text
    inside, free = [], []
    for line in text.splitlines():
        if line.startswith("seed ") and "inside the planted subspaces" in line:
            parts = line.split()
            inside.append(float(parts[parts.index("subspaces") + 1]))
            free.append(float(parts[parts.index("feature") + 1]))
    assert len(inside) == 4 and sum(inside) / 4 < sum(free) / 4 - 0.2


def test_stability_study_runs_at_smoke_size(tmp_path):
    import json
    import subprocess
    import sys

    script = NOTEBOOK.parent / "stability_study.py"
    done = subprocess.run([sys.executable, str(script), "--budget", "quick", "--only", "synthetic", "--out",
                           str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    r = json.loads((tmp_path / "results.json").read_text())["datasets"]["synthetic"]
    s = r["stability"]
    assert s["stable"] + s["unstable"] <= s["latents"] == 4 * 40
    assert list(r["consensus"]["model"]) == ["consensus", "single"]
    assert r["stabilization"]["step"][0] == 0 and len(r["stabilization"]["step"]) >= 5
    md = (tmp_path / "results.md").read_text()
    assert "holds here" in md and "pooled dictionaries" in md
    # the Archetypal ablation: both initialisations, four seeds each (six pairs), and its row
    for init in ("kmeans", "random"):
        a = r["archetypal"][init]
        assert len(a["shared"]) == 6 and len(a["fvu"]) == 4 and a["points"] == 128
    assert "Archetypal SAEs' stability vanishes under random initialisation" in md
    for fig in ("stability", "subspaces", "stabilization"):
        assert (tmp_path / "figures" / f"synthetic_{fig}.png").read_bytes()[:4] == b"\x89PNG"
    # a second run reads the cache instead of training again
    again = subprocess.run([sys.executable, str(script), "--budget", "quick", "--only", "synthetic", "--out",
                            str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert "synthetic: cached" in again.stdout
    assert "archetypal synthetic kmeans: cached" in again.stdout
