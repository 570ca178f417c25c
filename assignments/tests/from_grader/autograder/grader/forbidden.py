"""The static check: what a unit's source may not contain, read from the whole file, each hit with its line.

A unit's code is more than its own `def`: Python keeps the *last* definition of a name, module-level
statements (an alias such as `MHA = nn.MultiheadAttention`) run for every unit of the file, and the
unit may call helpers. So the scope of a unit is every top-level definition of its name, every
module-level statement that is not a definition, and every top-level definition those refer to,
followed to the end. A rule of `protocol.forbidden_apis` with `whole_file` reads the whole file.

Besides the forbidden APIs, any unit's scope may not hide what it runs: `exec`/`eval`/`compile`,
`__import__` and `importlib`, `torch.ops` and `torch._C`, a computed attribute of a module
(`getattr(F, name)`), writing attributes of a module (`setattr(torch, ...)`), or an import of the
grader's own packages. The sandbox's operator watch catches at run time what slips past; this
check is the rule that costs points whatever runs.
"""

import ast
import functools
from dataclasses import dataclass

from autograder.grader.syntax import parse
from autograder.protocol.forbidden_apis import rules_for

HIDING_CALLS = {"exec", "eval", "compile", "__import__"}
HIDDEN_MODULES = ("importlib", "autograder", "jisaku_standins")
TORCH_INTERNALS = {"ops", "_C"}
TORCH_SUBMODULES = {"nn", "functional", "fft", "linalg", "special", "overrides"}
ATTRIBUTE_CALLS = {"getattr", "setattr", "delattr"}
DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
MAX_FINDINGS_SHOWN = 5


@dataclass(frozen=True)
class Finding:
    line: int
    what: str  # Japanese: what was used

    def __str__(self):
        return f"{self.line} 行目: {self.what}" if self.line > 0 else f"上のセルの import: {self.what}"


def forbidden_message(unit_name, source, findings):
    """The Japanese message for a unit whose code has `findings`: the grader's feedback and the students'
    self-check both say this. `source` is the unit's source as the catalog gives it
    (`{"kind": "package", "module": "attention", ...}` or `{"kind": "notebook", "name": "softmax"}`)."""
    where = f"transformer/{source['module']}.py" if source["kind"] == "package" else f"セル {source['name']}"
    lines = "\n".join(f"- {where} の {finding}" for finding in findings[:MAX_FINDINGS_SHOWN])
    return f"{unit_name} のコードに、この課題では使えないものがあります（このユニットは 0 点です）。\n{lines}"


@functools.lru_cache(maxsize=64)
def _parse(source, offset=0):
    """The syntax tree, once per source text (several units share a file), its line numbers less `offset`
    (never below 0); None if unparsable."""
    try:
        tree = parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if hasattr(node, "lineno"):
            node.lineno = max(0, node.lineno - offset)
    return tree


def find_forbidden(source, unit_name, groups, other_units=frozenset(), imports=""):
    """The findings in `source` for the unit `unit_name` under its forbidden `groups`, in line order.

    `other_units` are the unit's stand-ins: the scope does not follow into them (while this unit is
    graded, the trusted stand-in runs in their place, and they are graded as units of their own).
    Unparsable source gives none: the sandbox's import then reports the syntax error itself.
    `imports` (a notebook cell's imports from the cells above it) are read as the start of the
    source; a finding there has line 0."""
    offset = imports.count("\n") + 1 if imports else 0
    tree = _parse(f"{imports}\n{source}" if imports else source, offset)
    if tree is None:
        return []
    scope = _scope(tree, unit_name, other_units - {unit_name})
    found = set(_hiding(scope, tree))
    for rule in rules_for(groups).values():
        found |= set(_forbidden_names(tree.body if rule.whole_file else scope, rule, tree))
    return sorted(found, key=lambda f: (f.line, f.what))


def _definitions(tree):
    """Top-level name -> its definitions (functions and classes), in order."""
    found = {}
    for node in tree.body:
        if isinstance(node, DEFINITIONS):
            found.setdefault(node.name, []).append(node)
    return found


def _walk(statements):
    """Every node of `statements`, nested ones included."""
    return (node for statement in statements for node in _nodes(statement))


@functools.lru_cache(maxsize=4096)
def _nodes(statement):
    """Every node of one top-level statement, listed once: each unit of a file, and each of its rules, reads
    the same statements again."""
    return tuple(ast.walk(statement))


def _from_torch(node):
    """Whether `node` is a `from torch... import ...`."""
    return isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "torch"


def _names_used(statements):
    return [n.id for n in _walk(statements) if isinstance(n, ast.Name)]


