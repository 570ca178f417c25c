"""Where the answers could leak: the solution lines of solutions/, and the text of any file a student may see.

A solution line is a substantial line (not a comment, not short) inside a `### BEGIN SOLUTION` /
`### END SOLUTION` region of solutions/ that appears nowhere outside those regions: a line that the
kit also gives away on purpose (the notebook's own `get_device`, a visible test's oracle) is not
an answer. A file's text is what a reader of it sees: a notebook's cell sources and outputs, an
HTML page without its markup, any other file as UTF-8.
"""

import html
import json
import re

import nbformat

from autograder.paths import SOLUTIONS

REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
MARKUP = re.compile(r"<[^>]*>")


def substantial(line):
    code = line.strip()
    return len(code) >= 24 and not code.startswith("#")


def _source_texts():
    """The text of every file and notebook cell in solutions/."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(SOLUTIONS.rglob("*.py"))]
    texts += [cell.source for path in sorted(SOLUTIONS.glob("*.ipynb")) for cell in nbformat.read(path, as_version=4).cells]
    return [text + "\n" for text in texts]


def solution_lines():
    """The substantial lines of the solution regions that nothing outside a region gives away."""
    texts = _source_texts()
    answers = {line.strip() for text in texts for match in REGION.finditer(text) if match.group(1) == "SOLUTION"
               for line in match.group(2).splitlines() if substantial(line)}
    given = "\n".join(REGION.sub("", text) for text in texts)
    return sorted(line for line in answers if line not in given)


def visible_text(path):
    """What a reader of the file at `path` sees."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        cells = nbformat.reads(raw, as_version=4).cells
        return "\n".join([cell.source for cell in cells] + [json.dumps(output, ensure_ascii=False) for cell in cells for output in cell.get("outputs", [])])
    if path.suffix == ".html":
        return html.unescape(MARKUP.sub("", raw))
    return raw


def leaks(folder):
    """[(file, solution line)] for every solution line found in a file under `folder`."""
    lines = solution_lines()
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            text = visible_text(path)
            found += [(path.relative_to(folder).as_posix(), line) for line in lines if line in text]
    return found
