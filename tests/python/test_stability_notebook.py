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
