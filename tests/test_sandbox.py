"""The trust boundary itself: what the sandbox's root holds, what each side may import, which
stand-ins a unit is given, and grading as an ordinary user and without any sandbox."""

import ast
import builtins
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from autograder.authoring.examples import EXAMPLES, Edit, Example, build_example
from autograder.grader.batch import grade_batch
from autograder.grader.bytecode import pyc
from autograder.grader.catalog import STANDIN_FOLDER, standin_modules
from autograder.grader.hidden_tests import all_units
from autograder.grader.launcher import Mode, SandboxPool, bwrap_command, choose_mode, parent_folders
from autograder.paths import ROOT
from autograder.sandbox.huge_pages import HUGE_PAGE, private_anonymous_regions
from autograder.standins import STANDINS

KIT = ROOT / "autograder"
SANDBOX_SIDE = ["sandbox", "protocol"]
NOBODY = 65534
GELU_BODY = "    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))"


def _imported_kit_modules(path):
    """The `autograder.*` modules a file imports (relative imports resolved)."""
    tree, package = ast.parse(path.read_text(encoding="utf-8")), ".".join(path.relative_to(ROOT).parts[:-1])
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
    return {name for name in found if name == "autograder" or name.startswith("autograder.")}


def test_sandbox_side_code_imports_only_the_protocol_and_itself():
    for part in SANDBOX_SIDE:
        for path in (KIT / part).glob("*.py"):
            allowed = ("autograder.protocol",) if part == "protocol" else ("autograder.protocol", "autograder.sandbox")
            bad = {m for m in _imported_kit_modules(path) if not m.startswith(allowed)}
            assert not bad, f"{path.relative_to(ROOT)} imports {bad}"


def test_the_trusted_side_never_imports_sandbox_side_modules():
    for path in KIT.rglob("*.py"):
        if path.relative_to(KIT).parts[0] not in SANDBOX_SIDE:
            assert not {m for m in _imported_kit_modules(path) if m.startswith("autograder.sandbox")}, path


def _defined_names(stem):
    tree = ast.parse((STANDIN_FOLDER / f"{stem}.py").read_text(encoding="utf-8"))
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}


@pytest.mark.parametrize("unit", all_units(), ids=lambda unit: unit.name)
def test_a_unit_is_given_only_stand_ins_below_it_never_its_own(unit):
    given = set().union(*(_defined_names(stem) for stem in standin_modules(unit.standins)))
    assert unit.name not in given
    assert set(unit.standins) <= given


def test_the_stand_in_table_names_modules_that_define_them():
    for name, stem in STANDINS.items():
        assert name in _defined_names(stem)


