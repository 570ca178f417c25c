"""The hidden tests: for every graded unit, cases on fixed seeds, each with what it checks and the likely cause.

A case is data, not code run in the sandbox: `spec` (JSON) tells the worker what to call and
`make_inputs()` builds the tensors, under the case's seed, on the trusted side. The expected
outputs come from running the same call on the reference solution (see `grading.py`).

Tolerances (absolute, on every element): 1e-5 in float32 and 1e-10 in float64 for single
operations; 1e-4 in float32 for whole stacks, where several layers of float32 rounding add up;
exact for masks, token ids and integers. Points per case live in `rubric.toml`.
"""

from dataclasses import dataclass, field

import torch

from autograder.grader.compare import Difference
from autograder.paths import reference_package

ATOL = {"float32": 1e-5, "float64": 1e-10}
STACK_ATOL = {"float32": 1e-4, "float64": 1e-9}


@dataclass
class Case:
    name: str  # English, after the unit's name: "MultiHeadAttention: cross-attention, padded keys"
    what: str  # 日本語: 何を確かめたか
    cause: str  # 日本語: 失敗したときによくある原因
    spec: dict
    make_inputs: object  # () -> dict of tensors
    atol: float = 1e-5
    seed: int = 0
    cause_when: tuple = ()  # the Differences the cause explains (empty: any mismatch)


@dataclass
class Unit:
    name: str
    source: dict
    runner: str
    cases: list
    standins: list = field(default_factory=list)
    forbidden: list = field(default_factory=list)


def _seeded(seed):
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed=0, dtype=torch.float32):
    return torch.randn(*shape, generator=_seeded(seed), dtype=dtype)


def tokens(lengths, width, seed=0, low=3, high=12):
    """(len(lengths), width) token ids with PAD (0) after each row's length."""
    out = torch.randint(low, high, (len(lengths), width), generator=_seeded(seed))
    for row, length in enumerate(lengths):
        out[row, length:] = 0
    return out


def with_bos(body):
    return torch.cat([torch.ones(body.size(0), 1, dtype=torch.long), body], dim=1)


def state_of(module_name, seed=0, **init):
    """The reference module's parameters, built from `seed`: the weights every submission is loaded with.

    Every LayerNorm gets random weights and biases (with 1 and 0 a norm in the wrong place, or one
    applied twice, would be invisible), and buffers are left out: the student's own construction
    makes them (a `pe` table built inline is graded through the module that holds it)."""
    torch.manual_seed(seed)
    module = getattr(reference_package(), module_name)(**init)
    randomize_norms(module)
    buffers = {name for name, _ in module.named_buffers()}
    return {k: v.clone() for k, v in module.state_dict().items() if k not in buffers}


def randomize_norms(module):
    """Weights around 1 and biases around 0, different in every LayerNorm of `module` (from torch's global seed)."""
    with torch.no_grad():
        for norm in (m for m in module.modules() if isinstance(m, torch.nn.LayerNorm)):
            norm.weight.normal_(1.0, 0.5)
            norm.bias.normal_(0.0, 0.5)


# --- notebook 00 -------------------------------------------------------------------------------------


def _dtype_cause(dtype, cause_when):
    """A float64 case's cause ("dtype を変えている") explains a dtype difference only, unless told otherwise."""
    return cause_when if cause_when is not None else ((Difference.DTYPE,) if dtype == "float64" else ())


def _function_case(name, what, cause, args, dtype="float32", kwargs=None, atol=None, seed=0, swap=(), cause_when=None, dropout=None):
    spec = {"kwargs": kwargs or {}, "dtype": dtype, "swap_functions": list(swap), **({"dropout": dropout} if dropout is not None else {})}
    return Case(name, what, cause, spec, lambda: {"args": args()}, atol if atol is not None else ATOL[dtype], seed,
                _dtype_cause(dtype, cause_when))


