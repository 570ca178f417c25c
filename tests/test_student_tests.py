"""The student's self-check and visible tests, run as a student runs them (`python check.py`, `pytest`).

Each check runs in its own process in a copy of the bundle, as on a student's machine. One copy
carries several independent mistakes at once (a part half done, a forbidden call, a raw PyTorch
error, a bug under a composite unit, an endless loop), so that one run shows how each is told.
"""

import re

import pytest
from bundle_copies import edit_function, run, skeleton_bundle, solved_bundle, table_row

from autograder.authoring.parts import PARTS
from autograder.grader.hidden_tests import all_units
from autograder.grader.rubric import applied_points, load_rubric

TOTAL = f"{sum(applied_points(load_rubric(), all_units()).values()):g}"  # the rubric's full marks, as check.py writes them
NOTEBOOK_UNITS = sum(unit.source["kind"] == "notebook" for unit in all_units())  # one visible check per answer cell


def counts_of(row):
    """(passed, total, unwritten) from the tests column of a row of check.py's table (`4/12（残り 8 は未実装）`)."""
    passed, total, unwritten = re.match(r"\S+\s+(\d+)/(\d+)(?:（残り (\d+) は未実装）)?\s", row).groups()
    return int(passed), int(total), int(unwritten or 0)


@pytest.fixture(scope="module")
def skeleton_check(tmp_path_factory):
    return run(skeleton_bundle(tmp_path_factory.mktemp("b") / "kit"), "check.py")


@pytest.fixture(scope="module")
def solved_check(tmp_path_factory):
    return run(solved_bundle(tmp_path_factory.mktemp("b") / "kit"), "check.py")


@pytest.fixture(scope="module")
def mistakes_check(tmp_path_factory):
    """A finished bundle with five unrelated mistakes, each in its own part."""
    kit = solved_bundle(tmp_path_factory.mktemp("b") / "kit")
    for name in ("make_causal_mask", "make_decoder_mask"):  # masks half done
        edit_function(kit / "transformer" / "masks.py", name, f'raise NotImplementedError("未実装: {name}")')
    edit_function(kit / "transformer" / "attention.py", "scaled_dot_product_attention",  # passes every visible test
                  "import torch.nn.functional as F\nunused = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)")
    edit_function(kit / "transformer" / "positional.py", "forward", "x.transpose(1, 2).view(-1)")  # a raw PyTorch error
    edit_function(kit / "transformer" / "training.py", "greedy_decode", "while True:\n    pass")  # never returns
    return run(kit, "check.py")


def test_the_skeleton_shows_every_part_unwritten_with_no_points(skeleton_check):
    code, out = skeleton_check
    assert code == 1
    for part in PARTS:
        row = table_row(out, part.name)
        assert "未実装" in row and re.search(r"\s0/\d+ 点", row), row
    assert re.search(rf"合計\s+0/{TOTAL} 点", out)


def test_the_finished_bundle_passes_with_full_points(solved_check):
    code, out = solved_check
    assert code == 0, out
    assert "✗" not in out and re.search(rf"合計\s+{TOTAL}/{TOTAL} 点", out)
    assert counts_of(table_row(out, "basics")) == (NOTEBOOK_UNITS, NOTEBOOK_UNITS, 0), "notebook 00's checks run with the rest"


def test_a_half_done_part_says_how_many_are_unwritten_and_that_the_rest_is_right(mistakes_check):
    """Before: `masks 4/12 ✗ 失敗あり` with nothing listed."""
    _, out = mistakes_check
    row = table_row(out, "masks")
    passed, total, unwritten = counts_of(row)
    assert passed > 0 and unwritten > 0 and passed + unwritten == total, row
    assert "途中" in row and "✗" not in row


def test_a_forbidden_call_that_passes_the_visible_tests_is_flagged_with_the_graders_message(mistakes_check):
    """Before: `attention 14/14 ✓`, then 0 in grading."""
    _, out = mistakes_check
    row = table_row(out, "attention")
    passed, total, _ = counts_of(row)
    assert passed == total > 0 and "使えない API" in row
    assert "scaled_dot_product_attention のコードに、この課題では使えないものがあります（このユニットは 0 点です）" in out
    assert re.search(r"transformer/attention\.py の \d+ 行目: scaled_dot_product_attention（使えない API: ", out)


