"""masks.py のテスト: パディングマスク、因果マスク、デコーダマスク（True = 見てよい）。"""

import pytest
import torch
from diagnostics import check, check_shape, check_tensor, fail, uses

from transformer import make_causal_mask, make_decoder_mask, make_padding_mask

pytestmark = pytest.mark.masks

T, F = True, False
POLARITY = "マスクの向きが逆になっている。約束は True = 見てよい（PAD ではない・未来ではない）です。"


# --- make_padding_mask -------------------------------------------------------


@pytest.mark.unit("make_padding_mask")
def test_padding_mask_is_bool_with_shape_B_1_1_L():
    """(B, L) のトークンから (B, 1, 1, L) の bool マスクができること。"""
    tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])  # B=2, L=5
    mask = make_padding_mask(tokens)
    check_shape(mask, (2, 1, 1, 5), what="パディングマスクの形状", cause="軸の足し方が違う。tokens[:, None, None, :] のようにキーの軸を最後に残します。")
    check(mask.dtype == torch.bool, what="パディングマスクの dtype", problem=f"bool ではなく {mask.dtype} です。", cause="比較（tokens != pad_idx）の結果をそのまま使わず、数値に変換している。")


@pytest.mark.unit("make_padding_mask")
def test_padding_mask_is_true_exactly_on_real_tokens():
    """PAD ではない位置だけが True になること（手で書いた正解表と比べます）。"""
    tokens = torch.tensor([[5, 6, 7, 0, 0], [8, 9, 0, 0, 0]])
    expected = torch.tensor([[T, T, T, F, F], [T, T, F, F, F]])[:, None, None, :]
    mistakes = {POLARITY + "tokens == pad_idx ではなく tokens != pad_idx です。": (tokens == 0)[:, None, None, :]}
    check_tensor(make_padding_mask(tokens), expected, what="パディングマスクの値", cause=POLARITY, mistakes=mistakes)


@pytest.mark.unit("make_padding_mask")
def test_padding_mask_uses_the_pad_idx_argument():
    """pad_idx を指定したら、その ID を PAD として扱うこと。"""
    tokens = torch.tensor([[4, 0, 9, 9], [9, 3, 4, 9]])
    expected = torch.tensor([[T, T, F, F], [F, T, T, F]])[:, None, None, :]
    check_tensor(make_padding_mask(tokens, pad_idx=9), expected, what="pad_idx=9 のパディングマスク", cause="pad_idx 引数を使わず 0 を決め打ちしている。")


@pytest.mark.unit("make_padding_mask")
def test_padding_mask_marks_every_non_pad_token_for_random_tokens():
    """性質: ランダムなトークンでも、mask[b, 0, 0, j] は「tokens[b, j] が PAD でない」と同じであること。"""
    tokens = torch.randint(0, 3, (3, 7))
    expected = torch.tensor([[bool(tokens[b, j] != 0) for j in range(7)] for b in range(3)])[:, None, None, :]
    check_tensor(make_padding_mask(tokens), expected, what="ランダムなトークンのパディングマスク", cause=POLARITY)


# --- make_causal_mask --------------------------------------------------------


@pytest.mark.unit("make_causal_mask")
def test_causal_mask_is_bool_with_shape_1_1_L_L():
    """make_causal_mask(L) が (1, 1, L, L) の bool マスクを返すこと。"""
    mask = make_causal_mask(6)
    check_shape(mask, (1, 1, 6, 6), what="因果マスクの形状", cause="先頭に 2 つ軸を足していない（mask[None, None]）。")
    check(mask.dtype == torch.bool, what="因果マスクの dtype", problem=f"bool ではなく {mask.dtype} です。", cause="torch.ones(..., dtype=torch.bool) を使っていない。")


@pytest.mark.unit("make_causal_mask")
def test_causal_mask_is_lower_triangular_including_the_diagonal():
    """位置 i のクエリが位置 0..i（自分自身を含む）のキーだけを見られること。"""
    expected = torch.tensor(
        [
            [T, F, F, F],
            [T, T, F, F],
            [T, T, T, F],
            [T, T, T, T],
        ]
    )[None, None]
    mask = make_causal_mask(4)
    cause = POLARITY + "または対角線がずれている（torch.tril の diagonal は 0 のままにします。自分自身は見てよい）。"
    ones = torch.ones(4, 4, dtype=torch.bool)
    mistakes = {
        "対角線が 1 つ下にずれている（diagonal=-1）。自分自身（対角線）は見てよいので diagonal=0 のままにします。": ones.tril(-1)[None, None],
        "対角線が 1 つ上にずれている（diagonal=1）。1 つ先の未来が見えてしまいます。": ones.tril(1)[None, None],
        "上三角（torch.triu）になっている。見てよい（True）のは過去と自分自身、つまり下三角です。": ones.triu()[None, None],
        POLARITY: ~ones.tril()[None, None],
    }
    check_tensor(mask, expected, what="因果マスク（L=4）の値", cause=cause, mistakes=mistakes)