def _scope(tree, unit_name, other_units):
    """The statements that make up the unit: the module-level code, its definitions, and what they refer to."""
    definitions = {name: nodes for name, nodes in _definitions(tree).items() if name not in other_units}
    statements = [n for n in tree.body if not isinstance(n, DEFINITIONS)]
    wanted, taken = [unit_name, *_names_used(statements)], set()
    while wanted:
        name = wanted.pop()
        if name in taken or name not in definitions:
            continue
        taken.add(name)
        statements += definitions[name]
        wanted += _names_used(definitions[name])
    return statements


@dataclass(frozen=True)
class _FileNames:
    """What a file's names are bound to, read once per syntax tree (every rule of every unit of the file asks)."""

    modules: frozenset  # names bound to a module by an import
    torch_names: frozenset  # names bound to torch itself
    from_torch: dict  # local name -> the name imported `from torch... import`
    star: bool  # whether a `from torch... import *` is among them
    defined: frozenset  # names the file assigns or defines


@functools.lru_cache(maxsize=64)
def _file_names(tree):
    modules, torch_names, from_torch, star, defined = set(), set(), {}, False, set(_definitions(tree))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.add(alias.asname or alias.name.split(".")[0])
                if alias.name == "torch" or (alias.asname is None and alias.name.startswith("torch.")):
                    torch_names.add(alias.asname or "torch")
        elif _from_torch(node):
            modules |= {alias.asname or alias.name for alias in node.names if alias.name in TORCH_SUBMODULES}
            for alias in node.names:
                from_torch[alias.asname or alias.name] = alias.name
                star = star or alias.name == "*"
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
    return _FileNames(frozenset(modules), frozenset(torch_names), from_torch, star, frozenset(defined))


def _root(node):
    """The name an attribute chain or call hangs off (`F` for `F.softmax(x).sum`), if any."""
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _hiding(statements, tree):
    """Constructs that hide what runs, anywhere in `statements`."""
    names = _file_names(tree)
    modules, torch_names = names.modules, names.torch_names
    for node in _walk(statements):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in HIDING_CALLS:
                yield Finding(node.lineno, f"{name}()（実行するコードを隠す書き方）")
            elif name in ATTRIBUTE_CALLS and node.args and _root(node.args[0]) in modules:
                constant = len(node.args) >= 2 and isinstance(node.args[1], ast.Constant)
                if name != "getattr" or not constant:
                    yield Finding(node.lineno, f"モジュールに対する {name}()（名前を隠した呼び出しや書き換え）")
                elif node.args[1].value in TORCH_INTERNALS:
                    yield Finding(node.lineno, f"torch.{node.args[1].value}（PyTorch の内部 API）")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imported = [node.module or ""] if isinstance(node, ast.ImportFrom) else [alias.name for alias in node.names]
            if isinstance(node, ast.ImportFrom) and node.module == "torch":
                imported += [f"torch.{alias.name}" for alias in node.names]
            for module in imported:
                parts = module.split(".")
                if parts[0] in HIDDEN_MODULES:
                    yield Finding(node.lineno, f"import {module}（採点や読み込みの仕組みには触れられません）")
                elif parts[:1] == ["torch"] and parts[1:2] and parts[1] in TORCH_INTERNALS:
                    yield Finding(node.lineno, f"import {module}（PyTorch の内部 API）")
        elif isinstance(node, ast.Attribute) and node.attr in TORCH_INTERNALS \
                and isinstance(node.value, ast.Name) and node.value.id in torch_names:
            yield Finding(node.lineno, f"torch.{node.attr}（PyTorch の内部 API）")


def _forbidden_names(statements, rule, tree):
    """Uses of the rule's names in `statements`: as attributes, as names imported from torch (one by
    one or by `*`), in `from torch... import name`, or as `getattr(x, "name")`."""
    file_names = _file_names(tree)
    imported, star, defined = file_names.from_torch, file_names.star, file_names.defined
    names = rule.names
    for node in _walk(statements):
        used = None
        if isinstance(node, ast.Attribute) and node.attr in names:
            used = node.attr
        elif isinstance(node, ast.Name) and imported.get(node.id) in names:
            used = imported[node.id]
        elif isinstance(node, ast.Name) and star and node.id in names and node.id not in defined:
            used = f"{node.id}（import * で取り込んだもの）"
        elif _from_torch(node):
            used = next((alias.name for alias in node.names if alias.name in names), None)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr" \
                and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and node.args[1].value in names:
            used = node.args[1].value
        if used:
            yield Finding(node.lineno, f"{used}（使えない API: {rule.why}）")
