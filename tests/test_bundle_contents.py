"""What the student bundle says agrees with what the grader does: points, forbidden APIs, terms, Python versions."""

import ast
import json
import re
import tomllib

import nbformat
import pytest

from autograder.authoring.glossary import replaced_spellings
from autograder.authoring.release import PYTHON_RANGE
from autograder.grader.hidden_tests import all_units
from autograder.grader.hints import ERROR_HINTS
from autograder.paths import ASSIGNMENTS, NOTEBOOK, SOLUTIONS
from autograder.protocol.forbidden_apis import RULES

HEADING = re.compile(r"### 課題 \d+: `(\w+)\(.*?\)`（([\d.]+) 点）")


@pytest.fixture(scope="module")
def rubric_points():
    """unit -> points, read from rubric.toml here (a case the rubric leaves out is worth 1 point)."""
    rubric = tomllib.loads((SOLUTIONS.parent / "autograder" / "grader" / "rubric.toml").read_text(encoding="utf-8"))
    return {unit.name: sum(rubric.get(unit.name, {}).get(case.name, 1) for case in unit.cases) for unit in all_units()}


@pytest.mark.parametrize("folder", [SOLUTIONS, ASSIGNMENTS], ids=["solutions", "assignments"])
def test_notebook_headings_and_nbgrader_points_are_the_rubrics(folder, rubric_points):
    """Before: notebook 00 said 18 points in all (2, 2, 2, 2, 1, 3, 3, 2, 1); the grader gave 29."""
    notebook = nbformat.read(folder / NOTEBOOK, as_version=4)
    headings = {name: float(points) for cell in notebook.cells if cell.cell_type == "markdown"
                for name, points in HEADING.findall(cell.source)}
    metadata = {cell.metadata.nbgrader["grade_id"].removeprefix("test_"): cell.metadata.nbgrader["points"]
                for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")}
    notebook_units = [unit.name for unit in all_units() if unit.source["kind"] == "notebook"]
    assert sorted(headings) == sorted(metadata) == sorted(notebook_units)
    for name in notebook_units:
        assert headings[name] == metadata[name] == rubric_points[name], name


def test_the_bundle_readme_and_units_file_give_the_rubrics_points(rubric_points):
    readme = (ASSIGNMENTS / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| `\w+` \| `(\w+)` \| ([\d.]+) \|$", readme, re.MULTILINE))
    assert {name: float(points) for name, points in table.items()} == rubric_points
    assert f"**合計** | **{sum(rubric_points.values()):g}**" in readme
    units = json.loads((ASSIGNMENTS / "tests" / "units.json").read_text(encoding="utf-8"))["units"]
    assert {unit["name"]: unit["points"] for unit in units} == rubric_points


def test_the_bundle_readme_lists_each_units_forbidden_apis_and_why():
    readme = (ASSIGNMENTS / "README.md").read_text(encoding="utf-8")
    for unit in all_units():
        for group in unit.forbidden:
            assert RULES[group].why in readme, group
    assert re.search(r"\| `scaled_dot_product_attention` \| .*`scaled_dot_product_attention`", readme)
    for section in ("## 準備", "### Google Colab", "## 進め方", "## 配点", "## 使えないもの", "## 自己チェック", "## 採点のしくみ", "## 提出", "## 用語集"):
        assert section in readme, section


def _student_texts():
    """(where, text) for everything a student reads: the bundle's files, the hidden cases' messages, the hints."""
    for path in sorted(ASSIGNMENTS.rglob("*")):
        if path.is_file() and path.suffix in {".py", ".ipynb", ".md", ".ini", ".txt", ".json"} and "from_grader" not in path.parts:
            text = path.read_text(encoding="utf-8")
            yield str(path.relative_to(ASSIGNMENTS)), text.split("## 用語集")[0]  # the glossary names the English terms
    for unit in all_units():
        for case in unit.cases:
            yield f"hidden case {unit.name}: {case.name}", f"{case.what}\n{case.cause}"
    for _, _, hint in ERROR_HINTS:
        yield "hints", hint
    for name, rule in RULES.items():
        yield f"forbidden rule {name}", rule.why


def test_one_glossary_everywhere_a_student_reads():
    """Before: 00 said アテンション, 01–03 said 注意; `cross-attention` stayed English."""
    found = [(where, spelling, term) for where, text in _student_texts() for spelling, term in replaced_spellings(text)]
    assert not found, found[:5]


def test_no_stub_points_at_a_comment_that_is_not_there():
    """Before: five stubs said 「上のコメント…」 with no comment above them."""
    for path in (ASSIGNMENTS / "transformer").glob("*.py"):
        assert "上のコメント" not in path.read_text(encoding="utf-8"), path.name


def test_the_bundles_python_runs_on_the_oldest_python_it_promises():
    """Every .py of the bundle parses as Python 3.10 and imports nothing newer (the kit itself imports tomllib)."""
    low = tuple(int(part) for part in PYTHON_RANGE[0].split("."))
    newer_modules = {"tomllib"}
    for path in sorted(ASSIGNMENTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), feature_version=low)
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert not imported & newer_modules, f"{path.relative_to(ASSIGNMENTS)} imports {imported & newer_modules}"
        assert not [node for node in ast.walk(tree) if isinstance(node, ast.TryStar)], path
