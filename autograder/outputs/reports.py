"""What a grade produces: Gradescope's results.json, Japanese feedback in Markdown, and the terminal summary.

Case outputs and problems hold the student's text (exception messages, file names), so nothing of
it is ever read as markup: in Markdown, outputs sit in a code fence longer than any backtick run
they hold and every other text is escaped; Gradescope is told that every output is plain text.
"""

import json
import re
from collections import defaultdict
from pathlib import Path

from autograder.protocol.messages import Protection

PROTECTION_NAMES = {  # in the order of Protection, strongest first
    Protection.FRESH_ROOT: "許可したものだけが読み取り専用で見える新しいルート（解答・隠しテスト・他の提出は存在しない）",
    Protection.USER_NAMESPACE: "ユーザー名前空間",
    Protection.MOUNT_NAMESPACE: "マウント名前空間",
    Protection.PID_NAMESPACE: "PID 名前空間（残ったプロセスはまとめて終了）",
    Protection.NETWORK_NAMESPACE: "ネットワーク名前空間（通信なし）",
    Protection.IPC_NAMESPACE: "IPC 名前空間",
    Protection.PRIVATE_TMP: "作業用フォルダと /tmp はユニットごとに新しい、容量とファイル数に上限のある tmpfs",
    Protection.READ_ONLY_CODE: "提出したコードは読み取り専用",
    Protection.OWN_UID: "同時に動く採点ごとに別のユーザー ID",
    Protection.NO_CAPABILITIES: "特権（capability）なし",
    Protection.NO_NEW_PRIVS: "no_new_privs",
    Protection.SECCOMP: "seccomp（名前空間・マウント・ptrace・鍵・System V IPC などのシステムコールを拒否）",
    Protection.NOT_DUMPABLE: "他のプロセスから覗けない（dumpable なし）",
    Protection.RLIMITS: "CPU 時間・メモリ・出力サイズ・プロセス数の上限",
    Protection.UNSANDBOXED: "隔離なし（先生が --unsandboxed を指定）",
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
        "output_format": "text",  # never html or Markdown: the outputs hold the student's text
        "test_output_format": "text",
        "test_name_format": "text",
        "output": _isolation_line(result.isolation) + "".join(f"\n{p}" for p in result.problems),
        "extra_data": {"protections": _in_order(result.isolation), "forbidden_units": result.forbidden_units},
        "tests": tests,
    }


def _in_order(isolation):
    return [p.value for p in Protection if p.value in set(isolation)]


def _isolation_line(isolation):
    names = [PROTECTION_NAMES[Protection(value)] for value in _in_order(isolation)]
    return "隔離: " + ("、".join(names) if names else "なし（採点を始める前に止まりました）")


def feedback_markdown(result):
    """Japanese feedback: a table per unit, then every failed case with what, where and why."""
    by_unit = cases_by_unit(result)
    lines = [f"# 採点結果: {markdown_text(result.student_id)}", "", f"**合計 {result.score:g} / {result.max_score:g} 点**", "",
             "| ユニット | 得点 | 状態 |", "| --- | --- | --- |"]
    for unit, cases in by_unit.items():
        got, full = sum(c.score for c in cases), sum(c.max_score for c in cases)
        lines.append(f"| `{unit}` | {got:g} / {full:g} | {unit_status(cases)} |")
    failed = [case for case in result.cases if case.status != "passed"]
    if failed:
        lines += ["", "## うまくいかなかったケース", ""]
        for case in failed:
            lines += [f"### {markdown_text(case.name)}", "", *fenced(case.output), ""]
    if result.problems:
        lines += ["## 提出物について", "", *[f"- {markdown_text(p)}" for p in result.problems], ""]
    lines += ["", f"_{_isolation_line(result.isolation)}_", ""]
    return "\n".join(lines)


MARKDOWN_PUNCTUATION = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def markdown_text(text):
    """`text` shown as itself in Markdown: no markup, no link, no HTML."""
    text = " ".join(str(text).splitlines())
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def fenced(text):
    """`text` as a Markdown code block whose fence no line of it can close."""
    longest = max((len(run) for run in re.findall(r"`+|~+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, text, fence]


def cases_by_unit(result):
    """unit -> its cases' results, in the catalog's order."""
    by_unit = defaultdict(list)
    for case in result.cases:
        by_unit[case.unit].append(case)
    return by_unit


def unit_status(cases):
    """A unit's state in a few Japanese words: ✓, 未実装, or how many of its cases failed."""
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


def protections_lines(protection_sets):
    """One line per set of protections the batch ran under, for the terminal."""
    return "\n".join(_isolation_line(protections) for protections in protection_sets)


def summary_table(rows):
    """A plain-text table of the gradebook's rows for the terminal; forbidden use is flagged on its own line."""
    width = max([len("学生"), *(len(r[0]) for r in rows)])
    lines = [f"{'学生'.ljust(width)}  {'得点':>13}  うまくいかなかったユニット"]
    for student_id, score, max_score, failed_units, forbidden_units in rows:
        failed = ", ".join(failed_units) if failed_units else "なし"
        lines.append(f"{student_id.ljust(width)}  {score:>6g} / {max_score:<5g}  {failed}")
        if forbidden_units:
            lines.append(f"{''.ljust(width)}  ⚠ 使えない API を使ったユニット: {', '.join(forbidden_units)}")
    return "\n".join(lines)
