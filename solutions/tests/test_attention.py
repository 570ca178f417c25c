"""attention.py のテスト: スケール化内積アテンション scaled_dot_product_attention と 1 ヘッドの SelfAttention。

次元はすべて違う値にしてあります（B=2, H=3, Lq=4, Lk=5, d_k=6, d_v=7）。軸を取り違えると形状か値が必ず食い違います。
"""

import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from diagnostics import check, check_shape, check_tensor, unpack_pair, uses

from transformer import SelfAttention, scaled_dot_product_attention

pytestmark = pytest.mark.attention

B, H, LQ, LK, D_K, D_V = 2, 3, 4, 5, 6, 7

WHAT_SDPA = "scaled_dot_product_attention"
CAUSES = (
    "softmax を取る軸が違う（dim=-1 ではない）、√d_k で割っていない、"
    "マスクの向きが逆（True = 見てよい）、k を転置していない（k.transpose(-2, -1)）。"
)
AXIS = "softmax を取る軸が違う（キーの軸 dim=-1 で取ります。dim=-2 だとクエリの軸で正規化されます）。"
POLARITY = "マスクの向きが逆になっている。masked_fill で -inf を入れるのは見てはいけない位置（~mask）です。"
MASKED_CAUSES = POLARITY + "ほかに: softmax の軸が dim=-1 ではない、√d_k で割っていない、k を転置していない。"


def qkv():
    q = torch.randn(B, H, LQ, D_K)
    k = torch.randn(B, H, LK, D_K)
    v = torch.randn(B, H, LK, D_V)
    return q, k, v


def torch_weights(q, k, mask=None):
    """PyTorch の F.scaled_dot_product_attention に単位行列を value として渡すと、アテンションの重みそのものが出てきます。"""
    identity = torch.eye(k.size(-2)).expand(*k.shape[:-2], k.size(-2), k.size(-2))
    return F.scaled_dot_product_attention(q, k, identity, attn_mask=mask)


def common_mistakes(q, k, mask=None):
    """よくある間違いをしたときのアテンションの重み（間違いの説明 → その値）。"""

    def weights(scores, dim=-1, hidden=None if mask is None else ~mask):
        if hidden is not None:
            scores = scores.masked_fill(hidden, float("-inf"))
        result = torch.softmax(scores, dim=dim)
        return result if hidden is None else result.nan_to_num(0.0).masked_fill(hidden, 0.0)

    raw, d_k = q @ k.transpose(-2, -1), q.size(-1)
    mistakes = {
        "softmax をクエリの軸（dim=-2）で取っている。キーの軸 dim=-1 で取ります。": weights(raw / math.sqrt(d_k), dim=-2),
        "q kᵀ を √d_k で割っていない。": weights(raw),
        "q kᵀ を √d_k ではなく d_k で割っている。": weights(raw / d_k),
    }
    if mask is not None:
        mistakes[POLARITY] = weights(raw / math.sqrt(d_k), hidden=mask)
    return mistakes


def padding_mask():
    """(B, 1, 1, Lk) のマスク。1 つ目の系列は全部見てよく、2 つ目は後ろ 2 つが PAD。"""
    mask = torch.ones(B, 1, 1, LK, dtype=torch.bool)
    mask[1, ..., 3:] = False
    return mask


def random_mask():
    """(B, H, Lq, Lk) のランダムなマスク。どの行も最初のキーは見てよいようにします。"""
    mask = torch.rand(B, H, LQ, LK) > 0.5
    mask[..., 0] = True
    return mask


# --- scaled_dot_product_attention --------------------------------------------


@pytest.mark.unit("scaled_dot_product_attention")
def test_sdpa_returns_output_and_weights_with_the_right_shapes():
    """out は (B, H, Lq, d_v)、weights は (B, H, Lq, Lk) で、どちらも float32 であること。"""
    out, weights = unpack_pair(scaled_dot_product_attention(*qkv()), what=WHAT_SDPA)
    check_shape(out, (B, H, LQ, D_V), what="アテンションの出力 out", cause="weights @ v の順になっていない、または v ではなく q や k を掛けている。")
    check_shape(weights, (B, H, LQ, LK), what="アテンションの重み weights", cause="k を転置していない（q @ k.transpose(-2, -1)）、または transpose する軸が違う。")
    check(out.dtype == torch.float32 and weights.dtype == torch.float32, what="out と weights の dtype", problem=f"{out.dtype}, {weights.dtype} です（float32 のはず）。", cause="途中で .double() などに変換している。")


@pytest.mark.unit("scaled_dot_product_attention")
def test_sdpa_matches_pytorch_without_mask():
    """マスクなしの結果が PyTorch の F.scaled_dot_product_attention と一致すること。"""
    q, k, v = qkv()
    out, weights = unpack_pair(scaled_dot_product_attention(q, k, v), what=WHAT_SDPA)
    check_tensor(weights, torch_weights(q, k), what="アテンションの重み", cause=CAUSES, mistakes=common_mistakes(q, k))
    check_tensor(out, F.scaled_dot_product_attention(q, k, v), what="アテンションの出力", cause=CAUSES)


