"""アテンション（attention）のマスク。

約束: マスクは bool のテンソルで、**True = 注目してよい（見てよい）**、False = 見てはいけない。
形状は (B, H, Lq, Lk) にブロードキャストできる形にします。
"""

import torch

from .data import PAD_IDX


def make_padding_mask(tokens, pad_idx=PAD_IDX):
    """PAD ではないキーの位置を True にしたマスクを作ります。

    引数:
        tokens: (B, L) のトークン ID
        pad_idx: PAD のトークン ID
    戻り値:
        (B, 1, 1, L) の bool テンソル。ヘッドとクエリの次元にブロードキャストされます。
    """
    # 手順:
    # 1. tokens != pad_idx で (B, L) の bool を作る
    # 2. ヘッドとクエリの軸を足して (B, 1, 1, L) にする（キーの軸が最後）
    ### BEGIN SOLUTION
    is_token = tokens != pad_idx  # (B, L)
    return is_token[:, None, None, :]  # (B, 1, 1, L)
    ### END SOLUTION


def make_causal_mask(size, device=None):
    """位置 i のクエリが位置 0..i のキーだけを見られる、下三角のマスクを作ります。

    引数:
        size: 系列長 L
        device: マスクを置くデバイス（省略時は CPU）
    戻り値:
        (1, 1, L, L) の bool テンソル。対角線とその下が True です。
    """
    # 手順:
    # 1. torch.ones(size, size, dtype=torch.bool, device=device) の下三角（torch.tril）を取る
    # 2. 先頭に 2 つ軸を足して (1, 1, L, L) にする
    ### BEGIN SOLUTION
    lower = torch.tril(torch.ones(size, size, dtype=torch.bool, device=device))  # (L, L)
    return lower[None, None, :, :]  # (1, 1, L, L)
    ### END SOLUTION


def make_decoder_mask(tgt, pad_idx=PAD_IDX):
    """デコーダのセルフアテンション用マスク: PAD ではなく、かつ未来でもないキーだけが True。

    引数:
        tgt: (B, L) のデコーダ入力トークン
        pad_idx: PAD のトークン ID
    戻り値:
        (B, 1, L, L) の bool テンソル
    """
    # ヒント: 上の 2 つの関数の結果を & で組み合わせます（1 行で書けます）。
    ### BEGIN SOLUTION
    return make_padding_mask(tgt, pad_idx) & make_causal_mask(tgt.size(1), tgt.device)  # (B, 1, L, L)
    ### END SOLUTION
