"""マルチヘッドアテンション（Multi-Head Attention）。"""

import torch.nn as nn

from .attention import scaled_dot_product_attention


class MultiHeadAttention(nn.Module):
    """h 個のヘッドで並列にアテンションを計算し、連結して出力射影 W_o に通します。

    ``nn.MultiheadAttention(d_model, num_heads, batch_first=True)`` と同じ関数です
    （重みをコピーし、dropout=0 のとき）。

    引数:
        d_model: 埋め込みの次元（num_heads で割り切れること）
        num_heads: ヘッドの数 h。各ヘッドの次元は d_k = d_model // num_heads です。
        dropout: アテンションの重みに適用する dropout の確率
    """

    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model ({d_model}) は num_heads ({num_heads}) で割り切れなければなりません")
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.W_q = nn.Linear(d_model, d_model)
        self.W_k = nn.Linear(d_model, d_model)
        self.W_v = nn.Linear(d_model, d_model)
        self.W_o = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, key, value, mask=None):
        """引数:
            query: (B, Lq, d_model)
            key, value: (B, Lk, d_model)
            mask: (B, H, Lq, Lk) にブロードキャストできる bool マスク（True = 見てよい）。省略可。
        戻り値:
            ``(out (B, Lq, d_model), weights (B, H, Lq, Lk))``
        """
        # 手順:
        # 1. query を W_q、key を W_k、value を W_v で射影する
        # 2. 各々を (B, L, H, d_k) に view し、transpose(1, 2) で (B, H, L, d_k) にする
        # 3. scaled_dot_product_attention(q, k, v, mask, dropout=self.dropout) を呼ぶ
        # 4. 出力を transpose(1, 2) で (B, Lq, H, d_k) に戻し、contiguous() してから (B, Lq, d_model) に view する
        # 5. W_o に通し、重みと一緒に返す
        ### BEGIN SOLUTION
        B, Lq, _ = query.shape
        Lk = key.size(1)
        H, d_k = self.num_heads, self.d_k
        q = self.W_q(query).view(B, Lq, H, d_k).transpose(1, 2)  # (B, Lq, D) -> (B, H, Lq, d_k)
        k = self.W_k(key).view(B, Lk, H, d_k).transpose(1, 2)  # (B, Lk, D) -> (B, H, Lk, d_k)
        v = self.W_v(value).view(B, Lk, H, d_k).transpose(1, 2)  # (B, Lk, D) -> (B, H, Lk, d_k)
        out, weights = scaled_dot_product_attention(q, k, v, mask, dropout=self.dropout)  # (B, H, Lq, d_k)
        out = out.transpose(1, 2).contiguous().view(B, Lq, H * d_k)  # (B, H, Lq, d_k) -> (B, Lq, D)
        return self.W_o(out), weights
        ### END SOLUTION
