"""nbgrader configuration: the course root is this folder; feedback never shows hidden tests."""
import os

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme, ClearOutput, ClearSolutions,
                                    ComputeChecksums, DeduplicateIds, GetGrades, IncludeHeaderFooter, InstantiateTests,
                                    LockCells, OverwriteCells, OverwriteKernelspec, SaveCells)

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


class StripNbdevDirectives(Preprocessor):
    """Release: remove nbdev's `#| export` (and every other `#| ...`) directive line from code cells. They tell nbdev
    what goes into the package; to a student they are noise. This runs before the checksums and SaveCells, so the
    gradebook keeps the stripped source of locked cells too, and autograde compares like with like."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.enabled = True

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and "#|" in cell.source:
            cell.source = "\n".join(line for line in cell.source.split("\n") if not line.lstrip().startswith("#|"))
        return cell, resources


class OverwriteReleasedCells(OverwriteCells):
    """OverwriteCells without nbgrader's false alarm (jupyter/nbgrader#1961). The gradebook keeps a locked test cell's
    source with its hidden tests, the release has them removed, so every released test cell differs from the
    gradebook's and autograde warned "Attribute 'checksum' for cell test-... has changed!" for every test cell of
    every student, untouched ones included, which drowned real tampering. A locked cell whose source is exactly the
    released one (the gradebook's source with its hidden-test regions removed) gets the gradebook's source back here,
    silently, as OverwriteCells would have done; any other change to a locked cell still warns and is overwritten."""

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_locked(cell):
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source_cell = None
            if source_cell is not None and source_cell.locked and cell.source != source_cell.source:
                released = NotebookNode(cell_type=source_cell.cell_type, source=source_cell.source, metadata={})
                if ClearHiddenTests()._remove_hidden_test_region(released) and cell.source == released.source:
                    cell.source = source_cell.source
        return super().preprocess_cell(cell, resources, cell_index)


# nbgrader 0.9's default list, with StripNbdevDirectives before the first checksums
c.GenerateAssignment.preprocessors = [IncludeHeaderFooter, StripNbdevDirectives, InstantiateTests, LockCells,
                                      ClearSolutions, ClearOutput, CheckCellMetadata, ComputeChecksums, SaveCells,
                                      ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]

c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteReleasedCells,
                                      CheckCellMetadata]

# nbgrader shows hidden tests in feedback by design (jupyter/nbgrader#917); this course does not: hide the
# tracebacks first (while the hidden regions can still be seen), then remove the regions from the sources.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTestTracebacks, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
c.ClearHiddenTests.enforce_metadata = False