LOOK_AROUND = """
import importlib, json, os, sys
seen = {"root": sorted(os.listdir("/"))}
for name in ("autograder.standins", "autograder.grader", "autograder.grader.hidden_tests", "autograder.sandbox.zygote"):
    try:
        importlib.import_module(name)
        seen[name] = True
    except ImportError:
        seen[name] = False
seen["paths"] = {p: os.path.exists(p) for p in sys.argv[1:]}
seen["writable"] = []
for folder in ("/", "/dev", "/opt/jisaku/autograder", "/usr/lib", sys.prefix):
    try:
        open(os.path.join(folder, "jisaku_probe"), "w").close()
        seen["writable"].append(folder)
    except OSError:
        pass
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def mode():
    return choose_mode()


def test_the_sandbox_root_holds_the_allowlist_and_nothing_else(mode, tmp_path):
    copy = tmp_path / "course" / "solutions"
    shutil.copytree(ROOT / "solutions" / "transformer", copy / "transformer")
    secrets = [str(ROOT / "solutions"), str(ROOT / "tests"), str(ROOT / ".git"), str(KIT / "grader"), str(KIT / "standins"),
               str(copy), str(Path.home()), "/etc/passwd", "/run/lock", "/var/tmp"]
    command = bwrap_command(mode)
    command = command[: command.index("--") + 2] + ["-s", "-c", LOOK_AROUND, *secrets]  # the sandbox's own interpreter
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert set(seen["root"]) <= {"usr", "lib", "lib64", "lib32", "opt", "proc", "dev", "tmp", "job", *Path(sys.prefix).resolve().parts[1:2], *Path(sys.base_prefix).resolve().parts[1:2]}
    home_is_python = any(str(Path(p).resolve()).startswith(str(Path.home())) for p in (sys.prefix, sys.base_prefix))
    exposed = [path for path, exists in seen["paths"].items() if exists and not (path == str(Path.home()) and home_is_python)]
    assert not exposed, f"the sandbox can see {exposed}"
    assert not seen["writable"], f"the sandbox's root is writable at {seen['writable']}"
    assert seen["autograder.sandbox.zygote"] and not any(seen[name] for name in ("autograder.standins", "autograder.grader", "autograder.grader.hidden_tests"))


def _examples(folder, names):
    for example in EXAMPLES:
        if example.name in names:
            build_example(example, folder / example.name)
    return folder


GRADED_TOGETHER = ["perfect", "different_but_correct", "bug_softmax_axis", "crashing", "cheating"]


def _scores(out):
    return {p.parent.name: {t["name"]: t["score"] for t in json.loads(p.read_text(encoding="utf-8"))["tests"]} for p in out.glob("*/results.json")}


KIT_SHOWN_AT = Path("/srv")  # an empty folder on Debian, outside /tmp: where nobody sees this checkout


def _as_nobody(*arguments):
    """`python -m autograder.cli ARGUMENTS` as an ordinary user (nobody), with this checkout shown at KIT_SHOWN_AT
    and the interpreter reachable however closed the folders above it are."""
    python = Path(sys.executable)
    if python.is_relative_to(ROOT):  # the venv inside the checkout
        python = KIT_SHOWN_AT / python.relative_to(ROOT)
    needed = [os.path.realpath(sys.base_prefix)] + ([] if Path(sys.prefix).resolve().is_relative_to(ROOT) else [os.path.realpath(sys.prefix)])
    blocked = sorted({str(parent) for path in needed for parent in Path(path).parents
                      if str(parent) != "/" and not os.stat(parent).st_mode & 0o001}, key=len)
    wrapper = ["bwrap", "--dev-bind", "/", "/"]
    for folder in [b for b in blocked if not any(b.startswith(o + "/") for o in blocked)]:
        wrapper += ["--tmpfs", folder]
    wrapper += parent_folders([p for p in needed if any(p.startswith(b + "/") for b in blocked)])
    for path in needed:
        wrapper += ["--bind", path, path]
    wrapper += ["--bind", str(ROOT), str(KIT_SHOWN_AT), "--chdir", str(KIT_SHOWN_AT), "--setenv", "PYTHONPATH", str(KIT_SHOWN_AT)]
    return [*wrapper, "--", "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", str(python), "-m", "autograder.cli", *arguments]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or not KIT_SHOWN_AT.is_dir(), reason="becoming an ordinary user needs root (and /srv to show the kit at)")
def test_grading_as_an_ordinary_user_gives_the_same_scores_as_root(tmp_path):
    root_out = tmp_path / "as-root"
    grade_batch([_examples(tmp_path / "subs", GRADED_TOGETHER)], root_out, jobs=1, progress=False)
    shared = Path(tempfile.mkdtemp(prefix="jisaku-nobody-"))
    try:
        _examples(shared / "subs", GRADED_TOGETHER)
        subprocess.run(["chown", "-R", f"{NOBODY}:{NOBODY}", str(shared)], check=True)
        run = subprocess.run(_as_nobody("grade", str(shared / "subs"), "--out", str(shared / "out")),
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
        assert _scores(shared / "out") == _scores(root_out) and len(_scores(root_out)) == len(GRADED_TOGETHER)
        protections = json.loads((shared / "out" / "perfect" / "results.json").read_text(encoding="utf-8"))["extra_data"]["protections"]
        assert {"user-namespace", "fresh-root", "seccomp", "no-capabilities", "pid-namespace", "private-tmp"} <= set(protections)
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert "own-uid" in json.loads((root_out / "perfect" / "results.json").read_text(encoding="utf-8"))["extra_data"]["protections"]


@pytest.mark.slow
def test_without_any_sandbox_grading_refuses_unless_told_and_then_says_so(tmp_path):
    _examples(tmp_path / "subs", ["perfect"])
    empty_path = tmp_path / "no-tools"
    empty_path.mkdir()
    environment = {**os.environ, "PATH": str(empty_path)}
    command = [sys.executable, "-m", "autograder.cli", "grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]
    refused = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert refused.returncode != 0 and "--unsandboxed" in refused.stderr and "隔離" in refused.stderr
    assert not (tmp_path / "out" / "perfect").exists()
    graded = subprocess.run([*command, "--unsandboxed"], capture_output=True, text=True, env=environment, timeout=300)
    assert graded.returncode == 0, graded.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "perfect" / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == results["max_score"] and results["extra_data"]["protections"][-1] == "unsandboxed"
    assert "--unsandboxed" in results["output"] and "隔離なし" in graded.stdout


def test_the_mode_is_the_strongest_this_machine_allows(mode):
    assert mode is (Mode.PRIVILEGED if os.geteuid() == 0 else Mode.USER_NAMESPACE)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="showing the checkout under /tmp needs root")
def test_a_checkout_under_tmp_grades_the_same(tmp_path):
    """The sandbox's /tmp is a fresh tmpfs for every unit: a checkout and venv that lie under /tmp (a CI clone,
    say) are bound back onto it, or a unit could not import what the zygote had not imported yet."""
    lazy = Edit("cell:gelu", GELU_BODY, "    import torch.distributions, nbformat  # not imported before the unit runs\n" + GELU_BODY)
    build_example(Example("perfect", "perfect", (lazy,)), tmp_path / "subs" / "perfect")
    clone = Path(tempfile.mkdtemp(prefix="jisaku-clone-", dir="/tmp"))
    python = clone / Path(sys.executable).relative_to(ROOT) if Path(sys.executable).is_relative_to(ROOT) else Path(sys.executable)
    command = ["bwrap", "--dev-bind", "/", "/", "--bind", str(ROOT), str(clone), "--chdir", str(clone), "--setenv", "PYTHONPATH", str(clone),
               "--", str(python), "-m", "autograder.cli", "grade", str(tmp_path / "subs"), "--out", str(tmp_path / "out")]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    finally:
        clone.rmdir()
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "perfect" / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == results["max_score"], [t["output"] for t in results["tests"] if t["score"] < t["max_score"]][:2]


MAPS = """\
55d000000000-55d000a00000 rw-p 00000000 00:00 0                          [heap]
7f0000100000-7f0000700000 rw-p 00000000 00:00 0
7f0000800000-7f0000900000 rw-p 00000000 00:00 0
7f0001000000-7f0001400000 rw-p 00012000 08:01 123                        /usr/lib/libtorch_cpu.so
7f0002000000-7f0002400000 r-xp 00000000 08:01 123                        /usr/lib/libtorch_cpu.so
7f0003000000-7f0003400000 rw-s 00000000 00:05 77                         /dev/shm/x
7f0004000000-7f0004400000 ---p 00000000 00:00 0
"""


def test_only_whole_huge_pages_of_private_anonymous_memory_are_collapsed():
    """The heap and malloc's arenas, cut inwards to 2 MiB boundaries; never a file's pages, shared memory, a guard
    region or a region smaller than one huge page."""
    assert private_anonymous_regions(MAPS) == [(0x55d000000000, 0x55d000a00000), (0x7f0000200000, 0x7f0000600000)]
    assert all(start % HUGE_PAGE == 0 and end % HUGE_PAGE == 0 for start, end in private_anonymous_regions(MAPS))


def _kib(pid, field):
    line = next(line for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1])


THP = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@pytest.mark.skipif(not THP.exists() or "[never]" in THP.read_text(), reason="transparent huge pages are off on this machine")
def test_the_zygote_is_forked_from_huge_pages():
    """fork copies a page-table entry per page: with the zygote's private memory on 2 MiB pages a unit's process costs
    a third as much to start and end (huge_pages.py). malloc's own huge-page setting covers only half of it."""
    with SandboxPool(1) as pool:
        zygote = pool.start()[0]
        under_bubblewrap = [process.pid for process in psutil.Process(zygote.process.pid).children(recursive=True)]
        python = max(under_bubblewrap, key=lambda pid: _kib(pid, "Anonymous"))  # bubblewrap's own two hold next to nothing
        anonymous, huge = _kib(python, "Anonymous"), _kib(python, "AnonHugePages")
    assert huge >= 0.75 * anonymous, f"{huge} KiB of {anonymous} KiB on huge pages"


