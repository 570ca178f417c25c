"""layers.py のテスト: FeedForward、EncoderLayer、DecoderLayer（Post-LN）。

EncoderLayer / DecoderLayer は、重みを写した nn.TransformerEncoderLayer / nn.TransformerDecoderLayer
（norm_first=False、ReLU、dropout 0）と比べます。次元: B=2, S=5, T=4, d_model=24, H=3, d_ff=40。
"""

import pytest
import torch
import torch.nn.functional as F
from diagnostics import check_shape, check_tensor, padded_tokens, torch_decoder_layer_like, torch_encoder_layer_like, uses

from transformer import DecoderLayer, EncoderLayer, FeedForward

pytestmark = pytest.mark.layers

B, S, T, D_MODEL, H, D_FF = 2, 5, 4, 24, 3, 40

POST_LN = (
    "Post-LN になっていない。各サブ層は x = norm(x + dropout(sublayer(x))) の順です"
    "（先に norm を掛ける Pre-LN ではありません）。"
)


def source_padding():
    """(B, S) の PAD の位置。2 つ目の系列は後ろ 2 つが PAD。"""
    return padded_tokens([S, 3], S) == 0


def causal_and_padding():
    """デコーダのセルフアテンション用 (B, 1, T, T) マスク。2 つ目の系列は最後の 1 つが PAD。"""
    is_pad = padded_tokens([T, 3], T) == 0
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    return causal[None, None] & ~is_pad[:, None, None, :], causal, is_pad


# --- FeedForward -------------------------------------------------------------


@pytest.mark.unit("FeedForward")
def test_feed_forward_keeps_the_shape_B_L_D():
    """(B, L, d_model) の入力から (B, L, d_model) の出力が出ること。"""
    ff = FeedForward(D_MODEL, D_FF, dropout=0.0)
    check_shape(ff(torch.randn(B, S, D_MODEL)), (B, S, D_MODEL), what="FeedForward の出力", cause="linear2 を通していない（d_ff のまま返している）。")


@pytest.mark.unit("FeedForward")
def test_feed_forward_is_linear_relu_linear():
    """dropout=0 で linear2(relu(linear1(x))) と一致すること（F.linear で手計算）。"""
    ff = FeedForward(D_MODEL, D_FF, dropout=0.0)
    x = torch.randn(B, S, D_MODEL)
    expected = F.linear(F.relu(F.linear(x, ff.linear1.weight, ff.linear1.bias)), ff.linear2.weight, ff.linear2.bias)
    check_tensor(ff(x), expected, what="FeedForward の出力", cause="ReLU を忘れている、GELU など別の活性化を使っている、または ReLU を linear2 の後に掛けている。")


@pytest.mark.unit("FeedForward")
def test_feed_forward_treats_every_position_independently():
    """性質: 位置ごとの全結合なので、1 つの位置だけを通しても同じ結果になること。"""
    ff = FeedForward(D_MODEL, D_FF, dropout=0.0)
    x = torch.randn(B, S, D_MODEL)
    out = ff(x)
    check_shape(out, (B, S, D_MODEL), what="FeedForward の出力", cause="linear2 を通していない。")
    check_tensor(out[:, 2:3], ff(x[:, 2:3]), what="位置 2 だけを通した出力", cause="系列の軸をまたいで混ぜている（全結合は最後の軸にだけ掛けます）。")


@pytest.mark.unit("FeedForward")
def test_feed_forward_applies_dropout_between_the_two_linears():
    """学習モードの dropout は中間層（relu の後、linear2 の前）に掛かること。"""
    ff = FeedForward(D_MODEL, D_FF, dropout=0.5)
    ff.train()
    x = torch.randn(B, S, D_MODEL)
    torch.manual_seed(1)
    out = ff(x)
    torch.manual_seed(1)
    hidden = F.dropout(F.relu(F.linear(x, ff.linear1.weight, ff.linear1.bias)), p=0.5, training=True)
    expected = F.linear(hidden, ff.linear2.weight, ff.linear2.bias)
    check_tensor(out, expected, what="学習モードの FeedForward の出力", cause="dropout を linear2 の後や linear1 の前に掛けている、または掛け忘れている。")


