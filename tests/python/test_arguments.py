"""Arguments from the wild (issue 11): foreign SAE objects, transposed
arrays, thresholds and devices that are not what they seem, huge candidate
counts, reports that must stay valid JSON, and the notebook ergonomics of
reports, plots and the command line."""

import json
import os
import pydoc
import subprocess
import time
import warnings

import numpy as np
import pytest

import saematch as sm
from saematch import cli, plot


def unit(rng, n, d):
    x = rng.standard_normal((n, d))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def pair(n=48, d=16, seed=0, noise=0.2):
    """Two SAEs whose latents are noisy copies of each other, permuted."""
    rng = np.random.default_rng(seed)
    ea, da = unit(rng, n, d), unit(rng, n, d)
    order = rng.permutation(n)
    eb = ea[order] + noise * unit(rng, n, d)
    db = da[order] + noise * unit(rng, n, d)
    return (ea, da), (eb.astype(np.float32), db.astype(np.float32))


# --------------------------------------------------------------------------
# sparsify and SAELens objects in memory


def _sparsify():
    os.environ.setdefault("SPARSIFY_DISABLE_TRITON", "1")
    return pytest.importorskip("sparsify", reason="eai-sparsify is not installed (scripts/setup.sh installs it)")


def test_sparsify_sparse_coders_compare_as_their_weights():
    torch = pytest.importorskip("torch")
    sparsify = _sparsify()
    coders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        coders.append(sparsify.SparseCoder(16, sparsify.SparseCoderConfig(num_latents=64, k=4)))
    a, b = coders
    with torch.no_grad():  # make half of b's latents a's, so the answer is not "nothing shared"
        b.encoder.weight[:32] = a.encoder.weight[:32]
        b.W_dec[:32] = a.W_dec[:32]
    report = sm.compare(a, b, progress=False)
    reference = sm.compare((a.encoder.weight, a.W_dec), (b.encoder.weight, b.W_dec), progress=False)
    np.testing.assert_array_equal(report.enc_partner, reference.enc_partner)
    np.testing.assert_array_equal(report.dec_partner, reference.dec_partner)
    assert report.shared[:32].all() and report.shared_fraction >= 0.5
    many = sm.compare_many([a, b, a], progress=False)
    assert many.pairs[(0, 2)].shared.all()


def test_saelens_saes_compare_with_their_encoder_transposed():
    torch = pytest.importorskip("torch")
    sae_lens = pytest.importorskip("sae_lens", reason="sae-lens is not installed (scripts/setup.sh installs it)")
    from sae_lens import StandardSAE, StandardSAEConfig

    torch.manual_seed(0)
    a = StandardSAE(StandardSAEConfig(d_in=16, d_sae=64))
    b = StandardSAE(StandardSAEConfig(d_in=16, d_sae=64))
    with torch.no_grad():
        a.W_enc.normal_()
        a.W_dec.normal_()
        b.W_enc.copy_(a.W_enc[:, torch.arange(63, -1, -1)])  # b's latents are a's in reverse order
        b.W_dec.copy_(a.W_dec[torch.arange(63, -1, -1)])
    assert tuple(a.W_enc.shape) == (16, 64)  # SAELens's (d, n): read transposed
    report = sm.compare(a, b, progress=False)
    np.testing.assert_array_equal(report.enc_partner, np.arange(63, -1, -1))
    np.testing.assert_array_equal(report.dec_partner, np.arange(63, -1, -1))
    assert report.shared_fraction == 1.0
    assert sae_lens is not None


def test_an_object_without_weights_names_what_is_accepted():
    with pytest.raises(ValueError, match="sparsify SparseCoder or a SAELens SAE; got object"):
        sm.compare(object(), pair()[1], progress=False)


# --------------------------------------------------------------------------
# Orientation


def test_transposed_saes_warn_and_say_to_transpose():
    a, b = pair(n=48, d=16)
    with pytest.warns(sm.OrientationWarning, match=r"a has 16 latents of width d = 48.*transposed"):
        sm.compare((a[0].T, a[1].T), (b[0].T, b[1].T), progress=False)
    with pytest.warns(sm.OrientationWarning) as caught:  # pointing at the caller's line, also from compare_many
        sm.compare_many([(a[0].T, a[1].T), (b[0].T, b[1].T)], progress=False)
    assert {w.filename for w in caught} == {__file__}
    with warnings.catch_warnings():  # the right orientation is silent
        warnings.simplefilter("error")
        sm.compare(a, b, progress=False)


