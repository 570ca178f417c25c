"""The trusted side under bad input and its own faults: ids, collisions, damaged zips, full disks, a sandbox that fails;
and the packaging a real class hands in: macOS zips, wrapper folders, renamed notebooks, LMS downloads, a roster.

Each submission's trouble costs that submission alone, says whose fault it was, and leaves every
other grade as it would have been; nothing is written outside the output folder.
"""

import ast
import errno
import os
import sys
import time
import zipfile
from pathlib import Path

import pytest

from autograder.authoring.examples import EXAMPLES, build_example
from autograder.grader import batch, submissions
from autograder.grader.batch import GRADEBOOK, grade_batch, read_refusals
from autograder.grader.catalog import Catalog
from autograder.grader.grading import Grader, _Job
from autograder.grader.intake import Roster, RosterError, student_id, take_in
from autograder.grader.launcher import ZygoteBroken
from autograder.grader.submissions import Submission, load_submission
from autograder.outputs.html_report import REPORT_FOLDER
from autograder.paths import NOTEBOOK, SOLUTIONS
from autograder.outputs.gradebook import Gradebook
from autograder.protocol.messages import Op, Stop
from autograder.sandbox.job import Leader

PERFECT = next(e for e in EXAMPLES if e.name == "perfect")


def _zip_of(folder, path):
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder).as_posix())
    return path


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a\nb", "a\x1bb", "-", " taro", "taro."])
def test_a_name_that_is_no_plain_id_is_refused(tmp_path, name):
    path = tmp_path / f"{name}.zip"
    assert student_id(path) is None


@pytest.mark.parametrize("name", ["s1234567", "山田太郎", "tanaka.taro", "Tanaka Taro_12345", "a"])
def test_plain_ids_are_taken_as_they_are(tmp_path, name):
    assert student_id(tmp_path / f"{name}.zip") == name
    assert student_id(tmp_path / name) == name


def test_two_inputs_with_one_id_are_both_refused_and_named(tmp_path):
    build_example(PERFECT, tmp_path / "class" / "control")
    _zip_of(tmp_path / "class" / "control", tmp_path / "class" / "control.zip")
    build_example(PERFECT, tmp_path / "class" / "other")
    accepted, refused = take_in([tmp_path / "class"])
    assert set(accepted) == {"other"}
    assert sorted(r.path.name for r in refused) == ["control", "control.zip"]
    assert all("control.zip" in r.reason and "'" in r.reason for r in refused)


def test_a_stray_notebook_or_the_output_folder_in_a_class_folder_is_skipped_not_graded(tmp_path):
    classroom = tmp_path / "class"
    build_example(PERFECT, classroom / "s1")
    _zip_of(classroom / "s1", classroom / "s2.zip")
    (classroom / "memo.ipynb").write_text("{}")
    (classroom / ".DS_Store").write_bytes(b"\0")
    (classroom / "results").mkdir()
    accepted, refused = take_in([classroom], skip=[classroom / "results"])
    assert set(accepted) == {"s1", "s2"}
    assert [r.path.name for r in refused] == ["memo.ipynb"] and "採点していません" in refused[0].reason
    assert not refused[0].blocks  # a warning: grading goes on and exits 0


