"""The parts of the student bundle, in the order students work through them.

A part is one file a student writes (the notebook 00, or one module of `transformer/`) and its
visible test file `tests/test_<name>.py`; its graded units are the catalog's units whose source
is that file. The release writes this table into the bundle (`tests/units.json`) for `check.py`,
and into the bundle's README.
"""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Part:
    name: str  # check.py's name for it, and the visible tests' file tests/test_<name>.py
    title: str  # Japanese
    file: str  # where the student writes the answers
    guide: str  # the notebook that explains it
    hours: str  # a time estimate for a student new to it (Japanese)


PARTS = (
    Part("basics", "PyTorch の基本（テンソル・自動微分・nn.Module・学習ループ）", "00_pytorch_basics.ipynb", "00_pytorch_basics.ipynb", "3〜4 時間"),
    Part("masks", "マスク（パディングマスク・因果マスク）", "transformer/masks.py", "01_self_attention.ipynb", "30 分〜1 時間"),
    Part("attention", "スケール化内積アテンションとセルフアテンション", "transformer/attention.py", "01_self_attention.ipynb", "1〜2 時間"),
    Part("multi_head", "マルチヘッドアテンション", "transformer/multi_head.py", "02_multi_head_attention.ipynb", "1〜2 時間"),
    Part("positional", "位置エンコーディング", "transformer/positional.py", "02_multi_head_attention.ipynb", "30 分〜1 時間"),
    Part("layers", "全結合層・エンコーダ層・デコーダ層", "transformer/layers.py", "03_transformer_tutorial.ipynb", "1〜2 時間"),
    Part("transformer", "エンコーダ・デコーダ・Transformer 全体", "transformer/transformer.py", "03_transformer_tutorial.ipynb", "1〜2 時間"),
    Part("training", "学習ループ・評価・貪欲デコード", "transformer/training.py", "03_transformer_tutorial.ipynb", "1〜2 時間"),
)


def part_of(source):
    """The name of the part a catalog unit's `source` belongs to."""
    return "basics" if source["kind"] == "notebook" else source["module"]


def parts_table():
    """The parts as plain dicts, for `tests/units.json`."""
    return [asdict(part) for part in PARTS]
