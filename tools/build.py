"""Build pipeline: modules/*.py (jupytext percent) -> notebooks -> tinybench/ and assignments/.

Usage (from the repository root, inside the dev venv):
    python tools/build.py notebooks    # modules/*.py -> modules/*.ipynb (deterministic cell ids)
    python tools/build.py export       # notebooks -> tinybench/*.py (solution markers stripped) + __init__.py
    python tools/build.py assignments  # numbered modules -> assignments/NN_topic/NN_topic.ipynb
    python tools/build.py lint         # nbgrader metadata, no solution text in release/, student text that teaches

This is authoring tooling: the installed package never imports it (nor nbdev, jupytext or fastcore).
"""
from __future__ import annotations

import ast
import hashlib
import json
import re
import sys
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ROOT / "modules"
LIB = ROOT / "tinybench"
ASSIGNMENTS = ROOT / "assignments"
RELEASE = ROOT / "release"

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
NUMBERED = re.compile(r"^\d\d_[a-z0-9_]+\.py$")
KERNELSPEC = {"display_name": "Python 3", "language": "python", "name": "python3"}


def module_sources() -> list[Path]:
    """All jupytext sources, numbered modules first, then support notebooks."""
    return sorted(MODULES.glob("*.py"), key=lambda p: (not NUMBERED.match(p.name), p.name))


def _cell_id(cell, seen: set[str]) -> str:
    """The nbgrader grade_id when there is one, else a hash of the source; unique within the notebook."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    base = grade_id or hashlib.sha1(cell["source"].encode("utf-8")).hexdigest()[:8]
    cid, k = base, 1
    while cid in seen:
        k += 1
        cid = f"{base}-{k}"
    seen.add(cid)
    return cid


def read_module(path: Path):
    """Read a percent-format module into a nbformat v4.5 notebook with stable cell ids and no jupytext metadata."""
    import jupytext
    import nbformat

    nb = jupytext.read(path, fmt="py:percent")
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = nbformat.from_dict({"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    seen: set[str] = set()
    for cell in nb.cells:
        cell["id"] = _cell_id(cell, seen)
        cell.get("metadata", {}).pop("lines_to_next_cell", None)
    return nb


def write_if_changed(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def notebook_text(nb) -> str:
    import nbformat

    return nbformat.writes(nb, version=4) + "\n"


def build_notebooks() -> list[Path]:
    out = []
    for src in module_sources():
        dest = src.with_suffix(".ipynb")
        write_if_changed(dest, notebook_text(read_module(src)))
        out.append(dest)
    return out


def strip_solution_markers(cell) -> None:
    """nbdev export processor: drop nbgrader's solution/hidden-test marker lines from exported code."""
    if cell.cell_type != "code":
        return
    lines = cell.source.splitlines()
    kept = [ln for ln in lines if ln.strip() not in SOLUTION_MARKERS]
    if len(kept) != len(lines):
        cell.source = "\n".join(kept)


