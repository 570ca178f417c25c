"""The student bundle's README.md (Japanese), written by the release from the kit's own tables.

Every number and name in it comes from where the grader reads it: the points from the rubric, the
forbidden APIs from `protocol.forbidden_apis`, the limits from `grader.grading.Limits`, the parts
from `authoring.parts`, the terms from `authoring.glossary`, the Python and torch ranges from
`authoring.release`. Nothing is typed twice, so the README cannot drift from the grading.
"""

from autograder.authoring.glossary import GLOSSARY
from autograder.authoring.parts import PARTS
from autograder.grader.grading import Limits
from autograder.grader.hidden_tests import ATOL, STACK_ATOL
from autograder.protocol.forbidden_apis import EVERYWHERE, RULES

NAMES_SHOWN = 6


def bundle_readme(units, python_range, tested, requirements):
    """The README text. `units`: the dicts of `tests/units.json`; `python_range`: ("3.10", "3.13");
    `tested`: what this release was tested with (text); `requirements`: {package: range}."""
    sections = [_intro(units), _setup(python_range, tested, requirements), _order(units), _points(units),
                _forbidden(units), _self_check(), _grading(), _submit(), _glossary()]
    return "\n\n".join(sections) + "\n"


def _points_of(units, part):
    return sum(unit["points"] for unit in units if unit["part"] == part)


def _number(points):
    return f"{points:g}"


def _intro(units):
    total = _number(sum(unit["points"] for unit in units))
    return f"""# 自作 Transformer 演習キット（学生用）

PyTorch の基本から始めて、エンコーダ・デコーダ型の Transformer を自分の手で書き上げる演習です。
ノートブックで考え方を学び、`transformer/` の各ファイルの `raise NotImplementedError("未実装: …")` を
自分のコードに置き換えていきます。採点は {len(units)} 個のユニット（関数やクラス）ごとで、満点は {total} 点です。"""


def _setup(python_range, tested, requirements):
    low, high = python_range
    listed = "、".join(f"`{name}{spec}`" for name, spec in requirements.items())
    return f"""## 準備

**必要なもの**: Python {low}〜{high}（このキットを確かめた環境: {tested}）。`requirements.txt` には {listed} が書いてあります。
torch は範囲で指定してあるので、すでに入っている torch（Colab の GPU 版など）はそのまま使われます。

### 自分のパソコン（Linux・macOS・Windows）

```bash
cd jisaku-transformer
python3 -m venv .venv                 # Windows では: py -m venv .venv
source .venv/bin/activate             # Windows では: .venv\\Scripts\\activate
pip install -r requirements.txt
jupyter notebook                      # ブラウザでノートブックが開きます
```

- **Linux で GPU がないとき**は、先に CPU 版の torch を入れておくと、数 GB の CUDA 版をダウンロードせずに済みます:
  `pip install torch --index-url https://download.pytorch.org/whl/cpu`（そのあとで `pip install -r requirements.txt`）。
- **macOS（Apple シリコン）** では、`get_device()` が MPS（Apple の GPU）を選びます。CPU でも十分に動きます。
- **Windows** では、コマンドはすべて「コマンドプロンプト」か PowerShell で打ちます（`python3` の代わりに `py`）。

### Google Colab

Colab には torch・numpy・matplotlib・pytest が最初から入っています。足りないのは日本語のフォントだけです。
書いたものが消えないよう、キットは Google ドライブに置いて使います。

1. zip を Google ドライブの「マイドライブ」にアップロードします。
2. Colab で新しいノートブックを開き、1 回だけ次を実行して、ドライブの中に展開します:

   ```python
   from google.colab import drive
   drive.mount("/content/drive")
   !unzip -qo /content/drive/MyDrive/jisaku-transformer-student.zip -d /content/drive/MyDrive/
   ```

3. ドライブの `jisaku-transformer/00_pytorch_basics.ipynb` を右クリックし、「アプリで開く」→「Google Colaboratory」で開きます。
4. 開いたノートブックの先頭にセルを 1 つ足して、毎回最初に実行します（ほかのノートブックでも同じです）:

   ```python
   from google.colab import drive
   drive.mount("/content/drive")
   %cd /content/drive/MyDrive/jisaku-transformer
   !pip install -q matplotlib-fontja
   ```

5. 自己チェックはセルで `!python check.py masks` のように、提出用の zip は `!python check.py --submit 学籍番号` で作ります
   （zip はドライブの `jisaku-transformer/` にできるので、そこからダウンロードして提出します）。

Colab の torch は入れ替えないでください（`pip install -r requirements.txt` を Colab で実行する必要はありません）。"""


def _order(units):
    rows = "\n".join(f"| {index} | `{part.name}` | {part.title} | {part.guide} | `{part.file}` | {part.hours} | {_number(_points_of(units, part.name))} |"
                     for index, part in enumerate(PARTS, 1))
    return f"""## 進め方

上から順に進めます。後のパートは前のパートの部品を使うので、前のパートのテストが通ってから次へ進むのが近道です。

| 順 | パート | 内容 | 説明のノートブック | 書くところ | 目安の時間 | 配点 |
|---|---|---|---|---|---|---|
{rows}"""


