"""Mask stand-ins: bool, True = may attend. The decoder's mask, built from these two, has a module of its own."""

import torch


def make_padding_mask(tokens, pad_idx=0):
    return (tokens != pad_idx)[:, None, None, :]  # (B, 1, 1, L)


def make_causal_mask(size, device=None):
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()[None, None]  # (1, 1, L, L)

