"""transformer.py のテスト: Encoder、Decoder、Transformer の encode / decode / forward。

重みを写した nn.Transformer（Post-LN、ReLU、dropout 0、batch_first）と比べます。
次元: B=2, S=5, T=4, d_model=24, H=3, d_ff=40, ソース語彙 11, ターゲット語彙 13, 層は 2 つずつ。
"""

import math

import pytest
import torch
from diagnostics import check_shape, check_tensor, padded_tokens, paper_encoding, torch_transformer_like, uses

from transformer import Decoder, Encoder, Transformer

pytestmark = pytest.mark.transformer

B, S, T, D_MODEL, H, D_FF, LAYERS = 2, 5, 4, 24, 3, 40, 2
SRC_VOCAB, TGT_VOCAB = 11, 13
BOS = 1

STACK = (
    "層を順に通していない（x = layer(x, ...) で前の層の出力を次の層へ）、"
    "最後の self.norm を掛け忘れている、またはマスクを各層に渡していない。" + uses("EncoderLayer", "DecoderLayer")
)
EMBED = "埋め込みを √d_model 倍していない、位置エンコーディング（self.pos_encoding）を足していない、または src_embedding と tgt_embedding を取り違えている。" + uses("PositionalEncoding", "Encoder", "Decoder")


def sources():
    """(B, S) のソース。2 つ目の系列は後ろ 2 つが PAD。"""
    return padded_tokens([S, 3], S, high=SRC_VOCAB)


def targets():
    """(B, T) のデコーダ入力。BOS から始まり、2 つ目の系列は最後の 1 つが PAD。"""
    tgt = padded_tokens([T, 3], T, high=TGT_VOCAB)
    tgt[:, 0] = BOS
    return tgt


def padding_mask(tokens):
    return (tokens != 0)[:, None, None, :]  # (B, 1, 1, L)


def decoder_mask(tokens):
    causal = torch.ones(tokens.size(1), tokens.size(1), dtype=torch.bool).tril()
    return causal[None, None] & padding_mask(tokens)  # (B, 1, T, T)


def torch_masks(src, tgt):
    """nn.Transformer 用のマスク（こちらは True = 見てはいけない）。"""
    return dict(
        tgt_mask=~torch.ones(tgt.size(1), tgt.size(1), dtype=torch.bool).tril(),
        tgt_key_padding_mask=tgt == 0,
        memory_key_padding_mask=src == 0,
    )


def small_model():
    model = Transformer(SRC_VOCAB, TGT_VOCAB, d_model=D_MODEL, num_heads=H, num_encoder_layers=LAYERS, num_decoder_layers=LAYERS, d_ff=D_FF, max_len=20, dropout=0.0)
    return model, torch_transformer_like(model.encoder, model.decoder)


def embedded(tokens, embedding):
    """埋め込み × √d_model + 論文の式の位置エンコーディング。"""
    return embedding.weight[tokens] * math.sqrt(D_MODEL) + paper_encoding(tokens.size(1), D_MODEL).float()


# --- Encoder / Decoder -------------------------------------------------------


@pytest.mark.unit("Encoder")
def test_encoder_keeps_the_shape_B_S_D():
    """Encoder が (B, S, d_model) を (B, S, d_model) にすること。"""
    encoder = Encoder(LAYERS, D_MODEL, H, D_FF, dropout=0.0)
    check_shape(encoder(torch.randn(B, S, D_MODEL), padding_mask(sources())), (B, S, D_MODEL), what="Encoder の出力", cause=STACK)


@pytest.mark.unit("Encoder")
def test_encoder_matches_the_encoder_of_nn_transformer():
    """2 層の Encoder が、同じ重みの nn.Transformer のエンコーダ（最後の LayerNorm つき）と一致すること。"""
    model, theirs = small_model()
    src, x = sources(), torch.randn(B, S, D_MODEL)
    expected = theirs.encoder(x, src_key_padding_mask=src == 0)
    check_tensor(model.encoder(x, padding_mask(src)), expected, what="Encoder の出力", cause=STACK)


@pytest.mark.unit("Encoder")
def test_encoder_ignores_the_content_of_padded_positions():
    """性質: PAD の位置の入力を変えても、PAD でない位置の出力は変わらないこと。"""
    encoder = Encoder(LAYERS, D_MODEL, H, D_FF, dropout=0.0)
    src = sources()
    x = torch.randn(B, S, D_MODEL)
    x2 = x.clone()
    x2[src == 0] = 50.0 * torch.randn(int((src == 0).sum()), D_MODEL)
    out, out2 = encoder(x, padding_mask(src)), encoder(x2, padding_mask(src))
    check_shape(out, (B, S, D_MODEL), what="Encoder の出力", cause=STACK)
    check_tensor(out2[src != 0], out[src != 0], what="PAD の中身を変えたときの PAD でない位置の出力", cause="src_mask を各層に渡していない。")


