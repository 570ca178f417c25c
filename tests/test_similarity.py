"""The similarity check: a copy is found after renaming and reordering; independent correct solutions and the
released skeleton are not flagged; the matching regions point at the shared code; the scores are the same on every run."""

import json
import multiprocessing
import os
import shutil
import subprocess
import sys

import psutil
import pytest

from autograder.authoring.disguise import disguised_copy, renamed, reordered
from autograder.authoring.examples import EXAMPLES, build_example
from autograder.authoring.independent import INDEPENDENT, build_from_skeleton
from autograder.grader.submissions import Submission, load_submission
from autograder.outputs import similarity
from autograder.outputs.similarity import NEAR_IDENTICAL, Comparison, compare_submissions, documents
from autograder.paths import ASSIGNMENTS, NOTEBOOK

PERFECT = next(example for example in EXAMPLES if example.name == "perfect")
DISGUISES = {"renamed": renamed, "reordered": reordered, "renamed_and_reordered": lambda source: reordered(renamed(source))}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """The reference solution as a submission, its disguised copies, and the two independent solutions."""
    root = tmp_path_factory.mktemp("similarity")
    built = {"reference": build_example(PERFECT, root / "reference")}
    for name, disguise in DISGUISES.items():
        built[name] = disguised_copy(built["reference"], root / name, disguise)
    for name, answers in INDEPENDENT.items():
        built[name] = build_from_skeleton(answers, root / name)
    return built


def _pairs(folders, *names, **options):
    submissions = [load_submission(folders[name], name) for name in names]
    return {(pair.left, pair.right): pair for pair in compare_submissions(submissions, **options)}


def test_the_disguises_really_change_the_code(folders):
    """Otherwise finding the copies would prove nothing."""
    original = (folders["reference"] / "transformer" / "attention.py").read_text(encoding="utf-8")
    disguised = {name: (folders[name] / "transformer" / "attention.py").read_text(encoding="utf-8") for name in DISGUISES}
    assert "v2 = q @ k.transpose" in disguised["renamed"] and "    scores = q @ k.transpose" not in disguised["renamed"]
    assert disguised["reordered"].index("class SelfAttention") < disguised["reordered"].index("def scaled_dot_product_attention")
    assert original.index("class SelfAttention") > original.index("def scaled_dot_product_attention")
    assert len({original, *disguised.values()}) == 4


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_a_copy_is_found_after_renaming_and_reordering(folders, disguise):
    pair = _pairs(folders, "reference", disguise)[tuple(sorted(("reference", disguise)))]
    assert pair.flagged and not pair.identical
    assert min(pair.shares) >= NEAR_IDENTICAL, pair.shares


def test_renaming_changes_nothing(folders):
    """Names are not compared: a copy with every local variable renamed shares all of its code."""
    assert _pairs(folders, "reference", "renamed")["reference", "renamed"].shares == (1.0, 1.0)


def test_independent_correct_solutions_are_not_flagged(folders):
    pairs = _pairs(folders, "reference", *INDEPENDENT)
    assert len(pairs) == 3
    for pair in pairs.values():
        assert not pair.flagged and pair.similarity < NEAR_IDENTICAL, (pair.left, pair.right, pair.shares)
        assert pair.similarity > 0  # they were compared: the contract makes them share short idioms


def test_copies_are_ranked_above_independent_solutions(folders):
    ranked = compare_submissions([load_submission(folders[name], name) for name in ["reference", "renamed", *INDEPENDENT]])
    assert [(pair.left, pair.right) for pair in ranked][:1] == [("reference", "renamed")]
    assert [pair.flagged for pair in ranked] == [True, False, False, False, False, False]


def test_the_same_files_are_flagged_identical(folders, tmp_path):
    shutil.copytree(folders["independent_hints"], tmp_path / "twin")
    pairs = _pairs({**folders, "twin": tmp_path / "twin"}, "independent_hints", "twin")
    assert pairs["independent_hints", "twin"].identical and pairs["independent_hints", "twin"].shares == (1.0, 1.0)