def notebook_units():
    nb = lambda name: {"kind": "notebook", "name": name}  # noqa: E731
    f64 = torch.float64
    return [
        Unit("split_heads", nb("split_heads"), "function", [
            _function_case("B=2, L=3, D=20, H=4", "(B, L, D) → (B, H, L, D/H) の並べ替え", "view の後に transpose(1, 2) していない、または view の形が (B, H, L, D/H) になっている", lambda: [randn(2, 3, 20), 4]),
            _function_case("batch 1, one head", "B=1, H=1 の場合", "軸の大きさを決め打ちしている", lambda: [randn(1, 5, 6), 1]),
            _function_case("float64, length 1", "float64・長さ 1 の入力", "dtype を変えてしまっている", lambda: [randn(3, 1, 12, dtype=f64), 3], dtype="float64"),
        ]),
        Unit("merge_heads", nb("merge_heads"), "function", [
            _function_case("B=2, H=4, L=3, Dh=5", "(B, H, L, Dh) → (B, L, H·Dh)", "transpose(1, 2) をせずに view している", lambda: [randn(2, 4, 3, 5)]),
            _function_case("non-contiguous input", "連続でない（transpose 済みの）入力", "transpose の後に contiguous() を呼ばずに view している", lambda: [randn(2, 3, 4, 5).transpose(1, 2)]),
            _function_case("float64, batch 1", "float64・B=1", "dtype を変えてしまっている", lambda: [randn(1, 2, 6, 3, dtype=f64)], dtype="float64"),
        ]),
        Unit("count_parameters", nb("count_parameters"), "count_parameters", [
            Case("small classifier", "学習するパラメータの数", "numel ではなくテンソルの数を数えている", {"model": "TinyClassifier", "model_init": {}}, dict),
            Case("frozen layer excluded", "requires_grad=False のパラメータを除くこと", "requires_grad を確かめていない", {"model": "TinyClassifier", "model_init": {}, "frozen": ["0.weight", "0.bias"]}, dict),
            Case("other sizes", "別の大きさのモデル", "大きさを決め打ちしている", {"model": "TinyClassifier", "model_init": {"in_features": 3, "hidden": 7, "classes": 2}}, dict),
            Case("tied weights", "共有されたパラメータを 1 回だけ数えること", "state_dict や named_parameters(remove_duplicate=False) で数えて、共有された重みを 2 回数えている", {"model": "TinyClassifier", "model_init": {"in_features": 5, "hidden": 5, "classes": 5}, "tie": [["3", "0"]]}, dict),
        ], standins=["TinyClassifier"]),
        Unit("softmax", nb("softmax"), "function", [
            _function_case("last axis", "最後の次元での softmax", "sum を取る次元が違う、または keepdim=True を忘れている", lambda: [randn(2, 3, 5)]),
            _function_case("dim=0", "dim=0 を指定したとき", "dim 引数を使わず、最後の次元に決め打ちしている", lambda: [randn(4, 3)], kwargs={"dim": 0}),
            _function_case("inputs of ±1e4", "大きな値（±1e4）での数値安定性", "最大値を引かずに exp を取っている（オーバーフローして inf/NaN になる）", lambda: [torch.tensor([[1e4, -1e4, 0.0], [1e4, 1e4 - 1.0, 3.0]])]),
            _function_case("float64", "float64 の入力", "float32 に変換してしまっている", lambda: [randn(3, 7, dtype=f64)], dtype="float64"),
        ], forbidden=["softmax"]),
        Unit("layer_norm", nb("layer_norm"), "function", [
            _function_case("random input", "最後の次元での正規化", "分散に不偏分散（N-1 で割る）を使っている、または eps を平方根の外で足している", lambda: [randn(2, 3, 8) * 3 + 1, randn(8, seed=1), randn(8, seed=2)]),
            _function_case("large eps", "eps=0.1 のとき", "eps を使っていない、または √ の外で足している", lambda: [randn(4, 6), randn(6, seed=1), randn(6, seed=2)], kwargs={"eps": 0.1}),
            _function_case("float64", "float64 の入力", "float32 に変換してしまっている", lambda: [randn(3, 5, dtype=f64), randn(5, seed=1, dtype=f64), randn(5, seed=2, dtype=f64)], dtype="float64"),
        ], forbidden=["layer_norm"]),
        Unit("gelu", nb("gelu"), "function", [
            _function_case("range -6..6", "GELU（erf を使う厳密な形）", "tanh による近似式を使っている、または √2 で割っていない", lambda: [torch.linspace(-6, 6, 61)]),
            _function_case("random 3-d input", "任意の形のテンソル", "形を変えてしまっている", lambda: [randn(2, 3, 4)]),
            _function_case("float64", "float64 の入力", "float32 に変換してしまっている", lambda: [torch.linspace(-4, 4, 33, dtype=f64)], dtype="float64"),
        ], forbidden=["gelu"]),
        Unit("cross_entropy", nb("cross_entropy"), "function", [
            _function_case("no ignored targets", "無視する目標がないときの平均損失", "log_softmax の計算が違う、または平均ではなく合計を返している", lambda: [randn(6, 5) * 3, torch.tensor([0, 4, 2, 1, 3, 2])]),
            _function_case("ignore_index=-100", "ignore_index の行を数えないこと", "無視する行も平均の分母に数えている", lambda: [randn(7, 5), torch.tensor([0, 4, -100, 2, -100, 1, 3])]),
            _function_case("PAD ignored, all but one", "ignore_index=0 で 1 行だけ残るとき", "ignore_index 引数を使っていない", lambda: [randn(4, 6), torch.tensor([0, 0, 5, 0])], kwargs={"ignore_index": 0}),
            _function_case("float64", "float64 の入力", "float32 に変換してしまっている", lambda: [randn(5, 3, dtype=f64), torch.tensor([2, 1, 0, 1, 2])], dtype="float64"),
            _function_case("logits of ±1e4", "大きなロジット（±1e4）での数値安定性（float64: float32 では 1e4 の丸めだけで 1e-3 ずれる）", "最大値を引かずに exp を取っている（オーバーフローして inf/NaN になる）", lambda: [torch.tensor([[1e4, -1e4, 0.0], [0.0, 1e4, 1e4 - 2.0]], dtype=f64), torch.tensor([0, 2])], dtype="float64", cause_when=()),
        ], forbidden=["cross_entropy"]),
        Unit("train_step", nb("train_step"), "training", [
            Case("three steps from eval mode", "学習モードに切り替えて 3 ステップ学習した後のパラメータと損失", "model.train() を呼んでいない（dropout が効かない）、または zero_grad を忘れている", {"call": "train_step", "model": "TinyClassifier", "model_init": {}, "lr": 0.1, "ignore_index": -100}, lambda: _classifier_batches(3)),
            Case("one step", "1 ステップの損失と更新", "損失を float（.item()）で返していない、または optimizer.step() を呼んでいない", {"call": "train_step", "model": "TinyClassifier", "model_init": {"dropout": 0.0}, "lr": 0.5, "ignore_index": -100}, lambda: _classifier_batches(1, seed=5)),
            Case("zero_grad before backward", "前に残った勾配を 0 にしてから逆伝播すること", "zero_grad を忘れている、または backward や step の後に呼んでいる", {"call": "train_step", "model": "TinyClassifier", "model_init": {"dropout": 0.0}, "lr": 0.3, "ignore_index": -100, "stale_gradients": True}, lambda: _classifier_batches(2, seed=7)),
        ], standins=["TinyClassifier"]),
        Unit("eval_step", nb("eval_step"), "training", [
            Case("from train mode", "評価モードでの損失（dropout なし）とパラメータが変わらないこと", "model.eval() を呼んでいない（dropout が効いたまま）", {"call": "eval_step", "model": "TinyClassifier", "model_init": {}, "start_in_train_mode": True, "ignore_index": -100}, lambda: _classifier_batches(2)),
            Case("returns a float", "損失を float で返すこと", ".item() を忘れてテンソルを返している", {"call": "eval_step", "model": "TinyClassifier", "model_init": {"dropout": 0.0}, "ignore_index": -100}, lambda: _classifier_batches(1, seed=3)),
            Case("no parameter change", "評価でパラメータも勾配も変わらず、勾配を計算しないこと（torch.no_grad）", "評価の中で backward や optimizer.step() を呼んでいる、または torch.no_grad() を使っていない", {"call": "eval_step", "model": "TinyClassifier", "model_init": {"dropout": 0.2}, "start_in_train_mode": True, "ignore_index": -100, "stale_gradients": True, "compare_gradients": True}, lambda: _classifier_batches(3, seed=9)),
        ], standins=["TinyClassifier"]),
    ]


