"""Frames on a pipe: how every message travels between the grader and a sandbox.

A frame is an 8-byte big-endian length, then the message: one line of JSON, then the tensors'
bytes back to back.

    {"message": <the message, each tensor replaced by {"__tensor__": i}>, "tensors": [[dtype, shape], ...]}

The sandbox's frames are written by a process the student's code shares, so the trusted side
reads them as hostile: a length over the caller's limit, JSON that is not a message, a tensor of
an unknown dtype, an absurd shape or bytes cut short or left over raise `ValueError`; no pickle
and no code is ever loaded. `check_result` then accepts only a case result of the worker's form.
"""

import json
import math
import os
import select
import time

import torch

from autograder.protocol.messages import ErrorKind
from autograder.protocol.text import untrusted_text

DTYPES = {str(dtype).removeprefix("torch."): dtype for dtype in (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
)}
ERROR_FIELDS = {"kind": 50, "error": 200, "message": 2000, "where": 300}  # field -> longest accepted text
MAX_OUTPUT_TEXT = 10_000  # the longest string a case's outputs may hold
MAX_DEPTH, MAX_DIMS, MAX_SIZE = 8, 16, 2**31
LENGTH_BYTES = 8


class Closed(EOFError):
    """The other end closed the pipe (the process is gone)."""


def encode(message):
    """The bytes of a message: JSON-able data in which torch.Tensor objects may stand anywhere."""
    tensors = []

    def replace(value):
        if type(value) is torch.Tensor:
            if value.dtype not in DTYPES.values():
                return {"__unsupported__": f"dtype {value.dtype} の Tensor"}
            tensors.append(value)
            return {"__tensor__": len(tensors) - 1}
        if type(value) is dict:
            return {key: replace(item) for key, item in value.items()}
        if type(value) in (list, tuple):
            return [replace(item) for item in value]
        return value

    header = {"message": replace(message), "tensors": [[str(t.dtype).removeprefix("torch."), list(t.shape)] for t in tensors]}
    payload = b"".join(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() for t in tensors)
    return json.dumps(header, ensure_ascii=True).encode() + b"\n" + payload


def decode(data):
    """The message in `data`, tensors put back; ValueError for anything that is not a well-formed message."""
    head, newline, body = data.partition(b"\n")
    try:
        header = json.loads(head)
    except (ValueError, RecursionError) as error:
        raise ValueError("the header is not JSON") from error
    if not newline or type(header) is not dict or header.keys() != {"message", "tensors"}:
        raise ValueError("not a message")
    tensors = _tensors(header["tensors"], body)
    return _put_back(header["message"], tensors, 0)


def _tensors(specs, body):
    if type(specs) is not list:
        raise ValueError("tensors must be a list")
    tensors, offset = [], 0
    for spec in specs:
        if type(spec) is not list or len(spec) != 2 or spec[0] not in DTYPES or type(spec[1]) is not list \
                or len(spec[1]) > MAX_DIMS or not all(type(n) is int and 0 <= n < MAX_SIZE for n in spec[1]):
            raise ValueError("a tensor is [dtype, shape], of a sane shape")
        dtype, shape = DTYPES[spec[0]], spec[1]
        size = math.prod(shape) * dtype.itemsize
        if offset + size > len(body):
            raise ValueError("the tensors' bytes are cut short")
        if size:
            tensors.append(torch.frombuffer(bytearray(body[offset:offset + size]), dtype=dtype).reshape(shape))
        else:
            tensors.append(torch.empty(shape, dtype=dtype))
        offset += size
    if offset != len(body):
        raise ValueError("bytes left over after the tensors")
    return tensors


def _put_back(value, tensors, depth):
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if type(value) is list:
        return [_put_back(item, tensors, depth + 1) for item in value]
    if type(value) is not dict:
        return value
    if value.keys() == {"__tensor__"}:
        index = value["__tensor__"]
        if type(index) is not int or not 0 <= index < len(tensors):
            raise ValueError("a tensor reference out of range")
        return tensors[index]
    return {key: _put_back(item, tensors, depth + 1) for key, item in value.items()}


