"""MultiHeadAttention stand-in on F.multi_head_attention_forward, with the kit's parameter names."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, dropout=0.0):
        super().__init__()
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.W_q, self.W_k, self.W_v, self.W_o = (nn.Linear(d_model, d_model) for _ in range(4))
        self.dropout = nn.Dropout(dropout)

    def forward(self, query, key, value, mask=None):
        B, Lq, Lk = query.size(0), query.size(1), key.size(1)
        blocked = None if mask is None else ~mask.expand(B, self.num_heads, Lq, Lk).reshape(B * self.num_heads, Lq, Lk)
        out, weights = F.multi_head_attention_forward(
            query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1),
            self.d_model, self.num_heads,
            in_proj_weight=None,
            in_proj_bias=torch.cat([self.W_q.bias, self.W_k.bias, self.W_v.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False,
            dropout_p=self.dropout.p, out_proj_weight=self.W_o.weight, out_proj_bias=self.W_o.bias,
            training=self.training, attn_mask=blocked, need_weights=True,
            use_separate_proj_weight=True,
            q_proj_weight=self.W_q.weight, k_proj_weight=self.W_k.weight, v_proj_weight=self.W_v.weight,
            average_attn_weights=False,
        )
        return out.transpose(0, 1), weights  # (B, Lq, D), (B, H, Lq, Lk)
