"""Autograde round trip in a throwaway copy of the course.

For every assignment: the reference solution (assignments/) must get full marks, and the untouched
student version (release/) must get zero. Exits non-zero otherwise. Run from the repository root.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def nbgrader(course: Path, *args: str) -> None:
    env = dict(os.environ)
    # nbgrader runs alembic as a subprocess: the venv's bin/ must be on PATH.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    # The grading kernel must import tinybench even when it is not installed.
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"nbgrader {' '.join(args)} failed with exit code {proc.returncode}")


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


def main() -> int:
    assignments = sorted(p.name for p in (ROOT / "assignments").iterdir() if p.is_dir())
    if not assignments:
        print("autograde-check: no assignments", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="tinybench-course-") as tmp:
        course = Path(tmp)
        shutil.copy(ROOT / "nbgrader_config.py", course)
        shutil.copytree(ROOT / "assignments", course / "assignments")
        nbgrader(course, "generate_assignment", "*", "--force")
        for name in assignments:
            for student, origin in (("reference", course / "assignments"), ("untouched", ROOT / "release")):
                dest = course / "submitted" / student / name
                dest.mkdir(parents=True)
                for nb in (origin / name).glob("*.ipynb"):
                    shutil.copy(nb, dest / nb.name)
        nbgrader(course, "autograde", "*", "--force", "--create")
        got = scores(course)
    failed = False
    for name in assignments:
        ref, ref_max, ref_lost = got.get((name, "reference"), (float("nan"), 0.0, []))
        blank, _, _ = got.get((name, "untouched"), (float("nan"), 0.0, []))
        ok = ref_max > 0 and ref == ref_max and blank == 0
        failed |= not ok
        why = f" (the reference lost points in: {', '.join(ref_lost)})" if ref_lost else ""
        print(f"{name}: reference {ref:g}/{ref_max:g}, untouched release {blank:g}/{ref_max:g}"
              f" -> {'ok' if ok else 'FAIL'}{why}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