def test_a_module_beside_the_graders_pyc_is_imported_without_compiling(tmp_path, monkeypatch):
    """The import system takes the grader's .pyc for the source beside it, runs it as that source, and names the
    source in tracebacks (so the feedback can point at the student's line)."""
    source = "def answer():\n    return 6 * 7\n".encode()
    module_file = tmp_path / "probe_module.py"
    module_file.write_bytes(source)
    cached = Path(importlib.util.cache_from_source(str(module_file)))
    cached.parent.mkdir()
    cached.write_bytes(pyc(source))

    compile_anything_else = builtins.compile

    def compile_anything_but_the_module(source, filename, *args, **kwargs):
        assert filename != str(module_file), "the import compiled the source"
        return compile_anything_else(source, filename, *args, **kwargs)

    monkeypatch.setattr(builtins, "compile", compile_anything_but_the_module)
    spec = importlib.util.spec_from_file_location("probe_module", module_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.answer() == 42 and module.answer.__code__.co_filename == str(module_file)


def test_source_that_does_not_compile_gets_no_pyc():
    """The unit's own import then compiles it and reports the error, with its line, as the student's."""
    assert pyc(b"def broken(:\n") is None and pyc(b"x = 1\x00\n") is None


@pytest.mark.slow
def test_units_load_the_students_modules_from_the_graders_pyc(tmp_path):
    """Inside the sandbox every module of the submission comes with its .pyc: a module that refuses to load
    without one still earns full marks."""
    guard = "import os as _os\n\nif not _os.path.exists(__cached__):\n    raise ImportError('compiled in the sandbox')\n"
    probe = Example("loads_compiled", "loads only from its .pyc", tuple(
        Edit(f"transformer/{module}.py", "import torch\n", f"{guard}import torch\n") for module in ("masks", "transformer")))
    build_example(probe, tmp_path / "subs" / "loads_compiled")
    grade_batch([tmp_path / "subs"], tmp_path / "out", progress=False)
    results = json.loads((tmp_path / "out" / "loads_compiled" / "results.json").read_text(encoding="utf-8"))
    assert results["score"] == results["max_score"], [t["name"] for t in results["tests"] if t["score"] < t["max_score"]]
