"""What a case's spec means: how each kind of unit is called, seeded and read back.

The trusted side runs these on the reference to get the expected values; the sandbox runs the
very same code on the student's objects, so the two sides can differ only in the code under test.
A runner takes the unit's target (the student's or the reference's class or function), the case's
spec (JSON), its inputs (built on the trusted side) and a `Swaps`: the trusted stand-ins the case
may put in place of sub-units, and how to put a stand-in function into the code under test.
"""

import random
import zlib
from dataclasses import dataclass, field

import torch


@dataclass
class Swaps:
    standins: dict = field(default_factory=dict)  # stand-in name -> class or function
    patch_function: object = None  # (name, replacement) -> None: replace a package function in the code under test


def make_torch_deterministic():
    """One intra-op thread and deterministic algorithms, in every process that computes a graded value.

    `torch.use_deterministic_algorithms` also imports the whole torch.compile stack (about 4 s) just
    to set that stack's own flag; grading never compiles, so only the eager flag is set.
    """
    torch.set_num_threads(1)
    torch._C._set_deterministic_algorithms(True)


def seed(value):
    random.seed(value)
    torch.default_generator.manual_seed(value)  # torch.manual_seed's lazy accelerator hooks cost milliseconds
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(value)
    try:
        import numpy

        numpy.random.seed(value)
    except ImportError:
        pass


def _swap_functions(case, swaps):
    """Put the trusted stand-ins in place of the package functions the unit calls."""
    for name in case.get("swap_functions", []):
        swaps.patch_function(name, swaps.standins[name])


def _swap_modules(module, case, swaps):
    """Put the trusted stand-ins in place of the unit's submodules."""
    for path, spec in case.get("swap_modules", {}).items():
        owner, _, attr = path.rpartition(".")
        parent = module.get_submodule(owner) if owner else module
        setattr(parent, attr, swaps.standins[spec["standin"]](**spec.get("init", {})))


class KeyedDropout(torch.nn.Module):
    """Dropout whose mask depends only on where it sits (`key`: its name in the graded module) and on how
    many times it has run, never on the order in which the code under test draws random numbers:
    the reference and a correct submission drop the same elements however else they differ."""

    def __init__(self, p, key):
        super().__init__()
        self.p, self.key, self.calls = p, key, 0

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        self.calls += 1
        generator = torch.Generator().manual_seed(zlib.crc32(f"{self.key}#{self.calls}".encode()))
        keep = torch.rand(x.shape, generator=generator) >= self.p
        return x * keep.to(device=x.device, dtype=x.dtype) / (1 - self.p)


def key_dropouts(module, quiet=()):
    """Replace every `nn.Dropout` inside `module` by a `KeyedDropout` named after its place; those under
    the `quiet` paths (the sub-units a case swaps for stand-ins without dropout) drop nothing."""
    for path, child in list(module.named_modules()):
        if type(child) is torch.nn.Dropout:
            owner, _, attr = path.rpartition(".")
            silent = any(path == q or path.startswith(f"{q}.") for q in quiet)
            setattr(module.get_submodule(owner) if owner else module, attr, KeyedDropout(0.0 if silent else child.p, path))


def _dtype(case):
    return getattr(torch, case.get("dtype", "float32"))


def run_function(target, case, inputs, swaps):
    _swap_functions(case, swaps)
    kwargs = dict(case.get("kwargs", {}))
    if "dropout" in case:  # a dropout module to apply, in training mode
        kwargs["dropout"] = KeyedDropout(case["dropout"], "dropout")
    return target(*inputs.get("args", []), **kwargs, **inputs.get("tensor_kwargs", {}))


def run_device_choice(target, case, inputs, swaps):
    """get_device with the accelerators the case pretends are present."""
    saved = torch.cuda.is_available, torch.backends.mps.is_available
    torch.cuda.is_available = lambda: case["cuda"]
    torch.backends.mps.is_available = lambda: case["mps"]
    try:
        return target()
    finally:
        torch.cuda.is_available, torch.backends.mps.is_available = saved


def load_parameters(module, state):
    """Load the case's parameters; the buffers stay as the module's own construction made them.
    Any other missing or unexpected key fails as `load_state_dict` would."""
    missing, unexpected = module.load_state_dict(state, strict=False)
    own_buffers = {name for name, _ in module.named_buffers()}
    wrong = [key for key in missing if key not in own_buffers] + list(unexpected)
    if wrong:
        raise RuntimeError(f"state_dict のキーが約束と違います: {', '.join(sorted(wrong)[:8])}")


