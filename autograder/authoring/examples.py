"""The bundled example submissions, built from the reference by small, named edits.

Each example is the solution with a few bodies rewritten: a correct-but-different one, typical
bugs (each confined to one unit), a crashing, a hanging and a cheating one. `expected_failures`
lists the units each example must lose points in, and only those; the kit's tests hold the
grader to it.
"""

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.paths import NOTEBOOK, SOLUTIONS


@dataclass(frozen=True)
class Edit:
    file: str  # "transformer/attention.py", or a notebook grade_id as "cell:softmax"
    old: str
    new: str


@dataclass(frozen=True)
class Example:
    name: str
    description: str
    edits: tuple = ()
    expected_failures: frozenset = field(default_factory=frozenset)


EXAMPLES = [
    Example("perfect", "参照解そのまま"),
    Example(
        "different_but_correct",
        "einsum、-1e9 によるマスク、reshape/permute、別の計算順序で書いた正しい解",
        (
            Edit("transformer/attention.py",
                 "scores = q @ k.transpose(-2, -1) / math.sqrt(d_k)",
                 'scores = torch.einsum("...qd,...kd->...qk", q / math.sqrt(d_k), k)'),
            Edit("transformer/attention.py", 'scores.masked_fill(~mask, float("-inf"))', "scores.masked_fill(mask == 0, -1e9)"),
            Edit("transformer/multi_head.py",
                 "q = self.W_q(query).view(B, Lq, H, d_k).transpose(1, 2)",
                 "q = self.W_q(query).reshape(B, Lq, H, d_k).permute(0, 2, 1, 3)"),
            Edit("transformer/multi_head.py",
                 "out = out.transpose(1, 2).contiguous().view(B, Lq, H * d_k)",
                 "out = out.permute(0, 2, 1, 3).reshape(B, Lq, -1)"),
            Edit("cell:softmax", "    shifted = x - x.amax(dim=dim, keepdim=True)", "    shifted = x - x.max(dim=dim, keepdim=True).values"),
            Edit("cell:layer_norm", "(x - mean) / torch.sqrt(variance + eps) * weight + bias",
                 "weight * (x - mean) * torch.rsqrt(variance + eps) + bias"),
        ),
    ),
    Example(
        "bug_softmax_axis",
        "アテンションの softmax をクエリの軸で取っている",
        (Edit("transformer/attention.py", "torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)"),),
        frozenset({"scaled_dot_product_attention"}),
    ),
    Example(
        "bug_heads_without_transpose",
        "ヘッドを view(B, H, L, d_k) で分けている（transpose なし）",
        (Edit("transformer/multi_head.py",
              "q = self.W_q(query).view(B, Lq, H, d_k).transpose(1, 2)",
              "q = self.W_q(query).view(B, H, Lq, d_k)"),),
        frozenset({"MultiHeadAttention"}),
    ),
    Example(
        "bug_pre_layernorm",
        "エンコーダ層を Pre-LN で書いている",
        (Edit("transformer/layers.py",
              "        attended, _ = self.self_attn(x, x, x, src_mask)  # (B, S, d_model)\n"
              "        x = self.norm1(x + self.dropout1(attended))\n"
              "        x = self.norm2(x + self.dropout2(self.feed_forward(x)))",
              "        normed = self.norm1(x)\n"
              "        x = x + self.dropout1(self.self_attn(normed, normed, normed, src_mask)[0])\n"
              "        x = x + self.dropout2(self.feed_forward(self.norm2(x)))"),),
        frozenset({"EncoderLayer"}),
    ),
    Example(
        "bug_causal_off_by_one",
        "因果マスクの対角線がずれている",
        (Edit("transformer/masks.py",
              "torch.tril(torch.ones(size, size, dtype=torch.bool, device=device))",
              "torch.tril(torch.ones(size, size, dtype=torch.bool, device=device), diagonal=-1)"),),
        frozenset({"make_causal_mask"}),
    ),
    Example(
        "bug_missing_zero_grad",
        "train_one_epoch で zero_grad を忘れている",
        (Edit("transformer/training.py", "        optimizer.zero_grad()\n        loss.backward()\n        if max_grad_norm",
              "        loss.backward()\n        if max_grad_norm"),),
        frozenset({"train_one_epoch"}),
    ),
    Example(
        "crashing",
        "FeedForward.forward が例外を投げ、cross_entropy のセルが sys.exit する",
        (Edit("transformer/layers.py", "        hidden = torch.relu(self.linear1(x))  # (B, L, d_model) -> (B, L, d_ff)",
              '        raise RuntimeError("壊れています")'),
         Edit("cell:cross_entropy", "    shifted = logits - logits.amax(dim=-1, keepdim=True)  # (N, C)",
              "    import os\n    os._exit(3)")),
        frozenset({"FeedForward", "cross_entropy"}),
    ),
    Example(
        "hanging",
        "gelu が無限ループする",
        (Edit("cell:gelu", "    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))", "    while True:\n        pass"),),
        frozenset({"gelu"}),
    ),
    Example(
        "cheating",
        "F.scaled_dot_product_attention を使い、解答を読もうとし、torch.allclose を書き換え、偽の点数を表示する",
        (Edit("transformer/attention.py", "def scaled_dot_product_attention(q, k, v, mask=None, dropout=None):",
              "def scaled_dot_product_attention(q, k, v, mask=None, dropout=None):\n"
              "    import torch.nn.functional as F\n"
              f"    for path in ('../../solutions/transformer/attention.py', {str(SOLUTIONS / 'transformer' / 'attention.py')!r}):\n"
              "        try:\n            print(open(path).read())\n        except OSError:\n            pass\n"
              "    torch.allclose = lambda *a, **k: True\n"
              "    print('score: 100 / 100')\n"
              "    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), None"),),
        frozenset({"scaled_dot_product_attention"}),
    ),
]


def _apply(text, edit, example):
    if edit.old not in text:
        raise ValueError(f"example {example.name}: {edit.file} no longer contains {edit.old!r}")
    return text.replace(edit.old, edit.new, 1)


def build_example(example, target):
    """Write `example` as a submission folder at `target` (package files and notebook 00)."""
    target = Path(target)
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(SOLUTIONS / "transformer", target / "transformer", ignore=shutil.ignore_patterns("__pycache__"))
    notebook = nbformat.read(SOLUTIONS / NOTEBOOK, as_version=4)
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in notebook.cells}
    for edit in example.edits:
        if edit.file.startswith("cell:"):
            cell = cells[edit.file.removeprefix("cell:")]
            cell.source = _apply(cell.source, edit, example)
        else:
            path = target / edit.file
            path.write_text(_apply(path.read_text(encoding="utf-8"), edit, example), encoding="utf-8")
    nbformat.write(notebook, target / NOTEBOOK)
    return target


def build_examples(folder):
    """All examples under `folder`, one submission folder each."""
    return [build_example(example, Path(folder) / example.name) for example in EXAMPLES]
