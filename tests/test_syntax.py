"""The grader's threads parse submissions at the same time: no parse may break another's."""

import gc
import threading
import time

from autograder.grader import syntax

NESTED = ("x = " + "[" * 30 + "]" * 30 + "\n") * 20


def test_parsing_in_threads_while_the_collector_lets_others_run_never_fails():
    """A collection that runs Python code (here a callback that yields the GIL, as a finalizer may) in the
    middle of one thread's parse lets another thread parse meanwhile. Without the grader's lock, CPython 3.11
    fails one of the two parses with SystemError within milliseconds."""
    errors, deadline = [], time.monotonic() + 1.0

    def parse_until_the_deadline():
        while time.monotonic() < deadline and not errors:
            try:
                syntax.parse(NESTED)
            except SystemError as error:
                errors.append(error)

    def yield_the_gil(phase, info):
        if phase == "start":
            time.sleep(0)

    threshold = gc.get_threshold()
    gc.callbacks.append(yield_the_gil)
    gc.set_threshold(1000)
    try:
        threads = [threading.Thread(target=parse_until_the_deadline) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.callbacks.remove(yield_the_gil)
        gc.set_threshold(*threshold)
    assert not errors, errors[0]
