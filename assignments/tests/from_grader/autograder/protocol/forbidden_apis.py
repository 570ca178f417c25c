"""What PyTorch must not do for the student, unit by unit: the one table every check reads.

A rule names a job the student writes by hand, and the ways PyTorch offers to do it instead:

- `names`: what must not appear in the source, as an attribute (`F.softmax`, `nn.Softmax`,
  `torch._softmax`) or a name imported from torch (`from torch import softmax`). Read by the
  static check on the trusted side (`autograder.grader.forbidden`).
- `operators`: the aten operators the dispatcher must not run while the unit's code runs (a
  trailing `*` matches a prefix). Every spelling, alias or stolen reference of a forbidden
  function ends in one of these kernels, which is why the run-time check (`sandbox.operator_watch`)
  looks there. `aten::_safe_softmax` is what `scaled_dot_product_attention` runs on the CPU, and
  no public function but it.
- `modules`: the `torch.nn` classes whose instances must not be called (their training path
  runs only ordinary kernels, so the call itself is what gives them away).
- `whole_file`: the rule covers the whole file, not just the unit's own code.

The table is plain data, readable by the grader, the sandbox and the students' self-check alike.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    names: frozenset
    operators: tuple = ()
    modules: tuple = ()
    whole_file: bool = False
    why: str = ""  # Japanese: why the unit must be written by hand


SDPA_KERNELS = ("aten::scaled_dot_product_attention", "aten::_scaled_dot_product_*", "aten::_safe_softmax",
                "aten::_fused_sdp_choice")
TRANSFORMER_CLASSES = ("Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer")

RULES = {
    "scaled_dot_product_attention": Rule(
        frozenset({"scaled_dot_product_attention", "multi_head_attention_forward", "_scaled_dot_product_attention_math"}),
        operators=SDPA_KERNELS,
        why="スケール化内積アテンションを自分で実装する課題です",
    ),
    "MultiheadAttention": Rule(
        frozenset({"MultiheadAttention", "multi_head_attention_forward", "_native_multi_head_attention"}),
        operators=("aten::_native_multi_head_attention",),
        modules=("MultiheadAttention",),
        why="マルチヘッドアテンションを自分で実装する課題です",
    ),
    "Transformer": Rule(  # every unit is under it: watched by the module hook alone, since a dispatch mode on
        # every unit would cost a third of the grading time; its kernels are reached only through these classes
        frozenset({*TRANSFORMER_CLASSES, "_transformer_encoder_layer_fwd", "_transformer_decoder_only_layer_fwd"}),
        modules=TRANSFORMER_CLASSES,
        whole_file=True,
        why="Transformer を部品から自分で組み立てる演習です（nn.Transformer 系はどこでも使えません）",
    ),
    "softmax": Rule(
        frozenset({"softmax", "log_softmax", "softmin", "_softmax", "_log_softmax", "Softmax", "LogSoftmax", "Softmin", "Softmax2d"}),
        operators=("aten::softmax", "aten::_softmax", "aten::log_softmax", "aten::_log_softmax", "aten::_safe_softmax",
                   "aten::special_softmax", "aten::special_log_softmax"),
        why="softmax を exp と和から自分で実装する課題です",
    ),
    "layer_norm": Rule(
        frozenset({"layer_norm", "native_layer_norm", "LayerNorm"}),
        operators=("aten::layer_norm", "aten::native_layer_norm"),
        why="層正規化を平均と分散から自分で実装する課題です",
    ),
    "gelu": Rule(
        frozenset({"gelu", "GELU"}),
        operators=("aten::gelu",),
        why="GELU を式から自分で実装する課題です",
    ),
    "cross_entropy": Rule(
        frozenset({"cross_entropy", "cross_entropy_loss", "nll_loss", "nll_loss_nd", "nll_loss2d", "CrossEntropyLoss", "NLLLoss",
                   "log_softmax", "_log_softmax", "LogSoftmax"}),
        operators=("aten::cross_entropy_loss", "aten::nll_loss*", "aten::log_softmax", "aten::_log_softmax",
                   "aten::special_log_softmax"),
        why="交差エントロピーを log-sum-exp から自分で実装する課題です",
    ),
}
EVERYWHERE = ("Transformer",)  # the rules every unit is under, whatever else it forbids


def rules_for(groups):
    """The rules of `groups` plus those every unit is under, in the table's order."""
    wanted = set(groups) | set(EVERYWHERE)
    return {name: rule for name, rule in RULES.items() if name in wanted}


def operator_matches(operator, patterns):
    """Whether the aten operator name (`aten::_softmax`) is one of `patterns` (a trailing * is a prefix)."""
    return any(operator.startswith(p[:-1]) if p.endswith("*") else operator == p for p in patterns)
