"""自己チェック: 見えるテストをすべて 1 回の pytest で実行し、パートごとの進み具合と見込み点を表にします。

使い方:
    python check.py                     # すべてのパート（ノートブック 00 も含みます）
    python check.py masks attention     # 指定したパートだけ
    python check.py --submit 学籍番号   # 提出用の zip（学籍番号.zip）を作って確かめます

ノートブックからは:
    from check import run_check
    run_check("masks", "attention")

使えない API は、採点と同じ表と同じ静的チェック（tests/from_grader/ のコピー）で確かめます。
"""

import argparse
import json
import sys
import unicodedata
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TESTS = HERE / "tests"
NOTEBOOK = "00_pytorch_basics.ipynb"
for _folder in (TESTS / "from_grader", TESTS, HERE):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from reporting import Status  # noqa: E402

UNITS = json.loads((TESTS / "units.json").read_text(encoding="utf-8"))
PARTS = [part["name"] for part in UNITS["parts"]]
FAILURES_SHOWN = 3  # per unit


# ---------------------------------------------------------------------------
# テストを 1 回の pytest で実行する
# ---------------------------------------------------------------------------


class Results:
    """pytest のプラグイン: テストごとの (パート, ユニット, 状態, 説明) と、読み込めなかったファイルを集めます。"""

    def __init__(self):
        self.tests = []  # (part, unit, name, Status, text)
        self.load_errors = {}  # part -> text
        self._units = {}

    def pytest_collectreport(self, report):
        if report.failed:
            self.load_errors[_part_of(report.nodeid)] = str(report.longrepr)

    def pytest_collection_modifyitems(self, items):
        for item in items:
            marker = item.get_closest_marker("unit")
            self._units[item.nodeid] = marker.args[0] if marker else ""

    def pytest_runtest_logreport(self, report):
        status = dict(report.user_properties).get("status")
        if report.when == "call" or (report.failed and status):
            text = "" if report.passed else str(report.longrepr)
            self.tests.append((_part_of(report.nodeid), self._units.get(report.nodeid, ""), report.nodeid.split("::")[-1],
                               Status(status) if status else (Status.PASSED if report.passed else Status.FAILED), text))


def _part_of(nodeid):
    return Path(nodeid.split("::")[0]).stem.removeprefix("test_")


def run_tests(parts):
    """`parts` の見えるテストを、このプロセスの中で 1 回の pytest として実行し、Results を返します。"""
    import pytest
    from tqdm.auto import tqdm

    _forget_previous_run()
    results = Results()
    progress = _Progress(tqdm)
    pytest.main(["-o", "addopts=", "-p", "no:terminal", "-p", "no:cacheprovider", "--rootdir", str(HERE),
                 "-c", str(HERE / "pytest.ini"), *[str(TESTS / f"test_{part}.py") for part in parts]],
                plugins=[results, progress])
    progress.close()
    return results


class _Progress:
    """pytest のプラグイン: 進み具合のバー。"""

    def __init__(self, tqdm):
        self.tqdm, self.bar = tqdm, None

    def pytest_collection_finish(self, session):
        self.bar = self.tqdm(total=len(session.items), desc="テスト", unit="個", leave=False)

    def pytest_runtest_logfinish(self, nodeid, location):
        self.bar.update()

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _forget_previous_run():
    """前回の run_check で読み込んだあなたのコードとテストを忘れさせます（ノートブックで書き直したあとのために）。"""
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if path.startswith(str(HERE)) and not path.startswith(str(TESTS / "from_grader")) and name != __name__:
            del sys.modules[name]


# ---------------------------------------------------------------------------
# 使えない API（採点と同じ静的チェック）
# ---------------------------------------------------------------------------