def blob(data):
    """Bytes (a seccomp program, compiled code) as a uint8 tensor, the form in which bytes travel in a message."""
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def blob_bytes(tensor):
    """The bytes a `blob` carries."""
    return bytes(tensor.numpy())


# --- frames on file descriptors -------------------------------------------------------------------


def write_frame(fd, message, timeout=None):
    """Send `message` on `fd`; TimeoutError when the reader takes in nothing for `timeout` seconds."""
    write_encoded(fd, encode(message), timeout)


def write_encoded(fd, data, timeout=None):
    """Send an already encoded message (see `encode`), as a frame."""
    view = memoryview(len(data).to_bytes(LENGTH_BYTES, "big") + data)
    while view:
        if timeout is not None and not select.select([], [fd], [], timeout)[1]:
            raise TimeoutError
        view = view[os.write(fd, view[:1 << 16]):]


def read_frame(fd, limit, timeout=None):
    """The next message on `fd`, at most `limit` bytes long, within `timeout` seconds (None: no limit).

    Raises Closed at end of file, TimeoutError when the time runs out, ValueError for a bad frame.
    """
    return decode(read_encoded(fd, limit, timeout))


def read_encoded(fd, limit, timeout=None):
    """The next frame's bytes, undecoded (for a relay, which looks only at the `header`)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    size = int.from_bytes(_read_exactly(fd, LENGTH_BYTES, deadline), "big")
    if size > limit:
        raise ValueError(f"a frame of {size} bytes (the limit is {limit})")
    return _read_exactly(fd, size, deadline)


def header(data):
    """The JSON part of an encoded message, tensors left as references: enough to route it; ValueError if it is none."""
    try:
        head = json.loads(data.partition(b"\n")[0])
    except (ValueError, RecursionError) as error:
        raise ValueError("the header is not JSON") from error
    if type(head) is not dict or type(head.get("message")) is not dict:
        raise ValueError("not a message")
    return head["message"]


def _read_exactly(fd, count, deadline):
    chunks, missing = [], count
    while missing:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise Closed
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


# --- a case's result, as the trusted side accepts it ---------------------------------------------------


def check_result(result):
    """`result` if it is a case result of the worker's form, with plain outputs; ValueError otherwise.

        {"ok": True, "outputs": <plain value>}  or  {"ok": False, "kind": <ErrorKind>, "error": str, "message": str, "where": str}
    """
    if type(result) is not dict or type(result.get("ok")) is not bool:
        raise ValueError("a result needs ok")
    if result["ok"]:
        if result.keys() != {"ok", "outputs"}:
            raise ValueError("a passed result holds outputs only")
        return {"ok": True, "outputs": _plain(result["outputs"], 0)}
    fields = {key: value for key, value in result.items() if key != "ok"}
    if not fields.keys() <= ERROR_FIELDS.keys() or fields.get("kind") not in {kind.value for kind in ErrorKind} \
            or not all(type(value) is str and len(value) <= ERROR_FIELDS[key] for key, value in fields.items()):
        raise ValueError("an error result holds the worker's kind and short texts only")
    return {"ok": False, **{key: untrusted_text(value, ERROR_FIELDS[key]) for key, value in fields.items()}}


def _plain(value, depth):
    """One plain value (see `plain.to_plain`), refusing any other form."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if type(value) is str:
        return untrusted_text(value, MAX_OUTPUT_TEXT)
    if value is None or type(value) in (bool, int, float, torch.Tensor):
        return value
    if type(value) is not dict:
        raise ValueError(f"unexpected {type(value).__name__}")
    keys = set(value)
    if keys == {"__sequence__", "items"} and value["__sequence__"] in ("list", "tuple") and type(value["items"]) is list:
        return {"__sequence__": value["__sequence__"], "items": [_plain(item, depth + 1) for item in value["items"]]}
    if keys == {"__dict__"} and type(value["__dict__"]) is dict:
        return {"__dict__": {untrusted_text(key, ERROR_FIELDS["error"]): _plain(item, depth + 1) for key, item in value["__dict__"].items()}}
    if len(keys) == 1 and keys <= {"__unsupported__", "__device__"} and type(next(iter(value.values()))) is str:
        return {key: untrusted_text(text, ERROR_FIELDS["error"]) for key, text in value.items()}
    raise ValueError("not a plain value")
