"""training.py のテスト: sequence_loss、train_one_epoch、evaluate、greedy_decode、get_device。

学習ループは、答えそのものを見せないよう、性質（学習モード・損失の平均・勾配のリセット・スケジューラ・勾配クリップ）で確かめます。
"""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from diagnostics import check, check_float, check_shape, check_tensor, same_parameters, snapshot, uses

from transformer import BOS_IDX, EOS_IDX, PAD_IDX, Transformer, evaluate, get_device, greedy_decode, sequence_loss, train_one_epoch

pytestmark = pytest.mark.training

VOCAB = 12


def small_model(dropout=0.1, seed=0):
    torch.manual_seed(seed)
    return Transformer(VOCAB, VOCAB, d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=24, max_len=20, dropout=dropout)


def batches():
    """(src (3, 5), tgt (3, 6)) のバッチ 3 つ。tgt は BOS から始まり EOS で終わり、後ろは PAD。"""
    result = []
    for lengths in ([5, 3, 2], [4, 5, 1], [2, 2, 3]):
        src = torch.zeros(3, 5, dtype=torch.long)
        tgt = torch.zeros(3, 6, dtype=torch.long)
        for row, n in enumerate(lengths):
            symbols = torch.randint(3, VOCAB, (n,))
            src[row, :n] = symbols
            tgt[row, : n + 2] = torch.cat([torch.tensor([BOS_IDX]), symbols.flip(0), torch.tensor([EOS_IDX])])[:6]
        result.append((src, tgt))
    return result


def criterion():
    return nn.CrossEntropyLoss(ignore_index=PAD_IDX)


def loss_by_hand(model, src, tgt):
    """教師強制の損失を手で: 入力 tgt[:, :-1]、正解 tgt[:, 1:]、PAD は無視。"""
    logits = model(src, tgt[:, :-1])
    return F.cross_entropy(logits.reshape(-1, VOCAB), tgt[:, 1:].reshape(-1), ignore_index=PAD_IDX)


# --- sequence_loss -----------------------------------------------------------


@pytest.mark.unit("sequence_loss")
def test_sequence_loss_gives_criterion_flattened_logits_and_targets():
    """criterion に (B·(T-1), V) のロジットと (B·(T-1),) の正解が渡ること。"""
    model = small_model(dropout=0.0)
    src, tgt = batches()[0]  # B=3, T=6
    seen = {}

    def recording_criterion(logits, target):
        seen.update(logits=tuple(logits.shape), target=tuple(target.shape))
        return logits.sum() * 0.0

    sequence_loss(model, src, tgt, recording_criterion)
    check(seen.get("logits") == (15, VOCAB), what="criterion に渡したロジットの形状", problem=f"期待 (15, {VOCAB})、実際 {seen.get('logits')}。", cause="ロジット (B, T-1, V) を reshape(-1, V) していない、またはデコーダに tgt 全体（tgt[:, :-1] ではなく）を入れている。")
    check(seen.get("target") == (15,), what="criterion に渡した正解の形状", problem=f"期待 (15,)、実際 {seen.get('target')}。", cause="正解 tgt[:, 1:] を reshape(-1) していない。")


@pytest.mark.unit("sequence_loss")
def test_sequence_loss_is_next_token_cross_entropy_with_teacher_forcing():
    """損失が「入力 tgt[:, :-1]・正解 tgt[:, 1:]・PAD を無視した交差エントロピー」と一致すること。"""
    model = small_model(dropout=0.0)
    src, tgt = batches()[0]
    loss = sequence_loss(model, src, tgt, criterion())
    check_shape(loss, (), what="sequence_loss の戻り値（スカラー）", cause="criterion の戻り値をそのまま返していない。")
    cause = "入力と正解のずらし方が違う（入力 tgt[:, :-1]、正解 tgt[:, 1:]。同じ位置を当てさせるとカンニングになります）。" + uses("Transformer.forward")
    check_tensor(loss, loss_by_hand(model, src, tgt), what="sequence_loss の値", cause=cause)


