"""The results' wire format: what the worker writes comes back equal, and nothing else is accepted."""

import io
import json
import math

import pytest
import torch

from autograder import wire
from autograder.compare import compare
from autograder.worker import to_plain


def round_trip(result):
    return wire.load_result(wire.dump_result(result))


@pytest.mark.parametrize("dtype", list(wire.DTYPES.values()), ids=str)
def test_tensors_of_every_dtype_come_back_equal(dtype):
    values = torch.arange(-3, 9).reshape(3, 4).to(dtype)
    back = round_trip({"ok": True, "outputs": to_plain(values)})["outputs"]
    assert type(back) is torch.Tensor and back.dtype == dtype and back.shape == (3, 4)
    assert torch.equal(back, values)


def test_nested_outputs_come_back_equal():
    noncontiguous = torch.randn(4, 3, dtype=torch.float64).t()
    outputs = to_plain((noncontiguous, [torch.tensor(2.5), torch.zeros(0, 5)], {"loss": float("nan"), "n": 3, "name": "x", "none": None}))
    back = round_trip({"ok": True, "outputs": outputs})["outputs"]
    assert compare(outputs, back, atol=0.0) is None
    assert back["items"][0].is_contiguous() and torch.equal(back["items"][0], noncontiguous)
    assert math.isnan(back["items"][2]["__dict__"]["loss"])


def test_error_results_come_back_equal():
    error = {"ok": False, "kind": "exception", "error": "ValueError", "message": "形が違います", "where": "attention.py:12"}
    assert round_trip(error) == error


def _file(result, tensors=(), payload=b""):
    return json.dumps({"result": result, "tensors": list(tensors)}).encode() + b"\n" + payload


FORGED = {
    "garbage": b"garbage",
    "a pickle": (lambda buffer: (torch.save({"ok": True, "outputs": 1.0}, buffer), buffer.getvalue())[1])(io.BytesIO()),
    "no newline": json.dumps({"result": {"ok": True, "outputs": 1.0}, "tensors": []}).encode(),
    "ok is not a bool": _file({"ok": 1, "outputs": 1.0}),
    "extra keys beside the outputs": _file({"ok": True, "outputs": 1.0, "score": 100}),
    "a bare dict as output": _file({"ok": True, "outputs": {"a": 1}}),
    "a tensor index out of range": _file({"ok": True, "outputs": {"__tensor__": 1}}, [["float32", [1]]], b"\0" * 4),
    "an unknown dtype": _file({"ok": True, "outputs": {"__tensor__": 0}}, [["object", [1]]], b"\0" * 8),
    "a negative dimension": _file({"ok": True, "outputs": {"__tensor__": 0}}, [["float32", [-1]]]),
    "bytes cut short": _file({"ok": True, "outputs": {"__tensor__": 0}}, [["float64", [2]]], b"\0" * 8),
    "bytes left over": _file({"ok": True, "outputs": {"__tensor__": 0}}, [["float32", [1]]], b"\0" * 8),
    "an error with a non-string message": _file({"ok": False, "kind": "exception", "message": ["x"]}),
    "a sequence of an unknown kind": _file({"ok": True, "outputs": {"__sequence__": "set", "items": []}}),
    "nested too deeply": _file({"ok": True, "outputs": json.loads("[" * 20 + "]" * 20)}),
    "an empty tensor of absurd shape": _file({"ok": True, "outputs": {"__tensor__": 0}}, [["float32", [0, 2**64]]]),
    "a grader's own kind claimed": _file({"ok": False, "kind": "passed", "error": "x", "message": "x"}),
    "a megabyte of message": _file({"ok": False, "kind": "exception", "error": "x", "message": "x" * 2**20}),
}


@pytest.mark.parametrize("name", sorted(FORGED))
def test_forged_or_damaged_files_are_refused(name):
    with pytest.raises(ValueError):
        wire.load_result(FORGED[name])
