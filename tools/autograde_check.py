"""Autograde round trip in throwaway copies of the course.

For every assignment: the reference solution (assignments/) must get full marks and run without an error in any
cell, and the untouched student version (release/) must get zero. Exits non-zero otherwise. Run from the
repository root.

Because every cell of the reference is executed here and an error in any of them fails the check, this also
covers what `nbdev_test` checks for a numbered notebook whose instructor version (modules/NN.ipynb) is byte-identical
to its nbgrader source (assignments/NN/NN.ipynb); the Makefile's `nbtest-uncovered` relies on that.

`nbgrader autograde "*"` grades one notebook after another. To use every core, the (assignment, submission) jobs go
to a pool of workers, each with its own copy of the course and its own gradebook (SQLite does not take concurrent
writers well), and each job is one `nbgrader autograde ASSIGNMENT --student S` call. Jobs start longest first
(estimated from the notebook's size) so that the last one to finish is a short one.

Wrong attempts: for an assignment with patch files under tools/wrong_attempts/ASSIGNMENT/ (one realistic mistake per
exercise), the patches are split into two submissions ("wrong1": the first half in name order, "wrong2": the rest),
each the reference with its patches applied to the solution cells they name (`# grade_id: ...`, then the reference
lines after `--- reference` and the attempt's lines after `+++ attempt`). Each must lose exactly the points of its
patched exercises' test cells (`test-<grade_id>`) and no others: the exercises left right in one submission show
that a wrong one does not cascade into them. Grading must finish within --attempt-timeout seconds. A patch that
delegates to the installed package is one of them: it must lose its points.
"""
from __future__ import annotations

import argparse
import html
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STUDENTS = {"reference": ROOT / "assignments", "untouched": ROOT / "release"}
ATTEMPTS = ROOT / "tools" / "wrong_attempts"
WRONG = ("wrong1", "wrong2")  # the wrong-attempt submissions (student ids)


@dataclass
class Patch:
    path: Path
    grade_id: str
    old: str
    new: str
    falls_back: str | None = None  # the function the notebook's later cells must replace with the reference



def read_patch(path: Path) -> Patch:
    """A wrong-attempt patch: `# grade_id: ID`, comment lines, `--- reference`, its lines, `+++ attempt`, its lines.

    A comment line `# falls back: NAME` says that the notebook's fallback (`use_reference_if_open`) must catch this
    mistake: the graded notebook must warn that the cells below use tinybench's NAME instead."""
    text = path.read_text(encoding="utf-8")
    m = re.match(r"(?s)(?:#[^\n]*\n)*?# grade_id: *(\S+)\n(?:#[^\n]*\n)*--- reference\n(.*?)\+\+\+ attempt\n(.*)\Z", text)
    if not m:
        raise ValueError(f"{path}: expected '# grade_id: ID', then '--- reference' lines, then '+++ attempt' lines")
    fb = re.search(r"^# falls back: *(\w+) *$", text.split("--- reference")[0], re.M)
    return Patch(path, m.group(1), m.group(2), m.group(3), fb.group(1) if fb else None)


def fallback_warnings(notebook: Path) -> set[str]:
    "Names of the functions an executed notebook's fallback cells replaced by tinybench's reference (from warnings)."
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    text = "".join("".join(out.get("text", "")) for cell in nb["cells"] for out in cell.get("outputs", []))
    return set(re.findall(r"the cells below use tinybench\.\w+\.(\w+) instead", text))


def attempt_patches(assignment: str) -> list[Patch]:
    return [read_patch(p) for p in sorted((ATTEMPTS / assignment).glob("*.patch"))]


def attempt_groups(assignment: str) -> dict[str, list[Patch]]:
    "The wrong-attempt submissions of an assignment: student id -> its patches (the first half, then the rest)."
    patches = attempt_patches(assignment)
    half = (len(patches) + 1) // 2
    return {student: group for student, group in zip(WRONG, (patches[:half], patches[half:])) if group}