@pytest.mark.unit("scaled_dot_product_attention")
@pytest.mark.parametrize("mask_kind", ["padding (B, 1, 1, Lk)", "causal (Lq, Lk)", "random (B, H, Lq, Lk)"])
def test_sdpa_matches_pytorch_with_a_mask(mask_kind):
    """ブロードキャストされるマスクでも PyTorch と一致すること（True = 見てよい）。"""
    q, k, v = qkv()
    mask = {
        "padding (B, 1, 1, Lk)": padding_mask,
        "causal (Lq, Lk)": lambda: torch.ones(LQ, LK, dtype=torch.bool).tril(),
        "random (B, H, Lq, Lk)": random_mask,
    }[mask_kind]()
    out, weights = unpack_pair(scaled_dot_product_attention(q, k, v, mask), what=WHAT_SDPA)
    check_tensor(weights, torch_weights(q, k, mask), what=f"{mask_kind} マスクつきのアテンションの重み", cause=MASKED_CAUSES, mistakes=common_mistakes(q, k, mask))
    check_tensor(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), what=f"{mask_kind} マスクつきのアテンションの出力", cause=MASKED_CAUSES)


@pytest.mark.unit("scaled_dot_product_attention")
def test_scores_are_divided_by_sqrt_dk():
    """手で計算できる例: d_k=4 でスコアは [4, 0] / √4 = [2, 0]、重みは softmax([2, 0]) になること。"""
    q = torch.ones(1, 1, 4)
    k = torch.tensor([[[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0]]])
    v = torch.tensor([[[1.0], [0.0]]])
    out, weights = unpack_pair(scaled_dot_product_attention(q, k, v), what=WHAT_SDPA)
    p = math.exp(2) / (math.exp(2) + 1)  # 0.8808
    cause = "√d_k で割っていない（割らないと 0.982）、d_k で割っている（0.731）、または d_k を q.size(-1) 以外から取っている。"
    check_tensor(weights, torch.tensor([[[p, 1 - p]]]), what="d_k=4 のアテンションの重み", cause=cause, mistakes=common_mistakes(q, k))
    check_tensor(out, torch.tensor([[[p]]]), what="d_k=4 のアテンションの出力", cause="weights @ v になっていない。")


@pytest.mark.unit("scaled_dot_product_attention")
def test_attention_rows_sum_to_one():
    """性質: 各クエリの重みはキーの軸で足すと 1 になること（softmax はキーの軸で取ります）。"""
    _, weights = unpack_pair(scaled_dot_product_attention(*qkv()), what=WHAT_SDPA)
    check_tensor(weights.sum(dim=-1), torch.ones(B, H, LQ), what="アテンションの重みの各行の和", cause=AXIS)


@pytest.mark.unit("scaled_dot_product_attention")
def test_masked_weights_are_exactly_zero():
    """性質: マスクで隠した位置（False）の重みはちょうど 0、見てよい位置の和は 1 であること。"""
    q, k, v = qkv()
    mask = random_mask()
    _, weights = unpack_pair(scaled_dot_product_attention(q, k, v, mask), what=WHAT_SDPA)
    check_shape(weights, (B, H, LQ, LK), what="アテンションの重み weights", cause=CAUSES)
    hidden = weights.detach()[~mask]
    check(
        bool((hidden == 0).all()),
        what="マスクした位置のアテンションの重み",
        problem=f"0 ではない重みが {int((hidden != 0).sum())} 個あります（最大 {hidden.abs().max().item():.3g}）。",
        cause=POLARITY + "または -inf ではなく 0 や小さな負の数で埋めている。",
    )
    check_tensor(weights.sum(dim=-1), torch.ones(B, H, LQ), what="マスクつきのアテンションの重みの各行の和", cause=AXIS)


@pytest.mark.unit("scaled_dot_product_attention")
def test_masked_keys_and_values_do_not_change_the_output():
    """性質: 隠したキー・バリューの中身をどう変えても、出力は変わらないこと（パディングの中身は効かない）。"""
    q, k, v = qkv()
    mask = padding_mask()
    out, _ = unpack_pair(scaled_dot_product_attention(q, k, v, mask), what=WHAT_SDPA)
    k2, v2 = k.clone(), v.clone()
    k2[1, :, 3:] = 100.0 * torch.randn(H, 2, D_K)
    v2[1, :, 3:] = 100.0 * torch.randn(H, 2, D_V)
    out2, _ = unpack_pair(scaled_dot_product_attention(q, k2, v2, mask), what=WHAT_SDPA)
    check_tensor(out2, out, what="隠した位置のキーとバリューを変えたときの出力", cause=POLARITY)


