# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Documents: HTML from templates, PDF from the same HTML
#
# A support notebook (`tinybench.documents`). A report is data first (headings, sentences, tables,
# charts) and a page second. The page comes from a jinja2 template with autoescaping on, so every
# string that reaches it (a model named `<script>`, a title with `&`) shows as written and can inject
# nothing: escaping is the default, not something each call site must remember. The PDF is the same
# HTML printed by headless Chromium, so the two formats cannot disagree.
#
# A document here is a title and a list of sections; a section is a heading and blocks; a block is a
# paragraph (`str`), a bulleted list (`list` of `str`), a `Table`, or a `Chart` (a named figure with
# a caption, placed next to the text that cites it).

# %%
#| default_exp documents

# %%
#| export
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2
from markupsafe import Markup, escape

from tinybench.display import Table
from tinybench.files import atomic_write_bytes, write_error_message

# %% [markdown]
# A chart block names a figure and says what it shows. The figure itself is made once by whoever
# renders the document (matplotlib is slow; a document's sections are read more than once).

# %%
#| export
@dataclass(frozen=True)
class Chart:
    "A figure placed in a document: `name` (its key among the document's figures, and its file name) and a caption."
    name: str
    caption: str

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Chart name must be an identifier such as 'throughput_vs_batch' (it becomes a file name), "
                             f"got {self.name!r:.60}")

# %%
assert Chart("latency_cdf", "ECDF").name == "latency_cdf"
try:
    Chart("../x", "bad")
    raise AssertionError("a path is not a chart name")
except ValueError as e:
    assert "identifier" in str(e)

# %% [markdown]
# The template. `page.html` is the frame (style, title); `document.html` fills it with sections.
# Jinja's autoescape turns `<`, `>`, `&`, `'` and `"` in every `{{ value }}` into entities. The one
# value marked safe is an image source, which tinybench makes itself (a base64 PNG data URI).

# %%
#| export
STYLE = ("body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.2em .5em;"
         "font-size:.9em;text-align:left}th{background:#f3f3f3}figure{display:inline-block;margin:.5em;"
         "vertical-align:top}img{max-width:100%}figcaption{font-size:.85em;color:#555;max-width:40em}"
         "@media print{body{margin:0;max-width:none}h2{break-after:avoid}figure,table{break-inside:avoid}}")

TEMPLATES = {
    "page.html": """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ style }}</style></head>
<body>{% block body %}{% endblock %}</body></html>
""",
    "sections.html": """<h1>{{ title }}</h1>
{%- for heading, blocks in sections %}
{%- if heading %}<h2>{{ heading }}</h2>{% endif %}
{%- for b in blocks %}
{%- if b is table %}<table><thead><tr>{% for h in b.header %}<th>{{ h }}</th>{% endfor %}</tr></thead><tbody>
{%- for row in b.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
{%- elif b is chart %}{% if b.name in images %}<figure><img alt="{{ b.name }}" src="{{ images[b.name] }}"/>
<figcaption>{{ b.caption }}</figcaption></figure>{% endif %}
{%- elif b is string %}<p>{{ b | replace("**", "") | code }}</p>
{%- else %}<ul>{% for s in b %}<li>{{ s | code }}</li>{% endfor %}</ul>
{%- endif %}
{%- endfor %}
{%- endfor %}
""",
    "document.html": """{% extends "page.html" %}{% block body %}{% include "sections.html" %}{% endblock %}""",
}


def inline_code(text: Any) -> Markup:
    "`text` escaped, with its `backquoted` spans (Markdown's inline code, as the sentences write it) as <code>."
    import re
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(str(text)))))


