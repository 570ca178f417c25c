"""Static detection of forbidden PyTorch APIs in a unit's source (the sandbox also trips on them at run time)."""

import ast
import functools

# For each forbidden group: attribute names that must not appear (as `F.x`, `torch.x`, `nn.x`, `t.x`),
# and whether the check covers the whole file rather than the unit's own def/class.
FORBIDDEN_ATTRIBUTES = {
    "scaled_dot_product_attention": ({"scaled_dot_product_attention", "multi_head_attention_forward"}, False),
    "MultiheadAttention": ({"MultiheadAttention"}, False),
    "Transformer": ({"Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer", "TransformerDecoderLayer"}, True),
    "softmax": ({"softmax", "log_softmax", "Softmax", "LogSoftmax"}, False),
    "layer_norm": ({"layer_norm", "LayerNorm"}, False),
    "gelu": ({"gelu", "GELU"}, False),
    "cross_entropy": ({"cross_entropy", "CrossEntropyLoss", "nll_loss", "NLLLoss", "log_softmax", "LogSoftmax"}, False),
}


def _torch_imports(tree):
    """Names bound by `from torch... import x` anywhere in the file: local name -> imported name."""
    names = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch":
            for alias in node.names:
                names[alias.asname or alias.name] = alias.name
    return names


def _unit_node(tree, name):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and node.name == name:
            return node
    return tree


@functools.lru_cache(maxsize=64)
def _parse(source):
    """The syntax tree and its torch imports, once per source text (several units share a file); None if unparsable."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    return tree, _torch_imports(tree)


def find_forbidden(source, unit_name, groups):
    """The forbidden names used in `source` for the unit `unit_name` (empty when clean or unparsable)."""
    if not groups or _parse(source) is None:
        return []
    tree, imported = _parse(source)
    found = []
    for group in groups:
        attributes, whole_file = FORBIDDEN_ATTRIBUTES[group]
        scope = tree if whole_file else _unit_node(tree, unit_name)
        for node in ast.walk(scope):
            used = None
            if isinstance(node, ast.Attribute) and node.attr in attributes:
                used = node.attr
            elif isinstance(node, ast.Name) and imported.get(node.id) in attributes:
                used = imported[node.id]
            if used and used not in found:
                found.append(used)
    return found