def write_wrong_attempt(assignment: str, dest: Path, patches: list[Patch]) -> set[str]:
    """The reference notebook with `patches` applied, written into `dest`; returns the grade_ids of the test cells
    that must lose their points (test-<grade_id> of each patched solution cell)."""
    for nb_path in (ROOT / "assignments" / assignment).glob("*.ipynb"):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for patch in patches:
            cells = [c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == patch.grade_id]
            if len(cells) != 1:
                raise ValueError(f"{patch.path}: {len(cells)} cells with grade_id {patch.grade_id!r} in {nb_path.name}")
            source = "".join(cells[0]["source"])
            if source.count(patch.old) != 1:
                raise ValueError(f"{patch.path}: the reference lines occur {source.count(patch.old)} times in cell "
                                 f"{patch.grade_id!r} (expected once: update the patch to the current solution)")
            cells[0]["source"] = source.replace(patch.old, patch.new).splitlines(keepends=True)
        (dest / nb_path.name).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return {f"test-{p.grade_id}" for p in patches}


def nbgrader_env() -> dict[str, str]:
    env = dict(os.environ)
    # nbgrader runs alembic as a subprocess: the venv's bin/ must be on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The grading kernel must import tinybench even when it is not installed.
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    return env


def nbgrader(course: Path, *args: str, timeout: float | None = None) -> None:
    """Run nbgrader in `course`; RuntimeError when it fails or runs past `timeout` seconds (then the whole process
    group, kernel included, is killed)."""
    proc = subprocess.Popen([sys.executable, "-m", "nbgrader", *args], cwd=course, env=nbgrader_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        proc.communicate()
        raise RuntimeError(f"nbgrader {' '.join(args)} ran past the time bound of {timeout:.0f} s") from None
    if proc.returncode != 0:
        sys.stderr.write(out)
        raise RuntimeError(f"nbgrader {' '.join(args)} failed with exit code {proc.returncode}")


def scores(course: Path) -> dict[tuple[str, str], tuple[float, float, list[str]]]:
    """(assignment, student) -> (score, max score, grade_ids of the graded cells that lost points)."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                lost = [g.name for nb in sub.notebooks for g in nb.grades if g.score < g.max_score]
                out[(assignment.name, sub.student.id)] = (sub.score, sub.max_score, sorted(lost))
    return out


def error_cells(notebook: Path) -> list[str]:
    """'cell id: ExceptionName: message' for every code cell of an executed notebook that has an error output."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    found = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                found.append(f"{cell.get('id', '?')}: {out.get('ename')}: {out.get('evalue')}")
    return found


def slowest_cells(notebook: Path, n: int = 3) -> list[tuple[float, str]]:
    """The n longest-running code cells of an executed notebook, as (seconds, cell id), from the execution timestamps
    that nbclient records in each cell's metadata."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    took = []
    for cell in nb["cells"]:
        stamps = cell.get("metadata", {}).get("execution", {})
        start, end = stamps.get("iopub.status.busy"), stamps.get("iopub.status.idle")
        if start and end:
            seconds = (datetime.fromisoformat(end.replace("Z", "+00:00"))
                       - datetime.fromisoformat(start.replace("Z", "+00:00"))).total_seconds()
            took.append((seconds, cell.get("id", "?")))
    return sorted(took, reverse=True)[:n]


HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def hidden_test_lines(assignment: str, min_chars: int = 12) -> set[str]:
    """The lines of the assignment's hidden tests (stripped, at least `min_chars` long, so that a bare `)` or `else:`
    does not count), read from its nbgrader source notebook, less any line that also appears outside the hidden
    regions (a visible test may repeat a line such as `lo, hi = f(n, q, level)`: showing it leaks nothing)."""
    lines: set[str] = set()
    visible: set[str] = set()
    for nb in (ROOT / "assignments" / assignment).glob("*.ipynb"):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                if HIDDEN_BEGIN in line or HIDDEN_END in line:
                    inside = HIDDEN_BEGIN in line
                    continue
                if not inside:
                    visible.add(line.strip())
                elif len(line.strip()) >= min_chars and not line.strip().startswith("#"):
                    lines.add(line.strip())
    return {line for line in lines if not any(line in v for v in visible)}


def feedback_leaks(course: Path, assignment: str, student: str) -> list[str]:
    """Hidden-test lines (or the markers) that appear in the student's generated feedback HTML, as visible text."""
    leaks = []
    for page in (course / "feedback" / student / assignment).glob("*.html"):
        text = html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))
        leaks += [f"{page.name}: {line}" for line in [HIDDEN_BEGIN, *sorted(hidden_test_lines(assignment))]
                  if line in text]
    return leaks


