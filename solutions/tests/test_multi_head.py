"""multi_head.py のテスト: MultiHeadAttention を、重みを写した nn.MultiheadAttention と比べます。

次元: B=2, H=3, Lq=4, Lk=5, d_model=24（d_k=8）。
"""

import pytest
import torch
import torch.nn as nn
from diagnostics import check, check_shape, check_tensor, padded_tokens, torch_attention_like, unpack_pair, uses

from transformer import MultiHeadAttention

pytestmark = pytest.mark.multi_head

B, H, LQ, LK, D_MODEL = 2, 3, 4, 5, 24
D_K = D_MODEL // H

WHAT = "MultiHeadAttention の戻り値"
SPLIT = (
    "ヘッドの分け方・まとめ方が違う。分けるときは view(B, L, H, d_k) → transpose(1, 2) で (B, H, L, d_k)、"
    "まとめるときは transpose(1, 2) → contiguous() → view(B, Lq, d_model) です（いきなり view(B, H, L, d_k) は別物です）。"
)
CAUSES = SPLIT + "ほかに: W_o を通していない、key を W_v・value を W_k で射影している。" + uses("scaled_dot_product_attention")
ONLY_HERE = "ほかのテストが通っているのにこのテストだけ失敗するなら: "


def split_without_transpose(attention, query, key, mask=None):
    """よくある間違い: いきなり view(B, H, L, d_k) でヘッドに分けたときのアテンションの重み。"""
    q = attention.W_q(query).view(B, H, query.size(1), D_K)
    k = attention.W_k(key).view(B, H, key.size(1), D_K)
    scores = q @ k.transpose(-2, -1) / D_K**0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return {"ヘッドに分けるときに、いきなり view(B, H, L, d_k) している。view(B, L, H, d_k) してから transpose(1, 2) します。": torch.softmax(scores, dim=-1)}


def attention_and_torch(dropout=0.0):
    ours = MultiHeadAttention(D_MODEL, H, dropout=dropout)
    return ours, torch_attention_like(ours)


def key_padding():
    """(B, Lk) の PAD の位置。1 つ目の系列は PAD なし、2 つ目は後ろ 2 つが PAD。"""
    return padded_tokens([LK, 3], LK) == 0


@pytest.mark.unit("MultiHeadAttention")
def test_output_is_B_Lq_D_and_weights_are_B_H_Lq_Lk():
    """クエリ (B, Lq, D)、キー・バリュー (B, Lk, D) から、出力 (B, Lq, D) と重み (B, H, Lq, Lk) が出ること。"""
    attention = MultiHeadAttention(D_MODEL, H)
    query, memory = torch.randn(B, LQ, D_MODEL), torch.randn(B, LK, D_MODEL)
    out, weights = unpack_pair(attention(query, memory, memory), what=WHAT)
    check_shape(out, (B, LQ, D_MODEL), what="マルチヘッドアテンションの出力", cause="最後にヘッドを (B, Lq, d_model) にまとめていない。" + SPLIT)
    check_shape(weights, (B, H, LQ, LK), what="マルチヘッドアテンションの重み", cause="ヘッドの軸が 2 番目に来ていない。" + SPLIT)


@pytest.mark.unit("MultiHeadAttention")
def test_self_attention_matches_nn_multihead_attention():
    """セルフアテンション（query = key = value）が、同じ重みの nn.MultiheadAttention と一致すること。"""
    ours, theirs = attention_and_torch()
    x = torch.randn(B, LQ, D_MODEL)
    out, weights = unpack_pair(ours(x, x, x), what=WHAT)
    expected, expected_weights = theirs(x, x, x, average_attn_weights=False)
    check_tensor(weights, expected_weights, what="セルフアテンションの重み", cause=CAUSES, mistakes=split_without_transpose(ours, x, x))
    check_tensor(out, expected, what="セルフアテンションの出力", cause=CAUSES)


@pytest.mark.unit("MultiHeadAttention")
def test_cross_attention_with_padding_matches_nn_multihead_attention():
    """Lq ≠ Lk の クロスアテンション とパディングマスクでも、nn.MultiheadAttention と一致すること。"""
    ours, theirs = attention_and_torch()
    query, key, value = torch.randn(B, LQ, D_MODEL), torch.randn(B, LK, D_MODEL), torch.randn(B, LK, D_MODEL)
    is_pad = key_padding()
    mask = ~is_pad[:, None, None, :]  # (B, 1, 1, Lk)、True = 見てよい
    out, weights = unpack_pair(ours(query, key, value, mask), what=WHAT)
    expected, expected_weights = theirs(query, key, value, key_padding_mask=is_pad, average_attn_weights=False)
    check_tensor(weights, expected_weights, what="クロスアテンション の重み", cause="mask を scaled_dot_product_attention に渡していない。" + CAUSES)
    check_tensor(out, expected, what="クロスアテンション の出力", cause=CAUSES)


@pytest.mark.unit("MultiHeadAttention")
def test_causal_self_attention_matches_nn_multihead_attention():
    """(1, 1, L, L) の因果マスクつきセルフアテンションが、nn.MultiheadAttention と一致すること。"""
    ours, theirs = attention_and_torch()
    x = torch.randn(B, LQ, D_MODEL)
    causal = torch.ones(LQ, LQ, dtype=torch.bool).tril()
    out, weights = unpack_pair(ours(x, x, x, causal[None, None]), what=WHAT)
    expected, expected_weights = theirs(x, x, x, attn_mask=~causal, average_attn_weights=False)
    check_tensor(weights, expected_weights, what="因果マスクつきセルフアテンションの重み", cause=CAUSES, mistakes=split_without_transpose(ours, x, x, causal))
    check_tensor(out, expected, what="因果マスクつきセルフアテンションの出力", cause=CAUSES)