@pytest.mark.unit("scaled_dot_product_attention")
def test_fully_masked_row_gives_zero_weights_and_output_instead_of_nan():
    """キーがすべて隠された行は、重みも出力も NaN ではなく 0 になること。"""
    q, k, v = (torch.randn(1, 3, 4) for _ in range(3))
    mask = torch.tensor([[True, True, False], [False, False, False], [True, False, False]])  # 2 行目は全部隠す
    out, weights = unpack_pair(scaled_dot_product_attention(q, k, v, mask), what=WHAT_SDPA)
    cause = "softmax の後で、隠した位置の重みを 0 に戻していない（weights.masked_fill(~mask, 0.0)）。全部 -inf の行の softmax は NaN になります。"
    check_shape(weights, (1, 3, 3), what="アテンションの重み weights", cause=CAUSES)
    check_tensor(weights[:, 1], torch.zeros(1, 3), what="全部隠された行のアテンションの重み", cause=cause)
    check_tensor(out[:, 1], torch.zeros(1, 3, 4)[:, 1], what="全部隠された行の出力", cause=cause)
    expected_weights = torch_weights(q, k, mask).nan_to_num(0.0)
    expected_weights[:, 1] = 0.0
    check_tensor(weights, expected_weights, what="全部隠された行を含むアテンションの重み", cause=MASKED_CAUSES)
    check_tensor(out, expected_weights @ v, what="全部隠された行を含むアテンションの出力", cause=MASKED_CAUSES)


@pytest.mark.unit("scaled_dot_product_attention")
def test_dropout_is_applied_to_the_weights_before_multiplying_v():
    """dropout 引数を渡すと、softmax の後の重みに dropout を掛けてから v を掛けること。"""
    q, k, v = qkv()
    dropout = nn.Dropout(p=0.5)
    torch.manual_seed(1)
    out, _ = unpack_pair(scaled_dot_product_attention(q, k, v, dropout=dropout), what=WHAT_SDPA)
    torch.manual_seed(1)
    expected = dropout(torch_weights(q, k)) @ v
    check_tensor(out, expected, what="dropout つきのアテンションの出力", cause="dropout を重みではなく出力や v に掛けている、または dropout を 2 回呼んでいる。ほかのテストも失敗しているなら、先にそちらを直してください。")


# --- SelfAttention -----------------------------------------------------------

L, D_MODEL = 5, 12


def by_hand(attention, x, mask=None):
    """ノートブックの式をそのまま: softmax(Q Kᵀ / √d_model) V。"""
    Q = x @ attention.W_q.weight.T
    K = x @ attention.W_k.weight.T
    V = x @ attention.W_v.weight.T
    scores = Q @ K.transpose(-2, -1) / math.sqrt(D_MODEL)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ V, weights


@pytest.mark.unit("SelfAttention")
def test_self_attention_returns_shapes_B_L_D_and_B_L_L():
    """SelfAttention の出力が (B, L, d_model)、重みが (B, L, L) であること。"""
    attention = SelfAttention(D_MODEL)
    out, weights = unpack_pair(attention(torch.randn(B, L, D_MODEL)), what="SelfAttention の戻り値")
    check_shape(out, (B, L, D_MODEL), what="SelfAttention の出力", cause="scaled_dot_product_attention の戻り値 (out, weights) の順番を入れ替えている。")
    check_shape(weights, (B, L, L), what="SelfAttention の重み", cause="scaled_dot_product_attention の戻り値 (out, weights) の順番を入れ替えている。")


@pytest.mark.unit("SelfAttention")
def test_self_attention_is_softmax_of_q_k_over_sqrt_d_model_times_v():
    """手で計算した softmax(Q Kᵀ / √d_model) V と一致すること（Q, K, V は W_q, W_k, W_v で x から作る）。"""
    attention = SelfAttention(D_MODEL)
    x = torch.randn(B, L, D_MODEL)
    expected_out, expected_weights = by_hand(attention, x)
    out, weights = unpack_pair(attention(x), what="SelfAttention の戻り値")
    cause = "Q, K, V を作る重みの取り違え（q = W_q(x), k = W_k(x), v = W_v(x)）、または scaled_dot_product_attention に渡す順番が q, k, v ではない。" + uses("scaled_dot_product_attention")
    check_tensor(weights, expected_weights, what="SelfAttention の重み", cause=cause)
    check_tensor(out, expected_out, what="SelfAttention の出力", cause=cause)


@pytest.mark.unit("SelfAttention")
def test_self_attention_passes_the_mask_on():
    """因果マスクを渡すと、未来の位置の重みがちょうど 0 になり、手計算と一致すること。"""
    attention = SelfAttention(D_MODEL)
    x = torch.randn(B, L, D_MODEL)
    mask = torch.ones(L, L, dtype=torch.bool).tril()[None]  # (1, L, L)
    expected_out, expected_weights = by_hand(attention, x, mask)
    out, weights = unpack_pair(attention(x, mask), what="SelfAttention の戻り値")
    cause = "mask を scaled_dot_product_attention に渡していない。" + uses("scaled_dot_product_attention")
    check_shape(weights, (B, L, L), what="SelfAttention の重み", cause=cause)
    future = weights.detach()[:, ~mask[0]]
    check(bool((future == 0).all()), what="未来の位置の重み", problem=f"0 ではない重みが {int((future != 0).sum())} 個あります。", cause=cause)
    check_tensor(weights, expected_weights, what="因果マスクつき SelfAttention の重み", cause=cause)
    check_tensor(out, expected_out, what="因果マスクつき SelfAttention の出力", cause=cause)
