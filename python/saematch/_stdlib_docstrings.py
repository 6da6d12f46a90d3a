"""The standard library's docstrings, read in a clean interpreter.

Run as ``python -I -S _stdlib_docstrings.py MAX_DOCUMENTS MIN_WORDS`` by
:func:`saematch.collect.builtin_corpus`: the corpus is read from module
attributes, and packages imported earlier in a process change them (with
torch and transformers imported first the corpus had 2,414 documents instead
of 2,412; so did the ``.pth`` files that ``site`` runs), so only a process
that has imported nothing but the standard library gives the same corpus
every time. Prints the documents as a JSON list.
"""

import contextlib
import importlib
import io
import json
import pkgutil
import sys
import warnings


def docstrings(max_documents, min_words):
    """See saematch.collect.builtin_corpus."""
    skip = ("test", "idlelib", "tkinter", "turtle", "lib2to3", "ensurepip", "venv", "this", "antigravity", "__",
            "pydoc_data")
    tops = sorted(m.name for m in pkgutil.iter_modules() if m.name in sys.stdlib_module_names and not m.name.startswith(skip))
    names = []
    for top in tops:
        names.append(top)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                package = importlib.import_module(top)
        except Exception:  # noqa: BLE001 - platform-specific modules that cannot be imported here
            continue
        if hasattr(package, "__path__"):
            subs = pkgutil.walk_packages(package.__path__, prefix=top + ".", onerror=lambda _name: None)
            names.extend(sorted(m.name for m in subs if not any(part.startswith(skip) for part in m.name.split(".")[1:])))
    seen, docs = set(), []

    def add(text):
        if not isinstance(text, str) or not text:
            return
        text = " ".join(text.split())
        if len(text.split()) >= min_words and text not in seen:
            seen.add(text)
            docs.append(text)

    for name in names:
        try:
            with warnings.catch_warnings():  # deprecated modules say so on import
                warnings.simplefilter("ignore")
                module = importlib.import_module(name)
        except Exception:  # noqa: BLE001 - as above
            continue
        add(module.__doc__)
        for attr in sorted(vars(module)):
            obj = getattr(module, attr, None)
            if attr.startswith("_") or getattr(obj, "__module__", None) != name:
                continue
            add(getattr(obj, "__doc__", None))
            if isinstance(obj, type):
                for method in sorted(vars(obj)):
                    if not method.startswith("_"):
                        add(getattr(getattr(obj, method, None), "__doc__", None))
        if max_documents is not None and len(docs) >= max_documents:
            return docs[:max_documents]
    return docs




if __name__ == "__main__":
    limit, words = int(sys.argv[1]), int(sys.argv[2])
    with contextlib.redirect_stdout(io.StringIO()):  # a module that prints on import must not corrupt the JSON
        found = docstrings(limit or None, words)
    json.dump(found, sys.stdout)
