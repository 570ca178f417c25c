"""Where the kit's folders are, and how to load a `transformer/` package from one of them."""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
ASSIGNMENTS = ROOT / "assignments"
NOTEBOOK = "00_pytorch_basics.ipynb"  # the graded notebook: its answer cells are units, found by nbgrader grade_id


def load_package(package_dir, module_name):
    """Import the package in `package_dir` under `module_name` (so two copies can live in one process)."""
    if module_name in sys.modules:
        return sys.modules[module_name]
    package_dir = Path(package_dir)
    spec = importlib.util.spec_from_file_location(
        module_name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def load_module(path, module_name):
    """Import the single file `path` under `module_name`."""
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_package():
    """The reference solution's `transformer` package, imported as `jisaku_reference`."""
    return load_package(SOLUTIONS / "transformer", "jisaku_reference")
