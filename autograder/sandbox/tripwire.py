"""Forbidden PyTorch APIs at run time, in the unit's own process (advisory: the student's code shares it).

While a `Tripwire` is active, the forbidden functions raise when called directly from the
student's code. The static check on the trusted side (`autograder.grader.forbidden`) is the rule
that costs points whatever happens here; this one catches what the source text hides.
"""

import sys

import torch

FORBIDDEN_TARGETS = {
    "scaled_dot_product_attention": [(torch.nn.functional, "scaled_dot_product_attention"),
                                     (torch._C._nn, "scaled_dot_product_attention"),
                                     (torch.nn.functional, "multi_head_attention_forward")],
    "MultiheadAttention": [(torch.nn.MultiheadAttention, "forward")],
    "Transformer": [(torch.nn.Transformer, "forward"), (torch.nn.TransformerEncoderLayer, "forward"),
                    (torch.nn.TransformerDecoderLayer, "forward"), (torch.nn.TransformerEncoder, "forward"),
                    (torch.nn.TransformerDecoder, "forward")],
    "softmax": [(torch, "softmax"), (torch.nn.functional, "softmax"), (torch.Tensor, "softmax"),
                (torch, "log_softmax"), (torch.nn.functional, "log_softmax"), (torch.Tensor, "log_softmax")],
    "layer_norm": [(torch.nn.functional, "layer_norm"), (torch, "layer_norm")],
    "gelu": [(torch.nn.functional, "gelu")],
    "cross_entropy": [(torch.nn.functional, "cross_entropy"), (torch.nn.functional, "nll_loss"),
                      (torch.nn.functional, "log_softmax"), (torch, "log_softmax"), (torch.Tensor, "log_softmax")],
}


class ForbiddenCall(Exception):
    pass


class Tripwire:
    """While active, the forbidden functions raise when called directly from code under `student_root`."""

    def __init__(self, names, student_root):
        self.targets = [(owner, attr, name) for name in names for owner, attr in FORBIDDEN_TARGETS.get(name, [])]
        self.student_root = student_root
        self.violations = []
        self._saved = []

    def __enter__(self):
        for owner, attr, name in self.targets:
            original = getattr(owner, attr)
            self._saved.append((owner, attr, original))
            setattr(owner, attr, self._guard(original, name))

    def __exit__(self, *exc):
        for owner, attr, original in reversed(self._saved):
            setattr(owner, attr, original)
        self._saved.clear()

    def _guard(self, original, name):
        tripwire = self

        def guarded(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(tripwire.student_root) or caller.startswith("<cell"):
                tripwire.violations.append(name)
                raise ForbiddenCall(f"{name} は使えません")
            return original(*args, **kwargs)

        return guarded