def test_a_decoder_that_is_the_encoders_transpose_is_an_error():
    a, b = pair(n=48, d=16)
    with pytest.raises(ValueError, match=r"one of them is the other's transpose"):
        sm.compare((a[0], a[1].T), b, progress=False)


def test_one_transposed_sae_among_right_ones_is_named():
    a, b = pair(n=48, d=16)
    with pytest.raises(ValueError, match=r"b has 16 latents, a's width: is b transposed"):
        with pytest.warns(sm.OrientationWarning):
            sm.compare(a, (b[0].T.copy(), b[1].T.copy()), progress=False)


# --------------------------------------------------------------------------
# Thresholds


@pytest.mark.parametrize("bad, match", [
    (70, r"threshold must be a cosine in \[0, 1\], got 70 \(a percentage\? use 0.7\)"),
    (-0.5, r"in \[0, 1\], got -0.5"),
    ("0.7", r"threshold must be a number in \[0, 1\], got '0.7' \(str\)"),
    (None, r"got None"),
    (True, r"got True"),
    (float("inf"), "finite"),
])
def test_thresholds_outside_0_1_or_not_numbers_are_refused_everywhere(bad, match):
    a, b = pair()
    with pytest.raises(ValueError, match=match):
        sm.compare(a, b, threshold=bad, progress=False)
    with pytest.raises(ValueError, match=match):
        sm.compare_many([a, b], threshold=bad, progress=False)
    if bad is None:  # with_rule and shared_mask read None as "the report's own threshold"
        return
    report = sm.compare(a, b, progress=False)
    for call in (lambda: report.with_rule(threshold=bad), lambda: report.shared_mask(threshold=bad)):
        with pytest.raises(ValueError, match=match):
            call()
    many = sm.compare_many([a, b, a], progress=False)
    with pytest.raises(ValueError, match=match):
        many.with_rule(threshold=bad)


def test_threshold_ends_are_accepted_and_numpy_numbers_too():
    a, b = pair()
    assert sm.compare(a, b, threshold=0, rule="decoder", progress=False).shared_fraction == 1.0
    r = sm.compare(a, b, threshold=np.float32(0.5), progress=False)
    assert r.threshold == 0.5 and isinstance(r.threshold, float)
    sm.compare(a, b, threshold=1, progress=False)


def test_cli_refuses_a_threshold_outside_0_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["compare", "a", "b", "--threshold", "70"])
    assert e.value.code == 2
    assert "a percentage? use 0.7" in capsys.readouterr().err


def test_plots_refuse_a_report_threshold_outside_0_1():
    from types import SimpleNamespace

    report = SimpleNamespace(enc_cos=np.zeros(3), dec_cos=np.zeros(3), agree=np.ones(3, bool), threshold=70)
    with pytest.raises(ValueError, match=r"report.threshold must be in \[0, 1\], got 70"):
        plot.matched_cosines(report)


# --------------------------------------------------------------------------
# Devices and candidates


def test_a_device_this_machine_lacks_is_a_value_error_naming_it():
    torch = pytest.importorskip("torch")
    a, b = pair()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"device='cuda': this machine has no CUDA device"):
            sm.compare(a, b, device="cuda", progress=False)
    else:
        with pytest.raises(ValueError, match=r"device='cuda:99': this machine has \d+ CUDA device"):
            sm.compare(a, b, device="cuda:99", progress=False)
    with pytest.raises(ValueError, match=r"device='gpu' is not a torch device"):
        sm.compare(a, b, device="gpu", progress=False)
    with pytest.raises(ValueError, match=r"device='meta': only 'cpu', 'cuda' and 'mps'"):
        sm.compare_many([a, b], device="meta", progress=False)