def _classifier_batches(count, seed=0):
    state = _tiny_state()
    sources = [randn(5, 6, seed=seed + i) for i in range(count)]
    targets = [torch.randint(0, 4, (5,), generator=_seeded(seed + 100 + i)) for i in range(count)]
    return {"state": state, "sources": sources, "targets": targets}


def _tiny_state(**init):
    from autograder.standins.tiny import TinyClassifier

    torch.manual_seed(0)
    return {k: v.clone() for k, v in TinyClassifier(**init).state_dict().items()}


# --- the package ---------------------------------------------------------------------------------

B, H, LQ, LK, D, D_FF = 2, 3, 4, 5, 24, 40  # all different, so a transposed axis fails loudly
LAYER = {"d_model": D, "num_heads": H, "d_ff": D_FF, "dropout": 0.0}
STACK = {"num_layers": 2, **LAYER}
MODEL = {"src_vocab_size": 13, "tgt_vocab_size": 11, "d_model": D, "num_heads": H, "num_encoder_layers": 2,
         "num_decoder_layers": 2, "d_ff": D_FF, "max_len": 20, "dropout": 0.0}
MASK_FUNCTIONS = ["make_padding_mask", "make_causal_mask", "make_decoder_mask"]
MASK_HELPERS = ["make_padding_mask", "make_causal_mask"]


def _package(module, name):
    return {"kind": "package", "module": module, "name": name}


def _mask(shape, seed):
    mask = torch.rand(shape, generator=_seeded(seed)) > 0.4
    mask[..., 0] = True
    return mask


def _module_case(name, what, cause, module_name, init, args, dtype="float32", atol=None, cause_when=None, **spec):
    def make_inputs():
        return {"state": state_of(module_name, **init), "args": args()}

    quiet = list(spec.get("swap_modules", {}))  # on the reference too, the swapped sub-units drop nothing
    return Case(name, what, cause, {"init": init, "dtype": dtype, "quiet_dropout": quiet, **spec}, make_inputs,
                atol if atol is not None else ATOL[dtype], cause_when=_dtype_cause(dtype, cause_when))


def _x(*shape, seed=0, dtype="float32"):
    return randn(*shape, seed=seed, dtype=getattr(torch, dtype))


def mask_units():
    src = lambda: tokens([5, 3], 5)  # noqa: E731
    return [
        Unit("make_padding_mask", _package("masks", "make_padding_mask"), "function", [
            _function_case("padded rows", "PAD の位置だけ False、形状 (B, 1, 1, L)", "形状が (B, 1, L, 1) になっている（クエリの軸に広げている）、または True/False が逆", lambda: [src()], atol=0),
            _function_case("pad_idx=5", "pad_idx 引数を使うこと", "pad_idx を 0 に決め打ちしている", lambda: [torch.tensor([[5, 6, 5], [7, 8, 9]])], kwargs={"pad_idx": 5}, atol=0),
            _function_case("batch 1, length 1", "B=1, L=1", "軸の足し方が違う", lambda: [torch.tensor([[4]])], atol=0),
        ]),
        Unit("make_causal_mask", _package("masks", "make_causal_mask"), "function", [
            _function_case("size 4", "下三角（対角線を含む）、形状 (1, 1, L, L)", "対角線を含めていない（diagonal がずれている）、または上三角になっている", lambda: [4], atol=0),
            _function_case("size 1", "L=1", "形状の軸が足りない", lambda: [1], atol=0, cause_when=(Difference.SHAPE,)),
            _function_case("size 6", "L=6 の bool マスク", "dtype が bool ではない", lambda: [6], atol=0, cause_when=(Difference.DTYPE,)),
        ]),
        Unit("make_decoder_mask", _package("masks", "make_decoder_mask"), "function", [
            _function_case("padded targets", "パディングと因果マスクの AND、形状 (B, 1, L, L)", "& ではなく | で組み合わせている、または片方だけ使っている", lambda: [with_bos(tokens([3, 1], 4))], atol=0, swap=MASK_HELPERS),
            _function_case("no padding", "PAD がないとき因果マスクと同じ", "因果マスクの向きが逆", lambda: [with_bos(tokens([2], 2, seed=3))], atol=0, swap=MASK_HELPERS),
            _function_case("pad_idx=9", "pad_idx 引数を渡すこと", "pad_idx を make_padding_mask に渡していない", lambda: [torch.tensor([[1, 4, 9, 9]])], kwargs={"pad_idx": 9}, atol=0, swap=MASK_HELPERS),
        ], standins=MASK_HELPERS),
    ]