@pytest.mark.unit("Decoder")
def test_decoder_keeps_the_shape_B_T_D():
    """Decoder が (B, T, d_model) と memory (B, S, d_model) から (B, T, d_model) を出すこと。"""
    decoder = Decoder(LAYERS, D_MODEL, H, D_FF, dropout=0.0)
    src, tgt = sources(), targets()
    out = decoder(torch.randn(B, T, D_MODEL), torch.randn(B, S, D_MODEL), padding_mask(src), decoder_mask(tgt))
    check_shape(out, (B, T, D_MODEL), what="Decoder の出力", cause=STACK)


@pytest.mark.unit("Decoder")
def test_decoder_matches_the_decoder_of_nn_transformer():
    """2 層の Decoder が、同じ重みの nn.Transformer のデコーダ（最後の LayerNorm つき）と一致すること。"""
    model, theirs = small_model()
    src, tgt = sources(), targets()
    y, memory = torch.randn(B, T, D_MODEL), torch.randn(B, S, D_MODEL)
    expected = theirs.decoder(y, memory, **torch_masks(src, tgt))
    out = model.decoder(y, memory, padding_mask(src), decoder_mask(tgt))
    check_tensor(out, expected, what="Decoder の出力", cause=STACK + "src_mask と tgt_mask の順番（layer(x, memory, src_mask, tgt_mask)）も確かめてください。")


@pytest.mark.unit("Decoder")
def test_decoder_never_looks_at_future_positions():
    """性質（因果性）: 位置 2 以降の入力を変えても、位置 0, 1 の出力は変わらないこと。"""
    decoder = Decoder(LAYERS, D_MODEL, H, D_FF, dropout=0.0)
    tgt = targets()
    y, memory = torch.randn(B, T, D_MODEL), torch.randn(B, S, D_MODEL)
    y2 = y.clone()
    y2[:, 2:] = torch.randn(B, T - 2, D_MODEL)
    out, out2 = decoder(y, memory, None, decoder_mask(tgt)), decoder(y2, memory, None, decoder_mask(tgt))
    check_shape(out, (B, T, D_MODEL), what="Decoder の出力", cause=STACK)
    check_tensor(out2[:, :2], out[:, :2], what="未来の入力を変えたときの位置 0, 1 の出力", cause="tgt_mask を各層に渡していない。")


# --- Transformer.encode ------------------------------------------------------


@pytest.mark.unit("Transformer")
def test_encode_returns_memory_B_S_D():
    """encode(src, src_mask) が (B, S, d_model) の memory を返すこと。"""
    model, _ = small_model()
    src = sources()
    check_shape(model.encode(src, padding_mask(src)), (B, S, D_MODEL), what="encode の出力", cause="埋め込み（self.src_embedding）を通していない。")


@pytest.mark.unit("Transformer")
def test_encode_is_scaled_embedding_plus_positions_then_the_encoder():
    """encode が「埋め込み × √d_model + 位置エンコーディング → エンコーダ」と一致すること（nn.Transformer で計算）。"""
    model, theirs = small_model()
    src = sources()
    expected = theirs.encoder(embedded(src, model.src_embedding), src_key_padding_mask=src == 0)
    check_tensor(model.encode(src, padding_mask(src)), expected, what="encode の出力", cause=EMBED)


@pytest.mark.unit("Transformer")
def test_encode_ignores_trailing_padding():
    """性質: ソースの後ろに PAD を足しても、もとの位置の memory は変わらないこと。"""
    model, _ = small_model()
    src = sources()
    longer = torch.cat([src, torch.zeros(B, 2, dtype=torch.long)], dim=1)
    memory, memory_longer = model.encode(src, padding_mask(src)), model.encode(longer, padding_mask(longer))
    check_shape(memory_longer, (B, S + 2, D_MODEL), what="encode の出力", cause=EMBED)
    check_tensor(memory_longer[:, :S][src != 0], memory[src != 0], what="PAD を足したときの memory", cause="src_mask をエンコーダに渡していない。" + uses("Encoder"))


# --- Transformer.decode ------------------------------------------------------


@pytest.mark.unit("Transformer")
def test_decode_returns_hidden_states_B_T_D_not_logits():
    """decode が (B, T, d_model) の隠れ状態を返すこと（output_projection を通す前、語彙の次元ではない）。"""
    model, _ = small_model()
    src, tgt = sources(), targets()
    out = model.decode(tgt, torch.randn(B, S, D_MODEL), padding_mask(src), decoder_mask(tgt))
    check_shape(out, (B, T, D_MODEL), what="decode の出力", cause="decode の中で output_projection まで通している（それは forward の仕事です）。")


