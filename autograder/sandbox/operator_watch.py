"""Forbidden PyTorch at run time, seen where every spelling ends: the dispatcher (advisory: in-process).

While an `OperatorWatch` is active, a `TorchDispatchMode` sees each aten operator the unit's code
makes the dispatcher run, and the forbidden `nn` classes' `forward` is guarded. The unit's
forbidden operators (`F.softmax`, `torch._softmax`, `nn.Softmax()`, `F.softmin(-x)` and a reference
stolen earlier all run `aten::_softmax`) and forbidden classes (`MHA = nn.MultiheadAttention`
called through `Module.__call__`: the class is the same object) raise `ForbiddenCall` and are
recorded. The table is `autograder.protocol.forbidden_apis`. The student's code shares this
process and could remove the watch, so each exit checks it is still in place (`tampered` says
when it was not); the static check on the trusted side is the rule that costs points whatever
happens here.
"""

import traceback

import torch
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode_stack

from autograder.protocol.forbidden_apis import operator_matches


class ForbiddenCall(Exception):
    pass


class _Dispatch(TorchDispatchMode):
    def __init__(self, watch):
        super().__init__()
        self.watch = watch

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        rule = self.watch.rule_for(func)
        if rule is not None:
            self.watch.refuse(func._schema.name, rule)
        return func(*args, **(kwargs or {}))


class OperatorWatch:
    """While active, the rules' operators and module classes raise; `violations` lists what was tried."""

    def __init__(self, rules, where):
        """`where(frames)` names the student's line among the stack's frames."""
        self.rules = [rule for rule in rules.values() if rule.operators]
        self.classes = {getattr(torch.nn, name): rule for rule in rules.values() for name in rule.modules}
        self.where = where
        self.violations = []  # Japanese: what was called, and why it may not be
        self.first_line = ""  # the student's line of the first forbidden call
        self.tampered = False  # the watch was no longer in place when a block under it ended
        self._mode, self._guards = None, {}
        self._rule_of = {}  # operator overload -> the rule that forbids it, or None: each decided once per process

    def rule_for(self, func):
        """The rule that forbids the aten operator `func` (named like "aten::_softmax"), or None."""
        if func not in self._rule_of:
            name = func._schema.name
            self._rule_of[func] = next((rule for rule in self.rules if operator_matches(name, rule.operators)), None)
        return self._rule_of[func]

    def refuse(self, what, rule):
        self.violations.append(f"{what}（{rule.why}）")
        self.first_line = self.first_line or self.where(traceback.extract_stack())
        raise ForbiddenCall(f"{what} は使えません（{rule.why}）")

    def _guard(self, cls, rule):
        def forward(module, *args, **kwargs):
            self.refuse(f"torch.nn.{cls.__name__}", rule)

        return forward

    def __enter__(self):
        self._guards = {cls: (cls.forward, self._guard(cls, rule)) for cls, rule in self.classes.items()}
        for cls, (_, guard) in self._guards.items():
            cls.forward = guard
        if self.rules:
            self._mode = _Dispatch(self)
            self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self.tampered = self.tampered or not self._in_place()
        if self._mode is not None:
            mode, self._mode = self._mode, None
            if mode in _get_current_dispatch_mode_stack():
                mode.__exit__(*exc)
        for cls, (original, _) in self._guards.items():
            cls.forward = original

    def _in_place(self):
        """Whether the watch is still as it was put there (the student's code could have removed it)."""
        mode_ok = self._mode is None or _get_current_dispatch_mode_stack()[-1:] == [self._mode]
        return mode_ok and all(cls.forward is guard for cls, (_, guard) in self._guards.items())
