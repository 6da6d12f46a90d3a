"""Activation collection: a tiny BERT built here (offline), its module output
recorded for every non-padding token in corpus order, the forward pass stopped
after the hooked module, shards that the trainer reads; the built-in corpus."""

import json
import subprocess
import sys

import numpy as np
import pytest

import saematch as sm
from saematch import collect

torch = pytest.importorskip("torch", reason="collection needs torch")
transformers = pytest.importorskip("transformers", reason="collection needs transformers")

from tiny_bert import tiny_bert  # noqa: E402
from tiny_bert import texts as tiny_texts  # noqa: E402



@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_bert(tmp_path_factory.mktemp("tiny_bert"))


def texts(n=23, seed=0):
    return tiny_texts(n, seed)


def test_collect_records_every_token_of_the_module_in_order_and_stops_early(tiny, tmp_path):
    model, tokenizer = tiny
    docs = texts()
    later_calls = []
    handle = model.encoder.layer[2].register_forward_hook(lambda *a: later_calls.append(1))
    record = collect.collect(model, tokenizer, docs, "encoder.layer.1.output.dense", tmp_path / "acts", batch_size=5,
                             shard_tokens=50, progress=False, corpus_name="test words")
    handle.remove()
    assert later_calls == []  # layer 2 never ran
    assert record["d"] == 16 and record["corpus"] == "test words" and len(record["shards"]) > 1
    acts = np.concatenate([np.load(tmp_path / "acts" / s["file"]) for s in record["shards"]])
    meta = np.concatenate([np.load(tmp_path / "acts" / "tokens" / s["file"].replace("activations", "tokens"))
                           for s in record["shards"]])
    assert acts.shape == (record["tokens"], 16) and acts.dtype == np.float32
    # Reference: each document alone through the full model, the module's output captured.
    captured = []
    h = model.encoder.layer[1].output.dense.register_forward_hook(lambda m, i, o: captured.append(o))
    expected_rows, expected_ids = [], []
    with torch.no_grad():
        for doc in docs:
            enc = tokenizer(doc, return_tensors="pt")
            model(**enc)
            expected_rows.append(captured.pop()[0].numpy())
            expected_ids.extend(enc["input_ids"][0].tolist())
    h.remove()
    np.testing.assert_allclose(acts, np.concatenate(expected_rows), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(meta[:, 0], expected_ids)
    assert meta[:, 1].max() == len(docs) - 1 and (np.diff(meta[:, 1]) >= 0).all()
    assert json.loads((tmp_path / "acts" / "collection.json").read_text())["tokens"] == len(expected_ids)
    # The trainer streams the shards as they are.
    sae = sm.train(sm.SAEConfig(d_in=16, num_latents=32, k=4), tmp_path / "acts", batch_size=40, progress=False)[0]
    assert len(sae.history["fvu"]) == -(-record["tokens"] // 40)


def test_collect_rejects_unknown_modules_and_empty_corpora(tiny, tmp_path):
    model, tokenizer = tiny
    with pytest.raises(ValueError, match="no module 'encoder.layer.9.output.dense'"):
        collect.collect(model, tokenizer, texts(), "encoder.layer.9.output.dense", tmp_path, progress=False)
    with pytest.raises(ValueError, match="no texts"):
        collect.collect(model, tokenizer, [], "encoder.layer.1.output.dense", tmp_path, progress=False)
    record = collect.collect(model, tokenizer, texts(50), "encoder.layer.0.output.dense", tmp_path / "few",
                             max_tokens=77, progress=False)
    assert record["tokens"] == 77


def test_the_builtin_corpus_is_deterministic_english_prose():
    docs = collect.builtin_corpus(max_documents=300)
    assert len(docs) == 300 and docs == collect.builtin_corpus(max_documents=300)
    words = " ".join(docs).split()
    assert len(words) > 10_000
    common = sum(w.lower() in {"the", "a", "of", "and", "to", "is", "in"} for w in words) / len(words)
    assert common > 0.1  # English prose, not code


def test_the_builtin_corpus_does_not_depend_on_what_was_imported():
    # Importing transformers adds docstrings to the standard library's logging
    # module; the corpus is read in a clean interpreter so that does not leak in.
    pytest.importorskip("transformers")
    code = ("import hashlib, sys; {} from saematch import collect; "
            "print(hashlib.sha1('\\n'.join(collect.builtin_corpus()).encode()).hexdigest())")
    hashes = [subprocess.run([sys.executable, "-c", code.format(pre)], capture_output=True, text=True,
                             check=True).stdout.strip() for pre in ("", "import torch, transformers;")]
    assert hashes[0] == hashes[1] and len(hashes[0]) == 40
    with pytest.raises(ValueError, match="max_documents must be at least 1"):
        collect.builtin_corpus(max_documents=0)


def test_python_docs_corpus_keeps_prose_and_drops_code_and_markup(tmp_path):
    src = tmp_path / "library"
    src.mkdir()
    prose = ("The :func:`open` function returns a :ref:`file object <file-objects>` whose type depends on the "
             "mode, and ``close`` releases it when the *program* no longer needs the underlying resource at all.")
    (src / "io.rst.txt").write_text(
        "Reading files\n=============\n\n" + prose + "\n\nAn example follows that shows the usual way of doing it "
        "for the reader who wants to see one in this place right now::\n\n"
        "   with open('x') as f:\n       data = f.read()  # code is not prose even with many many words here\n\n"
        ".. function:: open(file)\n\n   Open file and return a stream, raising an error when the file cannot be "
        "opened for any of the reasons that the operating system reports to the caller.\n\n"
        ">>> print('a doctest line with enough words to pass the length filter of twenty words in all')\n\n"
        "short paragraph\n")
    docs = collect.python_docs_corpus(root=tmp_path)
    assert docs[0] == ("The open function returns a file object whose type depends on the mode, and close "
                       "releases it when the program no longer needs the underlying resource at all.")
    assert docs[1].startswith("An example follows") and docs[1].endswith("right now:")
    assert docs[2].startswith("Open file and return a stream")  # a directive's indented body is prose
    assert len(docs) == 3  # no heading, code, doctest or short paragraph
    assert collect.python_docs_corpus(root=tmp_path, max_documents=1) == docs[:1]
    with pytest.raises(FileNotFoundError, match="python3-doc"):
        collect.python_docs_corpus(root=tmp_path / "missing")


def test_the_installed_python_documentation_is_a_large_corpus():
    if not collect.PYTHON_DOCS.is_dir():
        pytest.skip("Debian's python3-doc is not installed (scripts/setup.sh installs it)")
    docs = collect.python_docs_corpus()
    words = " ".join(docs).split()
    assert len(docs) > 5000 and len(words) > 300_000
    assert not any(d.startswith((">>>", "..")) for d in docs)
