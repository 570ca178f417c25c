"""失敗したテストを、短い日本語の報告にします（conftest.py が pytest の表示に、check.py が表に使います）。

- 未実装（スタブの NotImplementedError("未実装: …")）は、まだ書いていないだけなので 1 行で。
- 時間切れ（time_limit.TimeLimitExceeded）は、止まっていた場所つきで。
- テストの確かめ（diagnostics.fail の AssertionError）は、その説明そのまま。
- それ以外のエラー（PyTorch の英語のエラーなど）は、種類とメッセージ、あなたのコードの行、
  よくあるエラーなら日本語のヒント（採点と同じヒントの表 from_grader/ を使います）。
"""

import linecache
import traceback
from enum import Enum
from pathlib import Path

from time_limit import TimeLimitExceeded

from autograder.grader.hints import error_hint

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
STUDENT_PACKAGE = PACKAGE_ROOT / "transformer"
CELL_PREFIX, CELL_SUFFIX = "<セル ", ">"  # ノートブックのセルを実行するときのファイル名の前後（test_basics.py）
MESSAGE_LINES = 4
FRAMES_SHOWN = 4


class Status(Enum):
    PASSED = "合格"
    NOT_IMPLEMENTED = "未実装"
    FAILED = "失敗"
    TIMED_OUT = "時間切れ"


def cell_filename(grade_id):
    """ノートブックのセル `grade_id` を compile するときのファイル名（トレースバックに出る名前）。"""
    return f"{CELL_PREFIX}{grade_id}{CELL_SUFFIX}"


def status_of(error):
    """テストを失敗させた例外 `error` が、未実装・時間切れ・失敗のどれにあたるか。"""
    if isinstance(error, TimeLimitExceeded):
        return Status.TIMED_OUT
    if isinstance(error, NotImplementedError) and Status.NOT_IMPLEMENTED.value in str(error):
        return Status.NOT_IMPLEMENTED
    return Status.FAILED


def short_report(error):
    """`error` で失敗したテストの、学生向けの短い説明（数行）。"""
    status, where = status_of(error), students_line(error.__traceback__)
    if isinstance(error, SyntaxError):
        place = _students_place(error.filename or "")
        code = (error.text or "").strip()
        return f"文法の誤り: {error.msg}" + (f"\n  場所: {place} の {error.lineno} 行目: {code}" if place else "")
    if status is Status.NOT_IMPLEMENTED:
        return f"{error}（まだ書かれていません）" + (f"\n  場所: {where}" if where else "")
    if status is Status.TIMED_OUT:
        return f"{error}" + (f"\n  止まっていた場所: {where}" if where else "")
    if isinstance(error, AssertionError) and not where:
        return str(error)
    message = "\n  ".join(str(error).strip().splitlines()[:MESSAGE_LINES])
    lines = [f"{type(error).__name__}: {message}"]
    if where:
        lines.append(f"  場所: {where}")
    hint = error_hint(type(error).__name__, str(error))
    if hint:
        lines.append(f"  ヒント: {hint}")
    return "\n".join(lines)


def students_line(tb, frames_shown=FRAMES_SHOWN):
    """トレースバック `tb` のうち、あなたのコード（transformer/ かノートブックのセル）の行だけを、外から内へ。

    いちばん最後の行が、エラーが起きたあなたのコードの行です。"""
    found = []
    for frame in traceback.extract_tb(tb):
        place = _students_place(frame.filename)
        if place:
            code = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
            found.append(f"{place} の {frame.lineno} 行目" + (f": {code}" if code else ""))
    return "\n        → ".join(found[-frames_shown:])


def _students_place(filename):
    """`filename` があなたのコードなら、その呼び名（transformer/attention.py、ノートブックのセル softmax）。"""
    if filename.startswith(CELL_PREFIX) and filename.endswith(CELL_SUFFIX):
        return f"ノートブックのセル {filename[len(CELL_PREFIX):-len(CELL_SUFFIX)]}"
    path = Path(filename)
    if path.is_absolute() and path.resolve().parent == STUDENT_PACKAGE:
        return f"transformer/{path.name}"
    return ""