def test_a_damaged_or_encrypted_member_costs_only_that_file(tmp_path):
    build_example(PERFECT, tmp_path / "src")
    path = _zip_of(tmp_path / "src", tmp_path / "s1.zip")
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("transformer/masks.py")
    data[info.header_offset + 30 + len(info.filename) + info.compress_size // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    submission = load_submission(path, "s1")
    assert "transformer/masks.py" not in submission.files and "transformer/attention.py" in submission.files
    assert any("'transformer/masks.py'" in p and "壊れて" in p for p in submission.problems)


@pytest.mark.slow
def test_bad_ids_and_collisions_are_not_graded_and_nothing_lands_outside_out(tmp_path):
    classroom = tmp_path / "class"
    build_example(PERFECT, classroom / "perfect")
    _zip_of(classroom / "perfect", classroom / "...zip")
    build_example(PERFECT, classroom / "control")
    _zip_of(classroom / "control", classroom / "control.zip")
    out = classroom / "out" / "grades"
    rows = grade_batch([classroom / "perfect", classroom / "...zip", classroom / "control", classroom / "control.zip"], out, progress=False)
    assert [row[0] for row in rows] == ["perfect"] and rows[0][1] == rows[0][2]
    refused = read_refusals(out)
    assert len(refused) == 3 and sum("...zip" in line for line in refused) == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["grades"]  # nothing beside --out, so none in its parent
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(["perfect", REPORT_FOLDER])  # a student's, and the teacher's report


@pytest.mark.slow
def test_a_full_disk_while_writing_one_report_costs_that_submission_alone(tmp_path, monkeypatch):
    for name in ("a_full", "b_fine"):
        build_example(PERFECT, tmp_path / "subs" / name)
    real_write = batch.write_reports

    def write_reports(result, out_dir):
        if result.student_id == "a_full":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(result, out_dir)

    monkeypatch.setattr(batch, "write_reports", write_reports)
    out = tmp_path / "out"
    rows = {row[0]: row for row in grade_batch([tmp_path / "subs"], out, jobs=2, progress=False)}
    assert rows["b_fine"][1] == rows["b_fine"][2] > 0
    assert rows["a_full"][1] == 0
    gradebook = Gradebook(out / GRADEBOOK)
    assert gradebook.grader_failures() == ["a_full"]
    gradebook.close()
    monkeypatch.setattr(batch, "write_reports", real_write)  # the disk has room again: the next run grades it
    rows = {row[0]: row for row in grade_batch([tmp_path / "subs"], out, jobs=1, progress=False)}
    assert rows["a_full"][1] == rows["a_full"][2]


def test_a_unit_that_dies_before_it_is_confined_is_the_sandboxes_fault(tmp_path):
    """No student code runs before CONFINED: a unit that never says it is the job's own failure, not a crash."""
    leader = Leader({"job_root": str(tmp_path)}, {"case_seconds": 1.0, "output_mb": 1}, [])
    replies, unit_end = os.pipe()
    requests_end, requests = os.pipe()
    os.close(unit_end)  # the unit died before writing anything
    try:
        assert leader._relay(requests, replies) is Stop.FAULT
    finally:
        for fd in (replies, requests_end, requests):
            os.close(fd)


class _FaultingZygote:
    """A sandbox whose unit process always dies before CONFINED."""

    def __init__(self):
        self.replies = []

    def send(self, message):
        if message["op"] == Op.UNIT.value:
            self.replies += [{"op": Op.STOPPED.value, "stop": Stop.FAULT.value, "returncode": 70, "signal": 0}, {"op": Op.UNIT_DONE.value}]

    def receive(self, ops, limit, timeout):
        return self.replies.pop(0)


def test_the_grader_takes_a_unit_fault_as_its_own_and_says_so():
    catalog = Catalog()
    job = _Job(Grader(catalog), _FaultingZygote(), Submission("s1"), {}, time.monotonic() + 60)
    with pytest.raises(ZygoteBroken) as raised:
        job._run_unit(catalog.units[0])
    message = batch.grader_fault(raised.value)
    assert "採点側の問題" in message and "あなたの提出のせいではありません" in message and "sys.exit" not in message
    assert "ディスクがいっぱい" in batch.grader_fault(OSError(errno.ENOSPC, "No space left on device"))


# --- packaging: what a class really hands in -----------------------------------------------------

NOTHING_FOUND = "採点できるファイルが見つかりません: zip の中身を確かめてください"


@pytest.fixture(scope="module")
def perfect_files(tmp_path_factory):
    """{relative path: bytes} of the perfect example, as a student's folder holds it."""
    folder = tmp_path_factory.mktemp("perfect") / "perfect"
    build_example(PERFECT, folder)
    return {file.relative_to(folder).as_posix(): file.read_bytes() for file in sorted(folder.rglob("*")) if file.is_file()}


def _zip_members(path, members):
    """A zip at `path` holding `members` ({name: bytes}), in that order."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _folder_of(folder, members):
    """A folder at `folder` holding `members` ({relative path: bytes})."""
    for name, data in members.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def _as_macos_zips_them(files, wrappers):
    """The members macOS's Finder writes for `files` inside the folders `wrappers`: AppleDouble twins under
    __MACOSX/, and a .DS_Store in every folder."""
    members = {}
    for name, data in files.items():
        folder, _, base = f"{'/'.join(wrappers)}/{name}".rpartition("/")
        members[f"{folder}/{base}"] = data
        members[f"__MACOSX/{folder}/._{base}"] = b"\x00\x05\x16\x07"
        members[f"{folder}/.DS_Store"] = members[f"{wrappers[0]}/.DS_Store"] = b"\x00\x00\x00\x01Bud1"
    return {**members, f"{wrappers[0]}/Thumbs.db": b"\x00", f"{wrappers[0]}/desktop.ini": b"[.ShellClassInfo]"}


@pytest.mark.parametrize("packed", ["zip", "folder"])
def test_a_macos_zip_in_two_wrapper_folders_reads_like_the_clean_one(tmp_path, perfect_files, packed):
    clean = load_submission(_zip_members(tmp_path / "clean.zip", perfect_files), "s1")
    members = _as_macos_zips_them(perfect_files, ["taro", "課題1"])
    path = _zip_members(tmp_path / "s1.zip", members) if packed == "zip" else _folder_of(tmp_path / "s1", members)
    wrapped = load_submission(path, "s1")
    package = {name.split("/", 1)[1] for name in perfect_files if name.startswith("transformer/") and name.endswith(".py")}
    assert set(clean.package_files()) == package and NOTEBOOK in clean.files
    assert wrapped.files == clean.files and wrapped.content_hash == clean.content_hash
    assert wrapped.problems == []


def test_a_zip_of_the_package_folder_alone_is_read_as_the_package(tmp_path, perfect_files):
    package = {name: data for name, data in perfect_files.items() if name.startswith("transformer/")}
    submission = load_submission(_zip_members(tmp_path / "s1.zip", package), "s1")
    assert submission.files == {name: data for name, data in package.items() if name.endswith(".py")}
    assert submission.problems == []


@pytest.mark.parametrize("renamed", ["00_pytorch_basics (1).ipynb", "copy.ipynb"])
def test_a_renamed_notebook_is_found_by_its_graded_cells_and_the_student_is_told(tmp_path, perfect_files, renamed):
    members = {(renamed if name == NOTEBOOK else name): data for name, data in perfect_files.items()}
    members["01_self_attention.ipynb"] = (SOLUTIONS / "01_self_attention.ipynb").read_bytes()  # no graded cell in it
    members["broken.ipynb"] = b"{ not a notebook"
    submission = load_submission(_zip_members(tmp_path / "s1.zip", members), "s1")
    assert submission.files[NOTEBOOK] == perfect_files[NOTEBOOK] and renamed not in submission.files
    [note] = submission.problems
    assert repr(renamed) in note and NOTEBOOK in note and "採点しました" in note


def test_two_renamed_notebooks_with_the_graded_cells_are_neither_graded(tmp_path, perfect_files):
    members = {**perfect_files, "a.ipynb": perfect_files[NOTEBOOK], "b (1).ipynb": perfect_files[NOTEBOOK]}
    del members[NOTEBOOK]
    submission = load_submission(_zip_members(tmp_path / "s1.zip", members), "s1")
    assert NOTEBOOK not in submission.files
    [problem] = submission.problems
    assert "'a.ipynb'" in problem and "'b (1).ipynb'" in problem and "採点していません" in problem and NOTEBOOK in problem


def test_the_notebook_of_the_exact_name_is_graded_before_a_copy(tmp_path, perfect_files):
    copy = perfect_files[NOTEBOOK].replace(b"amax", b"max")
    submission = load_submission(_zip_members(tmp_path / "s1.zip", {**perfect_files, "copy.ipynb": copy}), "s1")
    assert submission.files[NOTEBOOK] == perfect_files[NOTEBOOK] and submission.files["copy.ipynb"] == copy
    [note] = submission.problems
    assert "'copy.ipynb'" in note and NOTEBOOK in note


@pytest.mark.parametrize("members", [{"inner.zip": b"PK\x05\x06" + bytes(18), "notes.txt": b"hello"}, {}], ids=["zip_in_zip", "empty"])
def test_a_submission_with_no_graded_file_says_so(tmp_path, members):
    for path in (_zip_members(tmp_path / "s1.zip", members), _folder_of(tmp_path / "s2", members)):
        path.mkdir(exist_ok=True) if path.suffix != ".zip" else None
        submission = load_submission(path, path.stem)
        assert submission.files == {} and any(NOTHING_FOUND in problem for problem in submission.problems)


def test_a_gradescope_upload_of_loose_modules_is_not_told_it_has_nothing_to_grade(tmp_path, perfect_files):
    from autograder.outputs.gradescope import _accept_flat_upload

    (tmp_path / "attention.py").write_bytes(perfect_files["transformer/attention.py"])
    submission = load_submission(tmp_path, "submission")
    assert any(NOTHING_FOUND in problem for problem in submission.problems)  # the folder alone holds no graded file
    _accept_flat_upload(submission, tmp_path)
    assert submission.files["transformer/attention.py"] == perfect_files["transformer/attention.py"]
    assert submission.problems == []


def test_the_submission_reader_needs_nothing_the_student_bundle_lacks():
    """The student bundle's submission checker ships a copy of submissions.py: standard library, two kit modules, Python 3.10."""
    source = Path(submissions.__file__).read_text(encoding="utf-8")
    tree = ast.parse(source, feature_version=(3, 10))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names} == {"autograder.paths", "autograder.protocol.text"}


