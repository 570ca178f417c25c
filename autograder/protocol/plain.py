"""Plain values: the only things a case's inputs and outputs are made of when they cross the boundary.

Exactly `torch.Tensor`, bool, int, float, str and None, and tagged forms for the rest:
`{"__sequence__": "list" | "tuple", "items": [...]}`, `{"__dict__": {str: ...}}`,
`{"__device__": "cpu"}`, and `{"__unsupported__": "<what it was>"}` for anything else.
"""

import builtins

import torch

MAX_DEPTH = 4


def to_plain(value, depth=0):
    """`value` as a plain value; what cannot be one (a subclass, an object) is described, never kept."""
    if depth > MAX_DEPTH:
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
    if isinstance(value, float):  # a float subclass (numpy.float64 from np.mean) is a float, as the contract asks
        return float(value)
    if type(value) is torch.device:
        return {"__device__": value.type}
    if type(value) in (list, tuple):
        return {"__sequence__": type(value).__name__, "items": [to_plain(v, depth + 1) for v in value]}
    if type(value) is dict and all(type(k) is str for k in value):
        return {"__dict__": {k: to_plain(v, depth + 1) for k, v in value.items()}}
    return {"__unsupported__": builtins.type(value).__module__ + "." + type(value).__qualname__}


def from_plain(value):
    """The Python value a plain value stands for (the inverse of `to_plain` on what it keeps)."""
    if type(value) is not dict:
        return value
    if "__sequence__" in value:
        items = [from_plain(item) for item in value["items"]]
        return tuple(items) if value["__sequence__"] == "tuple" else items
    if "__dict__" in value:
        return {key: from_plain(item) for key, item in value["__dict__"].items()}
    if "__device__" in value:
        return torch.device(value["__device__"])
    raise ValueError(f"not an input: {value}")