def attention_units():
    def qkv(dtype="float32", lq=LQ, lk=LK):
        return [_x(B, H, lq, 6, seed=1, dtype=dtype), _x(B, H, lk, 6, seed=2, dtype=dtype), _x(B, H, lk, 7, seed=3, dtype=dtype)]

    fully_masked = torch.tensor([[True, True, False, False, False], [False] * 5, [True] * 5, [True, False, False, False, False]])
    sdpa = Unit("scaled_dot_product_attention", _package("attention", "scaled_dot_product_attention"), "function", [
        _function_case("no mask, Lq != Lk", "マスクなしの出力と重み", "softmax の軸が違う、または √d_k で割っていない", lambda: qkv()),
        _function_case("padding mask (B, 1, 1, Lk)", "パディングマスクで隠したキーの重みがちょうど 0", "マスクの True/False を逆に使っている", lambda: [*qkv(), _mask((B, 1, 1, LK), 4)]),
        _function_case("causal mask (1, 1, L, L)", "因果マスクの下でのアテンション", "マスクの True/False を逆に使っている、または masked_fill の位置が softmax の後", lambda: [*qkv(lk=LQ), torch.ones(LQ, LQ, dtype=torch.bool).tril()[None, None]]),
        _function_case("full mask (B, H, Lq, Lk), float64", "float64・ヘッドごとのマスク", "float32 に変換している、またはマスクの形を決め打ちしている", lambda: [*qkv("float64"), _mask((B, H, LQ, LK), 5)], dtype="float64", cause_when=()),
        _function_case("fully masked row", "キーが全部隠された行の重みと出力が 0（NaN にならない）", "-inf で埋めた後、softmax の結果を 0 に戻していない（NaN が出る）", lambda: [*qkv(), fully_masked]),
        _function_case("non-contiguous query", "連続でない入力", "view を使って形を変えている（reshape か transpose を使う）", lambda: [_x(B, LQ, H, 6, seed=6).transpose(1, 2), *qkv()[1:]]),
        _function_case("dropout on the weights", "dropout をアテンションの重みに掛けてから v との積を取ること", "dropout を出力に掛けている、または dropout を使っていない", lambda: [*qkv(), _mask((B, 1, 1, LK), 4)], dropout=0.5),
    ], forbidden=["scaled_dot_product_attention", "MultiheadAttention", "Transformer"])
    self_attention = Unit("SelfAttention", _package("attention", "SelfAttention"), "module", [
        _module_case("no mask", "1 ヘッドのセルフアテンションの出力と重み", "W_q, W_k, W_v の使い方が違う、または √d_model で割っていない", "SelfAttention", {"d_model": 12}, lambda: [_x(B, LK, 12)], swap_functions=["scaled_dot_product_attention"]),
        _module_case("causal mask", "マスク付きのセルフアテンション", "mask を scaled_dot_product_attention に渡していない", "SelfAttention", {"d_model": 12}, lambda: [_x(B, LQ, 12, seed=2), torch.ones(LQ, LQ, dtype=torch.bool).tril()[None]], swap_functions=["scaled_dot_product_attention"]),
        _module_case("float64, batch 1", "float64・B=1", "dtype を変えている", "SelfAttention", {"d_model": 8}, lambda: [_x(1, 3, 8, dtype="float64")], dtype="float64", swap_functions=["scaled_dot_product_attention"]),
    ], standins=["scaled_dot_product_attention"], forbidden=["scaled_dot_product_attention", "MultiheadAttention", "Transformer"])
    return [sdpa, self_attention]


def multi_head_units():
    init = {"d_model": D, "num_heads": H}
    swap = {"swap_functions": ["scaled_dot_product_attention"]}
    cases = [
        _module_case("self-attention, padded keys", "セルフアテンション（パディングあり）の出力とヘッドごとの重み", "ヘッドの分割で transpose を忘れている、または結合の前に transpose(1, 2) していない",
                     "MultiHeadAttention", init, lambda: [*[_x(B, LK, D)] * 3, _mask((B, 1, 1, LK), 1)], **swap),
        _module_case("cross-attention, padded keys", "Lq ≠ Lk のクロスアテンション", "キーとバリューの長さにクエリの長さ Lq を使っている",
                     "MultiHeadAttention", init, lambda: [_x(B, LQ, D, seed=1), _x(B, LK, D, seed=2), _x(B, LK, D, seed=2), _mask((B, 1, 1, LK), 3)], **swap),
        _module_case("distinct key and value", "キーとバリューに別の入力を与えたとき", "キーを value から射影している（W_k(value)）、またはバリューを key から射影している",
                     "MultiHeadAttention", init, lambda: [_x(B, LQ, D, seed=4), _x(B, LK, D, seed=5), _x(B, LK, D, seed=6)], **swap),
        _module_case("causal, float64", "float64・因果マスク", "dtype を変えている、または mask を渡していない",
                     "MultiHeadAttention", init, lambda: [*[_x(B, LQ, D, seed=7, dtype="float64")] * 3, torch.ones(LQ, LQ, dtype=torch.bool).tril()[None, None]], dtype="float64", cause_when=(), **swap),
        _module_case("output projection", "出力射影 W_o を最後に 1 回だけ掛けること", "W_o を掛けていない、またはヘッドごとに掛けている",
                     "MultiHeadAttention", {"d_model": 8, "num_heads": 4}, lambda: [*[_x(1, 3, 8, seed=8)] * 3], **swap),
        _module_case("non-contiguous input", "連続でない入力", "contiguous() を呼ばずに view している",
                     "MultiHeadAttention", init, lambda: [*[_x(LK, B, D, seed=9).transpose(0, 1)] * 3], **swap),
        _module_case("attention dropout in training", "学習モードで self.dropout をアテンションの重みに掛けること（scaled_dot_product_attention に渡す）", "dropout を scaled_dot_product_attention に渡していない、または出力に掛けている",
                     "MultiHeadAttention", {**init, "dropout": 0.3}, lambda: [*[_x(B, LK, D, seed=10)] * 3, _mask((B, 1, 1, LK), 6)], train=True, **swap),
        _module_case("eval mode, dropout set", "評価モードでは dropout が効かないこと", "F.dropout に training=True を渡すなど、評価モードでも dropout を掛けている",
                     "MultiHeadAttention", {**init, "dropout": 0.3}, lambda: [*[_x(B, LK, D, seed=11)] * 3], **swap),
    ]
    return [Unit("MultiHeadAttention", _package("multi_head", "MultiHeadAttention"), "module", cases,
                 standins=["scaled_dot_product_attention"], forbidden=["scaled_dot_product_attention", "MultiheadAttention", "Transformer"])]


