"""What a case's spec means: how each kind of unit is called, seeded and read back.

The trusted side runs these on the reference to get the expected values; the sandbox runs the
very same code on the student's objects, so the two sides can differ only in the code under test.
A runner takes the unit's target (the student's or the reference's class or function), the case's
spec (JSON), its inputs (built on the trusted side) and a `Swaps`: the trusted stand-ins the case
may put in place of sub-units, and how to put a stand-in function into the code under test.
"""

import random
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


def _dtype(case):
    return getattr(torch, case.get("dtype", "float32"))


def run_function(target, case, inputs, swaps):
    _swap_functions(case, swaps)
    return target(*inputs.get("args", []), **case.get("kwargs", {}), **inputs.get("tensor_kwargs", {}))


def run_device_choice(target, case, inputs, swaps):
    """get_device with the accelerators the case pretends are present."""
    saved = torch.cuda.is_available, torch.backends.mps.is_available
    torch.cuda.is_available = lambda: case["cuda"]
    torch.backends.mps.is_available = lambda: case["mps"]
    try:
        return target()
    finally:
        torch.cuda.is_available, torch.backends.mps.is_available = saved


def run_module(target, case, inputs, swaps):
    _swap_functions(case, swaps)  # before construction: __init__ may call them (PositionalEncoding's table)
    module = target(**case["init"])
    _swap_modules(module, case, swaps)
    seed(case.get("seed", 0))  # the same random stream from here on, however construction drew from it
    module.load_state_dict(inputs["state"])
    module.to(_dtype(case))
    module.train(case.get("train", False))
    if case.get("method") == "__structure__":
        return {"parameters": sorted(n for n, _ in module.named_parameters()), "buffers": sorted(n for n, _ in module.named_buffers())}
    method = getattr(module, case.get("method", "forward"))
    return method(*inputs.get("args", []), **case.get("kwargs", {}))


def run_training(target, case, inputs, swaps):
    """train_one_epoch / evaluate / greedy_decode on a stand-in model; returns outputs and parameters."""
    model = swaps.standins[case["model"]](**case["model_init"])
    seed(case.get("seed", 0))
    model.load_state_dict(inputs["state"])
    model.train(case.get("start_in_train_mode", False))
    _swap_functions(case, swaps)
    criterion = torch.nn.CrossEntropyLoss(ignore_index=case.get("ignore_index", 0))
    batches = list(zip(inputs.get("sources", []), inputs.get("targets", [])))
    call = case["call"]
    if call == "train_one_epoch":
        optimizer = torch.optim.Adam(model.parameters(), lr=case.get("lr", 1e-2))
        returned = target(model, batches, optimizer, criterion)
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
    return {"returned": returned, "state": dict(model.state_dict()), "training": model.training}


def run_count_parameters(target, case, inputs, swaps):
    model = swaps.standins[case["model"]](**case["model_init"])
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
