"""正弦波による位置エンコーディング（Positional Encoding）。"""

import math

import torch
import torch.nn as nn


def sinusoidal_encoding(max_len, d_model):
    """論文の位置エンコーディングの表を作ります。

    PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
    PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))

    引数:
        max_len: 位置の数
        d_model: 特徴の次元（偶数）
    戻り値:
        (max_len, d_model) の float32 テンソル。偶数番目の特徴が sin、奇数番目が cos です。
    """
    # 手順:
    # 1. 位置 pos = 0..max_len-1 を (max_len, 1) の列にする（精度のため float64 で計算）
    # 2. 周波数 1 / 10000^(2i / d_model) を i = 0..d_model/2-1 について (d_model/2,) で作る
    # 3. 偶数列 [:, 0::2] に sin(pos * 周波数)、奇数列 [:, 1::2] に cos(pos * 周波数) を入れる
    # 4. float32 にして返す
    # TODO: docstring の約束どおりに実装してください。
    raise NotImplementedError("未実装: sinusoidal_encoding")


class PositionalEncoding(nn.Module):
    """埋め込みに位置の情報を足し、dropout を掛けます。

    表は学習しないので、パラメータではなくバッファ ``pe`` (1, max_len, d_model) として持ちます。
    """

    def __init__(self, d_model, max_len=5000, dropout=0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model)[None])  # (1, max_len, d_model)

    def forward(self, x):
        """引数: x は (B, L, d_model)。戻り値: dropout(x + pe[:, :L])、形状 (B, L, d_model)。"""
        # ヒント: pe を系列長 L で切り取ってから足します（1〜2 行）。
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: PositionalEncoding.forward")
