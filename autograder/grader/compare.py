"""Trusted comparison of what a submission returned with what the reference returned.

Both sides are plain data (`worker.to_plain`): exact torch.Tensor objects, numbers, strings,
None, and tagged sequences/dicts. Types, dtypes and shapes must match exactly; values within
the case's absolute tolerance, NaN only where the reference has NaN.
"""

from dataclasses import dataclass
from enum import Enum

import torch


class Difference(str, Enum):
    """What kind of difference a mismatch is: a case's likely cause is told only for the kinds it explains."""

    TYPE = "type"
    STRUCTURE = "structure"  # the number of items, or a dict's keys
    DTYPE = "dtype"
    SHAPE = "shape"
    NAN = "nan"
    VALUES = "values"


@dataclass
class Mismatch:
    """Why one returned value differs: a Japanese sentence, its kind and, for values, where and by how much."""

    path: str
    message: str
    max_error: float | None = None
    index: tuple | None = None
    kind: Difference = Difference.VALUES


def describe(value):
    """A short Japanese description of a plain value's type, for messages."""
    if isinstance(value, torch.Tensor):
        return f"Tensor 形状 {tuple(value.shape)}・dtype {value.dtype}"
    if isinstance(value, dict):
        if "__unsupported__" in value:
            return value["__unsupported__"]
        if "__sequence__" in value:
            return f"{value['__sequence__']}（要素 {len(value['items'])} 個）"
        if "__device__" in value:
            return f"torch.device('{value['__device__']}')"
        return "dict"
    return type(value).__name__


def compare(expected, actual, atol, path="戻り値"):
    """None when `actual` matches `expected`, else the first Mismatch found."""
    if isinstance(expected, torch.Tensor):
        return _compare_tensors(expected, actual, atol, path)
    if isinstance(expected, dict) and "__sequence__" in expected:
        if not (isinstance(actual, dict) and "__sequence__" in actual):
            return Mismatch(path, f"{path}: 期待した型は {describe(expected)}、実際は {describe(actual)} です。", kind=Difference.TYPE)
        if len(actual["items"]) != len(expected["items"]):
            return Mismatch(path, f"{path}: 要素の数が違います（期待 {len(expected['items'])} 個、実際 {len(actual['items'])} 個）。", kind=Difference.STRUCTURE)
        for i, (e, a) in enumerate(zip(expected["items"], actual["items"])):
            found = compare(e, a, atol, f"{path}[{i}]")
            if found:
                return found
        return None
    if isinstance(expected, dict) and "__dict__" in expected:
        if not (isinstance(actual, dict) and "__dict__" in actual) or actual["__dict__"].keys() != expected["__dict__"].keys():
            return Mismatch(path, f"{path}: 中身の構成が違います。", kind=Difference.STRUCTURE)
        for key, e in expected["__dict__"].items():
            found = compare(e, actual["__dict__"][key], atol, f"{path}['{key}']")
            if found:
                return found
        return None
    if type(expected) is not type(actual):
        return Mismatch(path, f"{path}: 期待した型は {describe(expected)}、実際は {describe(actual)} です。", kind=Difference.TYPE)
    if isinstance(expected, float):
        error = abs(expected - actual) if expected == expected else (0.0 if actual != actual else float("inf"))
        if not error <= atol:
            return Mismatch(path, f"{path}: 値が違います（期待 {expected:.6g}、実際 {actual:.6g}、差 {error:.3g}、許容 {atol:.0e}）。", error)
        return None
    if expected != actual:
        return Mismatch(path, f"{path}: 値が違います（期待 {expected!r}、実際 {actual!r}）。")
    return None


def _compare_tensors(expected, actual, atol, path):
    if not isinstance(actual, torch.Tensor):
        return Mismatch(path, f"{path}: Tensor を期待しましたが、{describe(actual)} が返されました。", kind=Difference.TYPE)
    if actual.dtype != expected.dtype:
        return Mismatch(path, f"{path}: dtype が違います（期待 {expected.dtype}、実際 {actual.dtype}）。", kind=Difference.DTYPE)
    if actual.shape != expected.shape:
        return Mismatch(path, f"{path}: 形状が違います（期待 {tuple(expected.shape)}、実際 {tuple(actual.shape)}）。", kind=Difference.SHAPE)
    if expected.dtype == torch.bool or not expected.is_floating_point():
        differs = actual != expected
        if differs.any():
            index = tuple(int(i) for i in differs.nonzero()[0])
            return Mismatch(path, f"{path}: {int(differs.sum())} か所の値が違います。最初の位置 {index}: 期待 {expected[index].item()}、実際 {actual[index].item()}。", None, index)
        return None
    if expected.numel() == 0:
        return None
    error = (actual - expected).abs()
    if error.max().item() <= atol:  # the common case, in one pass: a NaN anywhere would make the maximum NaN
        return None
    nan_expected, nan_actual = expected.isnan(), actual.isnan()
    if (nan_actual & ~nan_expected).any():
        index = tuple(int(i) for i in (nan_actual & ~nan_expected).nonzero()[0])
        return Mismatch(path, f"{path}: NaN が出ています（最初の位置 {index}）。", float("nan"), index, Difference.NAN)
    error = error.masked_fill(nan_expected, 0.0)
    worst = error.max().item()
    if not worst <= atol:
        index = tuple(int(i) for i in torch.unravel_index(error.argmax(), error.shape))
        return Mismatch(
            path,
            f"{path}: 値が違います。最大の差 {worst:.3g}（位置 {index}、期待 {expected[index].item():.6g}、実際 {actual[index].item():.6g}）、許容 {atol:.0e}。",
            worst,
            index,
        )
    return None
