"""Loading the student's code inside the unit's process, and the trusted stand-ins beside it.

The student's package lies read-only under CODE/transformer; it is registered without running its
`__init__.py`, so a broken file costs only the units that import it; the grader's .pyc of each
file that compiles lies beside it (`autograder.grader.bytecode`), so importing compiles nothing.
The stand-ins arrive compiled and live in a package of their own, `jisaku_standins`: only the
modules this unit is allowed (those below it) exist in the process at all.
"""

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import marshal
import sys
import traceback
import types
from pathlib import Path

from autograder.protocol.messages import ErrorKind
from autograder.protocol.wire import ERROR_FIELDS, blob_bytes

STANDIN_PACKAGE = "jisaku_standins"
STUDENT_PACKAGE = "transformer"


class StandinFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `jisaku_standins.<module>` from the compiled modules the unit's request carried, and nothing else."""

    def __init__(self, compiled):
        self.compiled = dict(compiled)  # stem -> marshalled code, as a uint8 tensor

    def find_spec(self, name, path=None, target=None):
        if name == STANDIN_PACKAGE:
            return importlib.util.spec_from_loader(name, self, is_package=True)
        package, _, module = name.partition(".")
        if package == STANDIN_PACKAGE and module in self.compiled:
            return importlib.util.spec_from_loader(name, self, origin=f"<stand-in {module}>")
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        if module.__name__ == STANDIN_PACKAGE:
            module.__path__ = []
            return
        stem = module.__name__.partition(".")[2]
        exec(marshal.loads(blob_bytes(self.compiled[stem])), module.__dict__)  # the grader's own code, compiled there


def load_standins(compiled, names):
    """Import the stand-in modules given compiled; returns stand-in name -> class or function."""
    sys.meta_path.insert(0, StandinFinder(compiled))
    return {name: getattr(importlib.import_module(f"{STANDIN_PACKAGE}.{module}"), name) for name, module in names.items()}


class StudentImportWatch(importlib.abc.MetaPathFinder):
    """Reports each `transformer.*` module as it starts to load, until `report` is set to None when the
    unit's code is in (to blame a hang on it); refuses the modules that hung before, so the units that
    import them fail at once instead of hanging again; and puts the unit's stand-ins in the place of a
    module the submission lacks (`substitutes`: module -> {name: stand-in module stem})."""

    def __init__(self, poisoned, report, substitutes):
        self.poisoned, self.report, self.substitutes = set(poisoned), report, substitutes
        self.loaded = []  # the student's modules imported so far, for swapping stand-ins into them

    def find_spec(self, name, path=None, target=None):
        if not name.startswith(f"{STUDENT_PACKAGE}."):
            return None
        if name in self.poisoned:
            raise ImportError(f"{name} は読み込みの途中で止まったことがあるため、読み込みません（import 時の無限ループなど）")
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        module = name.partition(".")[2]
        if spec is None and self.substitutes.get(module):
            return importlib.util.spec_from_loader(name, _SubstituteLoader(self.substitutes[module]), origin="<stand-ins>")
        if spec is not None and spec.loader is not None:
            spec.loader = _WatchedLoader(spec.loader, name, self)
        return spec

    def patch_function(self, name, replacement):
        """Replace a package function wherever the student's modules hold it."""
        for module_name in self.loaded:
            module = sys.modules.get(module_name)
            if module is not None and hasattr(module, name):
                setattr(module, name, replacement)


def substitutes_for(homes, compiled):
    """student module -> {name: stand-in stem}, for the stand-ins whose module this unit was sent."""
    found = {}
    for name, (module, stem) in homes.items():
        if stem in compiled:
            found.setdefault(module, {})[name] = stem
    return found


class _SubstituteLoader(importlib.abc.Loader):
    """A module the submission lacks, made of the trusted stand-ins of the names it should define."""

    def __init__(self, names):
        self.names = names

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        for name, stem in self.names.items():
            setattr(module, name, getattr(importlib.import_module(f"{STANDIN_PACKAGE}.{stem}"), name))


class _WatchedLoader(importlib.abc.Loader):
    def __init__(self, loader, name, watch):
        self.loader, self.name, self.watch = loader, name, watch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        if self.watch.report is not None:  # while the unit loads; an import inside a case is no news
            self.watch.report(self.name)
        self.watch.loaded.append(self.name)
        self.loader.exec_module(module)


def register_bare_package(code_dir):
    """Register `transformer` without running its __init__.py."""
    package = types.ModuleType(STUDENT_PACKAGE)
    package.__path__ = [str(Path(code_dir) / STUDENT_PACKAGE)]
    package.__package__ = STUDENT_PACKAGE
    sys.modules[STUDENT_PACKAGE] = package


def load_target(source, cell):
    """The student's object the unit grades: from the package module, or from the notebook cell's text
    (`cell` is [its source, the imports of the notebook's cells above it], run first as Jupyter would)."""
    if source["kind"] == "package":
        module = importlib.import_module(f"{STUDENT_PACKAGE}.{source['module']}")
        return getattr(module, source["name"])
    text, imports = cell
    namespace = {"__name__": "notebook"}
    exec(compile(imports, "<cell imports>", "exec"), namespace)
    exec(compile(text, f"<cell {source['name']}>", "exec"), namespace)
    return namespace[source["name"]]


def student_where(frames, code_dir):
    """`file:line` of the innermost of `frames` that is the student's code, or "" if none is."""
    student_frames = [f for f in frames if f.filename.startswith(str(code_dir)) or f.filename.startswith("<cell")]
    return f"{Path(student_frames[-1].filename).name}:{student_frames[-1].lineno}" if student_frames else ""


def error_result(kind, error, code_dir):
    """A failed case's result: what went wrong, and where in the student's code."""
    where = student_where(traceback.extract_tb(error.__traceback__), code_dir)
    try:
        message = str(error)
    except Exception:  # an exception whose __str__ fails still reports its type
        message = ""
    return failure(kind, type(error).__name__, message, where)


def failure(kind, error, message, where=""):
    """A failed case's result, each text cut to what the trusted side accepts."""
    fields = {"kind": ErrorKind(kind).value, "error": error, "message": message, "where": where}
    return {"ok": False, **{key: value[:ERROR_FIELDS[key]] for key, value in fields.items()}}
