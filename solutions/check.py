"""自己チェック: 目に見えるテストを実行して、パートごとの進み具合を表にします。

使い方:
    python check.py                 # すべてのパート
    python check.py masks attention # 指定したパートだけ

ノートブックからは:
    from check import run_check
    run_check("masks", "attention")
"""

import json
import subprocess
import sys
import tempfile
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTEBOOK_PARTS = {"basics": "00_pytorch_basics.ipynb"}
PACKAGE_PARTS = ["masks", "attention", "multi_head", "positional", "layers", "transformer", "training"]
PARTS = [*NOTEBOOK_PARTS, *PACKAGE_PARTS]
NOT_IMPLEMENTED = "未実装"


def run_check(*parts):
    """指定したパート（省略時はすべて）のテストを実行し、表を表示します。全部合格なら True を返します。"""
    parts = list(parts) or PARTS
    unknown = [part for part in parts if part not in PARTS]
    if unknown:
        raise ValueError(f"知らないパートです: {unknown}。使えるのは {PARTS} です。")
    results = {}
    for part in parts:
        if part in NOTEBOOK_PARTS:
            results[part] = run_notebook_tests(HERE / NOTEBOOK_PARTS[part])
    package_parts = [part for part in parts if part in PACKAGE_PARTS]
    broken = syntax_errors()
    if package_parts:
        results.update(run_pytest(package_parts))
    _print_table(parts, results)
    for message in broken:
        print(f"\n{message}")
    return not broken and all(results[part] and all(outcome == "passed" for _, outcome, _ in results[part]) for part in parts)


def syntax_errors():
    """transformer/*.py の文法の誤りを、ファイル名と行番号つきの日本語で返します（なければ空）。"""
    found = []
    for path in sorted((HERE / "transformer").glob("*.py")):
        try:
            compile(path.read_bytes(), str(path), "exec")
        except SyntaxError as error:
            found.append(f"文法の誤り: transformer/{path.name} の {error.lineno} 行目: {error.msg}"
                         f"\n      {(error.text or '').strip()}\n  このファイルを import するパートのテストはすべて動きません。")
    return found


def run_notebook_tests(notebook_path):
    """ノートブックの解答セルとテストセルを順に実行し、テストセルごとの結果を返します。"""
    from tqdm.auto import tqdm

    cells = json.loads(notebook_path.read_text(encoding="utf-8"))["cells"]
    graded = [cell for cell in cells if cell["cell_type"] == "code" and "nbgrader" in cell.get("metadata", {})]
    namespace = {"__name__": "__main__"}
    outcomes = []
    for cell in tqdm(graded, desc=f"{notebook_path.name} のセルを実行中", leave=False):
        meta = cell["metadata"]["nbgrader"]
        source = "".join(cell["source"])
        try:
            exec(compile(source, f"<{meta['grade_id']}>", "exec"), namespace)
            outcome, message = "passed", ""
        except Exception as error:  # the student's own code: any failure is reported, not raised
            outcome = "failed"
            message = f"{type(error).__name__}: {error}"
            if not isinstance(error, (AssertionError, NotImplementedError)):
                message += "\n" + traceback.format_exc(limit=-1)
        if meta.get("grade"):
            outcomes.append((meta["grade_id"], outcome, message))
    return outcomes


def run_pytest(parts):
    """tests/test_<part>.py を別プロセスの pytest で実行し、パートごとの結果を返します。"""
    files = [f"tests/test_{part}.py" for part in parts]
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.xml"
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "--tb=short", "-p", "no:cacheprovider", f"--junitxml={report}", *files],
            cwd=HERE,
            capture_output=True,
            text=True,
        )
        cases = ET.parse(report).getroot().iter("testcase") if report.exists() else []
        results = {part: [] for part in parts}
        for case in cases:
            part = case.get("classname", "").split(".")[-1].removeprefix("test_")
            failure = case.find("failure")
            if failure is None:
                failure = case.find("error")
            outcome = "passed" if failure is None else "failed"
            message = "" if failure is None else (failure.get("message") or "")
            if part in results:
                results[part].append((case.get("name"), outcome, message))
    return results


def _status(outcomes):
    if not outcomes:
        return "✗ テストを読み込めません（下の文法の誤りか import の誤りを直してください）"
    if all(outcome == "passed" for _, outcome, _ in outcomes):
        return "✓"
    failures = [message for _, outcome, message in outcomes if outcome != "passed"]
    if all(NOT_IMPLEMENTED in message for message in failures) and len(failures) == len(outcomes):
        return NOT_IMPLEMENTED
    return "✗ 失敗あり"


def _print_table(parts, results):
    width = max(len(part) for part in parts)
    print(f"{'パート'.ljust(width)}   合格      状態")
    for part in parts:
        outcomes = results[part]
        passed = sum(outcome == "passed" for _, outcome, _ in outcomes)
        print(f"{part.ljust(width)}   {passed:>2}/{len(outcomes):<2}     {_status(outcomes)}")
    for part in parts:
        for name, outcome, message in results[part]:
            if outcome != "passed" and NOT_IMPLEMENTED not in message:
                first_lines = "\n      ".join(message.strip().splitlines()[:4])
                print(f"\n[{part}] {name}:\n      {first_lines}")


if __name__ == "__main__":
    sys.exit(0 if run_check(*sys.argv[1:]) else 1)
