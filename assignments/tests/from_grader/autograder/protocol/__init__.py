"""What crosses the sandbox boundary, and nothing else: imported by both sides.

- `wire`: length-prefixed frames of JSON and raw tensor bytes, read as hostile on the trusted side;
- `plain`: the plain values a frame may carry (tensors, numbers, strings, tagged sequences and dicts);
- `messages`: the conversation between the grader and a sandbox, and the outcomes of a case;
- `calls`: what a case's spec means, run the same way on the reference (trusted side) and on a
  student's code (sandbox side).

Nothing here imports the reference solution, the hidden tests or the stand-ins.
"""