def forbidden_messages(parts):
    """`parts` のユニットのうち、使えない API を使っているものの {ユニット: 採点と同じメッセージ}。"""
    from test_basics import graded_cells

    from autograder.grader.forbidden import find_forbidden, forbidden_message

    cells = {grade_id: source for grade_id, is_answer, source in graded_cells()} if (HERE / NOTEBOOK).exists() else {}
    found = {}
    for unit in UNITS["units"]:
        if unit["part"] not in parts:
            continue
        source = _source_text(unit["source"], cells)
        findings = find_forbidden(source, unit["source"]["name"], unit["forbidden"], frozenset(unit["standins"])) if source else []
        if findings:
            found[unit["name"]] = forbidden_message(unit["name"], unit["source"], findings)
    return found


def _source_text(source, cells):
    if source["kind"] == "notebook":
        return cells.get(source["name"], "")
    path = HERE / "transformer" / f"{source['module']}.py"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


# ---------------------------------------------------------------------------
# 表と説明
# ---------------------------------------------------------------------------


def run_check(*parts):
    """指定したパート（省略時はすべて）のテストを実行し、表を表示します。全部合格で使えない API もなければ True。"""
    parts = list(parts) or PARTS
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise ValueError(f"知らないパートです: {unknown}。使えるのは {PARTS} です。")
    results = run_tests(parts)
    forbidden = forbidden_messages(parts)
    print(_table(parts, results, forbidden))
    details = _details(parts, results, forbidden)
    if details:
        print("\n" + details)
    return not results.load_errors and not forbidden and bool(results.tests) and all(
        status is Status.PASSED for *_, status, _ in results.tests)


def _unit_status(results):
    """ユニット -> そのテストの状態の一覧。"""
    statuses = {}
    for _, unit, _, status, _ in results.tests:
        statuses.setdefault(unit, []).append(status)
    return statuses


def _earned(unit, statuses, forbidden):
    tests = statuses.get(unit["name"], [])
    return unit["points"] if tests and all(s is Status.PASSED for s in tests) and unit["name"] not in forbidden else 0


def _pad(text, width):
    """`text` を、端末で `width` 文字ぶんの幅になるまで空白で埋めます（全角は 2 文字ぶん）。"""
    used = sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)
    return text + " " * max(0, width - used)


def _table(parts, results, forbidden):
    statuses = _unit_status(results)
    width = max(len(part) for part in [*parts, "パート__"])
    lines = [f"{_pad('パート', width)}  {_pad('テスト', 24)}  {_pad('見込み点', 12)}  状態"]
    total = earned = 0
    for part in parts:
        tests = [status for test_part, _, _, status, _ in results.tests if test_part == part]
        units = [unit for unit in UNITS["units"] if unit["part"] == part]
        points = sum(unit["points"] for unit in units)
        got = sum(_earned(unit, statuses, forbidden) for unit in units)
        total, earned = total + points, earned + got
        passed = tests.count(Status.PASSED)
        missing = tests.count(Status.NOT_IMPLEMENTED)
        count = f"{passed}/{len(tests)}" + (f"（残り {missing} は未実装）" if missing else "")
        lines.append(f"{_pad(part, width)}  {_pad(count, 24)}  {_pad(f'{got:g}/{points:g} 点', 12)}  "
                     f"{_part_state(part, tests, results, units, forbidden)}")
    lines.append(f"{_pad('合計', width)}  {_pad('', 24)}  {earned:g}/{total:g} 点（見えるテストだけでの目安）")
    return "\n".join(lines)


def _part_state(part, tests, results, units, forbidden):
    if part in results.load_errors:
        return "✗ 読み込めません（下の説明を見てください）"
    if any(unit["name"] in forbidden for unit in units):
        return "✗ 使えない API"
    if not tests:
        return "✗ テストが見つかりません"
    if Status.TIMED_OUT in tests:
        return "✗ 時間切れ"
    if Status.FAILED in tests:
        return "✗ 失敗あり"
    if all(status is Status.NOT_IMPLEMENTED for status in tests):
        return "未実装"
    if Status.NOT_IMPLEMENTED in tests:
        return "途中（合格したところまでは正しい）"
    return "✓ 合格"