def run_module(target, case, inputs, swaps):
    """Construct, swap in the stand-ins, load the case's state, call. A `__structure__` case returns the
    student's own parameter and buffer names (read before any swap), and only once their forward runs:
    a structure the skeleton already has earns nothing by itself."""
    _swap_functions(case, swaps)  # before construction: __init__ may call them (PositionalEncoding's table)
    module = target(**case["init"])
    structure = {"parameters": sorted(n for n, _ in module.named_parameters()), "buffers": sorted(n for n, _ in module.named_buffers())}
    _swap_modules(module, case, swaps)
    key_dropouts(module, case.get("quiet_dropout", []))
    seed(case.get("seed", 0))  # the same random stream from here on, however construction drew from it
    load_parameters(module, inputs["state"])
    module.to(_dtype(case))
    module.train(case.get("train", False))
    if case.get("method") == "__structure__":
        module(*inputs.get("args", []))
        return structure
    method = getattr(module, case.get("method", "forward"))
    return method(*inputs.get("args", []), **case.get("kwargs", {}))


class ForwardModes:
    """What the contract fixes about how a model is run: the train/eval mode and the grad mode of
    every forward call of its modules, recorded by a forward pre-hook on each (the mode the model
    is left in afterwards is the student's choice, and is not compared)."""

    def __init__(self, model):
        self.seen = set()
        self.handles = [module.register_forward_pre_hook(self._record) for module in model.modules()]

    def _record(self, module, args):
        self.seen.add((module.training, torch.is_grad_enabled()))

    def summary(self):
        for handle in self.handles:
            handle.remove()
        return {"train_mode": sorted({train for train, _ in self.seen}), "grad_enabled": sorted({grad for _, grad in self.seen})}


def _optimizer(case, model):
    """Adam by default; SGD where the case needs updates in proportion to the gradient (clipping, schedules)."""
    if case.get("optimizer") == "sgd":
        return torch.optim.SGD(model.parameters(), lr=case.get("lr", 0.5))
    return torch.optim.Adam(model.parameters(), lr=case.get("lr", 1e-2))


def run_training(target, case, inputs, swaps):
    """train_one_epoch / evaluate / greedy_decode on a stand-in model; returns outputs, parameters and the
    modes the model ran its forward calls in."""
    model = swaps.standins[case["model"]](**case["model_init"])
    seed(case.get("seed", 0))
    model.load_state_dict(inputs["state"])
    model.train(case.get("start_in_train_mode", False))
    _swap_functions(case, swaps)
    if case.get("stale_gradients"):  # gradients left over from before the call: they must not leak into it
        for parameter in model.parameters():
            parameter.grad = torch.randn_like(parameter)
    modes = ForwardModes(model)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=case.get("ignore_index", 0))
    batches = list(zip(inputs.get("sources", []), inputs.get("targets", [])))
    call = case["call"]
    if call == "train_one_epoch":
        optimizer = _optimizer(case, model)
        options = {"max_grad_norm": case["max_grad_norm"]} if "max_grad_norm" in case else {}
        if "scheduler_gamma" in case:  # the learning rate halves (say) after every step the scheduler is told of
            options["scheduler"] = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=case["scheduler_gamma"])
        returned = target(model, batches, optimizer, criterion, **options)
    elif call == "evaluate":
        returned = target(model, batches, criterion)
    elif call == "sequence_loss":
        returned = target(model, batches[0][0], batches[0][1], criterion)
    elif call == "greedy_decode":
        returned = target(model, inputs["src"], case["max_len"])
    elif call == "train_step":
        optimizer = torch.optim.SGD(model.parameters(), lr=case.get("lr", 0.1))
        returned = [target(model, x, y, criterion, optimizer) for x, y in batches]
    else:  # eval_step
        returned = [target(model, x, y, criterion) for x, y in batches]
    observed = {"returned": returned, "state": dict(model.state_dict()), "forward": modes.summary()}
    if case.get("compare_gradients"):  # evaluation leaves the gradients as they were
        observed["gradients"] = [parameter.grad for parameter in model.parameters()]
    return observed


def run_count_parameters(target, case, inputs, swaps):
    model = swaps.standins[case["model"]](**case["model_init"])
    for tied, source in case.get("tie", []):  # one weight shared by two layers
        model.get_submodule(tied).weight = model.get_submodule(source).weight
    for name in case.get("frozen", []):
        model.get_parameter(name).requires_grad_(False)
    return target(model)


RUNNERS = {
    "function": run_function,
    "device_choice": run_device_choice,
    "module": run_module,
    "training": run_training,
    "count_parameters": run_count_parameters,
}