def test_one_stock_line_each_is_no_copy_but_the_same_files_are(folders, tmp_path):
    """Two students who each wrote only the canonical one-line count_parameters share it all, and are not flagged;
    the same files byte for byte are (identical), however little code they hold."""
    one_line = {"cell:count_parameters": "return sum(p.numel() for p in model.parameters() if p.requires_grad)"}
    built = {name: build_from_skeleton(one_line, tmp_path / name) for name in ("one", "other")}
    masks = built["other"] / "transformer" / "masks.py"
    masks.write_text(masks.read_text(encoding="utf-8") + "\n# 自分で書きました\n", encoding="utf-8")  # not byte for byte the same
    built["twin"] = shutil.copytree(built["one"], tmp_path / "twin")
    pairs = _pairs(built, "one", "other", "twin")
    assert pairs["one", "other"].shares == (1.0, 1.0) and not pairs["one", "other"].flagged
    assert pairs["one", "twin"].identical and pairs["one", "twin"].flagged


def test_the_untouched_skeleton_is_nobodys_copy(folders):
    """The skeleton is boilerplate: a student who changed nothing holds no code of their own, so is in no pair,
    and two such students are not 'identical' either."""
    skeletons = {"skeleton": ASSIGNMENTS, "skeleton_too": ASSIGNMENTS}
    assert _pairs({**folders, **skeletons}, "reference", "skeleton", "skeleton_too") == {}


def test_the_matching_regions_point_at_the_shared_code(folders):
    pair = _pairs(folders, "reference", "renamed")["reference", "renamed"]
    match = next(m for m in pair.matches if m.document == "transformer/attention.py")
    left = "".join(match.left[start:end] for start, end in match.left_spans)
    right = "".join(match.right[start:end] for start, end in match.right_spans)
    assert "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)" in left
    assert "v2 = q @ k.transpose(-2, -1) / math.sqrt(v1)" in right
    assert {m.document for m in pair.matches} >= {"transformer/multi_head.py", "cell:softmax"}


SCORES = """
import json, sys
from autograder.grader.submissions import load_submission
from autograder.outputs.similarity import compare_submissions
pairs = compare_submissions([load_submission(path, path) for path in sys.argv[1:]])
print(json.dumps([[p.left, p.right, p.shares, p.shared] for p in pairs]))
"""


def test_the_scores_are_the_same_in_every_process(folders):
    """copydetect hashes with Python's salted hash(): the scores must not depend on the salt."""
    paths = [str(folders[name]) for name in ["reference", "reordered", "independent_style"]]
    runs = [subprocess.run([sys.executable, "-c", SCORES, *paths], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")]
    assert runs[0] == runs[1] == runs[2] and len(json.loads(runs[0])) == 3


@pytest.mark.parametrize("notebook", [b"\xff not json", b"[1, 2]", b'{"cells": 3}', b'{"cells": [1, {"metadata": []}]}',
                                      b'{"cells": [{"metadata": {"nbgrader": {"solution": true, "grade_id": "gelu"}}, "source": ["x", 3]}]}'])
def test_a_broken_notebook_gives_no_cell_and_no_error(notebook):
    docs = documents(Submission("s", {NOTEBOOK: notebook, "transformer/masks.py": b"x = 1\n"}).files)
    assert set(docs) <= {"transformer/masks.py", "cell:gelu"} and docs["transformer/masks.py"] == "x = 1\n"


def test_the_batch_compares_in_a_process_of_its_own_at_the_lowest_priority(folders):
    """So that comparing runs on what CPU the sandboxes leave idle while the batch is graded; the answer is the
    one compare_submissions gives here, and leaving the block leaves no process behind."""
    submissions = [load_submission(folders[name], name) for name in ["reference", "renamed", *INDEPENDENT]]
    before = set(psutil.Process().children(recursive=True))
    with Comparison(submissions) as comparison:
        assert comparison.pairs() == compare_submissions(submissions)
        (worker,) = multiprocessing.active_children()  # its initializer ran before it took the work
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == 19
        assert comparison.student_ids == {"reference", "renamed", *INDEPENDENT}
    assert set(psutil.Process().children(recursive=True)) == before  # no worker, no resource tracker


def test_a_text_several_students_hand_in_is_compared_with_each_other_text_once(folders, monkeypatch):
    """Three students with the same attention.py: three pairs, one comparison of that document (a real class's copies,
    and the untouched stubs' neighbours, cost nothing more)."""
    calls = []
    real = similarity.compare_files
    monkeypatch.setattr(similarity, "compare_files", lambda left, right: calls.append((left.filename, right.filename)) or real(left, right))
    same = load_submission(folders["reference"], "a")
    submissions = [Submission(student, same.files) for student in ("a", "b", "c")]
    pairs = compare_submissions(submissions)
    assert len(pairs) == 3 and all(pair.identical for pair in pairs)
    assert calls and len(calls) == len(set(calls)), calls  # each document once, not once per pair