def _module_all(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


# `import tinybench as tb` exposes these entry points (lazily); everything else is reached through its module
# (`tinybench.stats.holm`), as torch.utils.benchmark and pyperf keep their top level small.
ENTRY_POINTS = (
    # timing and statistics
    "measure", "Timer", "Measurement", "environment", "format_seconds", "compare", "quantile_ci",
    # scenarios (MLPerf LoadGen's) and capacity
    "run", "TestSettings", "ArrayDataset", "TorchSUT", "find_peak_qps", "plan_capacity",
    # profiling
    "model_stats", "profile_layers", "batch_sweep", "measure_memory", "ResourceMonitor", "profile_model",
    # A/B tests and regressions
    "ABTest", "detect_regression", "ResultStore",
    # the suite and its report
    "BenchmarkSuite", "SuiteSettings", "SuiteResult", "Metric", "Report", "default_workload",
    # stress, history
    "stress_test", "build_dashboard",
)


def write_init(version: str) -> None:
    """tinybench/__init__.py: the version, the curated entry points (ENTRY_POINTS) and the submodules, imported on
    first use; a public name of a submodule that is not an entry point gets an AttributeError naming its module."""
    where: dict[str, str] = {}
    for py in sorted(LIB.glob("*.py")):
        if py.name.startswith("_") or py.stem in ("cli", "nbutils"):
            continue
        for name in _module_all(py):
            if name in where and name in ENTRY_POINTS:
                sys.exit(f"tinybench.{py.stem} and tinybench.{where[name]} both export {name!r}: "
                         "`tb.{name}` would be ambiguous; rename one")
            where.setdefault(name, py.stem)
    missing = [n for n in ENTRY_POINTS if n not in where]
    if missing:
        sys.exit(f"ENTRY_POINTS names {missing}, which no module exports: fix tools/build.py")
    lazy = {n: where[n] for n in ENTRY_POINTS}
    elsewhere = {n: m for n, m in sorted(where.items()) if n not in lazy}
    modules = sorted(p.stem for p in LIB.glob("*.py") if not p.name.startswith("_"))
    body = [
        '"""tinybench: systematic ML benchmarking you can trust.',
        "",
        "`import tinybench as tb; tb.measure(fn)`: the entry points below are imported on first use, so",
        "`import tinybench` stays light (no torch, scipy or matplotlib). Everything else is reached through its",
        'module: `tinybench.stats.holm`, `tinybench.display.format_bytes`."""',
        "# AUTOGENERATED by tools/build.py (ENTRY_POINTS) from settings.ini and each module's __all__. DO NOT EDIT.",
        "from __future__ import annotations",
        "",
        "import importlib",
        "",
        f'__version__ = "{version}"',
        "",
        "_LAZY = " + json.dumps(lazy, indent=4).replace("\n}", ",\n}"),
        "",
        "_MODULES = " + json.dumps(modules).replace('", "', '", "'),
        "",
        "# public names that are not entry points, for the AttributeError's hint",
        "_ELSEWHERE = " + json.dumps(elsewhere, indent=4, sort_keys=True).replace("\n}", ",\n}"),
        "",
        '__all__ = ["__version__", *_LAZY]',
        "",
        "",
        "def __getattr__(name: str):",
        "    if name in _LAZY:",
        '        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)',
        "        globals()[name] = value",
        "        return value",
        "    if name in _MODULES:",
        '        return importlib.import_module(f".{name}", __name__)',
        "    if name in _ELSEWHERE:",
        '        raise AttributeError(f"tinybench.{name} is not a top-level entry point: use '
        'tinybench.{_ELSEWHERE[name]}.{name}")',
        '    raise AttributeError(f"module \'tinybench\' has no attribute {name!r}")',
        "",
        "",
        "def __dir__() -> list[str]:",
        "    return sorted(set(globals()) | set(_LAZY) | set(_MODULES))",
        "",
    ]
    write_if_changed(LIB / "__init__.py", "\n".join(body))


def export() -> None:
    from nbdev.export import nb_export
    from nbdev.maker import ModuleMaker

    def fresh_module(**kw) -> ModuleMaker:
        # Every tinybench module is written by exactly one notebook, so a module named by `#| export <name>` is
        # (re)created like the default_exp one instead of being appended to a file another notebook made.
        return ModuleMaker(**{**kw, "is_new": True})

    cfg = ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini", encoding="utf-8")
    for nb in build_notebooks():
        nb_export(nb, lib_path=LIB, procs=[strip_solution_markers], mod_maker=fresh_module)
    write_init(cfg["DEFAULT"]["version"])


def build_assignments() -> None:
    for src in module_sources():
        if not NUMBERED.match(src.name):
            continue
        nb = read_module(src)
        write_if_changed(ASSIGNMENTS / src.stem / f"{src.stem}.ipynb", notebook_text(nb))


# ---------------------------------------------------------------- lint (used by make check)
REQUIRED_NBGRADER = ("grade", "grade_id", "locked", "schema_version", "solution", "task")

# Student-visible text (markdown cells, comments in code cells) teaches the subject, not the project's history:
# no issue numbers, sessions, testers, dates, "the old module" or "still to come". Each pattern is precise enough
# that today's teaching vocabulary ("the issue time", "issue lateness", "issue 64 queries") does not trip it.
HISTORY_PATTERNS = [
    (r"\bissues? #?\d+\b(?! (?:quer|sampl|request|batch))", "an issue number"),
    (r"\bthe issue's\b|\bthe issue\b(?![ -](?:time|lateness|delay|mode|rate|thread|side|order|schedule|loop|path))",
     "'the issue' (a ticket, or vague: name the problem itself)"),
    (r"\bstill to come\b", "'still to come' (a plan, not a lesson)"),
    (r"\bold (?:course|module|notebook|version|implementation)\b", "'the old module/course/version'"),
    (r"(?<!user )(?<!user-)\bsessions?\b", "'session' (whose? name the run or the measurement)"),
    (r"\b(?:the|a|our) (?:testers?|reviewers?)\b", "a tester or reviewer"),
    (r"\bwe (?:found|noticed|discovered)\b", "'we found' (state the fact and the measurement that shows it)"),
    (r"\bour (?:\(?shared\)? |own |small )?(?:\d+-core |virtual )?(?:machines?|vms?|box|laptops?|servers?|runners?)\b",
     "'our machine' (describe the machine: 'on a 2-core virtual machine')"),
    (r"\b(?:after|before|since) (?:the|this|that) (?:change|commit|rewrite|refactor(?:ing)?|fix)\b",
     "a change in the code's history"),
    (r"\b20\d\d-[01]\d-[0-3]\d\b|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* 20\d\d\b", "a date"),
]
HISTORY_HELP = ("write present-tense teaching text instead: state the fact, and any measurement with the machine it "
                "came from in neutral terms ('On a 2-core virtual machine, X takes Y'), or delete the sentence")


def student_text(cell) -> list[tuple[int, str]]:
    """(line number within the cell, text) of what a student reads in a cell: every line of a markdown cell, and
    the comments of a code cell (nbdev directives and nbgrader markers excluded)."""
    import io
    import tokenize

    if cell.cell_type == "markdown":
        return list(enumerate(cell.source.splitlines(), 1))
    if cell.cell_type != "code":
        return []
    try:
        comments = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(cell.source).readline)
                    if tok.type == tokenize.COMMENT]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        comments = [(i, ln[ln.index("#"):]) for i, ln in enumerate(cell.source.splitlines(), 1)
                    if ln.lstrip().startswith("#")]
    return [(i, c) for i, c in comments if not c.startswith("#|") and c.strip() not in SOLUTION_MARKERS]


