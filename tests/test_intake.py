"""The trusted side under bad input and its own faults: ids, collisions, damaged zips, full disks, a sandbox that fails.

Each submission's trouble costs that submission alone, says whose fault it was, and leaves every
other grade as it would have been; nothing is written outside the output folder.
"""

import errno
import os
import time
import zipfile

import pytest

from autograder.authoring.examples import EXAMPLES, build_example
from autograder.grader import batch
from autograder.grader.batch import GRADEBOOK, grade_batch, read_refusals
from autograder.grader.catalog import Catalog
from autograder.grader.grading import Grader, _Job
from autograder.grader.intake import student_id, take_in
from autograder.grader.launcher import ZygoteBroken
from autograder.grader.submissions import Submission, load_submission
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
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["perfect"]


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
