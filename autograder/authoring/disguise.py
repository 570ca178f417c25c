"""Copies disguised the way students disguise them: local variables renamed, functions put in another order.

Test data for the similarity check (`autograder.outputs.similarity`), which must still find them.
A disguise is a function from a Python source to another that behaves the same.
"""

import ast
import io
import shutil
import tokenize
from pathlib import Path

import nbformat

from autograder.paths import NOTEBOOK


def renamed(source):
    """`source` with every local variable given a meaningless name: `v1`, `v2`, ... in order of first use.

    A local variable is a name assigned in a function (also as a loop or `with` target) that is
    neither a parameter nor bound at module level. Attributes, keyword argument names, strings
    and comments are left as they are, so the code still runs.
    """
    tree = ast.parse(source)
    parameters = {arg.arg for node in ast.walk(tree) if isinstance(node, ast.arguments)
                  for arg in [*node.posonlyargs, *node.args, *node.kwonlyargs, node.vararg, node.kwarg] if arg}
    local = _stored(tree) - parameters - set().union(*(_bound_at_module_level(node) for node in tree.body))
    lines = source.splitlines(keepends=True)
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    depth, edits, names = 0, [], {}
    for before, token, after in zip([None, *tokens], tokens, [*tokens[1:], None]):
        if token.type == tokenize.OP:
            depth += (token.string in ("(", "[", "{")) - (token.string in (")", "]", "}"))
        attribute = before is not None and before.string == "."
        keyword = depth > 0 and after is not None and after.string == "="
        if token.type == tokenize.NAME and token.string in local and not attribute and not keyword:
            names.setdefault(token.string, f"v{len(names) + 1}")
            edits.append((token, names[token.string]))
    for token, name in reversed(edits):  # right to left, so earlier columns stay valid
        row, column = token.start
        lines[row - 1] = lines[row - 1][:column] + name + lines[row - 1][token.end[1]:]
    return "".join(lines)


def _stored(node):
    """The names `node` assigns to, anywhere inside it."""
    return {name.id for name in ast.walk(node) if isinstance(name, ast.Name) and isinstance(name.ctx, ast.Store)}


def _bound_at_module_level(node):
    """The names a top-level statement binds in the module."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return _stored(node)


def reordered(source):
    """`source` with its top-level functions and classes in reverse order; what comes before the first stays on top."""
    tree = ast.parse(source)
    starts = [min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
              for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    if len(starts) < 2:
        return source
    lines = source.splitlines(keepends=True)
    head = "".join(lines[: starts[0]])
    blocks = ["".join(lines[start:end]).strip("\n") for start, end in zip(starts, [*starts[1:], len(lines)])]
    return head + "\n\n\n".join(reversed(blocks)) + "\n"


def disguised_copy(folder, target, disguise):
    """Copy the submission folder at `folder` to `target`, each `transformer/*.py` and notebook answer cell disguised."""
    folder, target = Path(folder), Path(target)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(folder, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in sorted((target / "transformer").glob("*.py")):
        path.write_text(disguise(path.read_text(encoding="utf-8")), encoding="utf-8")
    if (target / NOTEBOOK).exists():
        notebook = nbformat.read(target / NOTEBOOK, as_version=4)
        for cell in notebook.cells:
            if cell.metadata.get("nbgrader", {}).get("solution"):
                cell.source = disguise(cell.source)
        nbformat.write(notebook, target / NOTEBOOK)
    return target