def test_huge_candidate_counts_cost_what_the_latent_count_does():
    a, b = pair(n=50, d=16)
    reference = sm.compare(a, b, method="sparse", candidates=50, progress=False)
    start = time.perf_counter()
    huge = sm.compare(a, b, method="sparse", candidates=10**7, progress=False)
    seconds = time.perf_counter() - start
    np.testing.assert_array_equal(huge.enc_partner, reference.enc_partner)
    np.testing.assert_array_equal(huge.dec_partner, reference.dec_partner)
    assert seconds < 5  # 37 s and 11.7 GB when the lists were 10^7 long


# --------------------------------------------------------------------------
# JSON and the power-law fit


def test_three_saes_write_a_null_fit_and_say_why():
    a, b = pair(seed=1)
    many = sm.compare_many([a, b, a], progress=False)
    data = json.loads(json.dumps(many.to_dict(), allow_nan=False))
    assert data["fit"] is None
    assert "needs at least 4 SAEs, there are 3" in data["fit_note"]
    text = many.summary()
    assert "nan" not in text.lower() and "needs at least 4 SAEs" in text


def test_a_fit_with_an_offset_outside_0_1_is_called_meaningless():
    a, b = pair(seed=2)
    many = sm.compare_many([a, b, a, b], progress=False)
    many.fit = (0.5, 1.0, -0.3)
    assert "meaningless" in many.fit_note and "c = -0.3" in many.fit_note
    assert "meaningless" in many.summary()
    assert json.loads(json.dumps(many.to_dict()))["fit"]["c"] == -0.3
    many.fit = (0.5, 1.0, 0.3)
    assert many.fit_note is None


def _folder_pair(tmp_path):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    acts = torch.from_numpy(rng.standard_normal((600, 12)).astype(np.float32))
    run = tmp_path / "run"
    sm.train(sm.SAEConfig(d_in=12, num_latents=24, k=3), acts, seeds=[0, 1, 2], batch_size=100, save_dir=run,
             progress=False)
    return run


