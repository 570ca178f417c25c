"""Benchmark of the grader's judgement: realistic bugs caught in their own unit, correct styles given full marks.

    python bench/grader_mutations.py [--jobs J]

Every mutant of `autograder/authoring/mutants.py` (one student bug each, applied to a copy of
solutions/), every correct variant and the unchanged reference are graded in one batch. For each
unit it prints how many of its mutants were caught (the unit lost points) and confined (no other
unit did), then every mutant that was not, and every variant that lost a point.
"""

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from autograder.authoring.examples import EXAMPLES, build_example
from autograder.authoring.mutants import MUTANTS, VARIANTS
from autograder.grader.batch import grade_batch
from autograder.grader.hidden_tests import all_units


def lost_units(out, name):
    """The units in which `name`'s graded results lost points."""
    results = json.loads((out / name / "results.json").read_text(encoding="utf-8"))
    return {test["tags"][0] for test in results["tests"] if test["score"] < test["max_score"]}


def grade_all(folder, out, jobs):
    """Build every mutant and variant under `folder`, grade them into `out`; name -> units that lost points."""
    examples = [m.example() for m in MUTANTS] + VARIANTS + [EXAMPLES[0]]
    for example in examples:
        build_example(example, folder / example.name)
    grade_batch([folder], out, jobs=jobs, regrade=True)
    return {example.name: lost_units(out, example.name) for example in examples}


def report(lost):
    """The per-unit table and the lists of misses; True when every mutant is caught and confined and every variant is whole."""
    per_unit = defaultdict(lambda: [0, 0, 0])
    missed = []
    for mutant in MUTANTS:
        caught, confined = mutant.unit in lost[mutant.name], lost[mutant.name] == {mutant.unit}
        counts = per_unit[mutant.unit]
        counts[0] += 1
        counts[1] += caught
        counts[2] += confined
        if not confined:
            missed.append(f"  {mutant.name} ({mutant.unit}): lost points in {sorted(lost[mutant.name]) or 'no unit'}")
    print(f"{'unit':<30} {'mutants':>7} {'caught':>7} {'confined':>8}")
    for unit in (u.name for u in all_units()):
        total, caught, confined = per_unit[unit]
        print(f"{unit:<30} {total:>7} {caught:>7} {confined:>8}")
    total = len(MUTANTS)
    caught = sum(c for _, c, _ in per_unit.values())
    confined = sum(c for _, _, c in per_unit.values())
    print(f"{'all':<30} {total:>7} {caught:>7} {confined:>8}   caught {caught / total:.1%}, confined {confined / total:.1%}")
    if missed:
        print("not caught, or not confined:\n" + "\n".join(missed))
    unfair = [f"  {v.name}: lost points in {sorted(lost[v.name])}" for v in [*VARIANTS, EXAMPLES[0]] if lost[v.name]]
    print(f"correct variants with full marks: {len(VARIANTS) + 1 - len(unfair)} of {len(VARIANTS) + 1}")
    if unfair:
        print("correct answers that lost points:\n" + "\n".join(unfair))
    return not missed and not unfair


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        lost = grade_all(Path(folder) / "subs", Path(folder) / "out", args.jobs)
        print(f"{len(lost)} submissions graded in {time.monotonic() - started:.0f} s")
        return 0 if report(lost) else 1


if __name__ == "__main__":
    sys.exit(main())
