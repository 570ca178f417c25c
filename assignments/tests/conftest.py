"""テスト全体の準備: あなたの transformer パッケージを読み込めるようにし、乱数の種を固定します。"""

import sys
from pathlib import Path

import pytest
import torch

# tests/ の 1 つ上のフォルダ（transformer/ が置いてある場所）を import の探索先の先頭にします。
# こうすると、どこから pytest を起動しても、このフォルダにある「あなたの」transformer が使われます。
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PACKAGE_ROOT))

# 別の場所の transformer がすでに読み込まれていたら、忘れさせてから読み込み直させます。
_loaded = sys.modules.get("transformer")
if _loaded is not None and not str(getattr(_loaded, "__file__", "") or "").startswith(str(PACKAGE_ROOT)):
    for _name in [name for name in sys.modules if name == "transformer" or name.startswith("transformer.")]:
        del sys.modules[_name]


@pytest.fixture(autouse=True)
def _fixed_seed():
    """どのテストも同じ乱数から始めます（結果が毎回同じになるように）。"""
    torch.manual_seed(0)
