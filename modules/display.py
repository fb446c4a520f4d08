# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Display: units, figures and tables for humans
#
# A support notebook (`tinybench.display`): how results are shown, kept apart from how they are
# computed (as in `torch.utils.benchmark`, whose `Compare` only displays). Library code computes in
# seconds and bytes; these helpers choose the unit only when a number is shown, and turn figures into
# inline images for `_repr_html_` and self-contained HTML reports.

# %%
#| default_exp display

# %%
#| export
from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# %% [markdown]
# Durations: the largest unit in which the number is at least 1, four significant digits.

# %%
#| export
def format_seconds(seconds: float) -> str:
    "A duration in seconds rendered with a readable unit (ns, us, ms, s)."
    if not math.isfinite(seconds):
        return str(seconds)
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.4g} {unit}"
    return f"{seconds * 1e9:.4g} ns"

# %%
assert format_seconds(1.5) == "1.5 s" and format_seconds(2.5e-3) == "2.5 ms"
assert format_seconds(3e-6) == "3 us" and format_seconds(4e-9) == "4 ns" and format_seconds(float("nan")) == "nan"

# %% [markdown]
# Sizes in bytes, with binary prefixes (a KiB is 1,024 bytes).

# %%
#| export
def format_bytes(n: float | None) -> str:
    "A size in bytes rendered with a binary prefix (B, KiB, MiB, GiB); 'n/a' for None or NaN."
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "n/a"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"

# %%
assert format_bytes(512) == "512 B" and format_bytes(3 * 2**20) == "3.0 MiB" and format_bytes(None) == "n/a"

# %% [markdown]
# Figures inside HTML: a matplotlib figure as a base64 PNG `<img>`, so a notebook's `_repr_html_`
# and a report file need no side files.

# %%
#| export
def figure_img(fig: Any) -> str:
    "An <img> tag with a matplotlib Figure inlined as a base64 PNG: plots inside `_repr_html_` and reports."
    import base64
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return f"<img src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode('ascii')}'/>"

# %%
from matplotlib.figure import Figure

_fig = Figure(figsize=(2, 1))
_fig.add_subplot().plot([0, 1], [0, 1])
assert figure_img(_fig).startswith("<img src='data:image/png;base64,")

# %% [markdown]
# The empirical CDF of timing samples: every sample is a step, so the tail is visible (a histogram
# hides it in its last bin). `Measurement._repr_html_` and `ScenarioResult._repr_html_` show it.

# %%
#| export
def ecdf_png(samples: np.ndarray) -> str | None:
    "Base64 PNG of the empirical CDF of `samples` (log time axis), or None without matplotlib."
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError:
        return None
    import base64
    import io
    x = np.sort(samples)
    fig = Figure(figsize=(3.6, 2.2), dpi=100)
    ax = fig.add_subplot()
    ax.step(x * 1e3, np.arange(1, x.size + 1) / x.size, where="post")
    ax.set_xlabel("ms per call")
    ax.set_ylabel("fraction of samples")
    if x[0] > 0 and x[-1] / x[0] > 20:
        ax.set_xscale("log")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")

# %%
_png = ecdf_png(np.random.default_rng(0).lognormal(-7, 0.3, 200))
assert _png is not None and len(_png) > 1000

# %% [markdown]
# Numbers in tables: one function chooses the rendering from the quantity's unit, and shows a
# missing value (None, NaN) as a dash rather than as "nan".

# %%
#| export
def format_percent(fraction: float) -> str:
    "A fraction as a whole percentage: 0.95 → '95%' (confidence levels, shares)."
    return f"{fraction:.0%}"


_RENDER = {"seconds": format_seconds, "bytes": format_bytes, "percent": lambda x: f"{x:.2%}",
           "ratio": lambda x: f"{x:.3f}", "count": lambda x: f"{x:,.0f}", "p_value": lambda x: f"{x:.2g}"}


