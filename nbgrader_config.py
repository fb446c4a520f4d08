"""nbgrader configuration: the course root is this folder; feedback never shows hidden tests."""
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbgrader.preprocessors import ClearHiddenTests, GetGrades

c = get_config()  # noqa: F821  (injected by nbgrader)
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "assignments"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"
c.ExecutePreprocessor.timeout = 600
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError(\"exercise not done yet: replace this line with your implementation\")"}


class HideHiddenTestTracebacks(Preprocessor):
    """Feedback: in a graded cell that holds hidden tests, an error shows its type and message (the assert's label)
    but not the traceback, whose context lines would print the hidden tests' code."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.enabled = True  # nbconvert preprocessors are off unless enabled

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and ClearHiddenTests().begin_test_delimeter in cell.source:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename')}: {out.get('evalue')}"]
        return cell, resources


# nbgrader shows hidden tests in feedback by design (jupyter/nbgrader#917); this course does not: hide the
# tracebacks first (while the hidden regions can still be seen), then remove the regions from the sources.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTestTracebacks, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
c.ClearHiddenTests.enforce_metadata = False
