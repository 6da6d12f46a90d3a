"""A tiny BERT and its tokenizer, built offline from a word list, for the
tests that hook a model (collection, online and distributed training)."""

import numpy as np
import torch
import transformers

WORDS = "the a of and to in is it that for on with as was by at be this are from or an which not but".split()


def tiny_bert(folder):
    """(model, tokenizer): 3 layers of width 16, 64 positions, a vocabulary
    of WORDS and BERT's special tokens (its vocab.txt written to `folder`);
    the same weights every call."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizer(str(folder / "vocab.txt"))
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                                     intermediate_size=32, max_position_embeddings=64)
    return transformers.BertModel(config).eval(), tokenizer


def texts(n, seed=0):
    """n documents of 3-19 random WORDS."""
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=rng.integers(3, 20))) for _ in range(n)]


def saved_model_and_data(folder, documents, seed=0):
    """`folder` with the tiny BERT saved as a model folder (model/) and a
    jsonl dataset of `documents` texts(documents, seed) (data.jsonl), as
    `saematch train` reads them; returns folder."""
    import json

    model, tokenizer = tiny_bert(folder)
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    with (folder / "data.jsonl").open("w") as f:
        for text in texts(documents, seed):
            f.write(json.dumps({"text": text}) + "\n")
    return folder


def child_env(**extra):
    """The environment of a child process that must import the saematch
    this test imported (installed, or a checkout's python/ on PYTHONPATH;
    a clean checkout's python/ holds no compiled modules)."""
    import os
    from pathlib import Path

    import saematch

    root = Path(saematch.__file__).resolve().parents[1]
    return {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", **extra}
