"""The visible tests tell right from unfinished: all pass on solutions/, all fail with 未実装 on assignments/."""

import shutil

import pytest

from autograder.paths import ASSIGNMENTS, SOLUTIONS, load_module


def _check_module(folder):
    return load_module(folder / "check.py", f"check_{folder.name}")


@pytest.fixture(scope="module")
def package_results():
    return {
        folder.name: _check_module(folder).run_pytest(_check_module(folder).PACKAGE_PARTS)
        for folder in (SOLUTIONS, ASSIGNMENTS)
    }


def test_every_part_has_visible_tests(package_results):
    for part, outcomes in package_results["solutions"].items():
        assert len(outcomes) >= 3, f"part {part} has {len(outcomes)} visible tests"


def test_visible_tests_pass_on_the_solutions(package_results):
    failures = [(part, name, message) for part, outcomes in package_results["solutions"].items()
                for name, outcome, message in outcomes if outcome != "passed"]
    assert not failures, failures[:3]


def test_visible_tests_fail_with_mijissou_on_the_skeleton(package_results):
    for part, outcomes in package_results["assignments"].items():
        assert [name for name, _, _ in outcomes] == [name for name, _, _ in package_results["solutions"][part]]
        for name, outcome, message in outcomes:
            assert outcome == "failed", f"{part}::{name} passes on the skeleton, so it cannot tell anything"
            assert "未実装" in message, f"{part}::{name} fails for another reason: {message[:200]}"


@pytest.mark.parametrize("folder", [SOLUTIONS, ASSIGNMENTS], ids=["solutions", "assignments"])
def test_notebook_test_cells_tell_solution_from_skeleton(folder):
    check = _check_module(folder)
    outcomes = check.run_notebook_tests(folder / "00_pytorch_basics.ipynb")
    assert len(outcomes) >= 9
    for grade_id, outcome, message in outcomes:
        if folder == SOLUTIONS:
            assert outcome == "passed", f"{grade_id}: {message}"
        else:
            assert outcome == "failed" and "未実装" in message, f"{grade_id}: {outcome} {message[:200]}"


def test_check_prints_a_progress_table(capsys):
    assert _check_module(ASSIGNMENTS).run_check("masks") is False
    table = capsys.readouterr().out
    assert "masks" in table and "未実装" in table and "0/" in table
    assert _check_module(SOLUTIONS).run_check("masks") is True
    assert "✓" in capsys.readouterr().out


def test_a_syntax_error_is_named_and_fails_the_check(tmp_path, capsys):
    """Before: every part showed 0/0 and the check passed."""
    shutil.copytree(SOLUTIONS, tmp_path / "kit", ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    attention = tmp_path / "kit" / "transformer" / "attention.py"
    attention.write_text(attention.read_text(encoding="utf-8").replace("d_k = q.size(-1)", "d_k = q.size(-1", 1), encoding="utf-8")
    assert _check_module(tmp_path / "kit").run_check("attention") is False
    out = capsys.readouterr().out
    assert "文法の誤り: transformer/attention.py の" in out and "行目" in out
