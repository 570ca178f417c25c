"""Masks against hand-written truth tables; attention against F.scaled_dot_product_attention and the seed's formula."""

import math

import pytest
import torch
import torch.nn.functional as F
from oracles import assert_close

T, F_ = True, False


def test_padding_mask_truth_table(ref):
    tokens = torch.tensor([[5, 6, 0], [7, 0, 0]])
    expected = torch.tensor([[T, T, F_], [T, F_, F_]])[:, None, None, :]
    mask = ref.make_padding_mask(tokens)
    assert mask.dtype == torch.bool and mask.shape == (2, 1, 1, 3)
    assert torch.equal(mask, expected)
    assert torch.equal(ref.make_padding_mask(tokens, pad_idx=5), (tokens != 5)[:, None, None, :])


def test_causal_mask_truth_table(ref, device):
    expected = torch.tensor([[T, F_, F_], [T, T, F_], [T, T, T]], device=device)[None, None]
    mask = ref.make_causal_mask(3, device=device)
    assert mask.dtype == torch.bool and mask.device.type == device.type
    assert torch.equal(mask, expected)


def test_decoder_mask_truth_table(ref):
    tgt = torch.tensor([[1, 5, 0], [1, 6, 7]])
    expected = torch.tensor(
        [
            [[T, F_, F_], [T, T, F_], [T, T, F_]],
            [[T, F_, F_], [T, T, F_], [T, T, T]],
        ]
    )[:, None]
    mask = ref.make_decoder_mask(tgt)
    assert mask.shape == (2, 1, 3, 3)
    assert torch.equal(mask, expected)


def _attention_weights_from_torch(q, k, mask):
    """F.scaled_dot_product_attention applied to an identity 'value' returns the weights themselves."""
    Lk = k.size(-2)
    identity = torch.eye(Lk, dtype=q.dtype, device=q.device).expand(*k.shape[:-2], Lk, Lk)
    return F.scaled_dot_product_attention(q, k, identity, attn_mask=mask)


MASK_SHAPES = {
    "none": None,
    "(Lq, Lk)": lambda B, H, Lq, Lk: (Lq, Lk),
    "(B, 1, 1, Lk) padding": lambda B, H, Lq, Lk: (B, 1, 1, Lk),
    "(B, 1, Lq, Lk)": lambda B, H, Lq, Lk: (B, 1, Lq, Lk),
    "(1, 1, Lq, Lk)": lambda B, H, Lq, Lk: (1, 1, Lq, Lk),
    "(B, H, Lq, Lk)": lambda B, H, Lq, Lk: (B, H, Lq, Lk),
}


def _random_mask(shape, device):
    """A random bool mask in which every row keeps at least its first key."""
    mask = torch.rand(shape, device=device) > 0.4
    mask[..., 0] = True
    return mask


@pytest.mark.parametrize("mask_shape", MASK_SHAPES.values(), ids=MASK_SHAPES.keys())
def test_scaled_dot_product_attention_matches_torch(ref, device, dtype, mask_shape):
    B, H, Lq, Lk, d_k, d_v = 2, 3, 4, 5, 6, 7
    q = torch.randn(B, H, Lq, d_k, device=device, dtype=dtype)
    k = torch.randn(B, H, Lk, d_k, device=device, dtype=dtype)
    v = torch.randn(B, H, Lk, d_v, device=device, dtype=dtype)
    mask = None if mask_shape is None else _random_mask(mask_shape(B, H, Lq, Lk), device)
    out, weights = ref.scaled_dot_product_attention(q, k, v, mask)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert_close(weights, _attention_weights_from_torch(q, k, mask))
    assert_close(weights.sum(-1), torch.ones(B, H, Lq, device=device, dtype=dtype))
    if mask is not None:
        assert (weights[~mask.expand(B, H, Lq, Lk)] == 0).all(), "masked weights must be exactly 0"


def test_fully_masked_rows_give_zeros_like_torch(ref, dtype):
    q, k, v = (torch.randn(1, 1, 3, 4, dtype=dtype) for _ in range(3))
    mask = torch.tensor([[T, T, F_], [F_, F_, F_], [T, F_, F_]])
    out, weights = ref.scaled_dot_product_attention(q, k, v, mask)
    assert not out.isnan().any() and not weights.isnan().any()
    assert (weights[0, 0, 1] == 0).all()
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def test_self_attention_matches_the_seed_formula(ref, device, dtype):
    B, L, d_model = 2, 5, 12
    attention = ref.SelfAttention(d_model).to(device, dtype)
    x = torch.randn(B, L, d_model, device=device, dtype=dtype)
    mask = ref.make_causal_mask(L, device=device)[0]  # (1, L, L)
    # The PyTorch入門 formula, written out by hand.
    Q = x @ attention.W_q.weight.T
    K = x @ attention.W_k.weight.T
    V = x @ attention.W_v.weight.T
    scores = torch.matmul(Q, K.transpose(-2, -1)) / math.sqrt(d_model)
    expected_weights = torch.softmax(scores.masked_fill(~mask, -1e9), dim=-1)
    out, weights = attention(x, mask)
    assert_close(weights, expected_weights)
    assert_close(out, expected_weights @ V)
    unmasked_out, _ = attention(x)
    assert_close(unmasked_out, torch.softmax(scores, dim=-1) @ V)
