"""Online training (saematch.online): a tiny BERT built here, hooked at two
modules, its activations fed straight to the trainers. The references are
built independently in the tests: the chunking by an explicit loop, the
activations by full forward passes with hooks, the SAEs by sm.train on those
collected activations."""

import json
import warnings

import numpy as np
import pytest

import saematch as sm
from saematch import online, text_data

torch = pytest.importorskip("torch", reason="online training needs torch")
transformers = pytest.importorskip("transformers", reason="online training needs transformers")

from tiny_bert import tiny_bert  # noqa: E402
from tiny_bert import texts as tiny_texts  # noqa: E402

HOOKS = ["encoder.layer.1.output", "encoder.layer.0"]  # given out of forward order on purpose
CTX, FWD, BATCH = 16, 3, 50


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def texts(n=60, seed=0):
    return tiny_texts(n, seed)


def reference_rows(tokenizer, docs, ctx):
    """[SEP] before each document, all in one stream, cut into full rows."""
    stream = []
    for d in docs:
        stream.append(tokenizer.sep_token_id)
        stream.extend(tokenizer.convert_tokens_to_ids(tokenizer.tokenize(d)))
    n = len(stream) // ctx
    return np.array(stream[: n * ctx], dtype=np.int64).reshape(n, ctx)


def collected(model, tokenizer, docs, hooks, ctx=CTX, fwd=FWD):
    """Every hook point's activations of the non-special tokens, by full
    forward passes over the same model calls (fwd rows each)."""
    rows = reference_rows(tokenizer, docs, ctx)
    special = {tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id}
    modules = dict(model.named_modules())
    out = {h: [] for h in hooks}
    seen = {}
    handles = [modules[h].register_forward_hook(lambda m, i, o, h=h: seen.__setitem__(h, o[0] if isinstance(o, tuple) else o))
               for h in hooks]
    with torch.no_grad():
        for start in range(0, len(rows), fwd):
            ids = torch.from_numpy(rows[start : start + fwd])
            model(input_ids=ids, attention_mask=torch.ones_like(ids))
            keep = torch.from_numpy(~np.isin(rows[start : start + fwd], list(special)))
            for h in hooks:
                out[h].append(seen[h][keep])
    for h in handles:
        h.remove()
    return {h: torch.cat(v) for h, v in out.items()}


CFG = sm.SAEConfig(d_in=16, num_latents=32, k=4)
OPTS = dict(batch_size=BATCH, context_length=CTX, forward_batch_size=FWD, progress=False, lr_warmup_steps=3)


def assert_same(a, b):
    assert a.seed == b.seed
    for name in a.parameters:
        assert torch.equal(a.parameters[name], b.parameters[name]), name
    np.testing.assert_array_equal(a.history["fvu"], b.history["fvu"])


