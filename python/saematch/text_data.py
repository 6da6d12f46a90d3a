"""Text for online training, cut into model inputs of one context length.

    >>> ids = text_data.chunk_and_tokenize(text_data.load_texts("corpus.parquet"), tokenizer, 256)

A dataset is a list of texts, pre-tokenized ids (one (sequences, length)
integer array used as it is, or a list of 1-D id arrays), the name of a
built-in corpus (:data:`BUILTIN_CORPORA`), a Hugging Face ``datasets``
Dataset, or the path of local data that ``datasets`` reads: a parquet,
jsonl/json, arrow, csv or txt file, a folder of them, or a folder written by
``Dataset.save_to_disk``.

Chunking follows sparsify's ``chunk_and_tokenize`` in what it produces:
every document tokenized without special tokens, all of them joined into
one stream with a separator token before each (the tokenizer's EOS, else its
SEP; so the stream starts with one), cut into rows of exactly
``context_length`` tokens, the incomplete last row dropped, so that no row
is padded. Here the whole dataset is one stream (sparsify cuts per group of
2048 documents and drops each group's tail).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BUILTIN_CORPORA = ("stdlib-docstrings", "python-docs")  # collect.builtin_corpus, collect.python_docs_corpus
_FILE_KINDS = {".parquet": "parquet", ".jsonl": "json", ".json": "json", ".arrow": "arrow", ".csv": "csv",
               ".txt": "text"}


def load_texts(dataset, text_column: str = "text", max_examples: int | None = None):
    """The documents of ``dataset`` as a list of str, or its token ids (a
    2-D integer array, or a list of 1-D ones) when it is pre-tokenized.
    ``text_column``: the column that holds the text in a ``datasets``
    dataset (sparsify's ``text_column``, default ``"text"``).
    ``max_examples``: only the first this many documents (rows of a 2-D id
    array), as sparsify's ``max_examples``."""
    if max_examples is not None and (not isinstance(max_examples, int) or max_examples < 1):
        raise ValueError(f"max_examples must be a positive integer (or None for all), got {max_examples!r}")
    data = _load(dataset, text_column, max_examples)
    return data if max_examples is None else data[:max_examples]


def _load(dataset, text_column: str, max_examples):
    if isinstance(dataset, str) and dataset in BUILTIN_CORPORA:
        from saematch import collect

        read = collect.builtin_corpus if dataset == "stdlib-docstrings" else collect.python_docs_corpus
        return read(max_documents=max_examples)
    if isinstance(dataset, (str, Path)):
        return _column(_read_local(Path(dataset)), text_column, str(dataset))
    if isinstance(dataset, np.ndarray):
        return _ids_array(dataset)
    if _is_hf(dataset):
        return _column(dataset, text_column, "the dataset")
    try:
        items = list(dataset)
    except TypeError:
        raise ValueError(f"dataset must be texts, token ids, a datasets.Dataset, a local file or folder, or one of "
                         f"{', '.join(BUILTIN_CORPORA)}; got {type(dataset).__name__}") from None
    if not items:
        raise ValueError("the dataset is empty: no texts or token ids to train on")
    if all(isinstance(t, str) for t in items):
        return items
    try:
        arrays = [np.asarray(t) for t in items]
    except ValueError:
        arrays = []
    if arrays and all(a.ndim == 1 and a.dtype.kind in "iu" for a in arrays):
        return [a.astype(np.int32) for a in arrays]
    raise ValueError("a dataset given as a list must hold only texts (str) or only 1-D integer token-id arrays; "
                     f"item 0 is {type(items[0]).__name__}")


def _ids_array(a: np.ndarray) -> np.ndarray:
    if a.ndim != 2 or a.dtype.kind not in "iu" or a.size == 0:
        raise ValueError(f"pre-tokenized ids given as one array must be a non-empty (sequences, length) integer "
                         f"array, got shape {a.shape} of {a.dtype}")
    return a.astype(np.int32)


def _is_hf(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "datasets" and hasattr(obj, "column_names")


def _read_local(path: Path):
    try:
        import datasets
    except ImportError as e:
        raise ImportError("reading a dataset file needs Hugging Face datasets (pip install datasets)") from e
    if not path.exists():
        raise ValueError(f"{path}: no such dataset file or folder (nor one of the built-in corpora "
                         f"{', '.join(BUILTIN_CORPORA)})")
    if path.is_dir() and any((path / n).exists() for n in ("state.json", "dataset_dict.json", "dataset_info.json")):
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):  # a saved dict of splits: its train split, else its only one
            if "train" not in ds and len(ds) != 1:
                raise ValueError(f"{path}: a dataset with splits {', '.join(ds)} and no 'train'; save one split")
            ds = ds["train"] if "train" in ds else next(iter(ds.values()))
        return ds
    files = sorted(p for p in path.iterdir() if p.suffix in _FILE_KINDS) if path.is_dir() else [path]
    kinds = {_FILE_KINDS.get(p.suffix) for p in files}
    if not files or None in kinds or len(kinds) != 1:
        raise ValueError(f"{path}: not a dataset saematch reads: give a {', '.join(sorted(_FILE_KINDS))} file, a "
                         "folder of files of one of those kinds, or a folder written by Dataset.save_to_disk")
    return datasets.load_dataset(kinds.pop(), data_files=[str(p) for p in files], split="train")


def _column(ds, text_column: str, name: str):
    if text_column in ds.column_names:
        return list(ds[text_column])
    if "input_ids" in ds.column_names:  # pre-tokenized, as chunk_and_tokenize's output
        return [np.asarray(r, dtype=np.int32) for r in ds["input_ids"]]
    raise ValueError(f"{name} has no column {text_column!r} (its columns: {', '.join(ds.column_names)}); name the "
                     "text column with text_column= (--text-column)")


def separator_id(tokenizer) -> int | None:
    """The token placed before each document: EOS, else SEP, else none."""
    for attr in ("eos_token_id", "sep_token_id"):
        tid = getattr(tokenizer, attr, None)
        if tid is not None:
            return int(tid)
    return None


def chunk_and_tokenize(data, tokenizer, context_length: int, *, batch: int = 1024) -> np.ndarray:
    """``data`` as returned by :func:`load_texts` cut into a (rows,
    context_length) int32 array (see the module's docstring; 4 bytes per
    token, as the whole dataset is tokenized up front). A 2-D id array is
    returned as it is; its length must be ``context_length``."""
    if isinstance(data, np.ndarray):
        if data.shape[1] != context_length:
            raise ValueError(f"the pre-tokenized rows are {data.shape[1]} tokens long but context_length is "
                             f"{context_length}; pass context_length={data.shape[1]} or re-cut them")
        return data
    if data and isinstance(data[0], str):
        if tokenizer is None:
            raise ValueError("texts need a tokenizer (pass tokenizer=, or token ids instead of texts)")
        docs = []
        for start in range(0, len(data), batch):
            docs.extend(tokenizer(data[start : start + batch], add_special_tokens=False, verbose=False)["input_ids"])
    else:
        docs = data
    sep = separator_id(tokenizer) if tokenizer is not None else None
    pieces = []
    for d in docs:
        if sep is not None:
            pieces.append(np.array([sep], dtype=np.int32))
        pieces.append(np.asarray(d, dtype=np.int32))
    stream = np.concatenate(pieces) if pieces else np.zeros(0, np.int32)
    rows = len(stream) // context_length
    if rows == 0:
        raise ValueError(f"the dataset holds {len(stream)} tokens, fewer than one context of {context_length}: "
                         "give more text or a smaller context_length")
    return stream[: rows * context_length].reshape(rows, context_length)


__all__ = ["BUILTIN_CORPORA", "load_texts", "chunk_and_tokenize", "separator_id"]
