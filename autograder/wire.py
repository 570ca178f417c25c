"""How a case's result travels from the sandboxed worker to the trusted grader: JSON and raw bytes.

One file per case, `result_<k>.bin`: a line of JSON, then the tensors' bytes back to back.

    {"result": <the result, each tensor replaced by {"__tensor__": i}>, "tensors": [[dtype, shape], ...]}

The file is written by the student's process, so reading it trusts nothing: no pickle, no code,
only the data that `worker.to_plain` produces (tensors, numbers, strings, None and the tagged
sequences and dicts) inside a result of the worker's form; anything else raises ValueError. For
results made of many small tensors it is several times faster than `torch.load(weights_only=True)`.
"""

import json
import math

import torch

RESULT_PREFIX, RESULT_SUFFIX = "result_", ".bin"
DTYPES = {str(dtype).removeprefix("torch."): dtype for dtype in (
    torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
)}
ERROR_KINDS = {"exception", "import", "forbidden"}  # what the worker reports; the grader's own kinds cannot be claimed
ERROR_FIELDS = {"kind": 50, "error": 200, "message": 2000, "where": 300}  # field -> longest accepted text
MAX_DEPTH, MAX_DIMS, MAX_SIZE = 8, 16, 2**31


def result_name(index):
    return f"{RESULT_PREFIX}{index:03d}{RESULT_SUFFIX}"


def is_result_name(name):
    return name.startswith(RESULT_PREFIX) and name.endswith(RESULT_SUFFIX)


def dump_result(result):
    """The bytes of a result: {"ok": True, "outputs": plain} or {"ok": False, "kind": ..., "error": ..., ...}."""
    tensors = []

    def encode(value):
        if type(value) is torch.Tensor:
            if value.dtype not in DTYPES.values():
                return {"__unsupported__": f"dtype {value.dtype} の Tensor"}
            tensors.append(value)
            return {"__tensor__": len(tensors) - 1}
        if type(value) is dict:
            return {key: encode(item) for key, item in value.items()}
        if type(value) is list:
            return [encode(item) for item in value]
        return value

    header = {"result": encode(result), "tensors": [[str(t.dtype).removeprefix("torch."), list(t.shape)] for t in tensors]}
    payload = b"".join(t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() for t in tensors)
    return json.dumps(header).encode() + b"\n" + payload


def load_result(data):
    """The result in `data`, checked to be of the worker's form; ValueError otherwise."""
    head, newline, body = data.partition(b"\n")
    try:
        header = json.loads(head)
    except (ValueError, RecursionError) as error:
        raise ValueError("the header is not JSON") from error
    if not newline or type(header) is not dict or header.keys() != {"result", "tensors"}:
        raise ValueError("not a result file")
    tensors = _tensors(header["tensors"], body)
    result = header["result"]
    if type(result) is not dict or type(result.get("ok")) is not bool:
        raise ValueError("a result needs ok")
    if result["ok"]:
        if result.keys() != {"ok", "outputs"}:
            raise ValueError("a passed result holds outputs only")
        return {"ok": True, "outputs": _plain(result["outputs"], tensors, 0)}
    fields = {key: value for key, value in result.items() if key != "ok"}
    if not fields.keys() <= ERROR_FIELDS.keys() or fields.get("kind") not in ERROR_KINDS \
            or not all(type(value) is str and len(value) <= ERROR_FIELDS[key] for key, value in fields.items()):
        raise ValueError("an error result holds the worker's kind and short texts only")
    return result


def _tensors(specs, body):
    if type(specs) is not list:
        raise ValueError("tensors must be a list")
    tensors, offset = [], 0
    for spec in specs:
        if type(spec) is not list or len(spec) != 2 or spec[0] not in DTYPES or type(spec[1]) is not list \
                or len(spec[1]) > MAX_DIMS or not all(type(n) is int and 0 <= n < MAX_SIZE for n in spec[1]):
            raise ValueError("a tensor is [dtype, shape], of a sane shape")
        dtype, shape = DTYPES[spec[0]], spec[1]
        count = math.prod(shape)
        size = count * dtype.itemsize
        if offset + size > len(body):
            raise ValueError("the tensors' bytes are cut short")
        if count:
            tensors.append(torch.frombuffer(bytearray(body[offset:offset + size]), dtype=dtype).reshape(shape))
        else:
            tensors.append(torch.empty(shape, dtype=dtype))
        offset += size
    if offset != len(body):
        raise ValueError("bytes left over after the tensors")
    return tensors


def _plain(value, tensors, depth):
    """Decode one plain value (see `worker.to_plain`), refusing any other form."""
    if depth > MAX_DEPTH:
        raise ValueError("nested too deeply")
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is not dict:
        raise ValueError(f"unexpected {type(value).__name__}")
    keys = set(value)
    if keys == {"__tensor__"} and type(value["__tensor__"]) is int and 0 <= value["__tensor__"] < len(tensors):
        return tensors[value["__tensor__"]]
    if keys == {"__sequence__", "items"} and value["__sequence__"] in ("list", "tuple") and type(value["items"]) is list:
        return {"__sequence__": value["__sequence__"], "items": [_plain(item, tensors, depth + 1) for item in value["items"]]}
    if keys == {"__dict__"} and type(value["__dict__"]) is dict:
        return {"__dict__": {key: _plain(item, tensors, depth + 1) for key, item in value["__dict__"].items()}}
    if len(keys) == 1 and keys <= {"__unsupported__", "__device__"} and type(next(iter(value.values()))) is str:
        return dict(value)
    raise ValueError("not a plain value")