def _class_of_lms_downloads(classroom, zipped):
    """A class folder as Moodle, Canvas and Google Classroom download it; each student's work is `zipped`."""
    moodle = classroom / "Tanaka Taro_12345_assignsubmission_file_"
    moodle.mkdir(parents=True)
    zipped(moodle / "taro.zip")  # with "download submissions in folders", the folder holds the student's upload
    (classroom / "Tanaka Taro_12345_assignsubmission_onlinetext_").mkdir()
    (classroom / "Tanaka Taro_12345_assignsubmission_onlinetext_" / "onlinetext.html").write_text("<p>よろしくお願いします</p>")
    zipped(classroom / "Ito Ken_222_assignsubmission_file_ken.zip")  # Moodle without folders
    zipped(classroom / "suzukihanako_LATE_678_9012_hanako.zip")  # Canvas, late
    zipped(classroom / "satojiro_345_6789_課題 1.zip")  # Canvas
    (classroom / "山田　花子").mkdir()
    zipped(classroom / "山田　花子" / "yamada.zip")  # Google Classroom: a folder named after the student
    return {"moodle": moodle.name, "moodle_flat": "Ito Ken_222_assignsubmission_file_ken.zip",
            "canvas_late": "suzukihanako_LATE_678_9012_hanako.zip", "canvas": "satojiro_345_6789_課題 1.zip", "classroom": "山田　花子"}