@pytest.mark.unit("sequence_loss")
def test_sequence_loss_keeps_the_graph_for_backward():
    """性質: 戻り値から backward でき、モデルのパラメータに勾配が届くこと。"""
    model = small_model(dropout=0.0)
    src, tgt = batches()[0]
    loss = sequence_loss(model, src, tgt, criterion())
    check(isinstance(loss, torch.Tensor) and loss.requires_grad, what="sequence_loss の戻り値", problem="勾配を計算できるテンソルではありません。", cause="loss.item() や torch.no_grad() で計算グラフを切っている。")
    loss.backward()
    check(model.output_projection.weight.grad is not None, what="output_projection の勾配", problem="勾配が届いていません。", cause="model(src, tgt_input) の出力から損失を計算していない。")


# --- train_one_epoch ---------------------------------------------------------


@pytest.mark.unit("train_one_epoch")
def test_train_one_epoch_returns_a_float():
    """train_one_epoch がバッチの損失の平均を Python の float で返すこと。"""
    model = small_model()
    loss = train_one_epoch(model, batches(), torch.optim.Adam(model.parameters()), criterion())
    check(isinstance(loss, float), what="train_one_epoch の戻り値", problem=f"float ではなく {type(loss).__name__} です。", cause="loss.item() ではなく loss（テンソル）を集めている。")


@pytest.mark.unit("train_one_epoch")
def test_train_one_epoch_switches_to_training_mode():
    """model.eval() の状態から呼んでも、順伝播は学習モードで行われること（dropout が効く）。"""
    model = small_model()
    model.eval()
    modes = []
    model.register_forward_hook(lambda module, args, output: modes.append(module.training))
    train_one_epoch(model, batches(), torch.optim.Adam(model.parameters()), criterion())
    check(modes and all(modes), what="順伝播のときの model.training", problem="評価モードのまま学習しています。", cause="train_one_epoch の最初で model.train() を呼んでいない。")


@pytest.mark.unit("train_one_epoch")
def test_train_one_epoch_returns_the_mean_of_the_batch_losses():
    """戻り値が、各バッチの損失（criterion の値）の平均であること。"""
    model = small_model()
    seen = []
    base = criterion()

    def recording_criterion(logits, target):
        loss = base(logits, target)
        seen.append(loss.item())
        return loss

    loss = train_one_epoch(model, batches(), torch.optim.Adam(model.parameters()), recording_criterion)
    check(len(seen) == len(batches()), what="criterion を呼んだ回数", problem=f"期待 {len(batches())} 回、実際 {len(seen)} 回。", cause="バッチごとに 1 回ずつ損失を計算していない。")
    check_float(loss, sum(seen) / len(seen), what="平均損失", cause="最後のバッチの損失だけを返している、または合計を返している。")


@pytest.mark.unit("train_one_epoch")
def test_train_one_epoch_zeroes_the_gradients_before_each_backward():
    """同じバッチを 2 回学習したあとの勾配が、1 バッチ分の勾配と同じこと（たまっていない）。"""
    model = small_model(dropout=0.0)
    src, tgt = batches()[0]
    train_one_epoch(model, [(src, tgt), (src, tgt)], torch.optim.SGD(model.parameters(), lr=0.0), criterion())
    reference = small_model(dropout=0.0)
    loss_by_hand(reference, src, tgt).backward()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        check(p.grad is not None, what=f"{name} の勾配", problem="学習の後に勾配が残っていません。", cause="optimizer.step() の後に zero_grad している（backward の前にするのが正しい順番）。")
        check_tensor(p.grad, q.grad, what=f"{name} の勾配", atol=1e-6, cause="zero_grad を忘れて勾配がたまっている。")


@pytest.mark.unit("train_one_epoch")
def test_train_one_epoch_steps_the_scheduler_once_per_batch():
    """scheduler を渡したら、バッチごとに 1 回 step すること。"""
    model = small_model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 / (step + 1))
    train_one_epoch(model, batches(), optimizer, criterion(), scheduler=scheduler)
    check(scheduler.last_epoch == len(batches()), what="scheduler.step() を呼んだ回数", problem=f"期待 {len(batches())} 回（バッチごと）、実際 {scheduler.last_epoch} 回。", cause="scheduler.step() をバッチごとに呼んでいない（エポックの最後に 1 回だけ、など）。")


