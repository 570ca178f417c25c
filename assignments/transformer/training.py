"""学習ループ、評価、貪欲デコード、デバイスの選択。"""

import torch

from .data import BOS_IDX, EOS_IDX
from .masks import make_decoder_mask, make_padding_mask


def get_device():
    """使えるデバイスを cuda → mps → cpu の順に選んで返します。"""
    # TODO: docstring の約束どおりに実装してください。
    raise NotImplementedError("未実装: get_device")


def sequence_loss(model, src, tgt, criterion):
    """教師強制（teacher forcing）で 1 バッチの損失を計算します。

    デコーダには ``tgt[:, :-1]``（BOS から始まる）を入れ、``tgt[:, 1:]``（1 つ先のトークン）を当てさせます。

    引数:
        src: (B, S)、tgt: (B, T) のトークン。tgt は BOS から始まります。
        criterion: (N, V) のロジットと (N,) の正解を受け取る損失（例: nn.CrossEntropyLoss(ignore_index=PAD_IDX)）
    戻り値: スカラーの損失テンソル
    """
    # 手順:
    # 1. tgt_input = tgt[:, :-1]、tgt_output = tgt[:, 1:]
    # 2. logits = model(src, tgt_input) は (B, T-1, V)
    # 3. logits を (B·(T-1), V)、tgt_output を (B·(T-1),) に reshape して criterion に渡す
    # TODO: docstring の約束どおりに実装してください。
    raise NotImplementedError("未実装: sequence_loss")


def train_one_epoch(model, loader, optimizer, criterion, device=None, scheduler=None, max_grad_norm=None):
    """1 エポック学習し、バッチごとの損失の平均を float で返します。

    引数:
        model: Transformer
        loader: ``(src (B, S), tgt (B, T))`` の LongTensor の組を返す反復可能オブジェクト
        optimizer: 最適化手法
        criterion: 損失関数
        device: データを送るデバイス（省略時はモデルのパラメータと同じデバイス）
        scheduler: 学習率スケジューラ。与えられたら毎バッチ optimizer.step() の後に step() します。
        max_grad_norm: 与えられたら backward の後、step の前に勾配のノルムをこの値に切り詰めます
            （torch.nn.utils.clip_grad_norm_）。
    戻り値: バッチごとの損失の平均（float）
    """
    # 手順:
    # 1. model.train() で学習モードにする
    # 2. 各バッチについて: デバイスへ送る → sequence_loss → zero_grad → backward
    #    →（max_grad_norm があれば）勾配クリップ → optimizer.step() →（scheduler があれば）scheduler.step()
    # 3. loss.item() を集めて平均を返す
    # TODO: docstring の約束どおりに実装してください。
    raise NotImplementedError("未実装: train_one_epoch")


def evaluate(model, loader, criterion, device=None):
    """評価モード・勾配なしで、バッチごとの損失の平均を float で返します。パラメータは変えません。"""
    # ヒント: model.eval() と torch.no_grad() を使い、損失の計算は sequence_loss に任せます。
    # TODO: docstring の約束どおりに実装してください。
    raise NotImplementedError("未実装: evaluate")


def greedy_decode(model, src, max_len, bos_idx=BOS_IDX, eos_idx=EOS_IDX):
    """毎ステップ最も確率の高いトークンを選んで、出力系列を作ります。

    引数:
        model: Transformer（encode / decode / output_projection / pad_idx を持つ）
        src: (B, S) のソーストークン
        max_len: 出力の最大長（BOS を含む）
        bos_idx, eos_idx: BOS と EOS のトークン ID
    戻り値:
        (B, L) の LongTensor（L ≤ max_len）。各行は BOS から始まり、EOS の後は PAD で埋まります。
        すべての行が EOS を出した時点で打ち切ります。
    """
    # 手順:
    # 1. model.eval()、torch.no_grad() の中で、encode は最初に 1 回だけ行う
    # 2. ys = BOS だけの (B, 1) から始め、max_len になるまで:
    #    decode → 最後の位置の出力を output_projection → argmax で次のトークン
    # 3. すでに EOS を出した行の次のトークンは PAD にする
    # 4. 全部の行が EOS を出したら止める
    # TODO: docstring の約束どおりに実装してください。
    raise NotImplementedError("未実装: greedy_decode")