def positional_units():
    pe_init = {"d_model": 16, "max_len": 50, "dropout": 0.0}
    return [
        Unit("sinusoidal_encoding", _package("positional", "sinusoidal_encoding"), "function", [
            _function_case("max_len 50, d_model 16", "表の値（偶数列 sin・奇数列 cos）", "sin と cos を前半・後半に分けている、または周波数の指数が 2i/d_model ではない", lambda: [50, 16]),
            _function_case("max_len 7, d_model 6", "小さな表", "周波数を i/d_model で計算している", lambda: [7, 6]),
            _function_case("one position", "max_len=1", "形状が (max_len, d_model) ではない", lambda: [1, 4]),
            _function_case("max_len 2000", "遠い位置（2000 まで）の値", "角度を float32 で計算している（位置が大きいと誤差が許容を超える）", lambda: [2000, 32]),
        ]),
        Unit("PositionalEncoding", _package("positional", "PositionalEncoding"), "module", [
            _module_case("length 7 of 50", "系列長 L で pe を切り取って足すこと", "pe を L で切り取っていない、または √d_model 倍などの余計な計算をしている", "PositionalEncoding", pe_init, lambda: [_x(B, 7, 16)], swap_functions=["sinusoidal_encoding"]),
            _module_case("float64, full length", "float64・L = max_len", "dtype を変えている", "PositionalEncoding", pe_init, lambda: [_x(1, 50, 16, dtype="float64")], dtype="float64", swap_functions=["sinusoidal_encoding"]),
            _module_case("dropout after the sum", "学習モードで (x + pe) に dropout を掛けること", "dropout を掛けていない、または x にだけ掛けている", "PositionalEncoding", {**pe_init, "dropout": 0.5}, lambda: [_x(B, 5, 16, seed=3)], train=True, swap_functions=["sinusoidal_encoding"]),
            _module_case("pe is a buffer", "pe がパラメータではなくバッファであること（forward が動くときに）", "pe を nn.Parameter にしている（学習されてしまう）", "PositionalEncoding", pe_init, lambda: [_x(1, 3, 16, seed=5)], method="__structure__", swap_functions=["sinusoidal_encoding"]),
        ], standins=["sinusoidal_encoding"]),
    ]


