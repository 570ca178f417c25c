"""The untrusted side: runs one unit's cases on a student's code, inside the sandbox child.

This module never imports the reference solution or the hidden tests. It reads `job.json`
(what to call) from the current folder, takes the case inputs the zygote loaded before forking,
and writes one result file per case (see `wire.py`): plain tensors and numbers only, or an error description.
"""

import builtins
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import json
import os
import random
import sys
import traceback
import types
from pathlib import Path

import torch

from autograder import wire

def prepare():
    """Read the job (called before the sandbox closes)."""
    return json.loads(Path("job.json").read_text(encoding="utf-8"))


STANDIN_SOURCES = {}  # module name -> (file name, source), read before the sandbox hides autograder/


def cache_standin_sources():
    """Read the stand-in modules' text once, so jobs can import the few they need after the files are hidden."""
    folder = Path(__file__).with_name("standins")
    for path in sorted(folder.glob("*.py")):
        STANDIN_SOURCES[f"autograder.standins.{path.stem}"] = (str(path), path.read_text(encoding="utf-8"))


class _StandinFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `autograder.standins.<name>` from the cached text."""

    def find_spec(self, name, path=None, target=None):
        if name in STANDIN_SOURCES:
            return importlib.util.spec_from_loader(name, self, origin=STANDIN_SOURCES[name][0])
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        filename, source = STANDIN_SOURCES[module.__name__]
        module.__file__ = filename
        exec(compile(source, filename, "exec"), module.__dict__)


def _load_standins(names):
    """Import only the stand-in modules this job needs; returns name -> class or function."""
    from autograder.standins import STANDINS

    if STANDIN_SOURCES and not any(isinstance(f, _StandinFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _StandinFinder())
    return {name: getattr(importlib.import_module(f"autograder.standins.{STANDINS[name]}"), name) for name in names}


def make_torch_deterministic():
    """One intra-op thread and deterministic algorithms, in every process that computes a graded value.

    `torch.use_deterministic_algorithms` also imports the whole torch.compile stack (about 4 s) just
    to set that stack's own flag; grading never compiles, so only the eager flag is set.
    """
    torch.set_num_threads(1)
    torch._C._set_deterministic_algorithms(True)


PRELOADED_INPUTS = None  # the batch's inputs, loaded once by the zygote and inherited by every child


def preload_inputs(fd):
    """Load the batch's case inputs once, before forking, from the grader's unnamed file; close it.

    The file's offset is shared with the grader and the other zygotes, so it is read with pread.
    """
    global PRELOADED_INPUTS
    size, data = os.fstat(fd).st_size, bytearray()
    while len(data) < size:
        chunk = os.pread(fd, size - len(data), len(data))
        if not chunk:
            break
        data += chunk
    os.close(fd)
    PRELOADED_INPUTS = torch.load(io.BytesIO(data), weights_only=True)


def run_job(job):
    """Run every unit's cases, in the catalog's order, from the flat case index `job["start"]` on.

    Units come lowest first, and each loads only the stand-ins of the units below it, so a unit's
    own stand-in is never in this process while that unit is graded. Returns the exit code.
    """
    make_torch_deterministic()
    sys.meta_path.insert(0, _StudentImportWatch(job.get("poisoned", [])))
    for unit in job["units"]:
        if unit["first"] + len(unit["cases"]) > job["start"]:
            _run_unit(unit, PRELOADED_INPUTS[unit["name"]], job["start"])
    return 0


def _run_unit(unit, inputs, start):
    indices = [i for i in range(len(unit["cases"])) if unit["first"] + i >= start]
    tripwire = Tripwire(unit.get("forbidden", []))
    try:
        standins = _load_standins(unit.get("standins", []))
        _mark_loading({"unit": unit["name"], "module": None})
        with tripwire:
            target = _load_target(unit)
        Path(LOADING_MARKER).unlink()
    except BaseException as error:  # the student's import failed: every case of the unit reports it
        Path(LOADING_MARKER).unlink(missing_ok=True)
        kind = "forbidden" if tripwire.violations else "import"
        for i in indices:
            _write_result(unit["first"] + i, _error_result(kind, error))
        return
    for i in indices:
        case = unit["cases"][i]
        _seed(case.get("seed", 0))
        try:
            with tripwire:
                outputs = RUNNERS[unit["runner"]](target, case, inputs[i], standins)
            result = {"ok": True, "outputs": to_plain(outputs)}
        except BaseException as error:  # includes SystemExit and KeyboardInterrupt raised by student code
            result = _error_result("exception", error)
        if tripwire.violations:
            result = _failure("forbidden", "ForbiddenCall", ", ".join(sorted(set(tripwire.violations))))
        _write_result(unit["first"] + i, result)


def _seed(seed):
    random.seed(seed)
    torch.default_generator.manual_seed(seed)  # torch.manual_seed's lazy accelerator hooks cost milliseconds
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    try:
        import numpy

        numpy.random.seed(seed)
    except ImportError:
        pass


def _write_result(index, result):
    """Write, then rename: the sandbox collects only complete files."""
    name = wire.result_name(index)
    Path(f".{name}.partial").write_bytes(wire.dump_result(result))
    os.replace(f".{name}.partial", name)


def _error_result(kind, error):
    frames = traceback.extract_tb(error.__traceback__)
    student_frames = [f for f in frames if f.filename.startswith(str(Path.cwd())) or f.filename.startswith("<")]
    where = f"{Path(student_frames[-1].filename).name}:{student_frames[-1].lineno}" if student_frames else ""
    try:
        message = str(error)
    except Exception:  # an exception whose __str__ fails still reports its type
        message = ""
    return _failure(kind, type(error).__name__, message, where)


def _failure(kind, error, message, where=""):
    """A failed case's result, each text cut to what the trusted side accepts."""
    fields = {"kind": kind, "error": error, "message": message, "where": where}
    return {"ok": False, **{key: value[:wire.ERROR_FIELDS[key]] for key, value in fields.items()}}


