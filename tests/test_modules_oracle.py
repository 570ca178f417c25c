"""MultiHeadAttention, PositionalEncoding and the Encoder/Decoder stack against PyTorch's modules."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
from oracles import assert_close, copy_attention_into_torch, copy_stack_into_torch

B, S, T, D, H, D_FF = 2, 5, 4, 24, 3, 40  # all different, so a wrong axis cannot hide


def _torch_attention(ours, device, dtype):
    theirs = nn.MultiheadAttention(ours.d_model, ours.num_heads, dropout=0.0, batch_first=True)
    copy_attention_into_torch(ours, theirs)
    return theirs.to(device, dtype)


def _padded_tokens(lengths, max_len, device):
    """(len(lengths), max_len) tokens in 3..9 with PAD (0) after each length."""
    tokens = torch.randint(3, 10, (len(lengths), max_len), device=device)
    for row, length in enumerate(lengths):
        tokens[row, length:] = 0
    return tokens


def test_multi_head_self_attention_with_padding(ref, device, dtype):
    ours = ref.MultiHeadAttention(D, H).to(device, dtype)
    theirs = _torch_attention(ours, device, dtype)
    x = torch.randn(B, S, D, device=device, dtype=dtype)
    tokens = _padded_tokens([S, 3], S, device)
    out, weights = ours(x, x, x, ref.make_padding_mask(tokens))
    expected, expected_weights = theirs(x, x, x, key_padding_mask=tokens == 0, average_attn_weights=False)
    assert_close(out, expected)
    assert_close(weights, expected_weights)


def test_multi_head_causal_self_attention(ref, device, dtype):
    ours = ref.MultiHeadAttention(D, H).to(device, dtype)
    theirs = _torch_attention(ours, device, dtype)
    x = torch.randn(B, T, D, device=device, dtype=dtype)
    causal = ref.make_causal_mask(T, device=device)
    out, weights = ours(x, x, x, causal)
    expected, expected_weights = theirs(x, x, x, attn_mask=~causal[0, 0], average_attn_weights=False)
    assert_close(out, expected)
    assert_close(weights, expected_weights)


def test_multi_head_cross_attention_with_padded_keys(ref, device, dtype):
    ours = ref.MultiHeadAttention(D, H).to(device, dtype)
    theirs = _torch_attention(ours, device, dtype)
    query = torch.randn(B, T, D, device=device, dtype=dtype)  # Lq = T differs from Lk = S
    memory = torch.randn(B, S, D, device=device, dtype=dtype)
    tokens = _padded_tokens([2, S], S, device)
    out, weights = ours(query, memory, memory, ref.make_padding_mask(tokens))
    expected, expected_weights = theirs(
        query, memory, memory, key_padding_mask=tokens == 0, average_attn_weights=False
    )
    assert out.shape == (B, T, D) and weights.shape == (B, H, T, S)
    assert_close(out, expected)
    assert_close(weights, expected_weights)


def test_multi_head_attention_distinguishes_key_and_value(ref, dtype):
    """Different key and value inputs: a key projected from the value would fail here."""
    ours = ref.MultiHeadAttention(D, H).to(dtype=dtype)
    theirs = _torch_attention(ours, "cpu", dtype)
    query, key, value = (torch.randn(B, L, D, dtype=dtype) for L in (T, S, S))
    assert_close(ours(query, key, value)[0], theirs(query, key, value)[0])


def test_positional_encoding_matches_the_paper_formula(ref):
    max_len, d_model = 50, 16
    position = np.arange(max_len)[:, None]
    i = np.arange(d_model // 2)[None, :]
    angle = position / np.power(10000.0, 2 * i / d_model)
    expected = np.zeros((max_len, d_model))
    expected[:, 0::2] = np.sin(angle)
    expected[:, 1::2] = np.cos(angle)
    encoding = ref.PositionalEncoding(d_model, max_len=max_len, dropout=0.0)
    assert "pe" in dict(encoding.named_buffers()) and not list(encoding.parameters())
    assert encoding.pe.shape == (1, max_len, d_model)
    assert_close(encoding.pe[0].double(), torch.from_numpy(expected), atol=1e-6)
    x = torch.randn(2, 7, d_model)
    assert_close(encoding(x), x + torch.from_numpy(expected[:7]).float(), atol=1e-6)


def test_positional_encoding_is_accurate_far_out(ref):
    """Built in float64, so even position 4999 is within float32 rounding of the formula."""
    table = ref.sinusoidal_encoding(5000, 8).double()
    expected = torch.tensor([math.sin(4999.0), math.cos(4999.0)], dtype=torch.float64)
    assert_close(table[4999, :2], expected, atol=1e-7)


def _stack_and_torch(ref, device, dtype, num_layers=2):
    encoder = ref.Encoder(num_layers, D, H, D_FF, dropout=0.0)
    decoder = ref.Decoder(num_layers, D, H, D_FF, dropout=0.0)
    theirs = nn.Transformer(
        d_model=D,
        nhead=H,
        num_encoder_layers=num_layers,
        num_decoder_layers=num_layers,
        dim_feedforward=D_FF,
        dropout=0.0,
        activation="relu",
        batch_first=True,
        norm_first=False,
    )
    copy_stack_into_torch(encoder, decoder, theirs)
    return encoder.to(device, dtype), decoder.to(device, dtype), theirs.to(device, dtype)


@pytest.mark.parametrize("num_layers", [1, 3])
def test_encoder_decoder_equal_nn_transformer(ref, device, dtype, num_layers):
    encoder, decoder, theirs = _stack_and_torch(ref, device, dtype, num_layers)
    src_tokens = _padded_tokens([S, 3], S, device)
    tgt_tokens = torch.cat([torch.ones(B, 1, dtype=torch.long, device=device), _padded_tokens([T - 1, 2], T - 1, device)], 1)
    src = torch.randn(B, S, D, device=device, dtype=dtype)
    tgt = torch.randn(B, T, D, device=device, dtype=dtype)
    src_mask = ref.make_padding_mask(src_tokens)
    memory = encoder(src, src_mask)
    out = decoder(tgt, memory, src_mask, ref.make_decoder_mask(tgt_tokens))
    expected_memory = theirs.encoder(src, src_key_padding_mask=src_tokens == 0)
    expected = theirs(
        src,
        tgt,
        tgt_mask=~ref.make_causal_mask(T, device=device)[0, 0],
        src_key_padding_mask=src_tokens == 0,
        tgt_key_padding_mask=tgt_tokens == 0,
        memory_key_padding_mask=src_tokens == 0,
    )
    assert_close(memory, expected_memory)
    assert_close(out, expected)


def test_transformer_is_embeddings_then_the_stack(ref, device, dtype):
    """The whole model: √d_model-scaled embeddings plus positions, then the stack nn.Transformer agrees with."""
    model = ref.Transformer(11, 13, d_model=D, num_heads=H, num_encoder_layers=2, num_decoder_layers=2, d_ff=D_FF, dropout=0.0)
    theirs = nn.Transformer(D, H, 2, 2, D_FF, dropout=0.0, batch_first=True)
    copy_stack_into_torch(model.encoder, model.decoder, theirs)
    model.to(device, dtype)
    theirs.to(device, dtype)
    src = _padded_tokens([S, 2], S, device)
    tgt = torch.cat([torch.ones(B, 1, dtype=torch.long, device=device), _padded_tokens([T - 1, 1], T - 1, device)], 1)
    pe = torch.from_numpy(_paper_encoding(max(S, T), D)).to(device, dtype)
    src_in = model.src_embedding.weight[src] * math.sqrt(D) + pe[:S]
    tgt_in = model.tgt_embedding.weight[tgt] * math.sqrt(D) + pe[:T]
    hidden = theirs(
        src_in,
        tgt_in,
        tgt_mask=~ref.make_causal_mask(T, device=device)[0, 0],
        src_key_padding_mask=src == 0,
        tgt_key_padding_mask=tgt == 0,
        memory_key_padding_mask=src == 0,
    )
    logits = model(src, tgt)
    assert logits.shape == (B, T, 13)
    # The pe buffer is built in float32, so in float64 the model carries float32 rounding of the encoding.
    assert_close(logits, model.output_projection(hidden), atol=1e-5 if dtype == torch.float32 else 1e-6)


def _paper_encoding(max_len, d_model):
    position = np.arange(max_len)[:, None]
    angle = position / np.power(10000.0, np.arange(0, d_model, 2)[None, :] / d_model)
    table = np.zeros((max_len, d_model))
    table[:, 0::2], table[:, 1::2] = np.sin(angle), np.cos(angle)
    return table


def test_layers_are_independent_copies(ref):
    encoder = ref.Encoder(3, D, H, D_FF)
    weights = [layer.self_attn.W_q.weight for layer in encoder.layers]
    assert len({w.data_ptr() for w in weights}) == 3
    assert not torch.equal(weights[0], weights[1])


def test_embeddings_keep_the_padding_row_at_zero(ref):
    model = ref.Transformer(11, 13, d_model=D, num_heads=H, num_encoder_layers=1, num_decoder_layers=1, d_ff=D_FF)
    assert (model.src_embedding.weight[0] == 0).all() and (model.tgt_embedding.weight[0] == 0).all()
    assert model.src_embedding.padding_idx == 0 and model.tgt_embedding.padding_idx == 0
