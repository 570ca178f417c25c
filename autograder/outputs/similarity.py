"""Similarity between the submissions of a batch: code shared through renaming and reordering, for the teacher.

A submission is cut into documents, the code the grader grades: each `transformer/<name>.py`, and
each answer cell of the notebook as `cell:<grade_id>`. copydetect tokenises a document with
pygments, writes every name as one symbol (so renaming a variable changes nothing), drops
whitespace and comments, and takes every run of NOISE characters of what is left (a k-gram) as a
fingerprint. Fingerprints that occur anywhere in the released skeleton (`assignments/`: the
docstrings, signatures and `__init__` bodies every student is given) are boilerplate and dropped.
Documents of the same name are compared by the fingerprints they share; a submission's share is
the part of its own code that the other holds too, over all its documents. Moving functions
around breaks only the few k-grams that straddle a boundary.

Independent correct solutions share short idioms (the contract fixes names and formulas): about a
third of their own code, measured on `autograder.authoring.independent`; copies renamed and
reordered keep more than four fifths. A pair is near-identical when either side's share reaches
NEAR_IDENTICAL and the two share at least MIN_SHARED characters (two submissions that hold one
stock line each are not a copy); identical when their graded files are the same bytes and hold
code of their own (two untouched skeletons are not).

Winnowing window 1 (every k-gram is a fingerprint), not copydetect's 6: it hashes with Python's
`hash()`, salted per process, so a wider window would keep other fingerprints on every run and the
scores would change from run to run; with window 1 they depend only on which k-grams are equal.
(Importing copydetect imports matplotlib.pyplot, for copydetect's own report; nothing here draws.)

A batch compares its submissions while it grades them (`Comparison`): in a process of its own at the
lowest CPU priority, so that it runs on what the sandboxes leave idle and never slows them.
"""

import io
import json
import os
from dataclasses import dataclass, field
from itertools import combinations
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from copydetect import CodeFingerprint, compare_files

from autograder.grader.submissions import Submission
from autograder.paths import ASSIGNMENTS, NOTEBOOK

NOISE = 25  # characters of filtered code in a fingerprint: copydetect's default noise threshold
NEAR_IDENTICAL = 0.7  # a side's share from which a pair is flagged
MIN_SHARED = 200  # filtered characters two submissions must share to be flagged (about ten lines)
PACKAGE_PREFIX = "transformer/"
CELL_PREFIX = "cell:"


@dataclass(frozen=True)
class Match:
    """One document both submissions hold, with the character spans of it that the other holds too."""

    document: str  # "transformer/attention.py" or "cell:softmax"
    left: str  # the left submission's source of the document
    right: str
    left_spans: tuple  # ((start, end), ...) into `left`, sorted
    right_spans: tuple
    share: float  # the larger side's share of its own code in this document
    shared: int  # filtered characters of it the larger side shares


@dataclass(frozen=True)
class Pair:
    left: str  # student ids, left < right
    right: str
    shares: tuple  # (left's share, right's share): the part of each side's own code the other holds too
    shared: int  # filtered characters of their own code the two share (the smaller side's count)
    identical: bool  # the same graded files, byte for byte, with code of their own
    matches: tuple = field(default=(), compare=False)  # Match per document, the most characters shared first

    @property
    def similarity(self):
        return max(self.shares)

    @property
    def flagged(self):
        return self.identical or (self.similarity >= NEAR_IDENTICAL and self.shared >= MIN_SHARED)


def documents(files):
    """The graded code of a submission's `files` ({path: bytes}), as {document name: source text}."""
    docs = {name: data.decode("utf-8", "replace") for name, data in sorted(files.items())
            if name.startswith(PACKAGE_PREFIX) and name.endswith(".py")}
    if NOTEBOOK in files:
        docs.update(_answer_cells(files[NOTEBOOK]))
    return docs


def _answer_cells(data):
    """{"cell:<grade_id>": source} for the notebook's nbgrader answer cells; none if it is not a notebook."""
    try:
        notebook = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
        return {}
    cells = _get(notebook, "cells")
    found = {}
    for cell in cells if isinstance(cells, list) else []:
        nbgrader = _get(_get(cell, "metadata"), "nbgrader")
        grade_id, source = _get(nbgrader, "grade_id"), _get(cell, "source")
        if _get(nbgrader, "solution") is not True or not isinstance(grade_id, str):
            continue
        if isinstance(source, list):  # nbformat allows a list of lines
            source = "".join(line for line in source if isinstance(line, str))
        if isinstance(source, str):
            found.setdefault(CELL_PREFIX + grade_id, []).append(source)
    return {name: "\n".join(sources) for name, sources in found.items()}


def _get(value, key):
    """value[key] where value is a JSON object holding it, else None."""
    return value.get(key) if isinstance(value, dict) else None


def skeleton_files(folder=ASSIGNMENTS):
    """The released skeleton as a submission's files: what every student is given."""
    folder = Path(folder)
    files = {f"{PACKAGE_PREFIX}{path.name}": path.read_bytes() for path in sorted((folder / "transformer").glob("*.py"))}
    files[NOTEBOOK] = (folder / NOTEBOOK).read_bytes()
    return files