@pytest.mark.unit("train_one_epoch")
def test_train_one_epoch_clips_the_gradient_norm():
    """max_grad_norm を渡したら、勾配全体のノルムがその値以下に切り詰められていること。"""
    model = small_model(dropout=0.0)
    train_one_epoch(model, batches(), torch.optim.SGD(model.parameters(), lr=0.0), criterion(), max_grad_norm=1e-3)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])).item()
    check(norm <= 1e-3 * (1 + 1e-4), what="学習後の勾配のノルム", problem=f"{norm:.3g} で、上限 1e-3 を超えています。", cause="torch.nn.utils.clip_grad_norm_ を backward の後・optimizer.step() の前に呼んでいない。")


@pytest.mark.unit("train_one_epoch")
def test_train_one_epoch_changes_the_parameters():
    """性質: 1 エポック学習すると、パラメータが更新されること。"""
    model = small_model()
    before = snapshot(model)
    train_one_epoch(model, batches(), torch.optim.Adam(model.parameters(), lr=1e-2), criterion())
    check(same_parameters(model, before) is not None, what="学習後のパラメータ", problem="1 つも変わっていません。", cause="optimizer.step() を呼んでいない、または backward の後に zero_grad している。")


# --- evaluate ----------------------------------------------------------------


@pytest.mark.unit("evaluate")
def test_evaluate_returns_the_mean_loss_over_batches():
    """evaluate がバッチごとの損失（dropout なし）の平均を float で返すこと。"""
    model = small_model()
    data = batches()
    loss = evaluate(model, data, criterion())
    model.eval()
    with torch.no_grad():
        expected = sum(loss_by_hand(model, src, tgt).item() for src, tgt in data) / len(data)
    check_float(loss, expected, what="evaluate の平均損失", cause="model.eval() を呼んでいない（dropout が効いたまま）、または平均の取り方が違う。" + uses("sequence_loss"))


@pytest.mark.unit("evaluate")
def test_evaluate_runs_in_eval_mode_without_gradients():
    """evaluate の中でモデルが model.training == False、かつ勾配の記録なし（torch.no_grad()）で呼ばれること。"""
    model = small_model()
    model.train()
    seen = []
    model.register_forward_hook(lambda module, inputs, output: seen.append((module.training, torch.is_grad_enabled())))
    evaluate(model, batches(), criterion())
    check(len(seen) > 0, what="evaluate", problem="モデルが一度も呼ばれていません。", cause="loader のバッチで sequence_loss を計算していない。")
    check(all(not training for training, _ in seen), what="evaluate 中の model.training", problem="学習モードのまま呼ばれました。", cause="model.eval() を呼んでいない（dropout が効いたままになります）。")
    check(all(not grad for _, grad in seen), what="evaluate 中の勾配の記録", problem="torch.is_grad_enabled() が True でした。", cause="torch.no_grad() の中で計算していない（メモリと時間の無駄になります）。")


@pytest.mark.unit("evaluate")
def test_evaluate_leaves_the_parameters_unchanged():
    """性質: evaluate の前後でパラメータがまったく同じで、勾配も作られないこと。"""
    model = small_model()
    before = snapshot(model)
    evaluate(model, batches(), criterion())
    changed = same_parameters(model, before)
    check(changed is None, what="evaluate 後のパラメータ", problem=f"{changed} が変わりました。", cause="evaluate の中で backward や optimizer.step() をしている。")
    with_grad = [name for name, p in model.named_parameters() if p.grad is not None]
    check(not with_grad, what="evaluate 後の勾配", problem=f"{with_grad[0] if with_grad else ''} に勾配があります。", cause="evaluate の中で backward している。")


# --- greedy_decode -----------------------------------------------------------


def decode_source():
    return torch.tensor([[3, 4, 5, 6, 0], [7, 8, 0, 0, 0], [9, 10, 11, 3, 4]])


@pytest.mark.unit("greedy_decode")
def test_greedy_decode_returns_long_tokens_starting_with_bos():
    """戻り値が (B, L ≤ max_len) の LongTensor で、どの行も BOS から始まること。"""
    model = small_model(dropout=0.0, seed=4)
    decoded = greedy_decode(model, decode_source(), max_len=7)
    check(isinstance(decoded, torch.Tensor) and decoded.dim() == 2 and decoded.size(0) == 3 and decoded.size(1) <= 7, what="greedy_decode の形状", problem=f"(3, ≤7) を期待しましたが {tuple(getattr(decoded, 'shape', ()))} でした。", cause="トークンを行ではなく列方向に連結している（torch.cat(..., dim=1)）。")
    check(decoded.dtype == torch.long, what="greedy_decode の dtype", problem=f"torch.long ではなく {decoded.dtype} です。", cause="argmax の結果（long）ではなく確率やロジットを連結している。")
    check_tensor(decoded[:, 0], torch.full((3,), BOS_IDX), what="最初の列", cause="ys を BOS で始めていない（torch.full((B, 1), bos_idx)）。")


