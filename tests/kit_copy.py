"""A temporary copy of the kit, changed as docs/adding_an_exercise.md says, and commands run inside it.

The guide's walkthrough is its code blocks: each names a file and a unique line or text of it
(```python file=PATH before="LINE"```, or `after=` / `replace=`). `walk_the_guide` applies them to a
copy; `in_copy` runs the kit's Python with the copy first on the import path, so that the copy's
`autograder.paths.ROOT` is the copy and nothing of the real tree is read or written.

Run as a script inside a copy (`python kit_copy.py COMMAND ARGS`), this file answers for the copy's
grader; the commands are below `main`.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

KIT = Path(__file__).resolve().parent.parent
GUIDE = KIT / "docs" / "adding_an_exercise.md"
COPIED = ("autograder", "solutions", "constraints.txt", "pyproject.toml")  # what the release and the grader read
BLOCK = re.compile(r"^```\w+ file=(\S+) (before|after|replace)=(\"[^\"\n]*\"|'[^'\n]*')\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Step:
    file: str  # relative to the kit
    where: str  # "before" / "after" the line holding `anchor`, or "replace" `anchor`
    anchor: str
    text: str  # the code block, ending with a newline


def guide_steps(guide=GUIDE):
    """The walkthrough's steps, in the guide's order."""
    return [Step(file, where, anchor[1:-1], text) for file, where, anchor, text in BLOCK.findall(guide.read_text(encoding="utf-8"))]


def apply_step(root, step):
    """Write `step` into the copy at `root`. An inserted block is set apart from its neighbours by as many blank
    lines as the file has at that place."""
    path = root / step.file
    text = path.read_text(encoding="utf-8")
    assert text.count(step.anchor) == 1, f"{step.file}: the guide's {step.where}= text must occur exactly once: {step.anchor!r}"
    if step.where == "replace":
        path.write_text(text.replace(step.anchor, step.text.removesuffix("\n")), encoding="utf-8")
        return
    lines = text.splitlines(keepends=True)
    at = next(index for index, line in enumerate(lines) if step.anchor in line)
    block = step.text.splitlines(keepends=True)
    if step.where == "before":
        gap = ["\n"] * _blank_run(reversed(lines[:at]))
        lines[at:at] = block + gap
    else:
        gap = ["\n"] * _blank_run(lines[at + 1:])
        lines[at + 1:at + 1] = gap + block
    path.write_text("".join(lines), encoding="utf-8")


def _blank_run(lines):
    count = 0
    for line in lines:
        if line.strip():
            break
        count += 1
    return count


def walk_the_guide(folder, steps):
    """A copy of the kit at `folder` with every step applied; returns its root."""
    root = Path(folder)
    for name in COPIED:
        if (KIT / name).is_dir():
            shutil.copytree(KIT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        else:
            shutil.copyfile(KIT / name, root / name)
    for step in steps:
        apply_step(root, step)
    return root


def in_copy(root, *args, timeout=300):
    """The stdout of `python ARGS` run in the copy at `root`, with the copy first on the import path; it must succeed."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


# --- inside the copy ---------------------------------------------------------------------------------


def hidden_cases(unit_name, misspelt_rubric):
    """The unit's cases and points as the copy's catalog and rubric hold them, what its rubric loader says of the
    rubric at `misspelt_rubric`, and each case's score (group -> name -> scores) for the reference, the unit's
    mutants and the independent solutions: their outputs computed by the sandbox's runner, in this process,
    judged against the catalog's expected values (computed from the reference, as for every batch)."""
    from autograder.authoring.examples import build_example
    from autograder.authoring.independent import INDEPENDENT, build_from_skeleton
    from autograder.authoring.mutants import MUTANTS
    from autograder.grader.catalog import Catalog
    from autograder.grader.grading import Grader
    from autograder.grader.hidden_tests import all_units
    from autograder.grader.rubric import RubricError, load_rubric
    from autograder.paths import SOLUTIONS, load_package

    unit = next(unit for unit in all_units() if unit.name == unit_name)
    assert not unit.standins, "the runner is called here without stand-ins: a walkthrough unit stands alone"
    rubric = load_rubric()
    try:
        load_rubric(misspelt_rubric)
        refused = ""
    except RubricError as error:
        refused = str(error)
    grader = Grader(Catalog([unit], {unit.name: rubric[unit.name]}))
    with tempfile.TemporaryDirectory() as folder:
        groups = {"reference": {"reference": SOLUTIONS},
                  "mutants": {m.name: build_example(m.example(), Path(folder) / m.name) for m in MUTANTS if m.unit == unit.name},
                  "independent": {name: build_from_skeleton(answers, Path(folder) / name) for name, answers in INDEPENDENT.items()}}
        scores = {group: {name: _scores(grader, unit, load_package(path / "transformer", f"walked_{name}")) for name, path in folders.items()}
                  for group, folders in groups.items()}
    return {"cases": [case.name for case in unit.cases], "points": rubric[unit.name], "refused": refused, "scores": scores}


def _scores(grader, unit, package):
    from autograder.protocol.calls import RUNNERS, Swaps, seed
    from autograder.protocol.plain import from_plain, to_plain

    target = getattr(getattr(package, unit.source["module"]), unit.source["name"])
    scores = []
    for index, case in enumerate(unit.cases):
        inputs = from_plain(to_plain(case.make_inputs()))  # as the sandbox receives them
        seed(case.seed)
        outputs = to_plain(RUNNERS[unit.runner](target, {**case.spec, "seed": case.seed}, inputs, Swaps()))
        scores.append(grader._judge(unit, index, case, {"ok": True, "outputs": outputs}).score)
    return scores


def submissions(unit_name, folder):
    """The reference and the unit's mutants as submission folders under `folder`; returns their names."""
    from autograder.authoring.examples import EXAMPLES, build_example
    from autograder.authoring.mutants import MUTANTS

    chosen = [example for example in EXAMPLES if example.name == "perfect"] + [m.example() for m in MUTANTS if m.unit == unit_name]
    return [build_example(example, Path(folder) / example.name).name for example in chosen]


COMMANDS = {"hidden_cases": hidden_cases, "submissions": submissions}


def main(command, *args):
    print(json.dumps(COMMANDS[command](*args), ensure_ascii=False))


if __name__ == "__main__":
    main(*sys.argv[1:])
