"""The decoder's mask stand-in: padding & causal, (B, 1, L, L); apart from the two it is built from,
so that the make_decoder_mask unit can be given those without its own."""

from .masks import make_causal_mask, make_padding_mask


def make_decoder_mask(tgt, pad_idx=0):
    return make_padding_mask(tgt, pad_idx) & make_causal_mask(tgt.size(1), tgt.device)  # (B, 1, L, L)
