"""The expected values, computed once per batch on the trusted side, and what each unit may be given.

For every unit: its cases' inputs (as plain values, ready to send), the reference's outputs on
them, and the stand-ins the unit is allowed: the modules of `autograder/standins/` it needs, and
those that may stand in for a file the submission lacks, compiled (`bytecode.code`); never a module
that holds the unit's own stand-in.
"""

import ast
import copy
import functools
import importlib
from pathlib import Path

from autograder.grader.bytecode import code
from autograder.grader.hidden_tests import all_units
from autograder.grader.rubric import applied_points, check_rubric, fingerprint, load_rubric
from autograder.grader.syntax import parse
from autograder.paths import NOTEBOOK, SOLUTIONS, reference_package
from autograder.protocol import wire
from autograder.protocol.calls import RUNNERS, Swaps, make_torch_deterministic, seed
from autograder.protocol.messages import Op
from autograder.protocol.plain import from_plain, to_plain
from autograder.standins import STANDINS

STANDIN_FOLDER = Path(__file__).resolve().parent.parent / "standins"


def standin_modules(names):
    """The stand-in modules (file stems) that the stand-ins `names` need, their own relative imports included."""
    return sorted(set().union(*(_module_closure(STANDINS[name]) for name in names)))


@functools.lru_cache(maxsize=None)
def _standin_source(stem):
    return (STANDIN_FOLDER / f"{stem}.py").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=None)
def _compiled_standin(stem):
    """The stand-in module `stem`, compiled once, as a message carries it."""
    return wire.blob(code(_standin_source(stem), f"<stand-in {stem}>"))


@functools.lru_cache(maxsize=None)
def _module_closure(stem):
    """The stand-in module `stem` and every stand-in module it imports, directly or not (each file read once)."""
    needed, todo = set(), [stem]
    while todo:
        stem = todo.pop()
        if stem in needed:
            continue
        needed.add(stem)
        tree = parse(_standin_source(stem))
        todo += [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module]
    return frozenset(needed)


def substitutable_modules(unit_name):
    """The stand-in modules that may stand in for a student's missing file in the unit's process: every one
    that does not hold, itself or through its imports, the unit's own stand-in."""
    own = STANDINS.get(unit_name)
    return {stem for stem in set(STANDINS.values()) if own is None or own not in _module_closure(stem)}


def _reference_target(unit):
    if unit.source["kind"] == "package":
        module = getattr(reference_package(), unit.source["module"])
        return getattr(module, unit.source["name"])
    from autograder.authoring.notebook import run_solution_cells

    return run_solution_cells(SOLUTIONS / NOTEBOOK)[unit.source["name"]]


class Catalog:
    """Every unit with its cases, their inputs (plain values), the reference's outputs and the unit's stand-ins.

    `rubric` (unit -> {case -> points}, checked here) defaults to the kit's rubric.toml; `rubric_fingerprint`
    identifies the points applied, which every result is scored under.
    """

    def __init__(self, units=None, rubric=None):
        self.units = units or all_units()
        if rubric is None:
            rubric = load_rubric(units=self.units)
        else:
            check_rubric(rubric, self.units)
        self.applied_points = applied_points(rubric, self.units)
        self.rubric_fingerprint = fingerprint(self.applied_points)
        self.case_frames = {}  # (unit name, case index) -> the CASE message, encoded once for every submission
        self.expected = {}  # (unit name, case index) -> plain outputs
        self.standin_code = {}  # unit name -> {module stem: its compiled code, a uint8 tensor}
        self.standin_homes = {unit.name: [unit.source["module"], STANDINS[unit.name]]  # stand-in -> [student module, stem]
                              for unit in self.units if unit.source["kind"] == "package" and unit.name in STANDINS}
        make_torch_deterministic()
        for unit in self.units:
            self._prepare(unit)

    def points(self, unit, case):
        return self.applied_points[unit.name, case.name]

    def standin_names(self, unit):
        """stand-in name -> module stem, for the unit's request."""
        return {name: STANDINS[name] for name in unit.standins}

    def _prepare(self, unit):
        modules = set(standin_modules(unit.standins)) | substitutable_modules(unit.name)
        self.standin_code[unit.name] = {stem: _compiled_standin(stem) for stem in sorted(modules)}
        swaps = Swaps({name: getattr(importlib.import_module(f"autograder.standins.{STANDINS[name]}"), name) for name in unit.standins})
        target = _reference_target(unit)
        for index, case in enumerate(unit.cases):
            inputs = to_plain(case.make_inputs())
            self.case_frames[unit.name, index] = wire.encode({"op": Op.CASE.value, "index": index, "inputs": inputs})
            reference_case = {**case.spec, "swap_modules": {}, "swap_functions": [], "seed": case.seed}
            seed(case.seed)
            outputs = RUNNERS[unit.runner](target, reference_case, copy.deepcopy(from_plain(inputs)), swaps)
            self.expected[unit.name, index] = to_plain(outputs)