@dataclass
class Job:
    assignment: str
    student: str
    seconds: float = float("nan")
    error: str = ""
    course: Path | None = None
    leaks: tuple[str, ...] = ()

    @property
    def cost(self) -> int:
        """A rough estimate of the run time, to start the longest jobs first: the size of the notebook's code."""
        total = 0
        for nb in (STUDENTS.get(self.student, STUDENTS["reference"]) / self.assignment).glob("*.ipynb"):
            cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
            total += sum(len("".join(c["source"])) for c in cells if c["cell_type"] == "code")
        return total


def make_course(dest: Path, assignments: list[str]) -> dict[tuple[str, str], set[str]]:
    """A course with the nbgrader source, the generated release and its gradebook, and every submission; returns,
    per (assignment, wrong-attempt student), the test cells that the submission must lose."""
    dest.mkdir()
    shutil.copy(ROOT / "nbgrader_config.py", dest)
    shutil.copytree(ROOT / "assignments", dest / "assignments")
    nbgrader(dest, "generate_assignment", "*", "--force")
    for name in assignments:
        for student, origin in STUDENTS.items():
            sub = dest / "submitted" / student / name
            sub.mkdir(parents=True)
            for nb in (origin / name).glob("*.ipynb"):
                shutil.copy(nb, sub / nb.name)
    must_lose = {}
    for name in assignments:
        for student, patches in attempt_groups(name).items():
            sub = dest / "submitted" / student / name
            sub.mkdir(parents=True)
            must_lose[(name, student)] = write_wrong_attempt(name, sub, patches)
    return must_lose