def _points(units):
    rows = "\n".join(f"| `{unit['part']}` | `{unit['name']}` | {_number(unit['points'])} |" for unit in units)
    return f"""## 配点

採点はユニットごとの隠しテスト（見えるテストとは別の入力）で行い、ユニットの点はそのケースの点の合計です。

| パート | ユニット | 点 |
|---|---|---|
{rows}
| | **合計** | **{_number(sum(unit['points'] for unit in units))}** |"""


def _rule_names(rule):
    names = sorted(rule.names, key=lambda name: (name.startswith("_"), name.lower(), name))
    shown = ", ".join(f"`{name}`" for name in names[:NAMES_SHOWN])
    return shown + (" など" if len(names) > NAMES_SHOWN else "")


def _forbidden(units):
    rows = []
    for unit in units:
        for group in unit["forbidden"]:
            if group not in EVERYWHERE:
                rows.append(f"| `{unit['name']}` | {_rule_names(RULES[group])} | {RULES[group].why} |")
    everywhere = "\n".join(f"- {_rule_names(RULES[group])}: {RULES[group].why}" for group in EVERYWHERE)
    return f"""## 使えないもの

自分で書くことが課題になっている部分では、同じことをする PyTorch の関数やクラスを使えません。
使うとそのユニットは 0 点です（別名を付けても、文字列から取り出しても、採点のときに見つかります）。
`python check.py` は、採点と同じ表でこれを確かめます。

| ユニット | 使えないもの | 理由 |
|---|---|---|
{chr(10).join(rows)}

どのユニットでも使えないもの:
{everywhere}
- `exec`・`eval`・`compile`・`__import__`・`importlib`、`torch.ops`・`torch._C`、モジュールへの `getattr`（文字列の名前で）・`setattr`、
  採点の仕組み（`autograder`）の import: 何を実行しているかを隠す書き方だからです。

ノートブックの説明で `F.scaled_dot_product_attention` や `nn.MultiheadAttention` と比べているのは、答え合わせのためです。
自分のコードの中では呼ばないでください。"""


def _self_check():
    return """## 自己チェック

```bash
python check.py                  # すべてのパート（ノートブック 00 も含みます）
python check.py masks attention  # 指定したパートだけ
pytest                           # 同じテストを pytest で（pytest -m masks、pytest tests/test_masks.py も使えます）
```

ノートブックからは `from check import run_check; run_check("masks")` で同じ表が出ます。
ノートブック 00 のテストは、ディスクに保存されたノートブックを読みます。保存してから実行してください。

- 表の「テスト」は見えるテストの合格数です。「残り N は未実装」は、まだ書いていない（`NotImplementedError` のままの）テストの数です。
- 「見込み点」は、見えるテストがすべて通ったユニットの配点の合計です。隠しテストで落ちることもあるので目安です。
- テスト 1 つは 10 秒で打ち切ります（無限ループの可能性と表示されます）。
- 失敗したテストには、あなたのコードの行と、よくあるエラーなら日本語のヒントが出ます。
  前のパートのユニットを使うユニットが失敗したときは、先に直すべきユニットを先に示します。
- 使えない API を使っていると、テストが通っていても「使えないもの」として示されます（採点では 0 点になります）。"""


def _grading():
    limits = Limits()
    return f"""## 採点のしくみ

- 採点は、見えるテストとは別の**隠しテスト**で行います。入力の大きさや dtype（float32 と float64）を変えたケースがあり、
  参照解と値を比べます（float32 で {ATOL['float32']:g}、float64 で {ATOL['float64']:g} の誤差まで。いくつもの層を重ねるところは float32 で {STACK_ATOL['float32']:g}）。
- 点はユニットごとです。あるユニットが未完成でも、ほかのユニットの採点は、そのユニットの参照解を代わりに使って行います。
- 1 ケースの制限時間は {limits.case_seconds:g} 秒、メモリは {limits.memory_mb} MB までです。提出物はネットワークもファイルも
  使えない隔離された環境で動きます。
- 結果はユニットごとに、何を確かめたか・どう違ったか・よくある原因が日本語で返ってきます。"""


def _submit():
    return """## 提出

```bash
python check.py --submit 学籍番号      # 例: python check.py --submit 24A1234
```

このフォルダに `学籍番号.zip` ができます。中身は採点されるファイルだけ（`transformer/*.py` と `00_pytorch_basics.ipynb`）で、
採点と同じ読み方で読めることを確かめてから、中身の一覧と自己チェックの結果を表示します。
この zip を、そのまま先生の指示する場所（LMS など）に提出してください。自分で zip を作り直す必要はありません。"""


def _glossary():
    rows = "\n".join(f"| {term.japanese} | {term.english} |" for term in GLOSSARY)
    return f"""## 用語集

ノートブック・コメント・テストのメッセージは、この用語で統一しています。

| 用語 | 英語 |
|---|---|
{rows}"""