def _fingerprint(name, source, boilerplate=None):
    """copydetect's fingerprint of one document; `boilerplate` (a sorted array of hashes) is dropped from it."""
    return CodeFingerprint(name, NOISE, 1, boilerplate=boilerplate, fp=io.StringIO(source), language="python")


class _Fingerprinter:
    """Fingerprints each document text once: a document the same as the skeleton's holds no code of its own
    (the untouched given files, the stubs left as released), and one text shared by several students
    (a stock one-line answer, a copied file) is fingerprinted for the first of them only."""

    def __init__(self, skeleton):
        self.skeleton = documents(skeleton)
        self.boilerplate = np.unique([h for name, source in self.skeleton.items() for h in _fingerprint(name, source).hashes])
        self.known = {}

    def __call__(self, name, source):
        """The document's fingerprint, or None when it holds no code of its own."""
        if self.skeleton.get(name) == source:
            return None
        if (name, source) not in self.known:
            fingerprint = _fingerprint(name, source, self.boilerplate)
            self.known[name, source] = fingerprint if fingerprint.token_coverage else None
        return self.known[name, source]


@dataclass
class _Fingerprinted:
    student_id: str
    content_hash: str
    documents: dict  # name -> source
    fingerprints: dict  # name -> CodeFingerprint, documents with code of their own only

    @property
    def own(self):
        return sum(f.token_coverage for f in self.fingerprints.values())


def _fingerprinted(submission, fingerprint):
    docs = documents(submission.files)
    found = {name: fingerprint(name, source) for name, source in docs.items()}
    return _Fingerprinted(submission.student_id, submission.content_hash, docs, {name: f for name, f in found.items() if f is not None})


def _spans(slices):
    return tuple((int(start), int(end)) for start, end in zip(*slices)) if len(slices[0]) else ()


def _pair(a, b, compare):
    overlap_a = overlap_b = 0.0
    matches = []
    for name in sorted(a.fingerprints.keys() & b.fingerprints.keys()):
        fa, fb = a.fingerprints[name], b.fingerprints[name]
        share_a, share_b, slices_a, slices_b = compare(fa, fb)
        shared_a, shared_b = share_a * fa.token_coverage, share_b * fb.token_coverage
        if shared_a or shared_b:
            overlap_a += shared_a
            overlap_b += shared_b
            matches.append(Match(name, a.documents[name], b.documents[name], _spans(slices_a), _spans(slices_b),
                                 float(max(share_a, share_b)), int(round(max(shared_a, shared_b)))))
    shares = (overlap_a / a.own if a.own else 0.0, overlap_b / b.own if b.own else 0.0)
    identical = a.content_hash == b.content_hash and a.own > 0
    matches.sort(key=lambda match: (-match.shared, match.document))
    return Pair(a.student_id, b.student_id, tuple(round(float(share), 4) for share in shares), int(round(min(overlap_a, overlap_b))),
                identical, tuple(matches))


def compare_submissions(submissions, skeleton=None):
    """Every pair of `submissions` (Submission objects, each student once): the flagged first, then the most similar.

    `skeleton`: the files every student is given ({path: bytes}, default the released skeleton),
    whose code is boilerplate. Submissions that hold no code of their own are left out of the pairs.
    """
    fingerprint = _Fingerprinter(skeleton_files() if skeleton is None else skeleton)
    prints = [_fingerprinted(s, fingerprint) for s in sorted(submissions, key=lambda s: s.student_id)]
    compare = _Comparer()
    pairs = [_pair(a, b, compare) for a, b in combinations([p for p in prints if p.own], 2)]
    return sorted(pairs, key=lambda pair: (not pair.flagged, -pair.similarity, pair.left, pair.right))


class _Comparer:
    """copydetect's comparison of two fingerprints, each pair of them compared once (the fingerprinter gives a
    text shared by several students one fingerprint: a copied file is compared with each other text once)."""

    def __init__(self):
        self.known = {}

    def __call__(self, left, right):
        """(left's share, right's share, left's copied slices, right's)."""
        key = id(left), id(right)
        if key not in self.known:
            _, shares, slices = compare_files(left, right)
            self.known[key] = (*shares, *slices)
        return self.known[key]


class Comparison:
    """`compare_submissions` on `submissions`, started at once in a process of its own (forked: the batch has started
    no thread by then) at the lowest CPU priority; `pairs()` waits for its answer. Use it in a `with` block: leaving the block ends that process.
    Where no process can be started, `pairs()` compares them itself."""

    def __init__(self, submissions):
        self.submissions = [Submission(s.student_id, s.files) for s in submissions]  # what comparing needs, nothing else
        self.student_ids = frozenset(s.student_id for s in submissions)
        try:
            # forked, not spawned: a spawned pool leaves multiprocessing's resource tracker running after the batch
            self._pool = get_context("fork").Pool(1, initializer=os.nice, initargs=(19,))
            self._answer = self._pool.apply_async(compare_submissions, (self.submissions,))
        except OSError:  # no process for it (no /dev/shm, say): compared when asked for
            self._pool = self._answer = None

    def pairs(self):
        """Every pair, as `compare_submissions` orders them."""
        return compare_submissions(self.submissions) if self._answer is None else self._answer.get()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
