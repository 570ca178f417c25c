"""テストの共通部品。

前半: 結果を確かめ、違っていたら「何を確かめたか・どう違うか・よくある原因」を日本語で伝える関数。
後半: PyTorch 公式の部品（nn.MultiheadAttention など）に重みを写して、答えを独立に作る関数。
"""

import numpy as np
import torch
import torch.nn as nn

# ---------------------------------------------------------------------------
# 確かめる関数
# ---------------------------------------------------------------------------


def fail(what, problem, cause):
    """「what: problem / よくある原因: cause」という説明つきでテストを失敗させます。"""
    __tracebackhide__ = True
    raise AssertionError(f"{what}: {problem}\nよくある原因: {cause}")


def check(condition, *, what, problem, cause):
    """condition が偽なら fail します。"""
    __tracebackhide__ = True
    if not condition:
        fail(what, problem, cause)


def uses(*units):
    """部品を組み合わせたもののテストで、原因の後ろに添える一文（先に確かめてほしい部品）。"""
    return f"（このテストは {'・'.join(units)} も使います。そちらのテストが先に通っているかも確かめてください。）"


def _index(flat_index, shape):
    return tuple(int(i) for i in np.unravel_index(int(flat_index), tuple(shape)))


def check_shape(actual, expected_shape, *, what, cause):
    """actual が torch.Tensor で、形状が expected_shape であることを確かめます。"""
    __tracebackhide__ = True
    if not isinstance(actual, torch.Tensor):
        fail(what, f"torch.Tensor を返してください（実際は {type(actual).__name__}）。", cause)
    if tuple(actual.shape) != tuple(expected_shape):
        fail(what, f"形状が違います。期待 {tuple(expected_shape)}、実際 {tuple(actual.shape)}。", cause)


def check_tensor(actual, expected, *, what, cause, atol=1e-5, rtol=0.0, mistakes=None):
    """型・形状・dtype・値を確かめます。bool や整数のテンソルは完全一致、小数は最大の差が許容以内か。

    mistakes に {間違いの説明: その間違いをしたときの値} を渡すと、値が違ったとき、
    実際の値がどれかの間違いの値と一致すれば、cause の代わりにその説明を示します。
    """
    __tracebackhide__ = True
    check_shape(actual, expected.shape, what=what, cause=cause)
    if actual.dtype != expected.dtype:
        fail(what, f"dtype が違います。期待 {expected.dtype}、実際 {actual.dtype}。", cause)
    problem = _value_problem(actual.detach().cpu(), expected.detach().cpu(), atol, rtol)
    if problem:
        fail(what, problem, _diagnose(actual, mistakes, atol) or cause)


def _value_problem(actual, expected, atol, rtol):
    """値の違いを説明する文を返します（違いがなければ None）。"""
    if actual.numel() == 0:
        return None
    if not expected.is_floating_point():
        wrong = actual != expected
        if not wrong.any():
            return None
        where = _index(wrong.flatten().nonzero()[0, 0], wrong.shape)
        return f"値が {int(wrong.sum())} か所違います。最初の違いは位置 {where} で、期待 {expected[where].item()}、実際 {actual[where].item()}。"
    nan = actual.isnan() & ~expected.isnan()
    if nan.any():
        where = _index(nan.flatten().nonzero()[0, 0], nan.shape)
        return f"NaN が含まれています（最初は位置 {where}）。期待値に NaN はありません。"
    error = (actual - expected).abs().nan_to_num(0.0)
    excess = error - (atol + rtol * expected.abs().nan_to_num(0.0))
    if excess.max() <= 0:
        return None
    where = _index(excess.argmax(), error.shape)
    return (
        f"値が違います。最大の差 {error[where].item():.1e}（位置 {where}）、許容 {atol:.0e}。"
        f"その位置で期待 {expected[where].item():.4g}、実際 {actual[where].item():.4g}。"
    )


def _diagnose(actual, mistakes, atol):
    """actual と一致する「よくある間違い」の説明を返します（なければ None）。"""
    actual = actual.detach().cpu()
    for description, wrong in (mistakes or {}).items():
        wrong = wrong.detach().cpu()
        if wrong.shape == actual.shape and wrong.dtype == actual.dtype and _value_problem(actual, wrong, atol, 0.0) is None:
            return f"{description}（あなたの結果は、この間違いをしたときの値と一致しました）"
    return None


def check_float(actual, expected, *, what, cause, atol=1e-6):
    """actual が Python の float で、expected との差が atol 以内であることを確かめます。"""
    __tracebackhide__ = True
    if not isinstance(actual, float):
        fail(what, f"Python の float を返してください（実際は {type(actual).__name__}）。", "損失のテンソルを loss.item() で数値にしていない。")
    if not abs(actual - expected) <= atol:
        fail(what, f"値が違います。期待 {expected:.6g}、実際 {actual:.6g}（差 {abs(actual - expected):.1e}、許容 {atol:.0e}）。", cause)


