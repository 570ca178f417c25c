"""Reading graded cells out of nbgrader notebooks."""

import nbformat


def nbgrader_cells(notebook_path, *, solution=None):
    """The notebook's code cells that carry nbgrader metadata, as `(grade_id, source)` in order.

    `solution=True` keeps only answer cells, `solution=False` only test cells, `None` keeps both.
    """
    notebook = nbformat.read(notebook_path, as_version=4)
    cells = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader")
        if cell.cell_type != "code" or not meta or "grade_id" not in meta:
            continue
        if solution is None or bool(meta.get("solution")) == solution:
            cells.append((meta["grade_id"], cell.source))
    return cells


def run_solution_cells(notebook_path):
    """Execute the notebook's answer cells, in order, in one fresh namespace, and return it.

    Each answer cell is self-contained (it imports what it uses), so this gives the functions a
    student wrote without running the rest of the notebook.
    """
    namespace = {"__name__": "notebook"}
    for grade_id, source in nbgrader_cells(notebook_path, solution=True):
        exec(compile(source, f"<{grade_id}>", "exec"), namespace)
    return namespace