# --- loading the student's code ---------------------------------------------------------------


def _load_target(unit):
    """The student's code the unit needs: the package module's object, or the notebook cell's."""
    source = unit["source"]
    if source["kind"] == "package":
        _bare_package()
        module = importlib.import_module(f"transformer.{source['module']}")
        return getattr(module, source["name"])
    namespace = {"__name__": "notebook"}
    grade_id = source["name"]
    code = json.loads(Path("cells.json").read_text(encoding="utf-8"))[grade_id]
    exec(compile(code, f"<cell {grade_id}>", "exec"), namespace)
    return namespace[source["name"]]


LOADING_MARKER = "loading.json"  # present while a unit's code is being imported; names the innermost module
STUDENT_MODULES = []  # the `transformer.*` modules imported so far, for swapping stand-ins into them


def _mark_loading(state):
    Path(f".{LOADING_MARKER}.partial").write_text(json.dumps(state), encoding="utf-8")
    os.replace(f".{LOADING_MARKER}.partial", LOADING_MARKER)


class _StudentImportWatch(importlib.abc.MetaPathFinder):
    """Records which `transformer.*` module is being imported (to blame a hang on it), and refuses the
    modules that hung before, so the units that import them fail at once instead of hanging again."""

    def __init__(self, poisoned):
        self.poisoned = set(poisoned)

    def find_spec(self, name, path=None, target=None):
        if not name.startswith("transformer."):
            return None
        if name in self.poisoned:
            raise ImportError(f"{name} は読み込みの途中で止まったことがあるため、読み込みません（import 時の無限ループなど）")
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _WatchedLoader(spec.loader, name)
        return spec


class _WatchedLoader(importlib.abc.Loader):
    def __init__(self, loader, name):
        self.loader, self.name = loader, name

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        state = json.loads(Path(LOADING_MARKER).read_text(encoding="utf-8")) if Path(LOADING_MARKER).exists() else {}
        _mark_loading({**state, "module": self.name})
        STUDENT_MODULES.append(self.name)
        self.loader.exec_module(module)
        if state:
            _mark_loading(state)


def _bare_package():
    """Register `transformer` without running its __init__.py, so a broken file costs only the units that import it."""
    if "transformer" not in sys.modules:
        package = types.ModuleType("transformer")
        package.__path__ = [str(Path.cwd() / "transformer")]
        package.__package__ = "transformer"
        sys.modules["transformer"] = package


# --- forbidden APIs at run time --------------------------------------------------------------


class ForbiddenCall(Exception):
    pass


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


