"""スケール化内積アテンション（Scaled Dot-Product Attention）と、1 ヘッドのセルフアテンション。"""

import math

import torch
import torch.nn as nn


def scaled_dot_product_attention(q, k, v, mask=None, dropout=None):
    """softmax(q kᵀ / √d_k) v を計算します。

    引数:
        q: (..., Lq, d_k) のクエリ
        k: (..., Lk, d_k) のキー
        v: (..., Lk, d_v) のバリュー
        mask: (..., Lq, Lk) にブロードキャストできる bool マスク（True = 見てよい）。省略可。
        dropout: アテンションの重みに適用する ``nn.Dropout``。省略可（省略時は何もしない）。
    戻り値:
        ``(out, weights)``。out は (..., Lq, d_v)、weights は (..., Lq, Lk)。
        マスクされた位置の重みはちょうど 0 です。キーがすべてマスクされた行は、重みも出力も 0 になります。
    """
    # 手順:
    # 1. スコア q @ kᵀ を √d_k（d_k は q の最後の次元）で割る
    # 2. mask があれば、見てはいけない位置（False）を -inf で埋める（masked_fill）
    # 3. 最後の次元（キーの軸）で softmax を取る
    # 4. 見てはいけない位置の重みを 0 に戻す（全部マスクされた行の NaN もここで 0 になります）
    # 5. dropout があれば重みに適用し、重み @ v を返す
    ### BEGIN SOLUTION
    d_k = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)  # (..., Lq, d_k) @ (..., d_k, Lk) -> (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., Lq, Lk)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)
    if dropout is not None:
        weights = dropout(weights)
    out = weights @ v  # (..., Lq, Lk) @ (..., Lk, d_v) -> (..., Lq, d_v)
    return out, weights
    ### END SOLUTION


class SelfAttention(nn.Module):
    """1 ヘッドのセルフアテンション。クエリ・キー・バリューをすべて同じ入力 x から作ります。

    引数:
        d_model: 埋め込みの次元。スケールは 1/√d_model です。
    """

    def __init__(self, d_model):
        super().__init__()
        self.d_model = d_model
        self.W_q = nn.Linear(d_model, d_model, bias=False)
        self.W_k = nn.Linear(d_model, d_model, bias=False)
        self.W_v = nn.Linear(d_model, d_model, bias=False)

    def forward(self, x, mask=None):
        """引数: x は (B, L, d_model)、mask は (B, L, L) にブロードキャストできる bool マスク。

        戻り値: ``(out (B, L, d_model), weights (B, L, L))``
        """
        # ヒント: W_q, W_k, W_v で x を射影し、scaled_dot_product_attention に渡します（3〜4 行）。
        ### BEGIN SOLUTION
        q, k, v = self.W_q(x), self.W_k(x), self.W_v(x)  # each (B, L, d_model)
        return scaled_dot_product_attention(q, k, v, mask)  # (B, L, d_model), (B, L, L)
        ### END SOLUTION
