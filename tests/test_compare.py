"""How a case's outputs are compared with the reference's: within the tolerance, NaN only where the
reference has NaN, and a difference reported at its worst place."""

import math

import torch

from autograder.grader.compare import Difference, compare

EXPECTED = torch.tensor([[0.0, 1.0, float("nan")], [2.0, -3.0, 4.0]])


def test_differences_within_the_tolerance_pass_and_nan_where_the_reference_has_nan():
    assert compare(EXPECTED, EXPECTED.clone(), atol=0.0) is None
    assert compare(EXPECTED, EXPECTED + 1e-6, atol=1e-5) is None
    anything_under_the_nan = EXPECTED.clone()
    anything_under_the_nan[0, 2] = 123.0
    assert compare(EXPECTED, anything_under_the_nan, atol=1e-5) is None
    assert compare(torch.zeros(0, 3), torch.zeros(0, 3), atol=0.0) is None


def test_a_nan_the_reference_does_not_have_is_named_as_a_nan():
    actual = EXPECTED.clone()
    actual[1, 0] = float("nan")
    mismatch = compare(EXPECTED, actual, atol=1e-5)
    assert mismatch.kind is Difference.NAN and mismatch.index == (1, 0) and math.isnan(mismatch.max_error)


def test_the_worst_difference_is_reported_where_it_is():
    actual = EXPECTED.clone()
    actual[0, 1] += 0.5
    actual[1, 2] -= 2.0
    mismatch = compare(EXPECTED, actual, atol=1e-5)
    assert mismatch.index == (1, 2) and mismatch.max_error == 2.0 and "最大の差 2" in mismatch.message
    assert compare(EXPECTED, EXPECTED + 2e-5, atol=1e-5).max_error > 1e-5