def test_chunking_matches_an_explicit_loop_and_every_dataset_form(tiny, tmp_path):
    _, tokenizer = tiny
    docs = texts()
    expected = reference_rows(tokenizer, docs, CTX)
    assert len(expected) > 10
    rows = text_data.chunk_and_tokenize(text_data.load_texts(docs), tokenizer, CTX)
    np.testing.assert_array_equal(rows, expected)
    # The same documents as jsonl, parquet, a saved dataset folder and a datasets.Dataset.
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"text": docs, "n": list(range(len(docs)))})
    with (tmp_path / "d.jsonl").open("w") as f:
        for d in docs:
            f.write(json.dumps({"text": d}) + "\n")
    ds.to_parquet(str(tmp_path / "d.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    for form in (tmp_path / "d.jsonl", tmp_path / "d.parquet", tmp_path / "saved", ds):
        np.testing.assert_array_equal(text_data.chunk_and_tokenize(text_data.load_texts(form), tokenizer, CTX),
                                      expected)
    # Pre-tokenized: a list of id arrays is joined the same way; a 2-D array is used as given.
    ids = [np.array(tokenizer.convert_tokens_to_ids(tokenizer.tokenize(d))) for d in docs]
    np.testing.assert_array_equal(text_data.chunk_and_tokenize(text_data.load_texts(ids), tokenizer, CTX), expected)
    np.testing.assert_array_equal(text_data.chunk_and_tokenize(text_data.load_texts(expected), tokenizer, CTX),
                                  expected)


def test_builtin_corpus_by_name():
    assert text_data.load_texts("stdlib-docstrings")[:5] == sm.collect.builtin_corpus(max_documents=5)


def test_online_equals_training_on_the_same_activations_collected_first(tiny):
    model, tokenizer = tiny
    docs = texts()
    acts = collected(model, tokenizer, docs, HOOKS)
    total = len(acts[HOOKS[0]])
    tokens = total - 37  # a last step shorter than the others
    calls = []
    later = model.encoder.layer[2].register_forward_hook(lambda *a: calls.append(1))
    got = sm.train(CFG, model=model, tokenizer=tokenizer, hookpoints=HOOKS, dataset=docs, seeds=[0, 3], tokens=tokens,
                   **OPTS)
    later.remove()
    assert calls == []  # layer 2 never ran: the forward stopped after the last hooked module
    assert list(got) == HOOKS
    for h in HOOKS:
        want = sm.train(CFG, acts[h], seeds=[0, 3], tokens=tokens, batch_size=BATCH, progress=False, lr_warmup_steps=3)
        assert len(got[h][0].history["fvu"]) == -(-tokens // BATCH)
        for a, b in zip(got[h], want):
            assert_same(a, b)
    # The two hook points saw different activations, so their SAEs differ.
    assert not torch.equal(got[HOOKS[0]][0].decoder, got[HOOKS[1]][0].decoder)


def test_stabilization_is_tracked_online_as_on_the_collected_activations(tiny, tmp_path):
    model, tokenizer = tiny
    docs = texts()
    acts = collected(model, tokenizer, docs, HOOKS)
    got = sm.train(CFG, model=model, tokenizer=tokenizer, hookpoints=HOOKS, dataset=docs, seeds=[0, 1, 2],
                   track_every=2, save_dir=tmp_path / "run", **OPTS)
    for h in HOOKS:
        want = sm.train(CFG, acts[h], seeds=[0, 1, 2], batch_size=BATCH, progress=False, lr_warmup_steps=3,
                        track_every=2)
        for a, b in zip(got[h], want):
            curve, reference = a.history["stabilization"], b.history["stabilization"]
            assert len(curve["step"]) >= 3 and list(curve["step"][:3]) == [0, 2, 4]
            for field in reference:
                np.testing.assert_array_equal(curve[field], reference[field], err_msg=f"{h} {field}")
        assert (tmp_path / "run" / h / "stabilization.npz").exists()  # beside each hook point's checkpoint
    with pytest.raises(ValueError, match="at least 2 seeds"):
        sm.train(CFG, model=model, tokenizer=tokenizer, hookpoints=HOOKS, dataset=docs, seeds=[0], track_every=2,
                 **OPTS)


def test_resume_after_a_crash_ends_where_the_uninterrupted_run_does(tiny, tmp_path):
    model, tokenizer = tiny
    docs = texts()
    whole = sm.train(CFG, model=model, tokenizer=tokenizer, hookpoints=HOOKS, dataset=docs, seeds=[1, 2], **OPTS)
    calls = []

    def crash(*_):
        calls.append(1)
        if len(calls) == 9:
            raise RuntimeError("killed")

    handle = model.embeddings.register_forward_hook(crash)
    with pytest.raises(RuntimeError, match="killed"):
        sm.train(CFG, model=model, tokenizer=tokenizer, hookpoints=HOOKS, dataset=docs, seeds=[1, 2],
                 save_dir=tmp_path / "run", save_every=2, **OPTS)
    saved = sm.load(tmp_path / "run")
    assert set(saved) == set(HOOKS) and len(saved[HOOKS[0]]) == 2
    calls.clear()
    handle.remove()
    handle = model.embeddings.register_forward_hook(lambda *_: calls.append(1))
    resumed = sm.train(CFG, model=model, tokenizer=tokenizer, hookpoints=HOOKS, dataset=docs, seeds=[1, 2],
                       save_dir=tmp_path / "run", resume=True, **OPTS)
    handle.remove()
    n_calls = -(-len(reference_rows(tokenizer, docs, CTX)) // FWD)
    assert 0 < len(calls) < n_calls - 4  # it went on from the checkpoint, not from the start
    for h in HOOKS:
        for a, b in zip(resumed[h], whole[h]):
            assert_same(a, b)
        for a, b in zip(sm.load(tmp_path / "run" / h), whole[h]):
            assert all(torch.equal(a.parameters[n], b.parameters[n]) for n in a.parameters)


def test_normalisation_scales_each_hook_point_by_its_first_batch_and_records_it(tiny, tmp_path):
    model, tokenizer = tiny
    docs = texts()
    acts = collected(model, tokenizer, docs, HOOKS)
    got = sm.train(CFG, model=model, tokenizer=tokenizer, hookpoints=HOOKS, dataset=docs, seeds=[0],
                   normalize_activations=True, save_dir=tmp_path / "run", **OPTS)
    for h in HOOKS:
        first = acts[h][:BATCH].double()
        scale = float(1.0 / np.sqrt(first.pow(2).sum(1).mean().item()))
        assert abs((acts[h][:BATCH] * scale).pow(2).sum(1).mean().item() - 1.0) < 1e-5
        want = sm.train(CFG, acts[h] * scale, seeds=[0], batch_size=BATCH, progress=False, lr_warmup_steps=3)
        assert_same(got[h][0], want[0])
        folder = tmp_path / "run" / h / "seed_0"
        assert online.activation_scale(folder) == scale
        record = json.loads((folder / "cfg.json").read_text())["saematch_online"]
        assert record["normalize_activations"] == "unit_mean_squared_norm" and record["hookpoint"] == h
        assert record["context_length"] == CTX
        assert all(torch.equal(sm.load(folder).parameters[n], got[h][0].parameters[n]) for n in got[h][0].parameters)
    assert online.activation_scale(tmp_path / "run" / HOOKS[0] / "seed_0") != online.activation_scale(
        tmp_path / "run" / HOOKS[1] / "seed_0")


def test_padding_of_pre_tokenized_rows_is_neither_attended_nor_trained(tiny):
    model, tokenizer = tiny
    rows = reference_rows(tokenizer, texts(), CTX)[:12].copy()
    rows[::2, 10:] = tokenizer.pad_token_id
    got = sm.train(CFG, model=model, tokenizer=tokenizer, hookpoints=["encoder.layer.0"], dataset=rows, seeds=[0],
                   **OPTS)["encoder.layer.0"][0]
    # Reference: each row alone, without its padding, through the full model.
    seen = []
    h = model.encoder.layer[0].register_forward_hook(lambda m, i, o: seen.append(o[0] if isinstance(o, tuple) else o))
    parts = []
    with torch.no_grad():
        for r in rows:
            r = r[r != tokenizer.pad_token_id]
            model(input_ids=torch.from_numpy(r)[None])
            parts.append(seen.pop()[0][r != tokenizer.sep_token_id])
    h.remove()
    acts = torch.cat(parts)
    assert len(acts) == int(np.isin(rows, [0, 2, 3], invert=True).sum())
    np.testing.assert_allclose(got.history["fvu"][:1], sm.train(CFG, acts, batch_size=BATCH, progress=False,
                                                               lr_warmup_steps=3)[0].history["fvu"][:1], rtol=1e-4)
    assert len(got.history["fvu"]) == -(-len(acts) // BATCH)


def test_bad_inputs_name_the_input_and_the_fix(tiny, tmp_path):
    model, tokenizer = tiny
    docs = texts()
    kw = dict(model=model, tokenizer=tokenizer, seeds=[0], **OPTS)
    with pytest.raises(ValueError, match=r"no module 'encoder.layer.7.output'; nearest names: encoder.layer.\d.output"):
        sm.train(CFG, hookpoints=["encoder.layer.7.output"], dataset=docs, **kw)
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"content": docs}).to_parquet(str(tmp_path / "c.parquet"))
    with pytest.raises(ValueError, match=r"c.parquet has no column 'text' \(its columns: content\).*text_column"):
        sm.train(CFG, hookpoints=HOOKS, dataset=tmp_path / "c.parquet", **kw)
    got = sm.train(CFG, hookpoints=HOOKS, dataset=tmp_path / "c.parquet", text_column="content", **kw)
    assert len(got[HOOKS[0]][0].history["fvu"]) > 0
    with pytest.raises(ValueError, match="context_length 65 is above the model's maximum of 64 positions"):
        sm.train(CFG, hookpoints=HOOKS, dataset=docs, **{**kw, "context_length": 65})
    with pytest.raises(ValueError, match="width 16 but its SAEConfig has d_in=8"):
        sm.train(sm.SAEConfig(d_in=8, num_latents=16, k=2), hookpoints=HOOKS, dataset=docs, **kw)
    with pytest.raises(ValueError, match="fewer than one context of 16"):
        sm.train(CFG, hookpoints=HOOKS, dataset=["the a"], **kw)
    with pytest.raises(ValueError, match="not a dataset saematch reads"):
        (tmp_path / "x.bin").write_bytes(b"\0")
        sm.train(CFG, hookpoints=HOOKS, dataset=tmp_path / "x.bin", **kw)
    total = len(collected(model, tokenizer, docs, HOOKS[:1])[HOOKS[0]])
    with pytest.warns(RuntimeWarning, match=f"the dataset gave {total} tokens to train on, fewer than tokens=100000"):
        short = sm.train(CFG, hookpoints=HOOKS, dataset=docs, tokens=100_000, save_dir=tmp_path / "short", **kw)
    assert len(short[HOOKS[0]][0].history["fvu"]) == -(-total // BATCH)  # what was there was trained, and kept
    assert sm.load(tmp_path / "short" / HOOKS[0])[0].parameters["W_dec"].shape == (32, 16)
    import copy

    dead = copy.deepcopy(model)
    torch.nn.init.zeros_(dead.encoder.layer[0].output.dense.weight)
    torch.nn.init.zeros_(dead.encoder.layer[0].output.dense.bias)
    with pytest.raises(ValueError, match="'encoder.layer.0.output.dense': the first batch's activations are all zero"):
        sm.train(CFG, hookpoints=["encoder.layer.0.output.dense"], dataset=docs, normalize_activations=True,
                 **{**kw, "model": dead})
    with pytest.raises(ValueError, match="normalize_activations must be one of none, unit_mean_squared_norm"):
        sm.train(CFG, hookpoints=HOOKS, dataset=docs, normalize_activations="rms", **kw)
    with pytest.raises(ValueError, match="either data"):
        sm.train(CFG, np.zeros((4, 16), np.float32), hookpoints=HOOKS, dataset=docs, model=model)
