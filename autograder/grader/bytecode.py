"""Python source compiled once on the trusted side, for the sandbox to load without compiling it again.

Every unit runs in a process of its own, 28 per submission, and each imports the student's modules
and its stand-ins afresh: compiling them there was about a third of the time units took to load.
So the grader compiles each stand-in once per batch (`code`) and each of the student's files once
per submission (`pyc`), and the sandbox loads the results. Compiling runs none of the student's
code; the static check already parses the same text on this side.
"""

import importlib.util
import marshal

UNCHECKED_HASH = 0b01  # a PEP 552 .pyc's flags: hash-based, loaded without checking the source


def code(source, filename):
    """The marshalled code object of `source`, as `exec` of it would compile it."""
    return marshal.dumps(compile(source, filename, "exec", dont_inherit=True))


def pyc(source):
    """An unchecked hash-based .pyc of the module `source` (bytes), as the import system would compile it;
    None when it does not compile: the unit's import then compiles it and reports the error itself."""
    try:
        compiled = code(source, "<submission>")  # the import system names the file when it loads it
    except Exception:  # SyntaxError, ValueError (a null byte), MemoryError, RecursionError: the import will say
        return None
    return importlib.util.MAGIC_NUMBER + UNCHECKED_HASH.to_bytes(4, "little") + importlib.util.source_hash(source) + compiled