class Tripwire:
    """While active, the forbidden functions raise when called directly from the student's code."""

    def __init__(self, names):
        self.targets = [(owner, attr, name) for name in names for owner, attr in FORBIDDEN_TARGETS.get(name, [])]
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
        tripwire, student_root = self, str(Path.cwd())

        def guarded(*args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(student_root) or caller.startswith("<cell"):
                tripwire.violations.append(name)
                raise ForbiddenCall(f"{name} は使えません")
            return original(*args, **kwargs)

        return guarded


# --- turning results into plain data ---------------------------------------------------------


def to_plain(value, depth=0):
    """Tensors (exactly torch.Tensor), numbers, None, lists/tuples/dicts of those; anything else is described."""
    if depth > 4:
        return {"__unsupported__": "深すぎる入れ子"}
    if isinstance(value, torch.Tensor):
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            return {"__unsupported__": f"Tensor のサブクラス {type(value).__name__}"}
        plain = torch.Tensor.detach(value)
        if type(plain) is not torch.Tensor:
            return {"__unsupported__": "Tensor のサブクラス"}
        return torch.Tensor.clone(torch.Tensor.cpu(plain)).contiguous()
    if type(value) in (bool, int, float, str) or value is None:
        return value
    if type(value) is torch.device:
        return {"__device__": value.type}
    if type(value) in (list, tuple):
        return {"__sequence__": type(value).__name__, "items": [to_plain(v, depth + 1) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"__dict__": {k: to_plain(v, depth + 1) for k, v in value.items()}}
    return {"__unsupported__": builtins.type(value).__module__ + "." + type(value).__qualname__}


# --- runners: how each kind of unit is called -------------------------------------------------


def _swap_functions(case, standins):
    """Put the trusted stand-ins in place of the package functions the unit calls."""
    for name in case.get("swap_functions", []):
        _patch_function(name, standins[name])


def _swap_modules(module, case, standins):
    """Put the trusted stand-ins in place of the unit's submodules."""
    for path, spec in case.get("swap_modules", {}).items():
        owner, _, attr = path.rpartition(".")
        parent = module.get_submodule(owner) if owner else module
        setattr(parent, attr, standins[spec["standin"]](**spec.get("init", {})))


def _patch_function(name, replacement):
    """Replace a package function wherever the student's modules hold it."""
    for module_name in STUDENT_MODULES:
        module = sys.modules.get(module_name)
        if module is not None and hasattr(module, name):
            setattr(module, name, replacement)


def _dtype(case):
    return getattr(torch, case.get("dtype", "float32"))


def run_function(target, case, inputs, standins):
    _swap_functions(case, standins)
    return target(*inputs.get("args", []), **case.get("kwargs", {}), **inputs.get("tensor_kwargs", {}))


def run_device_choice(target, case, inputs, standins):
    """get_device with the accelerators the case pretends are present."""
    saved = torch.cuda.is_available, torch.backends.mps.is_available
    torch.cuda.is_available = lambda: case["cuda"]
    torch.backends.mps.is_available = lambda: case["mps"]
    try:
        return target()
    finally:
        torch.cuda.is_available, torch.backends.mps.is_available = saved


def run_module(target, case, inputs, standins):
    _swap_functions(case, standins)  # before construction: __init__ may call them (PositionalEncoding's table)
    module = target(**case["init"])
    _swap_modules(module, case, standins)
    _seed(case.get("seed", 0))  # the same random stream from here on, however construction drew from it
    module.load_state_dict(inputs["state"])
    module.to(_dtype(case))
    module.train(case.get("train", False))
    if case.get("method") == "__structure__":
        return {"parameters": sorted(n for n, _ in module.named_parameters()), "buffers": sorted(n for n, _ in module.named_buffers())}
    method = getattr(module, case.get("method", "forward"))
    return method(*inputs.get("args", []), **case.get("kwargs", {}))


def run_training(target, case, inputs, standins):
    """train_one_epoch / evaluate / greedy_decode on a stand-in model; returns outputs and parameters."""
    model = standins[case["model"]](**case["model_init"])
    _seed(case.get("seed", 0))
    model.load_state_dict(inputs["state"])
    model.train(case.get("start_in_train_mode", False))
    _swap_functions(case, standins)
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


def run_count_parameters(target, case, inputs, standins):
    model = standins[case["model"]](**case["model_init"])
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