def format_value(value: Any, unit: str = "") -> str:
    """`value` for a table cell, rendered by `unit`: "seconds", "bytes", "percent" (a fraction), "ratio", "count",
    "p_value", or "" (as it is); None and NaN become "–"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if unit and unit not in _RENDER:
        raise ValueError(f"unit must be one of {sorted(_RENDER)} or '', got {unit!r}")
    return _RENDER.get(unit, str)(value)

def format_metric(value: float, unit: str = "") -> str:
    "A user metric's value with its unit: seconds and bytes scaled (`format_seconds`, `format_bytes`), else 4 digits."
    if unit in ("s", "seconds"):
        return format_seconds(value)
    if unit in ("B", "bytes"):
        return format_bytes(value)
    return f"{value:,.4g}" + (f" {unit}" if unit else "")

# %%
assert format_value(0.5, "percent") == "50.00%" and format_value(2e-3, "seconds") == "2 ms"
assert format_value(float("nan"), "ratio") == "–" and format_value(1234567, "count") == "1,234,567"
assert format_percent(0.95) == "95%" and format_metric(2048, "bytes") == "2.0 KiB" and format_metric(3.5, "J") == "3.5 J"

# %% [markdown]
# Tables: a header and rows of strings, rendered as Markdown (for report.md) or HTML (for
# notebooks and report.html). User text (a model's name) is escaped, so it shows as written and
# cannot inject markup.

# %%
#| export
def markdown_text(text: Any) -> str:
    """`text` safe inside Markdown: HTML specials escaped (`<` `>` `&` as entities, so a model named `<script>` shows
    as written and runs nothing) and line breaks joined, so that user text cannot start a heading, list or table."""
    return " ".join(html.escape(str(text), quote=False).splitlines())


@dataclass
class Table:
    "A table of strings: a header row and body rows."
    header: list[str]
    rows: list[list[str]]

    def markdown(self) -> str:
        cell = lambda s: markdown_text(s).replace("|", "\\|")
        return "\n".join(["| " + " | ".join(map(cell, self.header)) + " |", "|" + "---|" * len(self.header),
                          *("| " + " | ".join(map(cell, r)) + " |" for r in self.rows)])

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in self.rows)
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def _repr_html_(self) -> str:
        return self.html()

# %%
_t = Table(["model", "median"], [["<b>a|b</b>", format_value(1e-3, "seconds")]])
assert "&lt;b&gt;a\\|b&lt;/b&gt;" in _t.markdown() and "<td>1 ms</td>" in _t.html()

# %% [markdown]
# Progress of a long run, for people: phase messages (one line each, with the elapsed time) and a
# tqdm bar for counted work such as timing rounds, all on stderr so that stdout stays the result.
# The bar draws only on a terminal unless asked (`bar=True`); `enabled=False` (the CLI's
# `--quiet`) silences both. Library code calls it; it never prints on its own.

# %%
#| export
class Progress:
    """Callable with a phase message; `advance(done, total, what)` moves a tqdm bar of counted work (e.g. timing
    rounds; the total may grow). `bar`: True draws it, False never, None only when `file` is a terminal."""

    def __init__(self, enabled: bool = True, bar: bool | None = None, file: Any = None, prefix: str = "tinybench"):
        import sys
        import time
        self.enabled, self.bar_mode, self.prefix = enabled, bar, prefix
        self.file = file if file is not None else sys.stderr
        self._clock, self._t0, self._bar, self._what = time.perf_counter, time.perf_counter(), None, ""

    def __call__(self, message: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None and self._bar.total is not None and self._bar.n >= self._bar.total:
            self.close()
        line = f"{self.prefix} [{self._clock() - self._t0:6.1f} s] {message}"
        if self._bar is not None:
            self._bar.write(line, file=self.file)
        else:
            print(line, file=self.file, flush=True)

    @property
    def draws_bar(self) -> bool:
        "Whether `advance` draws a bar (else callers keep their one-line-per-step messages)."
        if not self.enabled or self.bar_mode is False:
            return False
        return True if self.bar_mode else bool(getattr(self.file, "isatty", lambda: False)())

    def advance(self, done: int, total: int, what: str = "steps") -> None:
        "`done` of `total` units of `what` are finished (a new `what` starts a new bar)."
        if not self.draws_bar:
            return
        from tqdm import tqdm
        if self._bar is not None and self._what != what:
            self.close()
        if self._bar is None:
            self._what = what
            self._bar = tqdm(total=total, desc=what, file=self.file, unit="", leave=True, dynamic_ncols=True)
        if total != self._bar.total:
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        "Finish the current bar, if any."
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __repr__(self) -> str:
        return f"Progress(enabled={self.enabled}, bar={self.bar_mode})"

# %%
import io

_out = io.StringIO()
_p = Progress(bar=True, file=_out)
_p("loading")
for _r in range(3):
    _p.advance(_r + 1, 3, "timing rounds")
_p("done")
assert "loading" in _out.getvalue() and "timing rounds" in _out.getvalue() and "3/3" in _out.getvalue()
_q = io.StringIO()
Progress(enabled=False, file=_q)("nothing")
assert _q.getvalue() == ""
assert not Progress(file=io.StringIO()).draws_bar, "not a terminal: no bar (one line per step instead)"