@pytest.mark.unit("greedy_decode")
def test_greedy_decode_picks_the_argmax_of_the_model_at_every_step():
    """各ステップのトークンが、それまでの列を入れたときのモデルの argmax（EOS の後は PAD）であること。"""
    model = small_model(dropout=0.0, seed=4)
    src = decode_source()
    decoded = greedy_decode(model, src, max_len=7)
    check_shape(decoded[:, :1], (3, 1), what="greedy_decode の戻り値", cause="(B, L) の形で返していない。")
    model.eval()
    with torch.no_grad():
        for t in range(1, decoded.size(1)):
            prefix = decoded[:, :t]
            finished = (prefix == EOS_IDX).any(dim=1)
            expected = model(src, prefix)[:, -1].argmax(dim=-1).masked_fill(finished, PAD_IDX)
            check_tensor(decoded[:, t], expected, what=f"{t} 番目に選んだトークン", cause="最後の位置（hidden[:, -1]）ではなく最初の位置を使っている、output_projection を通していない、argmax の軸が違う（dim=-1）、または EOS の後に PAD 以外を足している。" + uses("Transformer.encode", "Transformer.decode"))


@pytest.mark.unit("greedy_decode")
def test_greedy_decode_puts_only_pad_after_eos_and_stops_when_all_rows_end():
    """EOS しか出さないモデルでは [BOS, EOS] の 2 トークンで止まること。EOS の後は PAD だけ。"""
    model = small_model(dropout=0.0)
    with torch.no_grad():  # どんな入力でも EOS が最大になるようにする
        model.output_projection.weight.zero_()
        model.output_projection.bias.zero_()
        model.output_projection.bias[EOS_IDX] = 1.0
    decoded = greedy_decode(model, decode_source(), max_len=10)
    expected = torch.tensor([[BOS_IDX, EOS_IDX]] * 3)
    check_tensor(decoded, expected, what="EOS しか出さないモデルの出力", cause="すべての行が EOS を出しても止まらない、または EOS の後も PAD 以外を足している。")


@pytest.mark.unit("greedy_decode")
def test_greedy_decode_stops_at_max_len():
    """EOS を出さないモデルでは、ちょうど max_len トークン（BOS を含む）で止まること。"""
    model = small_model(dropout=0.0)
    with torch.no_grad():  # どんな入力でも記号 5 が最大になるようにする
        model.output_projection.weight.zero_()
        model.output_projection.bias.zero_()
        model.output_projection.bias[5] = 1.0
    decoded = greedy_decode(model, decode_source(), max_len=6)
    expected = torch.tensor([[BOS_IDX, 5, 5, 5, 5, 5]] * 3)
    check_tensor(decoded, expected, what="max_len=6 の出力", cause="max_len の数え方が違う（BOS を含めて max_len 個です）。")


# --- get_device --------------------------------------------------------------


def fake_devices(monkeypatch, cuda, mps):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize(
    ("cuda", "mps", "expected"),
    [(True, True, "cuda"), (False, True, "mps"), (False, False, "cpu")],
    ids=["cuda-first", "mps-when-no-cuda", "cpu-otherwise"],
)
@pytest.mark.unit("get_device")
def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda, mps, expected):
    """使えるデバイスの組み合わせごとに、cuda → mps → cpu の順で選ぶこと（使えるかどうかは偽装します）。"""
    fake_devices(monkeypatch, cuda, mps)
    device = get_device()
    check(isinstance(device, torch.device), what="get_device の戻り値", problem=f"torch.device ではなく {type(device).__name__} です。", cause="文字列 'cuda' ではなく torch.device('cuda') を返します。")
    check(device.type == expected, what=f"cuda={cuda}, mps={mps} のときのデバイス", problem=f"期待 {expected}、実際 {device.type}。", cause="確かめる順番が違う（cuda → mps → cpu）、または mps を確かめていない（torch.backends.mps.is_available()）。")