def grade(courses: list[Path], jobs: list[Job], attempt_timeout: float | None = None) -> None:
    """Run every job on one of the courses, one job per course at a time; a job's failure is kept in job.error."""
    todo: queue.Queue[Job] = queue.Queue()
    for job in sorted(jobs, key=lambda j: j.cost, reverse=True):
        todo.put(job)

    def worker(course: Path) -> None:
        while True:
            try:
                job = todo.get_nowait()
            except queue.Empty:
                return
            job.course = course
            t0 = time.perf_counter()
            try:
                nbgrader(course, "autograde", job.assignment, "--student", job.student, "--force", "--create",
                         timeout=attempt_timeout if job.student in WRONG else None)
                nbgrader(course, "generate_feedback", job.assignment, "--student", job.student, "--force")
                job.leaks = tuple(feedback_leaks(course, job.assignment, job.student))
            except RuntimeError as e:
                job.error = str(e)
            job.seconds = time.perf_counter() - t0

    threads = [threading.Thread(target=worker, args=(c,), name=f"grader-{c.name}") for c in courses]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="notebooks graded at the same time, each in its own course copy (default: CPU count)")
    parser.add_argument("--attempt-timeout", type=float, default=480.0,
                        help="time bound in seconds for grading one wrong attempt (default: 480)")
    parser.add_argument("--no-attempts", action="store_true", help="skip the wrong attempts (tools/wrong_attempts/)")
    parser.add_argument("assignments", nargs="*", help="assignments to check (default: all)")
    args = parser.parse_args(argv)
    assignments = args.assignments or sorted(p.name for p in (ROOT / "assignments").iterdir() if p.is_dir())
    if not assignments:
        print("autograde-check: no assignments", file=sys.stderr)
        return 1
    jobs = [Job(name, student) for name in assignments for student in STUDENTS]
    if not args.no_attempts:
        jobs += [Job(name, student) for name in assignments if (ATTEMPTS / name).is_dir()
                 for student in attempt_groups(name)]
    workers = max(1, min(args.workers, len(jobs)))
    got: dict[tuple[str, str], tuple[float, float, list[str]]] = {}
    must_lose: dict[tuple[str, str], set[str]] = {}
    fell_back: dict[tuple[str, str], set[str]] = {}
    errors: dict[str, list[str]] = {}
    slowest: dict[str, list[tuple[float, str]]] = {}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tinybench-course-") as tmp:
        first = Path(tmp) / "course0"
        try:
            must_lose = make_course(first, assignments)
            if args.no_attempts:
                for student in WRONG:
                    shutil.rmtree(first / "submitted" / student, ignore_errors=True)
                must_lose = {}
        except (RuntimeError, ValueError) as e:
            print(f"autograde-check: {e}", file=sys.stderr)
            return 1
        courses = [first]
        for k in range(1, workers):
            # A copy of the first course (release and gradebook included) instead of a second generate_assignment.
            courses.append(Path(tmp) / f"course{k}")
            shutil.copytree(first, courses[-1])
        grade(courses, jobs, args.attempt_timeout)
        graded = {course: scores(course) for course in courses}
        for job in jobs:
            if job.course is None:
                continue
            key = (job.assignment, job.student)
            if key in graded[job.course]:
                got[key] = graded[job.course][key]
            if job.student in WRONG:
                for nb in sorted((job.course / "autograded" / job.student / job.assignment).glob("*.ipynb")):
                    fell_back.setdefault(key, set()).update(fallback_warnings(nb))
            if job.student == "reference":
                for nb in sorted((job.course / "autograded" / job.student / job.assignment).glob("*.ipynb")):
                    errors.setdefault(job.assignment, []).extend(error_cells(nb))
                    slowest.setdefault(job.assignment, []).extend(slowest_cells(nb))
    failed = False
    for job in jobs:
        if job.error:
            failed = True
            print(f"{job.assignment} ({job.student}): {job.error}")
        if job.leaks:
            failed = True
            print(f"{job.assignment} ({job.student}): the feedback shows hidden tests: {'; '.join(job.leaks[:3])}")
    for name in assignments:
        ref, ref_max, ref_lost = got.get((name, "reference"), (float("nan"), 0.0, []))
        blank, _, _ = got.get((name, "untouched"), (float("nan"), 0.0, []))
        ok = ref_max > 0 and ref == ref_max and blank == 0 and not errors.get(name)
        failed |= not ok
        why = f" (the reference lost points in: {', '.join(ref_lost)})" if ref_lost else ""
        if errors.get(name):
            why += f" (the reference raised in cells: {'; '.join(errors[name])})"
        took = {j.student: j.seconds for j in jobs if j.assignment == name}
        print(f"{name}: reference {ref:g}/{ref_max:g}, untouched release {blank:g}/{ref_max:g}"
              f" -> {'ok' if ok else 'FAIL'}{why}"
              f" [{took['reference']:.0f} s + {took['untouched']:.0f} s]")
        for student, patches in (attempt_groups(name).items() if (name, WRONG[0]) in must_lose else ()):
            score, top, lost = got.get((name, student), (float("nan"), 0.0, ["(not graded)"]))
            ok = set(lost) == must_lose[(name, student)] and score < top
            missed = sorted({p.falls_back for p in patches if p.falls_back} - fell_back.get((name, student), set()))
            ok &= not missed
            failed |= not ok
            print(f"    {student} ({', '.join(p.path.stem for p in patches)}): {score:g}/{top:g}, lost "
                  f"{', '.join(lost) or 'nothing'} (must lose exactly {', '.join(sorted(must_lose[(name, student)]))})"
                  + (f"; later cells kept the wrong {', '.join(missed)} (no fallback warning)" if missed else "")
                  + f" -> {'ok' if ok else 'FAIL'} [{took.get(student, float('nan')):.0f} s]")
        if slowest.get(name):
            print("    slowest reference cells: " + ", ".join(f"{cid} {sec:.1f} s" for sec, cid in slowest[name]))
    print(f"autograde-check: {len(jobs)} notebooks graded by {workers} workers in {time.perf_counter() - t0:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
