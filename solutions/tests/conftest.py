"""テスト全体の準備と、結果の見せ方です。

- あなたの transformer パッケージ（tests/ の 1 つ上のフォルダ）を読み込めるようにします。
- どのテストも同じ乱数から始め、1 つあたり time_limit.TIME_LIMIT_SECONDS 秒で打ち切ります。
- 失敗は reporting.py の短い日本語の報告で見せます（長いトレースバックやテンソルの中身は出しません）。
- 各テストの @pytest.mark.unit("名前") は、そのテストが確かめる採点ユニットです（check.py が点数の表に使います）。
"""

import importlib
import sys
from pathlib import Path

import pytest
import torch

# tests/ の 1 つ上のフォルダ（transformer/ が置いてある場所）を import の探索先の先頭にします。
# こうすると、どこから pytest を起動しても、このフォルダにある「あなたの」transformer が使われます。
# from_grader/ には、採点と同じ規則（禁止 API の表、エラーのヒント、提出物の読み方）のコピーがあります。
TESTS = Path(__file__).resolve().parent
PACKAGE_ROOT = TESTS.parent
for _folder in (TESTS / "from_grader", TESTS, PACKAGE_ROOT):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))

from reporting import Status, short_report, status_of  # noqa: E402
from time_limit import TimeLimitExceeded, time_limit  # noqa: E402


def forget_other_transformers():
    """別の場所の transformer（や前回の実行で読み込んだもの）を忘れさせ、このフォルダのものを読み込み直させます。"""
    for name in [name for name in sys.modules if name == "transformer" or name.startswith("transformer.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


forget_other_transformers()


def pytest_configure(config):
    config.addinivalue_line("markers", "unit(name): このテストが確かめる採点ユニット")


@pytest.fixture(autouse=True)
def _fixed_seed():
    """どのテストも同じ乱数から始めます（結果が毎回同じになるように）。"""
    torch.manual_seed(0)


TIMED_OUT_UNITS = set()  # 時間切れになったユニット: その残りのテストは待たずに時間切れにします


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem):
    marker = pyfuncitem.get_closest_marker("unit")
    unit = marker.args[0] if marker else None
    if unit in TIMED_OUT_UNITS:
        raise TimeLimitExceeded(f"{unit} の前のテストが時間切れになったので、このテストは動かしていません。")
    try:
        with time_limit():
            return (yield)
    except TimeLimitExceeded:
        TIMED_OUT_UNITS.add(unit)
        raise


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    error = call.excinfo.value if call.excinfo is not None else None
    if report.failed and isinstance(error, Exception):
        report.longrepr = short_report(error)
        report.user_properties.append(("status", status_of(error).value))
    elif report.when == "call" and report.passed:
        report.user_properties.append(("status", Status.PASSED.value))
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    if report.failed:
        problem = package_import_problem()
        if problem:
            report.longrepr = problem
    return report


def package_import_problem():
    """あなたの transformer パッケージを読み込めないときの説明（読み込めるなら空文字列）。"""
    try:
        importlib.import_module("transformer")
    except Exception as error:  # the student's code: any error is reported, not raised
        return f"transformer パッケージを読み込めません（これを使うテストは 1 つも動きません）。\n{short_report(error)}"
    return ""