def test_a_raw_pytorch_error_is_shown_short_with_the_students_line_and_a_japanese_hint(mistakes_check):
    _, out = mistakes_check
    assert "view size is not compatible" in out
    assert re.search(r"場所: transformer/positional\.py の \d+ 行目: x\.transpose\(1, 2\)\.view\(-1\)", out)
    assert "ヒント: 連続でない（transpose した）テンソルに view を使っています" in out
    assert "Traceback" not in out and "site-packages" not in out


def test_a_unit_failing_under_a_broken_part_names_that_part_first(mistakes_check):
    """Transformer's visible tests fail because PositionalEncoding (a part it uses) is broken: say so first."""
    _, out = mistakes_check
    block = out[out.index("[transformer] Transformer"):]
    assert block.splitlines()[1].strip().startswith("先に PositionalEncoding")


def test_an_endless_loop_is_cut_with_a_japanese_message_and_its_line(mistakes_check):
    """Before: check.py hung silently."""
    code, out = mistakes_check
    assert code == 1
    assert "時間切れ" in table_row(out, "training")
    assert "無限ループの可能性" in out and re.search(r"止まっていた場所: transformer/training\.py の \d+ 行目: while True", out)


def test_a_syntax_error_is_named_with_its_file_and_line_and_fails_the_check(tmp_path):
    """Before: every part showed `0/0 テストが見つかりません` and the exit code was 0."""
    kit = solved_bundle(tmp_path / "kit")
    attention = kit / "transformer" / "attention.py"
    attention.write_text(attention.read_text(encoding="utf-8").replace("d_k = q.size(-1)", "d_k = q.size(-1", 1), encoding="utf-8")
    code, out = run(kit, "check.py", "attention")
    assert code == 1
    assert "文法の誤り" in out and re.search(r"場所: transformer/attention\.py の \d+ 行目: d_k = q\.size\(-1", out)


def test_plain_pytest_runs_notebook_00_too_and_stays_short_on_the_skeleton(tmp_path):
    """Before: plain pytest never ran notebook 00 and printed about 4,000 lines of tensor dumps on the skeleton."""
    code, out = run(skeleton_bundle(tmp_path / "kit"), "-m", "pytest")
    assert code == 1
    assert "tests/test_basics.py::test_notebook_cell[softmax]" in out
    assert re.search(r"\b\d+ failed\b", out)
    assert "tensor(" not in out and len(out.splitlines()) < 600, f"{len(out.splitlines())} lines"
    assert "未実装: make_padding_mask（まだ書かれていません）" in out


def test_submit_builds_a_zip_of_exactly_the_graded_files_read_back_by_the_graders_reader(tmp_path):
    kit = solved_bundle(tmp_path / "kit")
    (kit / "transformer" / "notes.txt").write_text("メモ", encoding="utf-8")
    code, out = run(kit, "check.py", "--submit", "24A1234")
    assert code == 0, out
    import zipfile
    with zipfile.ZipFile(kit / "24A1234.zip") as archive:
        names = sorted(archive.namelist())
    expected = sorted([f"transformer/{p.name}" for p in (kit / "transformer").glob("*.py")] + ["00_pytorch_basics.ipynb"])
    assert names == expected
    assert "採点と同じ読み方で読めることを確かめました" in out and re.search(rf"合計\s+{TOTAL}/{TOTAL} 点", out)


def test_submit_refuses_an_id_the_grader_would_refuse(tmp_path):
    kit = skeleton_bundle(tmp_path / "kit")
    code, out = run(kit, "check.py", "--submit", "../x")
    assert code == 1 and "学籍番号として使えない名前です" in out
    assert not list(kit.glob("*.zip")) and not list(tmp_path.glob("*.zip"))
