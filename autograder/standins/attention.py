"""Attention stand-in: softmax over the masked, scaled scores, written apart from the reference.

It runs no kernel a unit above it is forbidden (`F.scaled_dot_product_attention` runs
`aten::_safe_softmax`, which the operator watch refuses in the attention units): a fully hidden
row is made zero by `nan_to_num` on the softmax of -inf scores, where the reference re-zeroes by mask.
"""

import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None, dropout=None):
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(q.size(-1))  # (..., Lq, Lk)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # a row with every key hidden: all zeros
    if dropout is not None:
        weights = dropout(weights)
    return weights @ v, weights  # (..., Lq, d_v), (..., Lq, Lk)