# --- EncoderLayer ------------------------------------------------------------


@pytest.mark.unit("EncoderLayer")
def test_encoder_layer_keeps_the_shape_B_S_D():
    """(B, S, d_model) の入力から (B, S, d_model) の出力が出ること。"""
    layer = EncoderLayer(D_MODEL, H, D_FF, dropout=0.0)
    out = layer(torch.randn(B, S, D_MODEL), ~source_padding()[:, None, None, :])
    check_shape(out, (B, S, D_MODEL), what="EncoderLayer の出力", cause="self_attn の戻り値 (出力, 重み) の重みの方を使っている（[0] を取ります）。")


@pytest.mark.unit("EncoderLayer")
def test_encoder_layer_matches_nn_transformer_encoder_layer():
    """パディングマスクつきで、同じ重みの nn.TransformerEncoderLayer（Post-LN）と一致すること。"""
    layer = EncoderLayer(D_MODEL, H, D_FF, dropout=0.0)
    theirs = torch_encoder_layer_like(layer)
    x = torch.randn(B, S, D_MODEL)
    is_pad = source_padding()
    out = layer(x, ~is_pad[:, None, None, :])
    expected = theirs(x, src_key_padding_mask=is_pad)
    pre_ln = torch_encoder_layer_like(layer, norm_first=True)(x, src_key_padding_mask=is_pad)
    cause = POST_LN + "ほかに: 残差（x +）を忘れている、norm1 と norm2 を取り違えている、src_mask を self_attn に渡していない。" + uses("MultiHeadAttention", "FeedForward")
    check_tensor(out, expected, what="EncoderLayer の出力", cause=cause, mistakes={POST_LN: pre_ln})


@pytest.mark.unit("EncoderLayer")
def test_encoder_layer_output_is_layer_normalized():
    """性質: Post-LN の最後は norm2 なので、各位置の出力は平均 0・分散 1（norm2 の初期値のとき）になること。"""
    layer = EncoderLayer(D_MODEL, H, D_FF, dropout=0.0)
    out = layer(3.0 * torch.randn(B, S, D_MODEL) + 2.0)
    check_shape(out, (B, S, D_MODEL), what="EncoderLayer の出力", cause=POST_LN)
    check_tensor(out.mean(dim=-1), torch.zeros(B, S), what="各位置の出力の平均", cause=POST_LN, atol=1e-4)
    check_tensor(out.var(dim=-1, correction=0), torch.ones(B, S), what="各位置の出力の分散", cause=POST_LN, atol=1e-3)


@pytest.mark.unit("EncoderLayer")
def test_encoder_layer_ignores_the_content_of_padded_positions():
    """性質: PAD の位置の入力をどう変えても、PAD でない位置の出力は変わらないこと。"""
    layer = EncoderLayer(D_MODEL, H, D_FF, dropout=0.0)
    is_pad = source_padding()
    mask = ~is_pad[:, None, None, :]
    x = torch.randn(B, S, D_MODEL)
    x2 = x.clone()
    x2[is_pad] = 50.0 * torch.randn(int(is_pad.sum()), D_MODEL)
    out, out2 = layer(x, mask), layer(x2, mask)
    check_shape(out, (B, S, D_MODEL), what="EncoderLayer の出力", cause=POST_LN)
    check_tensor(out2[~is_pad], out[~is_pad], what="PAD の中身を変えたときの PAD でない位置の出力", cause="src_mask を self_attn に渡していない。" + uses("MultiHeadAttention"))


# --- DecoderLayer ------------------------------------------------------------