@pytest.mark.unit("make_causal_mask")
def test_causal_mask_lets_every_position_see_itself_and_only_the_past():
    """性質: どの長さでも、mask[i, j] が True になるのは j <= i のときだけであること。"""
    for size in (1, 3, 7):
        expected = torch.tensor([[j <= i for j in range(size)] for i in range(size)])[None, None]
        check_tensor(make_causal_mask(size), expected, what=f"因果マスク（L={size}）の値", cause="未来（j > i）を見せている、または自分自身（j = i）を隠している。")


@pytest.mark.unit("make_causal_mask")
def test_causal_mask_is_made_on_the_requested_device():
    """device 引数で指定したデバイスにマスクを作ること（ここでは中身のない 'meta' デバイスで確かめます）。"""
    mask = make_causal_mask(3, device="meta")
    check(
        mask.device.type == "meta",
        what="因果マスクのデバイス",
        problem=f"device='meta' を指定したのに {mask.device} に作られました。",
        cause="torch.ones(size, size, dtype=torch.bool, device=device) の device を渡し忘れている。GPU で動かすとデバイスの不一致で止まります。",
    )


# --- make_decoder_mask -------------------------------------------------------


@pytest.mark.unit("make_decoder_mask")
def test_decoder_mask_has_shape_B_1_L_L():
    """(B, L) のデコーダ入力から (B, 1, L, L) の bool マスクができること。"""
    tgt = torch.tensor([[1, 5, 6, 0], [1, 7, 0, 0], [1, 3, 4, 5]])  # B=3, L=4
    mask = make_decoder_mask(tgt)
    check_shape(mask, (3, 1, 4, 4), what="デコーダマスクの形状", cause="パディングマスク (B, 1, 1, L) と因果マスク (1, 1, L, L) を & でブロードキャストしていない。")
    check(mask.dtype == torch.bool, what="デコーダマスクの dtype", problem=f"bool ではなく {mask.dtype} です。", cause="& ではなく * や + で組み合わせている。")


@pytest.mark.unit("make_decoder_mask")
def test_decoder_mask_hides_both_padding_and_the_future():
    """PAD でもなく未来でもないキーだけが True になること（手で書いた正解表と比べます）。"""
    tgt = torch.tensor([[1, 5, 0], [1, 6, 7]])
    expected = torch.tensor(
        [
            [[T, F, F], [T, T, F], [T, T, F]],  # 1 行目: 最後のキーは PAD
            [[T, F, F], [T, T, F], [T, T, T]],  # 2 行目: PAD なし、因果マスクだけ
        ]
    )[:, None]
    cause = "パディングマスクと因果マスクを & で組み合わせていない（| ではありません）、または片方を忘れている。" + uses("make_padding_mask", "make_causal_mask")
    check_tensor(make_decoder_mask(tgt), expected, what="デコーダマスクの値", cause=cause)


@pytest.mark.unit("make_decoder_mask")
def test_decoder_mask_is_padding_and_causal_for_random_tokens():
    """性質: mask[b, 0, i, j] は「tgt[b, j] が PAD でない かつ j <= i」と同じであること。"""
    tgt = torch.randint(0, 4, (2, 6))
    tgt[:, 0] = 1
    expected = torch.tensor(
        [[[bool(tgt[b, j] != 0) and j <= i for j in range(6)] for i in range(6)] for b in range(2)]
    )[:, None]
    check_tensor(make_decoder_mask(tgt), expected, what="ランダムなトークンのデコーダマスク", cause="PAD の判定をクエリ側（行）でしている。PAD かどうかはキー側（列）で判定します。" + uses("make_padding_mask", "make_causal_mask"))


@pytest.mark.unit("make_decoder_mask")
def test_decoder_mask_is_made_on_the_device_of_tgt():
    """tgt と同じデバイスにマスクを作ること（'meta' デバイスで確かめます）。"""
    tgt = torch.ones(2, 3, dtype=torch.long, device="meta")
    try:
        mask = make_decoder_mask(tgt)
    except NotImplementedError:
        raise
    except RuntimeError as error:
        fail("meta デバイス上の tgt のデコーダマスク", f"エラーになりました（{error}）。", "因果マスクを tgt と同じデバイスに作っていない（make_causal_mask(L, device=tgt.device)）。")
    check(mask.device.type == "meta", what="デコーダマスクのデバイス", problem=f"{mask.device} に作られました。", cause="make_causal_mask に device=tgt.device を渡していない。")
