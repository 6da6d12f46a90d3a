"""Progress bars for long C++ calls: tqdm when installed, quiet otherwise.

The C++ side reports progress through callbacks (a fraction of the current
matching's streamed GEMMs, or a count of finished pairs); these adapters turn
them into one bar."""

from __future__ import annotations

import contextlib


class _Bar:
    def __init__(self, bar, total):
        self._bar = bar
        self._total = total
        self._done = 0.0
        self._part = 0
        self._last = -1.0

    def _set(self, value: float) -> None:
        value = min(value, self._total)
        if self._bar is not None and value > self._done:
            self._bar.update(value - self._done)
        self._done = max(self._done, value)

    def fraction_callback(self, parts: int):
        """For a call made of `parts` streamed passes, each reporting 0..1."""

        def report(fraction: float) -> None:
            if fraction < self._last:  # a new pass started
                self._part += 1
            self._last = fraction
            self._set(min(self._part, parts - 1) + fraction)

        return report if self._bar is not None else None

    def count_callback(self):
        def report(done: int, total: int) -> None:
            self._set(float(done))

        return report if self._bar is not None else None


@contextlib.contextmanager
def progress_bar(enabled: bool, total: float, desc: str):
    bar = None
    if enabled:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, desc=desc, bar_format="{l_bar}{bar}| {elapsed}<{remaining}")
        except ImportError:
            bar = None
    wrapper = _Bar(bar, total)
    try:
        yield wrapper
    finally:
        if bar is not None:
            wrapper._set(total)
            bar.close()
