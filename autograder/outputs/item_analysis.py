"""Item analysis of a batch: for every hidden case, how many failed it, why most often, and how well it
separates the strong submissions from the weak.

Discrimination is the corrected point-biserial correlation: over the submissions graded on the case,
the Pearson correlation between passing it (1 or 0) and the share of the points earned on every other
case. Near 1, the strong pass it and the weak fail it; near 0 or below, it tells little about who
understood the material; undefined (None) when every submission passed it, or every one failed it.

A failure's likely cause is what its feedback says: for a wrong result, the case's "よくある原因"
(the grader writes it as the output's last line, where the kind of difference shows it applies);
for anything else, what happened (an exception, a time-out, ...), and "未実装" for the skeleton's
NotImplementedError.
"""

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass

from autograder.protocol.messages import Outcome

CAUSE_PREFIX = "よくある原因: "
UNIMPLEMENTED = "未実装（NotImplementedError のまま）"
WHAT_HAPPENED = {
    Outcome.MISMATCH.value: "結果が違う（原因は特定できず）",
    Outcome.EXCEPTION.value: "例外が起きた",
    Outcome.IMPORT.value: "コードを読み込めない（構文エラーなど）",
    Outcome.FORBIDDEN.value: "使えない API を使った",
    Outcome.TIMEOUT.value: "時間切れ（無限ループなど）",
    Outcome.CRASHED.value: "プロセスが異常終了した",
    Outcome.VIOLATION.value: "採点の決まりに反する動きをした",
    Outcome.MISSING.value: "ファイルまたはセルが提出にない",
    Outcome.BUDGET.value: "提出全体の制限時間を超えた",
    Outcome.GRADER_ERROR.value: "採点側のエラー（学生のせいではない）",
}


@dataclass(frozen=True)
class CaseStats:
    unit: str
    name: str  # the case's name, "unit: what" as in the feedback
    graded: int  # submissions graded on it
    failed: int
    cause: str | None  # the most common likely cause among the failures (Japanese); None when none failed
    cause_count: int  # how many of the failures it is the cause of
    discrimination: float | None


def likely_cause(category, output):
    """The likely cause of one failed case, from its outcome category and its feedback `output`."""
    last = output.rstrip().rsplit("\n", 1)[-1] if output else ""
    if category == Outcome.MISMATCH.value and last.startswith(CAUSE_PREFIX):
        return last.removeprefix(CAUSE_PREFIX)
    if category == Outcome.EXCEPTION.value and ": NotImplementedError: " in output:
        return UNIMPLEMENTED
    return WHAT_HAPPENED.get(category, category)


def analyse(outcomes, outputs=None):
    """One CaseStats per case, in the catalog's order.

    `outcomes`: (student id, case number, unit, case name, score, max score, category) rows, as
    `Gradebook.outcomes()` gives them; `outputs`: {(student id, case number): feedback text}, where known.
    """
    outputs = outputs or {}
    totals = defaultdict(lambda: [0.0, 0.0])
    for student, _, _, _, score, max_score, _ in outcomes:
        totals[student][0] += score
        totals[student][1] += max_score
    by_case, first_number = defaultdict(list), {}
    for student, number, unit, name, score, max_score, category in outcomes:
        key = (unit, name)
        first_number[key] = min(number, first_number.get(key, number))
        by_case[key].append((student, number, score, max_score, category))
    return [_case_stats(key, by_case[key], totals, outputs) for key in sorted(by_case, key=lambda k: (first_number[k], k))]


def _case_stats(key, rows, totals, outputs):
    passed, rest = [], []
    causes = Counter()
    for student, number, score, max_score, category in rows:
        passed.append(1.0 if category == Outcome.PASSED.value else 0.0)
        total, full = totals[student]
        rest.append((total - score) / (full - max_score) if full > max_score else 0.0)
        if category != Outcome.PASSED.value:
            causes[likely_cause(category, outputs.get((student, number), ""))] += 1
    cause, count = min(causes.items(), key=lambda item: (-item[1], item[0])) if causes else (None, 0)
    return CaseStats(key[0], f"{key[0]}: {key[1]}", len(rows), len(rows) - int(sum(passed)), cause, count, _correlation(passed, rest))


def _correlation(xs, ys):
    try:
        return round(statistics.correlation(xs, ys), 3)
    except statistics.StatisticsError:  # fewer than two submissions, or one side constant
        return None


def best_separating(stats, count=5):
    """The `count` cases with the highest discrimination above 0, highest first."""
    ranked = [s for s in stats if s.discrimination is not None and s.discrimination > 0]
    return sorted(ranked, key=lambda s: (-s.discrimination, s.name))[:count]