def template_environment() -> jinja2.Environment:
    """The jinja2 environment of tinybench's templates: autoescape on, undefined names are errors, `table`/`chart`
    tests, and the `code` filter (`inline_code`)."""
    env = jinja2.Environment(loader=jinja2.DictLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["code"] = inline_code
    env.tests["table"] = lambda b: isinstance(b, Table)
    env.tests["chart"] = lambda b: isinstance(b, Chart)
    return env

# %% [markdown]
# `render_document` checks the blocks at the boundary (a dict or a number in a section is a bug in
# the caller, named as such) and renders. `images` maps a chart's name to its `src`: a data URI, so
# the page is one self-contained file.

# %%
#| export
Block = str | Sequence[str] | Table | Chart


def _check_sections(sections: Any) -> list[tuple[str, list[Block]]]:
    "`sections` as a list of (heading, blocks), or a TypeError naming the first bad part."
    out = []
    for i, sec in enumerate(sections):
        if not (isinstance(sec, tuple) and len(sec) == 2 and isinstance(sec[0], str)):
            raise TypeError(f"sections[{i}] must be a (heading, blocks) tuple, got {sec!r:.80}")
        for j, b in enumerate(sec[1]):
            ok = isinstance(b, (str, Table, Chart)) or (isinstance(b, (list, tuple)) and all(isinstance(s, str) for s in b))
            if not ok:
                raise TypeError(f"sections[{i}] block {j} must be a str, a list of str, a Table or a Chart, got "
                                f"{type(b).__name__} {b!r:.60}")
        out.append((sec[0], list(sec[1])))
    return out


def render_document(title: str, sections: Sequence[tuple[str, Sequence[Block]]],
                    images: Mapping[str, str] | None = None, page: bool = True) -> str:
    """The document as HTML: a whole self-contained page (`page=True`) or the fragment a notebook shows. Every string
    is escaped; `images` (chart name → image `src`, e.g. a base64 PNG data URI) are inserted as given, and a chart
    without an image is left out."""
    env = template_environment()
    context = {"title": str(title), "sections": _check_sections(sections), "style": STYLE,
               "images": {k: Markup(v) for k, v in (images or {}).items()}}
    return env.get_template("document.html" if page else "sections.html").render(**context)

# %%
_html = render_document("a <b>title</b>", [("", ["meta **bold**"]), ("Latency", [Table(["model"], [["<script>x"]]),
                        Chart("latency_cdf", "the ECDF & its tail"), ["one", "two <i>"]])],
                        images={"latency_cdf": "data:image/png;base64,AAAA"})
assert "<title>a &lt;b&gt;title&lt;/b&gt;</title>" in _html and "<td>&lt;script&gt;x</td>" in _html
assert "<p>meta bold</p>" in _html and "<li>two &lt;i&gt;</li>" in _html and "the ECDF &amp; its tail" in _html
assert 'src="data:image/png;base64,AAAA"' in _html and "<script" not in _html
assert not render_document("t", [("A", [Chart("x", "no image")])], page=False).count("<figure>")
assert "<p>use <code>x&lt;y</code> here</p>" in render_document("t", [("", ["use `x<y` here"])], page=False)

# %% [markdown]
# Figures as files and as data URIs: the Markdown report links PNG files next to it; the HTML report
# inlines the same PNG as a data URI, so it is one file that opens anywhere, offline.

# %%
#| export
def as_path(path: Any, name: str) -> Path:
    "`path` (a str or os.PathLike) as a Path, else a TypeError naming the argument `name`."
    if isinstance(path, bytes) or not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise TypeError(f"{name} must be a path (a str or pathlib.Path), got {type(path).__name__} {path!r:.60}")
    return Path(path)


def figure_png(fig: Any) -> bytes:
    "A matplotlib Figure as PNG bytes (a TypeError for anything else)."
    import io
    if not hasattr(fig, "savefig"):
        raise TypeError(f"fig must be a matplotlib Figure, got {type(fig).__name__} {fig!r:.60}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    "Write a matplotlib Figure as a PNG at `path` atomically (`atomic_write_bytes`), creating its folder; the path."
    png = figure_png(fig)
    path = as_path(path, "path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OSError(e.errno, write_error_message(path.parent, e)) from e
    return atomic_write_bytes(path, png)


def png_data_uri(fig: Any) -> str:
    "A matplotlib Figure as a `data:image/png;base64,...` URI (an image `src` that needs no file)."
    import base64
    return "data:image/png;base64," + base64.b64encode(figure_png(fig)).decode("ascii")

# %%
from matplotlib.figure import Figure

_fig = Figure(figsize=(2, 1))
_fig.add_subplot().plot([0, 1], [0, 1])
assert png_data_uri(_fig).startswith("data:image/png;base64,iVBOR")
_d = Path(tempfile.mkdtemp())
assert save_figure(_fig, _d / "figures" / "f.png").read_bytes()[:4] == b"\x89PNG"

# %% [markdown]
# ## PDF through headless Chromium
#
# Chromium prints a page to PDF exactly as it lays it out on screen (`--print-to-pdf`), with the
# `@media print` rules above (no table or figure split across pages). tinybench looks for it on the
# PATH, or where `TINYBENCH_CHROMIUM` says; without it, PDF output is a clear error, and HTML is
# still written. The PDF is printed to a temporary file in the target folder and renamed into place,
# so a failure never leaves half a PDF.

# %%
#| export
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    "The Chromium executable: `TINYBENCH_CHROMIUM` if set, else the first of CHROMIUM_NAMES on the PATH; None if none."
    env = os.environ.get("TINYBENCH_CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def chromium_command(chromium: str, *args: str, profile: str | os.PathLike) -> list[str]:
    """A headless Chromium command line: a throwaway profile folder, no GPU, and `--no-sandbox` only when running as
    root (where Chromium refuses to start with its sandbox)."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    return [chromium, "--headless", "--disable-gpu", *(["--no-sandbox"] if root else []), f"--user-data-dir={profile}",
            *args]


def html_to_pdf(html_path: str | os.PathLike, pdf_path: str | os.PathLike, timeout: float = 120.0) -> Path:
    """Print the HTML file `html_path` to `pdf_path` with headless Chromium (no header or footer); atomic: the PDF is
    whole or absent. Raises RuntimeError when Chromium is missing (saying how to get it) or fails (with its last
    message); the HTML file is untouched either way."""
    html_path, pdf_path = Path(html_path), Path(pdf_path)
    if not html_path.is_file():
        raise FileNotFoundError(f"html_path {html_path} does not exist: write the HTML report first")
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("PDF output needs Chromium (headless print-to-PDF) and none was found: install it (e.g. "
                           "apt-get install chromium) or set TINYBENCH_CHROMIUM=/path/to/chrome; the HTML report is "
                           f"at {html_path}")
    tmp = pdf_path.with_name(f".{pdf_path.name}.{os.getpid()}.tmp")
    try:
        with tempfile.TemporaryDirectory(prefix="tinybench-chromium-") as profile:
            cmd = chromium_command(chromium, "--no-pdf-header-footer", f"--print-to-pdf={tmp}",
                                   html_path.resolve().as_uri(), profile=profile)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if not tmp.is_file() or tmp.stat().st_size == 0:
            last = next((ln for ln in reversed(proc.stderr.splitlines()) if ln.strip()), f"exit status {proc.returncode}")
            raise RuntimeError(f"Chromium could not print {html_path} to PDF: {last}")
        os.replace(tmp, pdf_path)
    except subprocess.TimeoutExpired as e:
        raise RuntimeError(f"Chromium did not print {html_path} to PDF within {timeout:g} s") from e
    except OSError as e:
        raise OSError(e.errno, write_error_message(pdf_path, e)) from e
    finally:
        tmp.unlink(missing_ok=True)
    return pdf_path

# %%
if find_chromium():
    _d = Path(tempfile.mkdtemp())
    (_d / "a.html").write_text(_html)
    _pdf = html_to_pdf(_d / "a.html", _d / "a.pdf")
    assert _pdf.read_bytes().startswith(b"%PDF") and sorted(p.name for p in _d.iterdir()) == ["a.html", "a.pdf"]