def layer_units():
    mha = {"standin": "MultiHeadAttention", "init": {"d_model": D, "num_heads": H, "dropout": 0.0}}
    ff = {"standin": "FeedForward", "init": {"d_model": D, "d_ff": D_FF, "dropout": 0.0}}
    enc_swap = {"swap_modules": {"self_attn": mha, "feed_forward": ff}}
    dec_swap = {"swap_modules": {"self_attn": mha, "cross_attn": mha, "feed_forward": ff}}
    src_mask = lambda: _mask((B, 1, 1, LK), 2)  # noqa: E731
    tgt_mask = lambda: (tokens([LQ, 2], LQ, seed=5) != 0)[:, None, None, :] & torch.ones(LQ, LQ, dtype=torch.bool).tril()  # noqa: E731
    dec_args = lambda dtype="float32": [_x(B, LQ, D, seed=1, dtype=dtype), _x(B, LK, D, seed=2, dtype=dtype), src_mask(), tgt_mask()]  # noqa: E731
    return [
        Unit("FeedForward", _package("layers", "FeedForward"), "module", [
            _module_case("random input", "linear1 → ReLU → linear2", "ReLU を忘れている、または linear の順番が違う", "FeedForward", {"d_model": D, "d_ff": D_FF, "dropout": 0.0}, lambda: [_x(B, LK, D)]),
            _module_case("float64", "float64 の入力", "dtype を変えている", "FeedForward", {"d_model": D, "d_ff": D_FF, "dropout": 0.0}, lambda: [_x(1, 3, D, dtype="float64")], dtype="float64"),
            _module_case("dropout in the middle", "学習モードで中間層にだけ dropout を掛けること", "dropout の位置が違う（出力に掛けている）", "FeedForward", {"d_model": D, "d_ff": D_FF, "dropout": 0.3}, lambda: [_x(B, 3, D, seed=4)], train=True),
            _module_case("eval mode, dropout set", "評価モードでは dropout が効かないこと", "評価モードでも dropout を掛けている（F.dropout に training=True を渡しているなど）", "FeedForward", {"d_model": D, "d_ff": D_FF, "dropout": 0.3}, lambda: [_x(B, 3, D, seed=5)]),
        ], standins=[]),
        Unit("EncoderLayer", _package("layers", "EncoderLayer"), "module", [
            _module_case("padded source", "エンコーダ層（Post-LN）の出力", "LayerNorm を残差の前に掛けている（Pre-LN）、または残差を足していない", "EncoderLayer", LAYER, lambda: [_x(B, LK, D), src_mask()], atol=STACK_ATOL["float32"], **enc_swap),
            _module_case("no mask", "マスクなし", "src_mask をセルフアテンションに渡していない", "EncoderLayer", LAYER, lambda: [_x(B, LK, D, seed=3)], atol=STACK_ATOL["float32"], **enc_swap),
            _module_case("float64", "float64 の入力", "dtype を変えている", "EncoderLayer", LAYER, lambda: [_x(1, 3, D, dtype="float64")], dtype="float64", atol=STACK_ATOL["float64"], **enc_swap),
            _module_case("training, dropout 0.2", "学習モードで各サブ層の出力に dropout を掛けてから残差を足すこと", "dropout を LayerNorm の後に掛けている、または dropout1/dropout2 を使っていない", "EncoderLayer", {**LAYER, "dropout": 0.2}, lambda: [_x(B, LK, D, seed=4), src_mask()], atol=STACK_ATOL["float32"], train=True, **enc_swap),
        ], standins=["MultiHeadAttention", "FeedForward"]),
        Unit("DecoderLayer", _package("layers", "DecoderLayer"), "module", [
            _module_case("both masks, S != T", "セルフアテンションに tgt_mask、クロスアテンションに src_mask を使うこと", "マスクを取り違えている、またはクロスアテンションのキー・バリューに memory を使っていない", "DecoderLayer", LAYER, dec_args, atol=STACK_ATOL["float32"], **dec_swap),
            _module_case("no masks", "マスクなしの 3 つのサブ層", "サブ層の順番が違う、または残差を掛け算にしている", "DecoderLayer", LAYER, lambda: dec_args()[:2], atol=STACK_ATOL["float32"], **dec_swap),
            _module_case("float64", "float64 の入力", "dtype を変えている", "DecoderLayer", LAYER, lambda: dec_args("float64"), dtype="float64", atol=STACK_ATOL["float64"], **dec_swap),
            _module_case("training, dropout 0.2", "学習モードで 3 つのサブ層の出力それぞれに dropout を掛けてから残差を足すこと", "dropout を LayerNorm の後に掛けている、または dropout1〜3 のどれかを使っていない", "DecoderLayer", {**LAYER, "dropout": 0.2}, dec_args, atol=STACK_ATOL["float32"], train=True, **dec_swap),
        ], standins=["MultiHeadAttention", "FeedForward"]),
    ]


def stack_units():
    def stack_swap(kind, layers):
        return {"swap_modules": {f"layers.{i}": {"standin": kind, "init": LAYER} for i in range(layers)}}

    src_mask = lambda: _mask((B, 1, 1, LK), 2)  # noqa: E731
    causal = lambda: torch.ones(LQ, LQ, dtype=torch.bool).tril()[None, None]  # noqa: E731
    return [
        Unit("Encoder", _package("transformer", "Encoder"), "module", [
            _module_case("two layers, padded", "層を順に通して最後に norm", "最後の LayerNorm を忘れている、または同じ層を使い回している", "Encoder", STACK, lambda: [_x(B, LK, D), src_mask()], atol=STACK_ATOL["float32"], **stack_swap("EncoderLayer", 2)),
            _module_case("three layers", "3 層", "層の数を決め打ちしている", "Encoder", {**STACK, "num_layers": 3}, lambda: [_x(B, LK, D, seed=2)], atol=STACK_ATOL["float32"], **stack_swap("EncoderLayer", 3)),
            _module_case("float64, one layer", "float64・1 層", "dtype を変えている", "Encoder", {**STACK, "num_layers": 1}, lambda: [_x(1, 3, D, dtype="float64")], dtype="float64", atol=STACK_ATOL["float64"], **stack_swap("EncoderLayer", 1)),
            _module_case("layers are independent copies", "層ごとに別々のパラメータを持つこと（forward が動くときに）", "同じ層を num_layers 回並べている（[layer] * n）", "Encoder", STACK, lambda: [_x(1, 3, D, seed=6)], method="__structure__", **stack_swap("EncoderLayer", 2)),
        ], standins=["EncoderLayer"]),
        Unit("Decoder", _package("transformer", "Decoder"), "module", [
            _module_case("two layers, both masks", "層を順に通して最後に norm", "最後の LayerNorm を忘れている、またはマスクを渡していない", "Decoder", STACK, lambda: [_x(B, LQ, D), _x(B, LK, D, seed=1), src_mask(), causal()], atol=STACK_ATOL["float32"], **stack_swap("DecoderLayer", 2)),
            _module_case("three layers", "3 層", "層の数を決め打ちしている", "Decoder", {**STACK, "num_layers": 3}, lambda: [_x(B, LQ, D, seed=3), _x(B, LK, D, seed=4), None, causal()], atol=STACK_ATOL["float32"], **stack_swap("DecoderLayer", 3)),
            _module_case("float64, one layer", "float64・1 層", "dtype を変えている", "Decoder", {**STACK, "num_layers": 1}, lambda: [_x(1, 2, D, dtype="float64"), _x(1, 3, D, seed=5, dtype="float64")], dtype="float64", atol=STACK_ATOL["float64"], **stack_swap("DecoderLayer", 1)),
            _module_case("layers are independent copies", "層ごとに別々のパラメータを持つこと（forward が動くときに）", "同じ層を num_layers 回並べている（[layer] * n）", "Decoder", STACK, lambda: [_x(1, 2, D, seed=7), _x(1, 3, D, seed=8)], method="__structure__", **stack_swap("DecoderLayer", 2)),
        ], standins=["DecoderLayer"]),
    ]