@pytest.mark.unit("Transformer")
def test_decode_is_scaled_embedding_plus_positions_then_the_decoder():
    """decode が「埋め込み × √d_model + 位置エンコーディング → デコーダ」と一致すること（nn.Transformer で計算）。"""
    model, theirs = small_model()
    src, tgt = sources(), targets()
    memory = torch.randn(B, S, D_MODEL)
    expected = theirs.decoder(embedded(tgt, model.tgt_embedding), memory, **torch_masks(src, tgt))
    out = model.decode(tgt, memory, padding_mask(src), decoder_mask(tgt))
    check_tensor(out, expected, what="decode の出力", cause=EMBED + "memory・src_mask・tgt_mask の渡し方も確かめてください。")


@pytest.mark.unit("Transformer")
def test_decode_never_looks_at_future_tokens():
    """性質（因果性）: 位置 2 以降のトークンを変えても、位置 0, 1 の隠れ状態は変わらないこと。"""
    model, _ = small_model()
    src, tgt = sources(), targets()
    tgt2 = tgt.clone()
    tgt2[:, 2:] = torch.tensor([[7, 8], [9, 10]])
    memory = torch.randn(B, S, D_MODEL)
    out = model.decode(tgt, memory, padding_mask(src), decoder_mask(tgt))
    out2 = model.decode(tgt2, memory, padding_mask(src), decoder_mask(tgt2))
    check_shape(out, (B, T, D_MODEL), what="decode の出力", cause=EMBED)
    check_tensor(out2[:, :2], out[:, :2], what="未来のトークンを変えたときの位置 0, 1 の隠れ状態", cause="tgt_mask をデコーダに渡していない。" + uses("Decoder"))


# --- Transformer.forward -----------------------------------------------------


@pytest.mark.unit("Transformer")
def test_forward_returns_logits_B_T_vocab():
    """forward(src, tgt) が (B, T, ターゲット語彙) のロジットを返すこと。"""
    model, _ = small_model()
    check_shape(model(sources(), targets()), (B, T, TGT_VOCAB), what="Transformer のロジット", cause="最後に output_projection を通していない。")


@pytest.mark.unit("Transformer")
def test_forward_matches_nn_transformer_with_the_same_weights():
    """forward が「埋め込み → nn.Transformer（マスクつき）→ output_projection」と一致すること。"""
    model, theirs = small_model()
    src, tgt = sources(), targets()
    hidden = theirs(
        embedded(src, model.src_embedding),
        embedded(tgt, model.tgt_embedding),
        src_key_padding_mask=src == 0,
        **torch_masks(src, tgt),
    )
    cause = "forward の中でマスクを作っていない（src はパディングマスク、tgt はデコーダマスク、pad_idx は self.pad_idx）。" + uses("マスクの関数", "encode", "decode")
    check_tensor(model(src, tgt), model.output_projection(hidden), what="Transformer のロジット", cause=cause)


@pytest.mark.unit("Transformer")
def test_changing_a_future_target_token_does_not_change_earlier_logits():
    """性質（因果性）: tgt の位置 3 のトークンを変えても、位置 0..2 のロジットは変わらないこと。"""
    model, _ = small_model()
    src, tgt = sources(), targets()
    tgt2 = tgt.clone()
    tgt2[:, 3] = torch.tensor([11, 12])
    logits, logits2 = model(src, tgt), model(src, tgt2)
    check_shape(logits, (B, T, TGT_VOCAB), what="Transformer のロジット", cause="最後に output_projection を通していない。")
    check_tensor(logits2[:, :3], logits[:, :3], what="未来のトークンを変えたときの位置 0..2 のロジット", cause="forward でデコーダマスク（因果マスク）を作っていない、または decode に渡していない。" + uses("make_decoder_mask", "decode"))


@pytest.mark.unit("Transformer")
def test_extra_padding_on_the_source_does_not_change_the_logits():
    """性質: ソースの後ろに PAD を足しても、ロジットは変わらないこと（forward がパディングマスクを作っている）。"""
    model, _ = small_model()
    src, tgt = sources(), targets()
    longer = torch.cat([src, torch.zeros(B, 3, dtype=torch.long)], dim=1)
    logits = model(src, tgt)
    check_shape(logits, (B, T, TGT_VOCAB), what="Transformer のロジット", cause="最後に output_projection を通していない。")
    check_tensor(model(longer, tgt), logits, what="ソースに PAD を足したときのロジット", cause="forward で src のパディングマスクを作っていない、または encode と decode（クロスアテンション）の両方に渡していない。" + uses("make_padding_mask", "encode", "decode"))