def history_problems(name: str, nb) -> list[str]:
    """Lines of student-visible text that narrate the project's history or point at issues instead of teaching."""
    problems = []
    for k, cell in enumerate(nb.cells, 1):
        for i, text in student_text(cell):
            for pattern, what in HISTORY_PATTERNS:
                m = re.search(pattern, text, re.I)
                if m:
                    problems.append(f"{name}: cell {k}, line {i}: {what} in {text.strip()[:90]!r}; {HISTORY_HELP}")
    return problems


def section_problems(name: str, nb) -> list[str]:
    """Numbered sections (`## N. Title` in markdown) must run 1, 2, 3, ... without gaps or duplicates."""
    numbers = [int(m.group(1)) for cell in nb.cells if cell.cell_type == "markdown"
               for m in re.finditer(r"^## (\d+)\. ", cell.source, re.M)]
    if numbers != list(range(1, len(numbers) + 1)):
        return [f"{name}: numbered sections run {numbers}, not 1..{len(numbers)}: renumber them (and update "
                "'section N' cross-references and the outline at the top)"]
    return []


def lint() -> list[str]:
    """Rules on nbgrader metadata in modules/, on what may appear in release/ (no solutions, no nbdev directives),
    and on the text of every notebook (no project history or issue references; sections numbered 1, 2, 3, ...)."""
    import nbformat

    problems: list[str] = []
    for src in module_sources():
        nb = read_module(src)
        problems += history_problems(src.name, nb)
        problems += section_problems(src.name, nb)
        if not NUMBERED.match(src.name):
            continue
        ids: set[str] = set()
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader")
            if not meta:
                if any(m in cell.source for m in SOLUTION_MARKERS):
                    problems.append(f"{src.name}: a cell without nbgrader metadata holds a solution marker")
                continue
            gid = meta.get("grade_id", "?")
            missing = [k for k in REQUIRED_NBGRADER if k not in meta]
            if missing:
                problems.append(f"{src.name}:{gid}: nbgrader metadata lacks {missing}")
            if meta.get("schema_version") != 3:
                problems.append(f"{src.name}:{gid}: schema_version must be 3")
            if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", gid):
                problems.append(f"{src.name}:{gid}: grade_id must be kebab-case")
            if gid in ids:
                problems.append(f"{src.name}:{gid}: duplicated grade_id")
            ids.add(gid)
            if meta.get("grade"):
                if not meta.get("points"):
                    problems.append(f"{src.name}:{gid}: graded cell without points")
                if not meta.get("locked") and not meta.get("solution"):
                    problems.append(f"{src.name}:{gid}: graded test cell is not locked")
                if "#| export" in cell.source:
                    problems.append(f"{src.name}:{gid}: graded test cell must not be exported")
                if re.search(r"^\s*def test_", cell.source, re.M):
                    problems.append(f"{src.name}:{gid}: graded cell defines a test_* function")
            if meta.get("solution") and "### BEGIN SOLUTION" not in cell.source:
                problems.append(f"{src.name}:{gid}: solution cell without ### BEGIN SOLUTION")
            if "raise NotImplementedError" in cell.source:
                problems.append(f"{src.name}:{gid}: write no NotImplementedError stub in modules/ (nbgrader adds it)")
    for nbpath in sorted(RELEASE.glob("*/*.ipynb")):
        nb = nbformat.read(nbpath, as_version=4)
        for cell in nb.cells:
            for marker in SOLUTION_MARKERS:
                if marker in cell.source:
                    problems.append(f"{nbpath.relative_to(ROOT)}: contains {marker!r}")
            if cell.cell_type == "code" and re.search(r"^\s*#\|", cell.source, re.M):
                problems.append(f"{nbpath.relative_to(ROOT)}: an nbdev directive ('#| ...') is left for students "
                                "(nbgrader_config.py's StripNbdevDirectives removes them: run make release)")
    for stem in sorted(p.stem for p in MODULES.glob("*.py") if NUMBERED.match(p.name)):
        if not (RELEASE / stem / f"{stem}.ipynb").exists():
            problems.append(f"release/{stem}/{stem}.ipynb is missing: run make release")
    for py in sorted(LIB.glob("*.py")):
        text = py.read_text(encoding="utf-8")
        for marker in SOLUTION_MARKERS:
            if marker in text:
                problems.append(f"{py.relative_to(ROOT)}: contains {marker!r}")
    problems += import_problems()
    return problems