def unpack_pair(result, *, what, names="(out, weights)"):
    """(出力, 重み) のような 2 つ組を返したかを確かめて、2 つに分けて返します。"""
    __tracebackhide__ = True
    if not (isinstance(result, (tuple, list)) and len(result) == 2):
        fail(what, f"{names} の 2 つを tuple で返してください（実際は {type(result).__name__}）。", "重みを返し忘れている（return out, weights）。")
    return result


def same_parameters(model, saved):
    """model のパラメータが saved（名前 → テンソル）とまったく同じなら None、違えば最初の名前を返します。"""
    for name, parameter in model.named_parameters():
        if not torch.equal(parameter.detach(), saved[name]):
            return name
    return None


def snapshot(model):
    """model のパラメータの写しを、名前 → テンソルの辞書で返します。"""
    return {name: parameter.detach().clone() for name, parameter in model.named_parameters()}


# ---------------------------------------------------------------------------
# 答えを独立に作る関数（PyTorch 公式の部品と論文の式）
# ---------------------------------------------------------------------------


def padded_tokens(lengths, max_len, low=3, high=10):
    """(len(lengths), max_len) のトークン列。各行 lengths[i] 個の記号（low..high-1）の後ろは PAD (0)。"""
    tokens = torch.randint(low, high, (len(lengths), max_len))
    for row, length in enumerate(lengths):
        tokens[row, length:] = 0
    return tokens


def paper_encoding(max_len, d_model):
    """論文の式そのままの位置エンコーディング (max_len, d_model) を numpy（float64）で作ります。"""
    position = np.arange(max_len)[:, None]
    angle = position / np.power(10000.0, np.arange(0, d_model, 2)[None, :] / d_model)
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.sin(angle)
    table[:, 1::2] = np.cos(angle)
    return torch.from_numpy(table)


def torch_attention_like(ours):
    """あなたの MultiHeadAttention と同じ重みを持つ nn.MultiheadAttention（batch_first、dropout 0）。"""
    theirs = nn.MultiheadAttention(ours.d_model, ours.num_heads, dropout=0.0, batch_first=True)
    _copy_attention(ours, theirs)
    return theirs


def _copy_attention(ours, theirs):
    # nn.MultiheadAttention は W_q, W_k, W_v を縦に連結した 1 つの行列 in_proj_weight として持ちます。
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.W_q.weight, ours.W_k.weight, ours.W_v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.W_q.bias, ours.W_k.bias, ours.W_v.bias]))
        theirs.out_proj.weight.copy_(ours.W_o.weight)
        theirs.out_proj.bias.copy_(ours.W_o.bias)


def _copy_feed_forward_and_norms(ours, theirs, norms):
    theirs.linear1.load_state_dict(ours.feed_forward.linear1.state_dict())
    theirs.linear2.load_state_dict(ours.feed_forward.linear2.state_dict())
    for i in range(1, norms + 1):
        getattr(theirs, f"norm{i}").load_state_dict(getattr(ours, f"norm{i}").state_dict())


def _layer_kwargs(ours, norm_first=False):
    attention = ours.self_attn
    return dict(
        d_model=attention.d_model,
        nhead=attention.num_heads,
        dim_feedforward=ours.feed_forward.linear1.out_features,
        dropout=0.0,
        activation="relu",
        batch_first=True,
        norm_first=norm_first,
    )


def torch_encoder_layer_like(ours, norm_first=False):
    """あなたの EncoderLayer と同じ重みを持つ nn.TransformerEncoderLayer（ReLU、dropout 0。norm_first=True なら Pre-LN）。"""
    theirs = nn.TransformerEncoderLayer(**_layer_kwargs(ours, norm_first))
    _copy_attention(ours.self_attn, theirs.self_attn)
    _copy_feed_forward_and_norms(ours, theirs, norms=2)
    return theirs


def torch_decoder_layer_like(ours):
    """あなたの DecoderLayer と同じ重みを持つ nn.TransformerDecoderLayer（Post-LN、ReLU、dropout 0）。"""
    theirs = nn.TransformerDecoderLayer(**_layer_kwargs(ours))
    _copy_attention(ours.self_attn, theirs.self_attn)
    _copy_attention(ours.cross_attn, theirs.multihead_attn)
    _copy_feed_forward_and_norms(ours, theirs, norms=3)
    return theirs


def torch_transformer_like(encoder, decoder):
    """あなたの Encoder と Decoder（層ごと、最後の norm も）と同じ重みを持つ nn.Transformer。"""
    first = encoder.layers[0]
    theirs = nn.Transformer(
        num_encoder_layers=len(encoder.layers),
        num_decoder_layers=len(decoder.layers),
        **_layer_kwargs(first),
    )
    for ours_layer, their_layer in zip(encoder.layers, theirs.encoder.layers):
        their_layer.load_state_dict(torch_encoder_layer_like(ours_layer).state_dict())
    for ours_layer, their_layer in zip(decoder.layers, theirs.decoder.layers):
        their_layer.load_state_dict(torch_decoder_layer_like(ours_layer).state_dict())
    theirs.encoder.norm.load_state_dict(encoder.norm.state_dict())
    theirs.decoder.norm.load_state_dict(decoder.norm.state_dict())
    return theirs
