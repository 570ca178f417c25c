"""The rubric: points per hidden case, read from the teacher's `rubric.toml` and checked against the catalog.

Sections are the graded units' public names and keys are their cases' names; a case the rubric
leaves out is worth DEFAULT_POINTS. Points are numbers of at least 0 (0 takes a case out of the
total). Every problem (a name the catalog does not hold, points that are negative, not a number
or not finite) is collected, and all of them are raised together as one RubricError, so that the
teacher fixes the file in one go; nothing is graded under a rubric with a problem.

The points applied, case by case in catalog order, have a fingerprint: the gradebook stores it
with every submission, so that a rubric edit re-scores what was graded under the old one.
"""

import difflib
import hashlib
import json
import math
import tomllib
from pathlib import Path

from autograder.grader.hidden_tests import all_units

RUBRIC = Path(__file__).with_name("rubric.toml")
DEFAULT_POINTS = 1.0


class RubricError(ValueError):
    """The rubric cannot be used; the message (Japanese, then English) lists every problem with its section and key."""

    def __init__(self, path, problems):
        self.problems = list(problems)
        lines = "\n".join(f"  - {problem}" for problem in self.problems)
        super().__init__(f"配点ファイル {path} に {len(self.problems)} 件の問題があります。直してから実行し直してください。\n"
                         f"The rubric {path} has {len(self.problems)} problem(s); fix them and run again.\n{lines}")


def load_rubric(path=RUBRIC, units=None):
    """unit -> {case -> points} from the TOML file at `path`, checked against `units` (default: the whole catalog)."""
    try:
        rubric = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise RubricError(path, [f"ファイルを TOML として読めません / cannot be read as TOML: {error}"]) from None
    check_rubric(rubric, units or all_units(), path)
    return rubric


def check_rubric(rubric, units, path=RUBRIC):
    """Raise RubricError listing every section, key and value of `rubric` that does not fit the cases of `units`."""
    cases = {unit.name: [case.name for case in unit.cases] for unit in units}
    problems = []
    for section, entries in rubric.items():
        where = f"[{section}]"
        if section not in cases:
            problems.append(f"{where}: そのような採点ユニットはありません / no such unit{_did_you_mean(section, cases)}")
        elif not isinstance(entries, dict):
            problems.append(f"{where}: ケース名と配点の表にしてください / must be a table of case names and points")
        else:
            for key, points in entries.items():
                problems += _entry_problems(f'{where} "{key}"', key, points, cases[section])
    if problems:
        raise RubricError(path, problems)


def _entry_problems(where, key, points, case_names):
    problems = []
    if key not in case_names:
        problems.append(f"{where}: このユニットにそのようなケースはありません / no such case in this unit{_did_you_mean(key, case_names)}")
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not math.isfinite(points):
        problems.append(f"{where} = {points!r}: 配点が数ではありません / points must be a number")
    elif points < 0:
        problems.append(f"{where} = {points!r}: 配点は 0 以上にしてください / points must not be negative")
    return problems


def _did_you_mean(name, names):
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"（もしかして / did you mean: {close[0]!r}）" if close else ""


def applied_points(rubric, units):
    """(unit name, case name) -> the points the case is worth, for every case of `units`, in catalog order."""
    return {(unit.name, case.name): float(rubric.get(unit.name, {}).get(case.name, DEFAULT_POINTS))
            for unit in units for case in unit.cases}


def fingerprint(points):
    """A digest of the points applied (case names, their order and points): equal exactly when they are the same."""
    text = json.dumps([[unit, case, value] for (unit, case), value in points.items()], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
