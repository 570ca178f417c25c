"""The stand-ins the grader runs in place of a student's sub-units, proven against PyTorch's own implementations."""

import pytest
import torch
import torch.nn.functional as F
from oracles import assert_close

from autograder.standins.attention import scaled_dot_product_attention


def _qkv(dtype, device, lq=4, lk=5):
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(2, 3, length, width, generator=generator, dtype=dtype).to(device) for length, width in ((lq, 6), (lk, 6), (lk, 7))]


@pytest.mark.parametrize("mask_kind", ["none", "padding", "causal", "fully masked rows"])
def test_attention_standin_is_torchs_scaled_dot_product_attention(dtype, device, mask_kind):
    q, k, v = _qkv(dtype, device, lk=4 if mask_kind == "causal" else 5)
    masks = {
        "none": None,
        "padding": torch.tensor([True, True, True, False, False], device=device)[None, None, None],
        "causal": torch.ones(4, 4, dtype=torch.bool, device=device).tril()[None, None],
        "fully masked rows": torch.tensor([[True] * 5, [False] * 5, [True, False] * 2 + [True], [False] * 5], device=device)[None, None],
    }
    mask = masks[mask_kind]
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    identity = torch.eye(k.size(-2), dtype=dtype, device=device).expand(*k.shape[:-2], k.size(-2), k.size(-2))
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert_close(weights, F.scaled_dot_product_attention(q, k, identity, attn_mask=mask))


def test_attention_standin_applies_the_dropout_it_is_given_to_the_weights():
    q, k, v = _qkv(torch.float64, "cpu")
    halve = lambda weights: weights / 2  # noqa: E731
    out, weights = scaled_dot_product_attention(q, k, v, None, dropout=halve)
    plain_out, plain_weights = scaled_dot_product_attention(q, k, v)
    assert_close(weights, plain_weights / 2)
    assert_close(out, plain_weights / 2 @ v)
