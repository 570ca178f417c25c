"""位置ごとの全結合層、エンコーダ層、デコーダ層（Post-LN: 残差を足してから LayerNorm）。"""

import torch
import torch.nn as nn

from .multi_head import MultiHeadAttention


class FeedForward(nn.Module):
    """位置ごとの 2 層の全結合: linear2(dropout(relu(linear1(x))))。

    引数:
        d_model: 入出力の次元
        d_ff: 中間層の次元
        dropout: 中間層に掛ける dropout の確率
    """

    def __init__(self, d_model, d_ff, dropout=0.1):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        """引数: x は (B, L, d_model)。戻り値: (B, L, d_model)。"""
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: FeedForward.forward")


class EncoderLayer(nn.Module):
    """エンコーダ 1 層: セルフアテンションと全結合。各サブ層の後に dropout → 残差 → LayerNorm。

    x = norm1(x + dropout1(self_attn(x, x, x, src_mask)))
    x = norm2(x + dropout2(feed_forward(x)))
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, x, src_mask=None):
        """引数: x は (B, S, d_model)、src_mask は (B, 1, 1, S) のパディングマスク。戻り値: (B, S, d_model)。"""
        # ヒント: 上の 2 つの式をそのまま書きます。self_attn は (出力, 重み) を返すので [0] を使います。
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: EncoderLayer.forward")


class DecoderLayer(nn.Module):
    """デコーダ 1 層: マスク付きセルフアテンション、エンコーダ出力へのアテンション（クロスアテンション）、全結合。

    x = norm1(x + dropout1(self_attn(x, x, x, tgt_mask)))
    x = norm2(x + dropout2(cross_attn(x, memory, memory, src_mask)))
    x = norm3(x + dropout3(feed_forward(x)))
    """

    def __init__(self, d_model, num_heads, d_ff, dropout=0.1):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, dropout)
        self.feed_forward = FeedForward(d_model, d_ff, dropout)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, x, memory, src_mask=None, tgt_mask=None):
        """引数:
            x: (B, T, d_model) のデコーダ側の入力
            memory: (B, S, d_model) のエンコーダ出力
            src_mask: (B, 1, 1, S) のソース側パディングマスク（クロスアテンション 用）
            tgt_mask: (B, 1, T, T) のデコーダマスク（セルフアテンション用）
        戻り値: (B, T, d_model)
        """
        # ヒント: セルフアテンションには tgt_mask、クロスアテンション には src_mask を使います。
        # クロスアテンション のクエリは x、キーとバリューは memory です。
        # TODO: docstring の約束どおりに実装してください。
        raise NotImplementedError("未実装: DecoderLayer.forward")
