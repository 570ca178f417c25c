"""positional.py のテスト: 正弦波の位置エンコーディングを論文の式（numpy で計算）と比べます。"""

import pytest
import torch
import torch.nn as nn
from diagnostics import check, check_shape, check_tensor, paper_encoding

from transformer import PositionalEncoding, sinusoidal_encoding

pytestmark = pytest.mark.positional

MAX_LEN, D_MODEL = 50, 16
FORMULA = "PE[pos, 2i] = sin(pos / 10000^(2i/d_model))、PE[pos, 2i+1] = cos(同じ角度)。2i は偶数番目の特徴の番号そのもの（i ではありません）。"


# --- sinusoidal_encoding -----------------------------------------------------


@pytest.mark.unit("sinusoidal_encoding")
def test_table_has_shape_max_len_d_model_and_dtype_float32():
    """sinusoidal_encoding(50, 16) が (50, 16) の float32 テンソルであること。"""
    table = sinusoidal_encoding(MAX_LEN, D_MODEL)
    check_shape(table, (MAX_LEN, D_MODEL), what="位置エンコーディングの表の形状", cause="行（位置）と列（特徴）が逆、または sin と cos を別々の表のまま返している。")
    check(table.dtype == torch.float32, what="位置エンコーディングの表の dtype", problem=f"float32 ではなく {table.dtype} です。", cause="最後に .float() で float32 にしていない。")


@pytest.mark.unit("sinusoidal_encoding")
def test_table_matches_the_paper_formula():
    """論文の式で計算した表（numpy、float64）と一致すること。"""
    expected = paper_encoding(MAX_LEN, D_MODEL).float()
    check_tensor(sinusoidal_encoding(MAX_LEN, D_MODEL), expected, what="位置エンコーディングの表", cause=FORMULA)


@pytest.mark.unit("sinusoidal_encoding")
def test_position_zero_is_0_1_0_1():
    """手で計算できる例: 位置 0 では角度が 0 なので、sin の列は 0、cos の列は 1 になること。"""
    expected = torch.tensor([0.0, 1.0] * (D_MODEL // 2))
    check_tensor(sinusoidal_encoding(MAX_LEN, D_MODEL)[0], expected, what="位置 0 の行", cause="sin と cos が逆（偶数番目 0::2 が sin、奇数番目 1::2 が cos）。")


@pytest.mark.unit("sinusoidal_encoding")
def test_table_stays_accurate_for_distant_positions():
    """性質: 位置 4999 まで float32 の丸め程度の誤差に収まること（float64 で計算してから float32 にします）。"""
    expected = paper_encoding(5000, D_MODEL).float()
    check_tensor(sinusoidal_encoding(5000, D_MODEL), expected, what="max_len=5000 の位置エンコーディングの表", cause="角度を float32 で計算している。pos が大きいと pos × 周波数 の丸め誤差が育つので、float64 で計算して最後に .float() にします。")


# --- PositionalEncoding.forward ----------------------------------------------


@pytest.mark.unit("PositionalEncoding")
def test_forward_keeps_the_shape_B_L_D():
    """(B, L, d_model) の入力から、同じ形状の出力が出ること。"""
    encoding = PositionalEncoding(D_MODEL, max_len=MAX_LEN, dropout=0.0)
    check_shape(encoding(torch.randn(2, 7, D_MODEL)), (2, 7, D_MODEL), what="PositionalEncoding の出力", cause="pe を系列長 L で切り取っていない（self.pe[:, :L]）。")


@pytest.mark.unit("PositionalEncoding")
def test_forward_adds_the_first_L_rows_of_the_table():
    """dropout=0 では x + PE[:L] になること（PE は論文の式で計算）。"""
    encoding = PositionalEncoding(D_MODEL, max_len=MAX_LEN, dropout=0.0)
    x = torch.randn(2, 7, D_MODEL)
    expected = x + paper_encoding(7, D_MODEL).float()
    check_tensor(encoding(x), expected, what="位置エンコーディングを足した出力", cause="pe の切り取り方が違う（pe[:, :L] で位置の軸を切ります。pe[:L] では先頭の 1 の軸を切ってしまいます）、または x に掛けている。")


@pytest.mark.unit("PositionalEncoding")
def test_forward_applies_dropout_in_training_mode_only():
    """学習モードでは dropout(x + PE[:L])、eval モードでは x + PE[:L] そのものになること。"""
    encoding = PositionalEncoding(D_MODEL, max_len=MAX_LEN, dropout=0.5)
    x = torch.randn(2, 7, D_MODEL)
    clean = x + paper_encoding(7, D_MODEL).float()
    encoding.train()
    torch.manual_seed(1)
    out = encoding(x)
    torch.manual_seed(1)
    check_tensor(out, nn.Dropout(0.5)(clean), what="学習モードの出力", cause="dropout を x + pe の後に掛けていない（x だけに掛けている、または掛け忘れ）。")
    encoding.eval()
    check_tensor(encoding(x), clean, what="eval モードの出力", cause="self.dropout ではなく F.dropout(..., training=True) を使っていて、eval() で止まらない。")