@pytest.mark.unit("MultiHeadAttention")
def test_each_head_attends_with_its_own_slice_of_features():
    """手で計算できる例: 射影をすべて単位行列にすると、ヘッド h は特徴 h·d_k..(h+1)·d_k だけでアテンションを計算すること。"""
    attention = MultiHeadAttention(D_MODEL, H)
    with torch.no_grad():
        for linear in (attention.W_q, attention.W_k, attention.W_v, attention.W_o):
            linear.weight.copy_(torch.eye(D_MODEL))
            linear.bias.zero_()
    query, key = torch.randn(B, LQ, D_MODEL), torch.randn(B, LK, D_MODEL)
    out, weights = unpack_pair(attention(query, key, key), what=WHAT)
    expected_weights = torch.stack(
        [torch.softmax(query[..., h * D_K:(h + 1) * D_K] @ key[..., h * D_K:(h + 1) * D_K].transpose(1, 2) / D_K**0.5, dim=-1) for h in range(H)],
        dim=1,
    )  # (B, H, Lq, Lk)
    heads = [expected_weights[:, h] @ key[..., h * D_K:(h + 1) * D_K] for h in range(H)]  # H 個の (B, Lq, d_k)
    expected_out = torch.cat(heads, dim=-1)
    merged_without_transpose = torch.stack(heads, dim=1).reshape(B, LQ, D_MODEL)
    check_tensor(weights, expected_weights, what="ヘッドごとのアテンションの重み", cause=SPLIT + "スケールは 1/√d_k（d_model ではなくヘッドの次元）です。", mistakes=split_without_transpose(attention, query, key))
    mistakes = {"ヘッドをまとめるときに transpose(1, 2) せずに view している。(B, H, Lq, d_k) → transpose(1, 2) → contiguous() → view(B, Lq, d_model) です。": merged_without_transpose}
    check_tensor(out, expected_out, what="ヘッドを連結した出力", cause=SPLIT, mistakes=mistakes)


@pytest.mark.unit("MultiHeadAttention")
def test_key_and_value_are_projected_separately():
    """key と value に別々の入力を渡すと、key は W_k、value は W_v で射影されること。"""
    ours, theirs = attention_and_torch()
    query, key, value = torch.randn(B, LQ, D_MODEL), torch.randn(B, LK, D_MODEL), torch.randn(B, LK, D_MODEL)
    out, _ = unpack_pair(ours(query, key, value), what=WHAT)
    check_tensor(out, theirs(query, key, value)[0], what="key と value が違うときの出力", cause=ONLY_HERE + "key と value を取り違えている（k = W_k(key), v = W_v(value)）、または query から k, v を作っている。")


@pytest.mark.unit("MultiHeadAttention")
def test_masked_weights_are_exactly_zero_in_every_head():
    """性質: パディングマスクで隠したキーの重みは、どのヘッドでもちょうど 0 で、各行の和は 1 であること。"""
    attention = MultiHeadAttention(D_MODEL, H)
    query, memory = torch.randn(B, LQ, D_MODEL), torch.randn(B, LK, D_MODEL)
    is_pad = key_padding()
    _, weights = unpack_pair(attention(query, memory, memory, ~is_pad[:, None, None, :]), what=WHAT)
    check_shape(weights, (B, H, LQ, LK), what="マルチヘッドアテンションの重み", cause=SPLIT)
    hidden = weights.detach()[is_pad[:, None, None, :].expand(B, H, LQ, LK)]
    check(bool((hidden == 0).all()), what="隠したキーの重み", problem=f"0 ではない重みが {int((hidden != 0).sum())} 個あります。", cause="mask を渡していない、またはマスクの向きが逆（True = 見てよい）。")
    check_tensor(weights.sum(-1), torch.ones(B, H, LQ), what="各ヘッドの重みの各行の和", cause="softmax をキーの軸（dim=-1）で取っていない。")


@pytest.mark.unit("MultiHeadAttention")
def test_dropout_is_off_in_eval_mode():
    """dropout=0.5 で作っても、eval() の後は nn.MultiheadAttention（dropout なし）と一致すること。"""
    ours, theirs = attention_and_torch(dropout=0.5)
    ours.eval()
    x = torch.randn(B, LQ, D_MODEL)
    out, _ = unpack_pair(ours(x, x, x), what=WHAT)
    check_tensor(out, theirs(x, x, x)[0], what="eval モードの出力", cause=ONLY_HERE + "self.dropout（nn.Dropout）ではなく F.dropout(..., training=True) などを使っていて、eval() で止まらない。")


@pytest.mark.unit("MultiHeadAttention")
def test_dropout_in_training_mode_is_applied_to_the_attention_weights():
    """学習モードでは self.dropout がアテンションの重みに掛かること（同じ乱数で手計算した結果と比べます）。"""
    ours, theirs = attention_and_torch(dropout=0.5)
    ours.train()
    x = torch.randn(B, LQ, D_MODEL)
    torch.manual_seed(1)
    out, _ = unpack_pair(ours(x, x, x), what=WHAT)
    _, weights = theirs(x, x, x, average_attn_weights=False)  # dropout なしの重み (B, H, L, L)
    torch.manual_seed(1)
    dropped = nn.Dropout(0.5)(weights)
    v = ours.W_v(x).view(B, LQ, H, D_K).transpose(1, 2)  # (B, H, L, d_k)
    expected = ours.W_o((dropped @ v).transpose(1, 2).reshape(B, LQ, D_MODEL))
    check_tensor(out, expected, what="学習モード・dropout=0.5 の出力", cause=ONLY_HERE + "scaled_dot_product_attention に dropout=self.dropout を渡していない、または dropout を重み以外（出力など）に掛けている。")