def transformer_units():
    swap = {
        "swap_modules": {
            "encoder": {"standin": "Encoder", "init": STACK},
            "decoder": {"standin": "Decoder", "init": STACK},
            "pos_encoding": {"standin": "PositionalEncoding", "init": {"d_model": D, "max_len": 20, "dropout": 0.0}},
        },
        "swap_functions": [*MASK_FUNCTIONS, "sinusoidal_encoding"],
    }
    src = lambda seed=0: tokens([LK, 3], LK, seed=seed)  # noqa: E731
    tgt = lambda seed=1: with_bos(tokens([LQ - 1, 1], LQ - 1, seed=seed, high=11))  # noqa: E731
    future_changed = lambda: with_bos(torch.cat([tokens([LQ - 2, 1], LQ - 2, seed=1, high=11), torch.tensor([[7], [0]])], 1))  # noqa: E731

    def case(name, what, cause, args, method="forward", dtype="float32"):
        return _module_case(name, what, cause, "Transformer", MODEL, args, dtype=dtype, atol=STACK_ATOL[dtype], method=method, **swap)

    memory = lambda: _x(B, LK, D, seed=7)  # noqa: E731
    return [Unit("Transformer", _package("transformer", "Transformer"), "module", [
        case("forward, padded source and target", "ロジット (B, T, tgt_vocab)", "埋め込みを √d_model 倍していない、またはマスクを作っていない", lambda: [src(), tgt()]),
        case("forward, future target token changed", "未来のトークンを変えても前の位置のロジットが変わらないこと（因果マスク）", "デコーダに因果マスクを渡していない、または padding マスクだけを使っている", lambda: [src(), future_changed()]),
        case("forward, batch 1, no padding", "B=1・PAD なし", "形状を決め打ちしている", lambda: [src()[:1], tgt()[:1]]),
        case("encode", "encode: 埋め込み → √d_model 倍 → 位置エンコーディング → エンコーダ", "src_embedding ではなく tgt_embedding を使っている、または √d_model を掛けていない", lambda: [src(seed=2), (src(seed=2) != 0)[:, None, None, :]], method="encode"),
        case("decode", "decode: デコーダの隠れ状態 (B, T, d_model)", "decode の中で output_projection を掛けている、または tgt_mask を渡していない", lambda: [tgt(seed=3), memory(), (src() != 0)[:, None, None, :], torch.ones(LQ, LQ, dtype=torch.bool).tril()[None, None]], method="decode"),
        case("forward, float64", "float64 のモデル", "dtype を変えている", lambda: [src(seed=4), tgt(seed=5)], dtype="float64"),
    ], standins=["Encoder", "Decoder", "PositionalEncoding", "sinusoidal_encoding", *MASK_FUNCTIONS])]


TRAIN_MODEL = {**MODEL, "src_vocab_size": 12, "tgt_vocab_size": 12, "d_model": 16, "num_heads": 2, "d_ff": 24,
               "num_encoder_layers": 1, "num_decoder_layers": 1}


