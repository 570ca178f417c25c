"""What a grade produces: Gradescope's results.json, Japanese feedback in Markdown, and the terminal summary."""

import json
from collections import defaultdict
from pathlib import Path

ISOLATION_NAMES = {
    "user-namespace": "ユーザー名前空間",
    "mount-namespace": "マウント名前空間（解答・隠しテストを覆い隠す）",
    "network-namespace": "ネットワーク名前空間（通信なし）",
    "pid-namespace": "PID 名前空間（残ったプロセスはまとめて終了）",
    "hidden-paths": "解答・隠しテスト・成績簿のパスを空のファイルシステムで覆う",
    "private-tmp": "/tmp などへの書き込みは、実行のたびに新しく用意する使い捨ての領域へ",
    "unprivileged-user": "権限のないユーザー（nobody）で実行",
    "rlimits": "CPU 時間・メモリ・出力サイズ・プロセス数の上限",
}


def results_json(result):
    """Gradescope's autograder schema, with every test named after the unit it grades."""
    tests = [
        {
            "name": case.name,
            "number": str(number),
            "score": case.score,
            "max_score": case.max_score,
            "status": case.status,
            "output": case.output,
            "visibility": "visible",
            "tags": [case.unit],
        }
        for number, case in enumerate(result.cases, start=1)
    ]
    return {
        "score": result.score,
        "max_score": result.max_score,
        "execution_time": result.execution_time,
        "output": _isolation_line(result.isolation) + "".join(f"\n{p}" for p in result.problems),
        "tests": tests,
    }


def _isolation_line(isolation):
    names = [ISOLATION_NAMES.get(item, item) for item in isolation]
    return "隔離: " + ("、".join(names) if names else "なし（この環境では名前空間も rlimit も使えませんでした）")


def feedback_markdown(result):
    """Japanese feedback: a table per unit, then every failed case with what, where and why."""
    by_unit = defaultdict(list)
    for case in result.cases:
        by_unit[case.unit].append(case)
    lines = [f"# 採点結果: {result.student_id}", "", f"**合計 {result.score:g} / {result.max_score:g} 点**", "",
             "| ユニット | 得点 | 状態 |", "| --- | --- | --- |"]
    for unit, cases in by_unit.items():
        got, full = sum(c.score for c in cases), sum(c.max_score for c in cases)
        lines.append(f"| `{unit}` | {got:g} / {full:g} | {_unit_status(cases)} |")
    failed = [case for case in result.cases if case.status != "passed"]
    if failed:
        lines += ["", "## うまくいかなかったケース", ""]
        for case in failed:
            lines += [f"### {case.name}", "", "```", case.output, "```", ""]
    if result.problems:
        lines += ["## 提出物について", "", *[f"- {p}" for p in result.problems], ""]
    lines += ["", f"_{_isolation_line(result.isolation)}_", ""]
    return "\n".join(lines)


def _unit_status(cases):
    if all(c.status == "passed" for c in cases):
        return "✓"
    if all("未実装" in c.output for c in cases):
        return "未実装"
    return f"✗ {sum(c.status != 'passed' for c in cases)} ケース失敗"


def write_reports(result, out_dir):
    folder = Path(out_dir) / result.student_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results_json(result), ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "feedback.md").write_text(feedback_markdown(result), encoding="utf-8")
    return folder


def summary_table(rows):
    """A plain-text table of (student id, score, max score, failed units) for the terminal."""
    width = max([len("学生"), *(len(r[0]) for r in rows)])
    lines = [f"{'学生'.ljust(width)}  {'得点':>13}  うまくいかなかったユニット"]
    for student_id, score, max_score, failed_units in rows:
        failed = ", ".join(failed_units) if failed_units else "なし"
        lines.append(f"{student_id.ljust(width)}  {score:>6g} / {max_score:<5g}  {failed}")
    return "\n".join(lines)
