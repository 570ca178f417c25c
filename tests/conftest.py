"""Shared fixtures: the reference package, the notebook-00 answers, devices and dtypes to test on."""

import types

import pytest
import torch
from oracles import DEVICES, DTYPES

from autograder.authoring.notebook import run_solution_cells
from autograder.paths import SOLUTIONS, reference_package


@pytest.fixture(autouse=True)
def _fixed_seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def ref():
    """The reference `transformer` package from solutions/."""
    return reference_package()


@pytest.fixture(scope="session")
def basics():
    """The notebook-00 answers, executed from solutions/00_pytorch_basics.ipynb."""
    return types.SimpleNamespace(**run_solution_cells(SOLUTIONS / "00_pytorch_basics.ipynb"))


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(params=DTYPES, ids=["float32", "float64"])
def dtype(request):
    return request.param
