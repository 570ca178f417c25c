"""Mask stand-ins: bool, True = may attend."""

import torch


def make_padding_mask(tokens, pad_idx=0):
    return (tokens != pad_idx)[:, None, None, :]  # (B, 1, 1, L)


def make_causal_mask(size, device=None):
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()[None, None]  # (1, 1, L, L)


def make_decoder_mask(tgt, pad_idx=0):
    return make_padding_mask(tgt, pad_idx) & make_causal_mask(tgt.size(1), tgt.device)  # (B, 1, L, L)
