"""The wire format: what one side sends comes back equal, and nothing but a well-formed result is accepted."""

import io
import json
import math
import os

import pytest
import torch

from autograder.protocol import wire
from autograder.grader.compare import compare
from autograder.protocol.plain import to_plain


def load(data):
    """What the trusted side makes of one frame's bytes that should hold a case result."""
    return wire.check_result(wire.decode(data))


def round_trip(result):
    return load(wire.encode(result))


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
    return json.dumps({"message": result, "tensors": list(tensors)}).encode() + b"\n" + payload


FORGED = {
    "garbage": b"garbage",
    "a pickle": (lambda buffer: (torch.save({"ok": True, "outputs": 1.0}, buffer), buffer.getvalue())[1])(io.BytesIO()),
    "no newline": json.dumps({"message": {"ok": True, "outputs": 1.0}, "tensors": []}).encode(),
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
        load(FORGED[name])


def test_a_lone_surrogate_in_a_message_arrives_printable():
    error = {"ok": False, "kind": "exception", "error": "RuntimeError", "message": "\ud800 と書きました", "where": ""}
    back = round_trip(error)
    assert back["message"].encode("utf-8") and back["message"].endswith("と書きました")


def test_frames_refuse_what_is_over_the_limit_and_say_when_the_pipe_closes():
    read_end, write_end = os.pipe()
    wire.write_frame(write_end, {"op": "result", "index": 0, "result": {"ok": True, "outputs": torch.zeros(100)}})
    with pytest.raises(ValueError):
        wire.read_frame(read_end, limit=64)
    os.close(read_end)
    os.close(write_end)
    read_end, write_end = os.pipe()
    os.close(write_end)
    with pytest.raises(wire.Closed):
        wire.read_frame(read_end, limit=2**20)
    os.close(read_end)


def test_a_silent_writer_times_out():
    read_end, write_end = os.pipe()
    with pytest.raises(TimeoutError):
        wire.read_frame(read_end, limit=2**20, timeout=0.05)
    os.close(read_end)
    os.close(write_end)