def _details(parts, results, forbidden):
    """読み込めないファイル、使えない API、失敗したテストの説明（前のユニットから順に）。"""
    by_text = {}
    for part, text in results.load_errors.items():
        by_text.setdefault(text, []).append(part)
    blocks = [f"[{'・'.join(names)}] テストを読み込めません:\n{text}" for text, names in by_text.items()]
    blocks += [f"[使えない API] {message}" for message in forbidden.values()]
    failed = {}
    for part, unit, name, status, text in results.tests:
        if status in (Status.FAILED, Status.TIMED_OUT):
            failed.setdefault(unit, []).append((part, name, text))
    not_passing = {unit for _, unit, _, status, _ in results.tests if status is not Status.PASSED}
    for unit in [u for u in UNITS["units"] if u["name"] in failed]:
        first = [name for name in unit["standins"] if name in not_passing]
        lines = [f"[{failed[unit['name']][0][0]}] {unit['name']}"]
        if first:
            lines.append(f"  先に {'・'.join(first)} を仕上げてください: {unit['name']} はそれを使うので、"
                         "そちらの誤りや未実装がここにも出ているかもしれません。")
        for _, name, text in failed[unit["name"]][:FAILURES_SHOWN]:
            lines.append(f"  - {name}:\n      " + "\n      ".join(text.strip().splitlines()))
        if len(failed[unit["name"]]) > FAILURES_SHOWN:
            lines.append(f"  （ほかに {len(failed[unit['name']]) - FAILURES_SHOWN} 個のテストも失敗しています）")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# ---------------------------------------------------------------------------
# 提出用の zip
# ---------------------------------------------------------------------------


def graded_files():
    """提出する（採点される）ファイル: transformer/*.py とノートブック 00。"""
    return sorted(p.relative_to(HERE).as_posix() for p in (HERE / "transformer").glob("*.py")) + [NOTEBOOK]


def build_submission(student, folder=HERE):
    """`学籍番号.zip` を作り、採点と同じ読み方で読めることを確かめて、その Path を返します。"""
    from autograder.grader.intake import student_id
    from autograder.grader.submissions import load_submission

    zip_path = Path(folder) / f"{student}.zip"
    if student_id(zip_path) != student:
        raise ValueError(f"学籍番号として使えない名前です: {student!r}（英数字やかな漢字で始まり、終わる名前にしてください）")
    expected = {name: (HERE / name).read_bytes() for name in graded_files() if (HERE / name).exists()}
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in expected.items():
            archive.writestr(name, data)
    submission = load_submission(zip_path, student)
    if submission.files != expected or submission.problems:
        raise ValueError(f"作った zip を採点と同じ読み方で読めませんでした: {submission.problems or sorted(set(expected) ^ set(submission.files))}")
    return zip_path


def submit(student):
    """提出用の zip を作り、中身と自己チェックの結果を表示します。zip ができたら True。"""
    try:
        zip_path = build_submission(student)
    except ValueError as error:
        print(f"提出用の zip を作れませんでした: {error}")
        return False
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    print(f"提出用の zip を作りました: {zip_path.name}（{len(names)} ファイル、採点と同じ読み方で読めることを確かめました）")
    print("\n".join(f"  {name}" for name in names))
    print("\n自己チェックの結果:")
    passed = run_check()
    print(f"\n{zip_path.name} を提出してください。" + ("" if passed else "（まだ合格していないテストがあります。未完成のまま提出しても、できたユニットの分は採点されます）"))
    return True


def main(argv=None):
    parser = argparse.ArgumentParser(description="自己チェック（見えるテスト）と提出用の zip")
    parser.add_argument("parts", nargs="*", help=f"パート（省略時はすべて）: {' '.join(PARTS)}")
    parser.add_argument("--submit", metavar="学籍番号", help="提出用の zip（学籍番号.zip）を作ります")
    args = parser.parse_args(argv)
    if args.submit:
        return 0 if submit(args.submit) else 1
    return 0 if run_check(*args.parts) else 1


if __name__ == "__main__":
    sys.exit(main())