def test_lms_downloads_give_the_lms_ids_and_their_folders_are_read(tmp_path, perfect_files):
    classroom = tmp_path / "class"
    names = _class_of_lms_downloads(classroom, lambda path: _zip_members(path, perfect_files))
    accepted, refused = take_in([classroom])
    assert {sid: path.name for sid, path in accepted.items()} == {
        "12345": names["moodle"], "222": names["moodle_flat"], "678": names["canvas_late"], "345": names["canvas"],
        "山田　花子": names["classroom"]}
    assert [(r.path.name, r.blocks) for r in refused] == [("Tanaka Taro_12345_assignsubmission_onlinetext_", False)]
    clean = load_submission(classroom / names["canvas"], "345")
    for sid in ("12345", "山田　花子"):
        assert load_submission(accepted[sid], sid).files == clean.files
    assert take_in([accepted["12345"]]) == ({"12345": accepted["12345"]}, [])  # one Moodle folder given on its own


ROSTER = "student_id,name,lms_id\ns1000001,田中 太郎,12345\ns1000002,Ｓｕｚｕｋｉ Ｈａｎａｋｏ,\ns1000003,山田 花子,\ns7777777,,\n"


@pytest.mark.parametrize("bom", ["", "\ufeff"], ids=["utf8", "utf8_bom"])
def test_a_roster_maps_lms_ids_and_names_to_student_ids_and_refuses_strangers(tmp_path, bom):
    classroom = tmp_path / "class"
    names = _class_of_lms_downloads(classroom, lambda path: path.write_bytes(b"PK"))
    (classroom / "s7777777").mkdir()
    (classroom / "Kato Rin_999_assignsubmission_file_").mkdir()
    roster_path = tmp_path / "roster.csv"
    roster_path.write_text(bom + ROSTER, encoding="utf-8")
    accepted, refused = take_in([classroom], roster=Roster(roster_path))
    assert {sid: path.name for sid, path in accepted.items()} == {
        "s1000001": names["moodle"], "s1000002": names["canvas_late"], "s1000003": names["classroom"], "s7777777": "s7777777"}
    blocking = sorted((r.path.name, r.reason) for r in refused if r.blocks)
    assert [name for name, _ in blocking] == ["Ito Ken_222_assignsubmission_file_ken.zip", "Kato Rin_999_assignsubmission_file_",
                                              names["canvas"]]
    assert all("名簿" in reason for _, reason in blocking) and "'Kato Rin'" in blocking[1][1] and "999" in blocking[1][1]


