"""Japanese hints for the errors students meet most, matched on the exception's type and message.

A hint is said only when the error itself shows it applies; otherwise the feedback shows the
exception as it was (type, message, the student's file and line) and nothing more.
"""

import re

ERROR_HINTS = [  # (exception type or None for any, pattern in the message, hint)
    ("NameError", r"", "名前が定義されていません。import を忘れていないか、綴りが合っているかを確かめてください。"),
    ("NotImplementedError", r"", "まだ実装されていません（TODO と書かれたところを書いてください）。"),
    ("RuntimeError", r"view size is not compatible", "連続でない（transpose した）テンソルに view を使っています。reshape を使うか、先に contiguous() を呼んでください。"),
    ("RuntimeError", r"The size of tensor a \(\d+\) must match the size of tensor b", "形状が合わずブロードキャストできません。どの軸の大きさが食い違っているかを確かめてください。"),
    ("RuntimeError", r"mat1 and mat2 shapes cannot be multiplied|size mismatch", "行列の積の形が合いません。最後の軸の大きさ（d_model など）を確かめてください。"),
    ("RuntimeError", r"expected scalar type|expected .* dtype|found dtype", "dtype が混ざっています。入力と同じ dtype のまま計算してください（float() などで変えない）。"),
    ("RuntimeError", r"Expected all tensors to be on the same device", "テンソルの device が混ざっています。新しく作るテンソルは入力と同じ device に置いてください。"),
    ("IndexError", r"Dimension out of range", "存在しない軸を指定しています。軸の番号（dim）を確かめてください。"),
    ("AttributeError", r"", "属性が見つかりません。名前（W_q、self.dropout など）が課題の約束どおりかを確かめてください。"),
    ("TypeError", r"argument|positional|keyword", "関数やモジュールの呼び出し方（引数の数や名前）が約束と違います。"),
]


def error_hint(error_type, message):
    """The hint for an exception of `error_type` (its name) with `message`, or None."""
    for kind, pattern, hint in ERROR_HINTS:
        if kind == error_type and re.search(pattern, message or ""):
            return hint
    return None
