"""Text that crosses from the sandbox (or from a submission) is untrusted: made safe to store and show.

`untrusted_text` is the one gate: whatever comes in (a `str` with lone surrogates, control
characters, terminal escapes, a megabyte of it) goes out as valid UTF-8 of bounded length whose
only control characters are newline and tab; every other one is written as its escape (`\\x1b`),
so a teacher still sees that it was there.
"""

import re

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
CUT_MARK = "…（以下省略）"


def untrusted_text(text, limit=2000):
    """`text` as valid UTF-8, at most `limit` characters, with control characters escaped."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    text = CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)
    return text if len(text) <= limit else text[: max(0, limit - len(CUT_MARK))] + CUT_MARK


def shown_name(name):
    """A file or member name of the student's, quoted as Python would (`'a\\nb'`), for a message."""
    return repr(untrusted_text(name, 200))