@pytest.mark.parametrize("text, encoding, says", [
    ("name,lms_id\nTanaka Taro,12345\n", "utf-8", "student_id"),
    ("student_id,name\ns1,Tanaka Taro\ns1,Suzuki Hanako\n", "utf-8", "'s1' が 2 回目"),
    ("student_id,name\n../x,Tanaka Taro\n", "utf-8", "学生 ID として使えません"),
    ("student_id,name\ns1,田中 太郎\n", "cp932", "UTF-8"),
], ids=["no_id_column", "id_twice", "bad_id", "shift_jis"])
def test_a_roster_that_cannot_be_used_stops_grading_with_its_reason(tmp_path, capsys, text, encoding, says):
    from autograder.cli import main

    roster_path = tmp_path / "roster.csv"
    roster_path.write_bytes(text.encode(encoding))
    with pytest.raises(RosterError, match=says):
        Roster(roster_path)
    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "out"), "--roster", str(roster_path)]) == 2
    assert says in capsys.readouterr().err and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_macos_zip_with_a_renamed_notebook_grades_like_the_clean_one_and_an_empty_one_says_why(tmp_path, perfect_files, capsys):
    classroom = tmp_path / "class"
    classroom.mkdir()
    renamed = {("00_pytorch_basics (1).ipynb" if name == NOTEBOOK else name): data for name, data in perfect_files.items()}
    _zip_members(classroom / "mac.zip", _as_macos_zips_them(renamed, ["mac", "mac"]))
    _zip_members(classroom / "empty.zip", {"mac/notes.txt": b"hello"})
    rows = {row[0]: row for row in grade_batch([classroom], tmp_path / "out", jobs=2, progress=False)}
    assert rows["mac"][1] == rows["mac"][2] > 0 and rows["empty"][1] == 0
    mac_feedback = (tmp_path / "out" / "mac" / "feedback.md").read_text(encoding="utf-8")
    assert "00\\_pytorch\\_basics \\(1\\)\\.ipynb" in mac_feedback and "採点しました" in mac_feedback  # Markdown-escaped
    empty_feedback = (tmp_path / "out" / "empty" / "feedback.md").read_text(encoding="utf-8")
    assert NOTHING_FOUND in empty_feedback
    terminal = capsys.readouterr().err
    assert f"empty: {NOTHING_FOUND}" in terminal and "mac: '00_pytorch_basics (1).ipynb'" in terminal
