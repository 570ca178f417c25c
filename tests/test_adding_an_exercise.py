"""The teacher's guide to adding an exercise (docs/adding_an_exercise.md), walked: its code blocks written into a
temporary copy of the kit, which is then released, self-checked as a student does, given its rubric and graded.

Nothing of the real tree is changed (kit_copy.py). Every expected figure comes from the guide's own blocks: the
new unit's name, cases and points from its rubric block, its part from its answer block, its visible tests from
its test block.
"""

import ast
import json
import re
import tomllib
from pathlib import Path

import pytest
from bundle_copies import edit_function, run, solved_bundle, table_row
from kit_copy import GUIDE, KIT, guide_steps, in_copy, walk_the_guide

KIT_COPY = str(Path(__file__).with_name("kit_copy.py"))
STEPS = guide_steps()
((UNIT, CASE_POINTS),) = tomllib.loads(next(step.text for step in STEPS if step.file.endswith("rubric.toml"))).items()
POINTS = sum(CASE_POINTS.values())
ANSWER = next(step for step in STEPS if "### BEGIN SOLUTION" in step.text)
PART = Path(ANSWER.file).stem
VISIBLE = next(step for step in STEPS if step.file == f"solutions/tests/test_{PART}.py" and step.where != "replace")
VISIBLE_TESTS = [node.name for node in ast.parse(VISIBLE.text).body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]


def _answer_lines():
    """The lines of the guide's answer, and the hint comments above it."""
    before, _, rest = ANSWER.text.partition("### BEGIN SOLUTION")
    answer = rest.partition("### END SOLUTION")[0]
    hints = [line.strip() for line in before.splitlines() if line.strip().startswith("#")]
    return [line.strip() for line in answer.splitlines() if line.strip()], hints


def _units(root):
    return json.loads((root / "assignments" / "tests" / "units.json").read_text(encoding="utf-8"))["units"]


def test_the_guide_lists_exactly_the_files_its_walkthrough_touches():
    section = GUIDE.read_text(encoding="utf-8").split("### 触るファイル")[1].split("\n### ")[0]
    listed = re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)
    assert listed and sorted({step.file for step in STEPS}) == sorted(listed)


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    """The copy with the guide's walkthrough applied, released with `jisaku release` as the guide says."""
    root = walk_the_guide(tmp_path_factory.mktemp("walked") / "kit", STEPS)
    in_copy(root, "-m", "autograder.cli", "release")
    return root


def test_the_release_stubs_the_new_function_and_lists_it_with_its_points(walked):
    stub = (walked / "assignments" / "transformer" / f"{PART}.py").read_text(encoding="utf-8")
    answer, hints = _answer_lines()
    assert f'raise NotImplementedError("未実装: {UNIT}")' in stub
    assert answer and not [line for line in answer if line in stub], "the answer stays out of the student's file"
    assert hints and all(line in stub for line in hints), "the hints stay above the stub"
    unit = next(unit for unit in _units(walked) if unit["name"] == UNIT)
    assert (unit["part"], unit["points"], unit["source"]) == (PART, POINTS, {"kind": "package", "module": PART, "name": UNIT})
    readme = (walked / "assignments" / "README.md").read_text(encoding="utf-8")
    assert f"| `{PART}` | `{UNIT}` | {POINTS:g} |" in readme


def test_the_real_tree_is_left_alone(walked):
    assert UNIT not in (KIT / ANSWER.file).read_text(encoding="utf-8")
    assert UNIT not in (KIT / "assignments" / "tests" / "units.json").read_text(encoding="utf-8")


def test_check_py_counts_the_new_tests_unwritten_on_the_stub_and_passed_on_the_answer(walked, tmp_path):
    part_points = sum(unit["points"] for unit in _units(walked) if unit["part"] == PART)
    half = solved_bundle(tmp_path / "half", walked / "assignments", walked / "solutions")  # all done but the new unit
    edit_function(half / "transformer" / f"{PART}.py", UNIT, f'raise NotImplementedError("未実装: {UNIT}")')
    code, out = run(half, "check.py", PART)
    row = table_row(out, PART)
    assert code == 1 and f"（残り {len(VISIBLE_TESTS)} は未実装）" in row and "途中" in row, out
    assert f"{part_points - POINTS:g}/{part_points:g} 点" in row
    code, out = run(solved_bundle(tmp_path / "done", walked / "assignments", walked / "solutions"), "check.py", PART)
    row = table_row(out, PART)
    assert code == 0 and "✓ 合格" in row and f"{part_points:g}/{part_points:g} 点" in row, out


@pytest.fixture(scope="module")
def hidden(walked, tmp_path_factory):
    """What the copy's grader says of the new unit (kit_copy.hidden_cases), with a rubric whose first case of the new
    section is misspelt; returns (report, misspelt name, right name)."""
    rubric = (walked / "autograder" / "grader" / "rubric.toml").read_text(encoding="utf-8")
    right = next(iter(CASE_POINTS))
    misspelt = right.replace(" ", "  ", 1)
    assert rubric.count(f'"{right}" =') == 1
    path = tmp_path_factory.mktemp("rubric") / "rubric.toml"
    path.write_text(rubric.replace(f'"{right}" =', f'"{misspelt}" ='), encoding="utf-8")
    return json.loads(in_copy(walked, KIT_COPY, "hidden_cases", UNIT, str(path))), misspelt, right


def test_the_catalog_holds_the_new_cases_and_the_rubric_their_points(hidden):
    report, _, _ = hidden
    assert report["cases"] == list(CASE_POINTS)
    assert report["points"] == CASE_POINTS


def test_the_rubric_refuses_a_misspelt_case_of_the_new_unit_and_names_it(hidden):
    report, misspelt, right = hidden
    assert f'[{UNIT}] "{misspelt}"' in report["refused"] and repr(right) in report["refused"]


def test_the_answers_pass_every_new_case_and_each_mutant_fails_one(hidden):
    report, _, _ = hidden
    full = [float(CASE_POINTS[case]) for case in report["cases"]]
    scores = report["scores"]
    assert scores["reference"] == {"reference": full}
    assert scores["independent"] and all(got == full for got in scores["independent"].values()), scores["independent"]
    assert scores["mutants"] and all(any(g < f for g, f in zip(got, full)) for got in scores["mutants"].values()), scores["mutants"]


@pytest.mark.slow
def test_a_batch_graded_in_the_copy_costs_each_mutant_points_in_the_new_unit_only(walked, tmp_path):
    names = json.loads(in_copy(walked, KIT_COPY, "submissions", UNIT, str(tmp_path / "subs")))
    in_copy(walked, "-m", "autograder.cli", "grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out"), "--jobs", "2", timeout=600)
    results = {name: json.loads((tmp_path / "out" / name / "results.json").read_text(encoding="utf-8")) for name in names}
    perfect = results.pop("perfect")
    assert perfect["score"] == perfect["max_score"]
    assert sum(test["max_score"] for test in perfect["tests"] if test["tags"] == [UNIT]) == POINTS
    assert results
    for name, result in results.items():
        assert {test["tags"][0] for test in result["tests"] if test["score"] < test["max_score"]} == {UNIT}, name
