"""Test helpers: tolerances, a comparison that explains itself, and weight copying into PyTorch's modules."""

import torch
import torch.nn as nn

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
DTYPES = [torch.float32, torch.float64]

# Largest absolute error allowed when our computation is compared with PyTorch's own.
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10}


def assert_close(actual, expected, dtype=None, atol=None):
    """Same shape, same dtype, and max |actual - expected| within tolerance; say where it is worst."""
    atol = TOLERANCE[dtype or expected.dtype] if atol is None else atol
    assert actual.shape == expected.shape, f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    if actual.numel() == 0:
        return
    error = (actual - expected).abs()
    assert not error.isnan().any(), f"NaN where the reference has none: {error.isnan().nonzero()[:5].tolist()}"
    worst = error.max().item()
    index = tuple(int(i) for i in torch.unravel_index(error.argmax(), error.shape))
    assert worst <= atol, f"max abs error {worst:.3e} at {index} > {atol:.0e}"


def copy_attention_into_torch(ours, theirs: nn.MultiheadAttention):
    """Load our MultiHeadAttention's W_q/W_k/W_v/W_o into nn.MultiheadAttention's packed weights."""
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias]))
        theirs.out_proj.weight.copy_(ours.W_o.weight)
        theirs.out_proj.bias.copy_(ours.W_o.bias)


def copy_encoder_layer(ours, theirs: nn.TransformerEncoderLayer):
    copy_attention_into_torch(ours.self_attn, theirs.self_attn)
    _copy_feed_forward_and_norms(ours, theirs, norms=2)


def copy_decoder_layer(ours, theirs: nn.TransformerDecoderLayer):
    copy_attention_into_torch(ours.self_attn, theirs.self_attn)
    copy_attention_into_torch(ours.cross_attn, theirs.multihead_attn)
    _copy_feed_forward_and_norms(ours, theirs, norms=3)


def _copy_feed_forward_and_norms(ours, theirs, norms):
    theirs.linear1.load_state_dict(ours.feed_forward.linear1.state_dict())
    theirs.linear2.load_state_dict(ours.feed_forward.linear2.state_dict())
    for i in range(1, norms + 1):
        getattr(theirs, f"norm{i}").load_state_dict(getattr(ours, f"norm{i}").state_dict())


def copy_stack_into_torch(encoder, decoder, theirs: nn.Transformer):
    """Copy our Encoder and Decoder, layer by layer and with their final norms, into nn.Transformer."""
    for ours_layer, their_layer in zip(encoder.layers, theirs.encoder.layers, strict=True):
        copy_encoder_layer(ours_layer, their_layer)
    for ours_layer, their_layer in zip(decoder.layers, theirs.decoder.layers, strict=True):
        copy_decoder_layer(ours_layer, their_layer)
    theirs.encoder.norm.load_state_dict(encoder.norm.state_dict())
    theirs.decoder.norm.load_state_dict(decoder.norm.state_dict())
