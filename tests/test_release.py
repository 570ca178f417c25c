"""The release: assignments/ is exactly what `jisaku release` makes of solutions/, and the bundle leaks nothing."""

import filecmp
import zipfile

import nbformat
import pytest
from leaks import REGION, substantial
from packaging.requirements import Requirement

from autograder.paths import ASSIGNMENTS, ROOT, SOLUTIONS
from autograder.authoring.release import build_bundle, enclosing_name, release, stub_python



@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory):
    target = tmp_path_factory.mktemp("release") / "assignments"
    release(target=target)
    return target


def _all_files(folder):
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_committed_assignments_are_byte_identical_to_a_fresh_release(fresh_release):
    assert _all_files(fresh_release) == _all_files(ASSIGNMENTS), "run `jisaku release` and commit assignments/"
    _, mismatch, errors = filecmp.cmpfiles(fresh_release, ASSIGNMENTS, _all_files(ASSIGNMENTS), shallow=False)
    assert not mismatch and not errors, f"assignments/ is stale: {mismatch + errors}; run `jisaku release`"


def test_stub_replaces_each_region_with_a_named_not_implemented():
    source = '''class Attention:
    def forward(self, x):
        """doc"""
        # hint
        ### BEGIN SOLUTION
        with context():
            y = x * 2
        return y
        ### END SOLUTION


def helper():
    ### BEGIN SOLUTION
    return 1
    ### END SOLUTION
'''
    stubbed = stub_python(source)
    assert "x * 2" not in stubbed and "return 1" not in stubbed
    assert '        raise NotImplementedError("未実装: Attention.forward")' in stubbed
    assert '    raise NotImplementedError("未実装: helper")' in stubbed
    assert "        # hint\n" in stubbed and '"""doc"""' in stubbed
    compile(stubbed, "<stub>", "exec")


def test_enclosing_name_skips_control_blocks():
    lines = ["class A:", "    def f(self):", "        if x:", "            for y in z:", "                here"]
    assert enclosing_name(lines, 4) == "A.f"


def test_every_package_stub_names_its_unit():
    stubbed = (ASSIGNMENTS / "transformer" / "multi_head.py").read_text(encoding="utf-8")
    assert 'raise NotImplementedError("未実装: MultiHeadAttention.forward")' in stubbed
    assert "### BEGIN SOLUTION" not in stubbed


def test_student_notebooks_keep_valid_nbgrader_metadata(fresh_release):
    for path in sorted(fresh_release.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        nbformat.validate(notebook)
        for cell in notebook.cells:
            assert not cell.get("outputs"), f"{path.name}: outputs must be cleared"
            meta = cell.metadata.get("nbgrader")
            if meta:
                assert meta["schema_version"] == 3 and "grade_id" in meta
                assert "checksum" in meta or not (meta.get("grade") or meta.get("locked"))
                assert "BEGIN SOLUTION" not in cell.source and "BEGIN HIDDEN TESTS" not in cell.source


def _regions():
    """(file name, [substantial lines]) for every solution and hidden-test region in solutions/."""
    texts = [(p.name, p.read_text(encoding="utf-8")) for p in SOLUTIONS.rglob("*.py")]
    texts += [(p.name, cell.source) for p in SOLUTIONS.glob("*.ipynb") for cell in nbformat.read(p, as_version=4).cells]
    return [(name, [l.strip() for l in m.group(2).splitlines() if substantial(l)])
            for name, text in texts for m in REGION.finditer(text + "\n")]


def _normalized_lines(text):
    return [line.strip() for line in text.replace("\\n", "\n").splitlines() if substantial(line)]


def test_student_bundle_holds_no_solution_and_no_hidden_test(tmp_path):
    """No skeleton file keeps a line of its own answers, and no two consecutive answer lines appear anywhere."""
    bundle = build_bundle(zip_path=tmp_path / "student.zip")
    regions = _regions()
    assert sum(len(lines) for _, lines in regions) > 30, "the leak check must have solution lines to look for"
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        contents = {name: archive.read(name).decode("utf-8") for name in names}
    assert all(name.startswith("jisaku-transformer/") for name in names)
    assert not [n for n in names if "solutions" in n or n.endswith((".pyc", ".db"))]
    leaks = []
    for name, text in contents.items():
        lines = _normalized_lines(text)
        pairs = set(zip(lines, lines[1:]))
        for source, region in regions:
            if name.endswith(f"transformer/{source}"):
                leaks += [(name, line) for line in region if line in lines]
            leaks += [(name, pair) for pair in zip(region, region[1:]) if pair in pairs]
    assert not leaks, f"solution or hidden-test text in the bundle: {leaks[:3]}"
    assert any(name.endswith("requirements.txt") for name in names)


def test_bundle_is_deterministic(tmp_path):
    first = build_bundle(zip_path=tmp_path / "a.zip").read_bytes()
    second = build_bundle(zip_path=tmp_path / "b.zip").read_bytes()
    assert first == second


def _requirements(path):
    return [Requirement(line) for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def test_student_requirements_are_ranges_that_keep_the_graders_pins_and_include_jupyter():
    """Before: torch==2.13.0 exactly (Colab's torch replaced by a CUDA download) and no Jupyter at all."""
    pins = {Requirement(line).name.lower(): Requirement(line) for line in (ROOT / "constraints.txt").read_text().splitlines()
            if line and not line.startswith("#")}
    requirements = _requirements(ASSIGNMENTS / "requirements.txt")
    names = {requirement.name.lower() for requirement in requirements}
    assert {"torch", "notebook", "pytest", "matplotlib-fontja"} <= names
    for requirement in requirements:
        assert requirement.specifier and not any(spec.operator == "==" for spec in requirement.specifier), requirement
        pinned = next(iter(pins[requirement.name.lower()].specifier)).version
        assert requirement.specifier.contains(pinned), f"{requirement} excludes the grader's {pinned}"
    torch_range = next(r for r in requirements if r.name == "torch").specifier
    assert torch_range.contains("2.4.0") and torch_range.contains("2.13.0"), "an installed torch (Colab's) must be kept"
