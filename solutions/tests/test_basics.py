"""ノートブック 00_pytorch_basics.ipynb のテスト: 採点されるセル（解答セルとテストセル）を上から順に実行します。

ディスクに保存されたノートブックを読みます。Jupyter で書き換えたら、保存してから動かしてください。
解答セルが失敗したら（未実装も含めて）、その課題のテストセルは動かさず、解答セルのエラーを報告します。
"""

import json
import linecache
from pathlib import Path

import pytest
from reporting import cell_filename

NOTEBOOK = Path(__file__).resolve().parent.parent / "00_pytorch_basics.ipynb"
TEST_CELL_FILENAME = "<テストセル {}>"  # テストセルはあなたのコードではないので、別の名前で実行します


def graded_cells(path=NOTEBOOK):
    """(grade_id, 解答セルか, ソース) を、ノートブックに並んでいる順に。"""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if cell["cell_type"] == "code" and meta and (meta.get("solution") or meta.get("grade")):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            found.append((meta["grade_id"], bool(meta.get("solution")), source))
    return found


class NotebookRun:
    """採点されるセルを 1 つの名前空間で順に実行し、解答セルのエラーを覚えておきます。"""

    def __init__(self, cells):
        self.cells = cells
        self.namespace = {"__name__": "__main__"}
        self.done = 0
        self.answer_errors = {}  # grade_id -> 解答セルを実行したときの例外

    def run_test_cell(self, test_id):
        """`test_id` のテストセルまでを実行します（その課題の解答セルが失敗していたら、そのエラーを送ります）。"""
        while self.done < len(self.cells):
            grade_id, is_answer, source = self.cells[self.done]
            self.done += 1
            if is_answer:
                try:
                    self._run(source, cell_filename(grade_id))
                except Exception as error:  # the student's own code: reported by the test of this unit
                    self.answer_errors[grade_id] = error
            elif grade_id == test_id:
                answer_error = self.answer_errors.get(test_id.removeprefix("test_"))
                if answer_error is not None:
                    raise answer_error
                self._run(source, TEST_CELL_FILENAME.format(grade_id))
                return

    def _run(self, source, filename):
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        exec(compile(source, filename, "exec"), self.namespace)


CELLS = graded_cells() if NOTEBOOK.exists() else []
TEST_IDS = [grade_id for grade_id, is_answer, _ in CELLS if not is_answer]


@pytest.fixture(scope="module")
def notebook_run():
    return NotebookRun(CELLS)


@pytest.mark.parametrize("test_id", [pytest.param(t, marks=pytest.mark.unit(t.removeprefix("test_")), id=t.removeprefix("test_"))
                                     for t in TEST_IDS])
def test_notebook_cell(notebook_run, test_id):
    """ノートブックのテストセル `test_id` が、その前の解答セルのあとで通ること。"""
    notebook_run.run_test_cell(test_id)