# The layers of tinybench/ (DESIGN.md, "Target layering"): a module imports only modules of a lower layer, so the
# package has no import cycle, lazy imports included; the teaching order follows the same direction.
LAYERS = {
    "nbutils": 0, "checks": 0, "display": 0, "env": 0, "files": 0,
    "timing": 1, "datasets": 1, "documents": 1,
    "stats": 2, "instrument": 2, "profiles": 2,
    "runner": 3, "procsut": 3, "monitor": 3,
    "scenarios": 4, "profiling": 4, "abtest": 4, "store": 4, "workloads": 4,
    "capacity": 5, "loadgen": 5, "dashboard": 5, "flames": 5,
    "quality": 6, "stress": 6,
    "suite": 7,
    "report": 8,
    "cli": 9,
}


def imported_modules(tree: ast.AST) -> list[tuple[int, str, list[str]]]:
    "(line, tinybench module, names) of every import of a tinybench module in `tree`, at any depth."
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level == 1:
                target = mod.split(".")[0] if mod else None
                if target is None:  # from . import x, y: each name is a module
                    found += [(node.lineno, a.name, []) for a in node.names]
                    continue
            elif mod == "tinybench" or mod.startswith("tinybench."):
                target = mod.split(".")[1] if "." in mod else None
                if target is None:
                    found += [(node.lineno, a.name, []) for a in node.names]
                    continue
            else:
                continue
            found.append((node.lineno, target, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name.split(".")[1], []) for a in node.names
                      if a.name.startswith("tinybench.")]
    return found


def import_problems(lib: Path = LIB) -> list[str]:
    """Imports in `lib` (tinybench/) that break the layering (LAYERS) or take another module's private (`_name`)
    object."""
    problems = []
    for py in sorted(lib.glob("*.py")):
        me = py.stem
        if me == "__init__":
            continue
        if me not in LAYERS:
            problems.append(f"{py.name}: module {me!r} has no layer: add it to LAYERS in tools/build.py")
            continue
        for line, other, names in imported_modules(ast.parse(py.read_text(encoding="utf-8"))):
            if other == me:
                continue
            where = f"{py.name}:{line}"
            if other not in LAYERS:
                problems.append(f"{where}: imports tinybench.{other}, which has no layer in LAYERS")
            elif LAYERS[other] >= LAYERS[me]:
                problems.append(f"{where}: {me} (layer {LAYERS[me]}) imports {other} (layer {LAYERS[other]}): a module "
                                "imports only lower layers; move the shared code down (display, env, files, quality)")
            private = [n for n in names if n.startswith("_")]
            if private:
                problems.append(f"{where}: imports {other}'s private {', '.join(private)}: make it public in its "
                                "module (a name and a docstring), or move it to the module that uses it")
    return problems


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "notebooks":
        build_notebooks()
    elif cmd == "export":
        export()
    elif cmd == "assignments":
        build_assignments()
    elif cmd == "lint":
        problems = lint()
        for p in problems:
            print("lint:", p, file=sys.stderr)
        return 1 if problems else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