def _model_state(dropout=0.0, eos_bias=0.0, seed=0, pad_bias=0.0):
    from autograder.standins.model import Transformer

    torch.manual_seed(seed)
    model = Transformer(**{**TRAIN_MODEL, "dropout": dropout})
    randomize_norms(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["output_projection.bias"][2] += eos_bias  # EOS_IDX = 2: makes some rows end early
    state["output_projection.bias"][0] += pad_bias  # PAD_IDX = 0: a PAD the model emits itself is what the contract leaves open
    return state


def _toy_batches(count, seed=0, sizes=None):
    """Reverse-task batches (of `sizes` examples each, 4 by default): src (B, S) with padding, tgt (B, T) =
    BOS + reversed + EOS, padded."""
    sizes = sizes or [4] * count
    train, _ = reference_package().data.make_split("reverse", sum(sizes), 1, num_symbols=9, max_len=5, seed=seed)
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    pairs = [reference_package().data.collate(train[start : start + size]) for start, size in zip(starts, sizes)]
    return [src for src, _ in pairs], [tgt for _, tgt in pairs]


def _training_case(name, what, cause, call, dropout=0.0, count=2, seed=0, sizes=None, **spec):
    if call in ("train_one_epoch", "evaluate"):
        spec.setdefault("swap_functions", ["sequence_loss"])
    def make_inputs():
        sources, targets = _toy_batches(count, seed, sizes)
        return {"state": _model_state(dropout), "sources": sources, "targets": targets}

    return Case(name, what, cause, {"call": call, "model": "Transformer", "model_init": {**TRAIN_MODEL, "dropout": dropout}, **spec},
                make_inputs, 1e-5, seed)


def training_units():
    standins = ["Transformer"]
    decode_masks = {"swap_functions": MASK_FUNCTIONS}

    def decode_case(name, what, cause, eos_bias, rows, max_len, seed=0, cause_when=()):
        """A decoding case that starts in train mode (decoding must switch to eval) with a model that never emits
        PAD itself: how a decoder treats a PAD it produced before EOS is left open by the contract."""
        def make_inputs():
            state = _model_state(eos_bias=eos_bias, seed=seed, pad_bias=-30.0)
            state["src_embedding.weight"][0] = 10 * randn(TRAIN_MODEL["d_model"], seed=seed + 50)  # loud PADs: only a source mask hides them
            return {"state": state, "src": tokens(rows, max(rows), seed=seed, high=12)}

        return Case(name, what, cause, {"call": "greedy_decode", "model": "Transformer", "model_init": TRAIN_MODEL,
                                        "max_len": max_len, "start_in_train_mode": True, **decode_masks}, make_inputs, 0, seed, cause_when)

    return [
        Unit("sequence_loss", _package("training", "sequence_loss"), "training", [
            _training_case("padded batch", "教師強制の損失（入力 tgt[:, :-1]、目標 tgt[:, 1:]）", "入力と目標のずらし方が違う、または reshape の形が違う", "sequence_loss", count=1),
            _training_case("another batch", "別のバッチでの損失", "criterion を使わず、PAD も数える損失を自分で計算している", "sequence_loss", count=1, seed=3),
            _training_case("longer targets", "長さの違うバッチ", "系列長を決め打ちしている", "sequence_loss", count=1, seed=5),
        ], standins=standins),
        Unit("train_one_epoch", _package("training", "train_one_epoch"), "training", [
            _training_case("two batches", "2 バッチ学習した後のパラメータと平均損失", "zero_grad を忘れている（勾配がたまる）、または backward の後に zero_grad している", "train_one_epoch", count=2),
            _training_case("starts in eval mode, dropout on", "学習モードに切り替えてから学習すること", "model.train() を呼んでいない（dropout が効かない）", "train_one_epoch", dropout=0.1, count=2, seed=1),
            _training_case("gradient clipping", "max_grad_norm があれば backward と step の間で勾配をクリップすること", "クリップを step の後に行っている、または max_grad_norm を使っていない", "train_one_epoch", count=2, seed=7, optimizer="sgd", lr=0.5, max_grad_norm=0.1),
            _training_case("scheduler after each step", "scheduler があれば optimizer.step() の後に毎バッチ 1 回 step すること", "scheduler.step() を optimizer.step() の前やエポックの最後に呼んでいる、または呼んでいない", "train_one_epoch", count=3, seed=8, optimizer="sgd", lr=0.5, scheduler_gamma=0.5),
            _training_case("returns the mean batch loss", "バッチごとの損失の平均を float で返すこと（大きさの違うバッチで）", "最後のバッチの損失だけを返している、バッチの大きさで重み付けしている、またはテンソルのまま返している", "train_one_epoch", count=3, seed=2, sizes=[4, 2, 3]),
        ], standins=[*standins, "sequence_loss"]),
        Unit("evaluate", _package("training", "evaluate"), "training", [
            _training_case("starts in train mode, dropout on", "評価モード（dropout なし）での平均損失", "model.eval() を呼んでいない（dropout が効いたまま）", "evaluate", dropout=0.3, count=2, start_in_train_mode=True),
            _training_case("parameters unchanged", "評価でパラメータも勾配も変わらず、勾配を計算しないこと（torch.no_grad）", "評価の中で backward や optimizer.step() を呼んでいる、または torch.no_grad() を使っていない", "evaluate", count=2, seed=4, stale_gradients=True, compare_gradients=True),
            _training_case("single batch", "1 バッチでの損失", "平均の取り方が違う", "evaluate", count=1, seed=6),
        ], standins=[*standins, "sequence_loss"]),
        Unit("greedy_decode", _package("training", "greedy_decode"), "training", [
            decode_case("random model", "BOS から始まる貪欲デコードのトークン列", "BOS を先頭に置いていない、または最後の位置以外のロジットで argmax している", 0.0, [5, 3], 6),
            decode_case("rows ending early", "EOS の後は PAD で埋まり、全部の行が終わったら止まること", "EOS の後もトークンを出し続けている、または PAD で埋めていない", 0.5, [4, 4, 2, 5], 8, seed=2, cause_when=(Difference.VALUES,)),
            decode_case("batch 1, max_len 3", "B=1・max_len=3（BOS を含めて 3 トークンまで）", "max_len を BOS を除いた長さとして扱っている", 0.0, [3], 3, seed=2),
            decode_case("every row ends early", "全部の行が max_len より前に EOS を出したら、そこで打ち切ること", "全部の行が終わっても max_len まで続けている", 1.2, [3, 5, 2], 16, seed=3, cause_when=(Difference.SHAPE,)),
        ], standins=[*standins, *MASK_FUNCTIONS]),
        Unit("get_device", _package("training", "get_device"), "device_choice", [
            Case("cuda and mps present", "cuda があれば cuda を選ぶこと", "cuda より mps を先に調べている、または torch.device ではなく文字列を返している", {"cuda": True, "mps": True}, dict, 0),
            Case("only mps present", "cuda がなければ mps を選ぶこと", "mps を調べていない", {"cuda": False, "mps": True}, dict, 0),
            Case("neither present", "どちらもなければ cpu を選ぶこと", "cpu 以外を決め打ちしている", {"cuda": False, "mps": False}, dict, 0),
        ]),
    ]


def all_units():
    """Every graded unit, in the order the course teaches them."""
    return [*notebook_units(), *mask_units(), *attention_units(), *multi_head_units(), *positional_units(),
            *layer_units(), *stack_units(), *transformer_units(), *training_units()]