@pytest.mark.unit("DecoderLayer")
def test_decoder_layer_keeps_the_shape_B_T_D():
    """デコーダ入力 (B, T, d_model) とエンコーダ出力 (B, S, d_model) から (B, T, d_model) が出ること。"""
    layer = DecoderLayer(D_MODEL, H, D_FF, dropout=0.0)
    tgt_mask, _, _ = causal_and_padding()
    out = layer(torch.randn(B, T, D_MODEL), torch.randn(B, S, D_MODEL), ~source_padding()[:, None, None, :], tgt_mask)
    check_shape(out, (B, T, D_MODEL), what="DecoderLayer の出力", cause="クロスアテンション のクエリに memory を渡している（クエリは x、キーとバリューが memory）。")


@pytest.mark.unit("DecoderLayer")
def test_decoder_layer_matches_nn_transformer_decoder_layer():
    """因果マスク・パディングマスクつきで、同じ重みの nn.TransformerDecoderLayer（Post-LN）と一致すること。"""
    layer = DecoderLayer(D_MODEL, H, D_FF, dropout=0.0)
    theirs = torch_decoder_layer_like(layer)
    x, memory = torch.randn(B, T, D_MODEL), torch.randn(B, S, D_MODEL)
    tgt_mask, causal, tgt_pad = causal_and_padding()
    src_pad = source_padding()
    out = layer(x, memory, ~src_pad[:, None, None, :], tgt_mask)
    expected = theirs(x, memory, tgt_mask=~causal, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
    cause = (
        POST_LN + "ほかに: セルフアテンションに src_mask・クロスアテンション に tgt_mask を渡している（逆です）、"
        "クロスアテンション のクエリとキーを取り違えている、norm1〜3 の順番が違う。" + uses("MultiHeadAttention", "FeedForward")
    )
    check_tensor(out, expected, what="DecoderLayer の出力", cause=cause)


@pytest.mark.unit("DecoderLayer")
def test_decoder_layer_never_looks_at_future_positions():
    """性質（因果性）: 位置 2 以降の入力を変えても、位置 0, 1 の出力は変わらないこと。"""
    layer = DecoderLayer(D_MODEL, H, D_FF, dropout=0.0)
    causal = torch.ones(T, T, dtype=torch.bool).tril()[None, None]
    x, memory = torch.randn(B, T, D_MODEL), torch.randn(B, S, D_MODEL)
    x2 = x.clone()
    x2[:, 2:] = torch.randn(B, T - 2, D_MODEL)
    out, out2 = layer(x, memory, None, causal), layer(x2, memory, None, causal)
    check_shape(out, (B, T, D_MODEL), what="DecoderLayer の出力", cause=POST_LN)
    check_tensor(out2[:, :2], out[:, :2], what="未来の入力を変えたときの位置 0, 1 の出力", cause="tgt_mask をセルフアテンション（self_attn）に渡していない。" + uses("MultiHeadAttention"))


@pytest.mark.unit("DecoderLayer")
def test_decoder_layer_ignores_padded_memory():
    """性質: エンコーダ出力の PAD の位置をどう変えても、デコーダの出力は変わらないこと。"""
    layer = DecoderLayer(D_MODEL, H, D_FF, dropout=0.0)
    src_pad = source_padding()
    src_mask = ~src_pad[:, None, None, :]
    x, memory = torch.randn(B, T, D_MODEL), torch.randn(B, S, D_MODEL)
    memory2 = memory.clone()
    memory2[src_pad] = 50.0 * torch.randn(int(src_pad.sum()), D_MODEL)
    out, out2 = layer(x, memory, src_mask, None), layer(x, memory2, src_mask, None)
    check_shape(out, (B, T, D_MODEL), what="DecoderLayer の出力", cause=POST_LN)
    check_tensor(out2, out, what="memory の PAD の中身を変えたときの出力", cause="src_mask を クロスアテンション（cross_attn）に渡していない。" + uses("MultiHeadAttention"))