def test_cli_json_of_three_saes_is_valid_json_and_quiet_prints_nothing(tmp_path, capsys):
    run = _folder_pair(tmp_path)
    assert cli.main(["compare-many", str(run), "--json", str(tmp_path / "m.json"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    text = (tmp_path / "m.json").read_text()
    assert "NaN" not in text
    assert json.loads(text)["fit"] is None
    assert cli.main(["compare", str(run / "seed_0"), str(run / "seed_1"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root writes through permissions; the path-through-a-file case below still runs")
def test_cli_unwritable_outputs_are_bad_input_before_comparing(tmp_path, capsys):
    run = _folder_pair(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main(["compare", str(run / "seed_0"), str(run / "seed_1"), "--json",
                         str(locked / "r.json")]) == 2
        assert "not writable" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_cli_outputs_through_a_file_are_bad_input(tmp_path, capsys):
    run = _folder_pair(tmp_path)
    (tmp_path / "afile").write_text("x")
    for flag, target in (("--json", tmp_path / "afile" / "r.json"), ("--plots", tmp_path / "afile" / "figs"),
                         ("--plots", tmp_path / "afile"), ("--json", tmp_path)):
        code = cli.main(["compare", str(run / "seed_0"), str(run / "seed_1"), flag, str(target), "--quiet"])
        err = capsys.readouterr().err
        assert code == 2, (flag, target, err)
        assert flag in err and "internal error" not in err


# --------------------------------------------------------------------------
# Ergonomics


def test_help_of_compare_holds_the_rules_not_a_pointer_to_a_shadowed_docstring():
    text = pydoc.render_doc(sm.compare, renderer=pydoc.plaintext)
    assert "module docstring" not in text
    for rule in ('"paper"', '"separate"', '"decoder"'):
        assert rule in text
    assert "SparseCoder" in text and "[0, 1]" in text


@pytest.mark.parametrize("module", [sm.plot, sm.collect, sm.synthetic])
def test_tab_completion_offers_no_imported_modules(module):
    names = dir(module)
    for private in ("np", "os", "sys", "json", "subprocess", "Path", "Mapping", "annotations"):
        assert private not in names
    assert set(module.__all__) <= set(names)


def test_reports_become_data_frames():
    pd = pytest.importorskip("pandas", reason="pandas is not installed (scripts/setup.sh installs it)")
    a, b = pair(seed=3)
    r = sm.compare(a, b, progress=False)
    frame = r.to_frame()
    assert isinstance(frame, pd.DataFrame) and len(frame) == 48
    np.testing.assert_array_equal(frame["enc_partner"].to_numpy(), r.enc_partner)
    assert frame["shared"].mean() == pytest.approx(r.shared_fraction)
    many = sm.compare_many([a, b, a], progress=False)
    table = many.to_frame()
    assert list(table.index) == [(0, 1), (0, 2), (1, 2)]
    assert table.loc[(0, 2), "shared_fraction"] == 1.0
    assert table.loc[(0, 1), "shared_fraction"] == pytest.approx(many.pairs[(0, 1)].shared_fraction)


def test_the_demo_folder_is_ignored_by_git():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if not os.path.isdir(os.path.join(root, ".git")) and not os.path.isfile(os.path.join(root, ".git")):
        pytest.skip("not a git checkout")
    done = subprocess.run(["git", "-C", root, "check-ignore", "-q", "saematch-demo/summary.md"])
    assert done.returncode == 0


# --------------------------------------------------------------------------
# Plots


def test_a_plot_is_returned_closed_so_a_notebook_shows_it_once():
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    plt.close("all")
    a, b = pair(seed=4)
    r = sm.compare(a, b, progress=False)
    for draw in (plot.matched_cosines, plot.threshold_sweep, plot.matched_vs_max):
        fig = draw(r)
        assert isinstance(fig, Figure)
        # The inline backend draws every figure pyplot holds at the end of a
        # cell; the returned value is drawn once more as the cell's result.
        assert plt.get_fignums() == []
        png = fig.canvas.print_figure  # still drawable after closing
        assert callable(png)


def test_few_widely_spread_latents_draw_their_contours():
    # Few points spread over the whole range: the smoothing kernel once
    # outgrew the 120-bin grid and contour() raised a length mismatch.
    from types import SimpleNamespace

    x = np.linspace(-0.2, 1.0, 12)
    report = SimpleNamespace(enc_cos=x, dec_cos=x[::-1].copy(), agree=np.ones(12, bool), threshold=0.7)
    fig = plot.matched_cosines(report)
    assert len(fig.axes[0].collections) >= 2  # the scatter and at least one contour set


def test_only_in_base_has_a_fixed_fraction_axis():
    from types import SimpleNamespace

    fig = plot.only_in_base(SimpleNamespace(only_in_base={2: 0.987, 3: 0.980}, fit=None))
    assert fig.axes[0].get_ylim() == (0.0, 1.0)


def test_figure_2_over_n_seeds_averages_the_base_over_the_others():
    rng = np.random.default_rng(5)
    (ea, da), _ = pair(seed=5)
    saes = [(ea, da)] + [(ea + 0.3 * unit(rng, 48, 16), da + 0.3 * unit(rng, 48, 16)) for _ in range(3)]
    counts = [rng.integers(0, 1000, 48) for _ in saes]
    many = sm.compare_many(saes, firing_counts=counts, progress=False)
    base = 2  # a base that is the b side of some pairs
    fig = plot.similarity_vs_frequency_many(many, base=base, n_tokens=1000)
    enc = np.mean([many.pairs[(0, 2)].b_side["enc_cos"], many.pairs[(1, 2)].b_side["enc_cos"],
                   many.pairs[(2, 3)].enc_cos], axis=0)
    dec = np.mean([many.pairs[(0, 2)].b_side["dec_cos"], many.pairs[(1, 2)].b_side["dec_cos"],
                   many.pairs[(2, 3)].dec_cos], axis=0)
    fired = counts[base] > 0
    points = fig.axes[0].collections[0].get_offsets()
    np.testing.assert_allclose(points[:, 0], counts[base][fired] / 1000)
    np.testing.assert_allclose(points[:, 1], (0.5 * (enc + dec))[fired], rtol=1e-6)
    with pytest.raises(ValueError, match="base must be the index of one of the 4 SAEs"):
        plot.similarity_vs_frequency_many(many, base=4)
    no_counts = sm.compare_many(saes[:2], progress=False)
    with pytest.raises(ValueError, match="no firing counts"):
        plot.similarity_vs_frequency_many(no_counts)
