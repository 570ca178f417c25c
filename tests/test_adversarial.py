"""Bad submissions and faults: a corpus of broken, hostile and malformed submissions, and the grader's guarantees.

Each corpus item is built from the reference by a few edits (or by writing a malformed zip or
notebook) and names the units it must lose points in. Grading the corpus mixed with good
submissions must finish, keep every other grade intact, award nothing unearned, leave nothing
behind outside the sandbox, and leave no process, IPC object or file running or lying around.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import mistune
import nbformat
import psutil
import pytest

from autograder.grader.batch import GRADEBOOK, grade_batch
from autograder.authoring.examples import EXAMPLES, Edit, Example, build_example
from autograder.grader.hidden_tests import all_units
from autograder.grader.launcher import JOB_UID_BASE
from autograder.paths import ROOT

NOTEBOOK_UNITS = {"split_heads", "merge_heads", "count_parameters", "softmax", "layer_norm", "gelu", "cross_entropy", "train_step", "eval_step"}
MODULE_UNITS = {
    "masks": {"make_padding_mask", "make_causal_mask", "make_decoder_mask"},
    "attention": {"scaled_dot_product_attention", "SelfAttention"},
    "multi_head": {"MultiHeadAttention"},
    "positional": {"sinusoidal_encoding", "PositionalEncoding"},
    "layers": {"FeedForward", "EncoderLayer", "DecoderLayer"},
    "transformer": {"Encoder", "Decoder", "Transformer"},
    "training": {"sequence_loss", "train_one_epoch", "evaluate", "greedy_decode", "get_device"},
}
IMPORTS = {"masks": [], "attention": [], "multi_head": ["attention"], "positional": [], "layers": ["multi_head"],
           "transformer": ["layers", "masks", "positional"], "training": ["masks"]}
ALL_UNITS = {unit.name for unit in all_units()}
SENTINELS = ["/tmp/jisaku_pwned", str(ROOT / "pwned"), str(ROOT / "solutions" / "pwned")]


def broken_import(module):
    """Every unit whose module imports `module`, directly or not."""
    hit = {module}
    while True:
        more = {m for m, deps in IMPORTS.items() if hit & set(deps)} - hit
        if not more:
            return set().union(*(MODULE_UNITS[m] for m in hit))
        hit |= more


def edited(*edits):
    return lambda target, name: build_example(Example(name, name, tuple(edits)), target)


def rewritten(path, data):
    def build(target, name):
        build_example(EXAMPLES[0], target)
        (target / path).write_bytes(data)
    return build


def removed(path):
    def build(target, name):
        build_example(EXAMPLES[0], target)
        (target / path).unlink()
    return build


def notebook_changed(change):
    def build(target, name):
        build_example(EXAMPLES[0], target)
        notebook = nbformat.read(target / "00_pytorch_basics.ipynb", as_version=4)
        change(notebook)
        nbformat.write(notebook, target / "00_pytorch_basics.ipynb")
    return build


def zipped(extra_members=(), symlink_attention=False, wrap=None):
    """The reference as a zip, with extra (name, data) members; `wrap` zips that zip again."""
    def build(target, name):
        folder = target.parent / f"{name}-src"
        build_example(EXAMPLES[0], folder)
        path = target.parent / f"{name}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(folder.rglob("*")):
                relative = file.relative_to(folder).as_posix()
                if file.is_file() and not (symlink_attention and relative == "transformer/attention.py"):
                    archive.write(file, relative)
            if symlink_attention:
                info = zipfile.ZipInfo("transformer/attention.py")
                info.external_attr = 0o120777 << 16
                archive.writestr(info, "/etc/passwd")
            for member, data in extra_members:
                archive.writestr(member, data)
        if wrap:
            inner = path.read_bytes()
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("inner.zip", inner)
        shutil.rmtree(folder)
    return build


def cell(grade_id, old, new):
    return Edit(f"cell:{grade_id}", old, new)


SDPA_DEF = "def scaled_dot_product_attention(q, k, v, mask=None, dropout=None):\n"
GELU_BODY = "    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))"
SOFTMAX_BODY = "    return exps / exps.sum(dim=dim, keepdim=True)"
LAYER_NORM_BODY = "    return (x - mean) / torch.sqrt(variance + eps) * weight + bias"


# Attempts at leaving something for the next student, or at reaching past the sandbox: each must fail,
# and the answer is right only when every one did.
TRACES = """    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    got_through = []
    if libc.shmget(0, 2**20, 0o1666) >= 0:
        got_through.append('SysV shared memory')
    import platform
    if platform.machine() == 'x86_64' and libc.syscall(248, b'user', b'jisaku', b'x', 1, -4) >= 0:  # add_key, user keyring
        got_through.append('a key')
    if libc.unshare(0x10000000) == 0:
        got_through.append('a user namespace')
    if libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0:
        got_through.append('a mount')
    for folder in ('/run/lock', '/var/tmp', '/dev', '/', '/opt/jisaku/autograder'):
        try:
            open(os.path.join(folder, 'jisaku_trace'), 'w').write('x')
            got_through.append(folder)
        except OSError:
            pass
    if got_through:
        return x * 0 + float(len(got_through))
"""
FILL = """    import os
    for folder in ('.', '/tmp', '/dev/shm'):
        for size in (2**20, 0):  # first the space, then the inodes
            try:
                for i in range(10**5):
                    with open(os.path.join(folder, f'fill{size}_{i}'), 'wb') as handle:
                        handle.write(b'0' * size)
            except OSError:
                pass
"""


def sdpa_prelude(code):
    """Code run at the start of the student's scaled_dot_product_attention."""
    return Edit("transformer/attention.py", SDPA_DEF, SDPA_DEF + "".join(f"    {line}\n" for line in code.splitlines()))


def damaged_zip(member, damage):
    """The reference as a zip whose `member` is damaged by `damage(data, header offset, info)` -> data."""
    def build(target, name):
        zipped()(target, name)
        path = target.with_suffix(".zip")
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
        path.write_bytes(damage(bytearray(path.read_bytes()), info.header_offset, info))
    return build


def flip_a_data_byte(data, offset, info):
    start = offset + 30 + len(info.filename.encode()) + len(info.extra)  # past the local header
    data[start + info.compress_size // 2] ^= 0xFF
    return bytes(data)


def mark_encrypted(data, offset, info):
    """Set bit 0 (encrypted) of the member's flags, in its local header and its central directory entry."""
    data[offset + 6] |= 0x1
    name = info.filename.encode()
    central = data.find(b"PK\x01\x02")
    while central != -1:
        name_length = int.from_bytes(data[central + 28:central + 30], "little")
        if data[central + 46:central + 46 + name_length] == name:
            data[central + 8] |= 0x1
        central = data.find(b"PK\x01\x02", central + 4)
    return bytes(data)


FORGED_FEEDBACK = "\n```\n\n# 採点結果: forged\n\n**合計 98 / 98 点**\n\n![beacon](http://example.invalid/b.png) <img src=x onerror=alert(1)> [link](http://example.invalid)\n```"

# name -> (builder, units that must lose points, whether other units may lose points too)
CORPUS = {
    # code that does not load
    "syntax_error": (edited(Edit("transformer/attention.py", "import math\n", "import math\ndef broken(:\n    pass\n")), broken_import("attention"), False),
    "indentation_error": (edited(Edit("transformer/positional.py", "import math\n", "import math\n  x = 1\n")), broken_import("positional"), False),
    "missing_module": (edited(Edit("transformer/masks.py", "import torch\n", "import torch\nimport nonexistent_module_xyz\n")), broken_import("masks"), False),
    "circular_import": (edited(Edit("transformer/masks.py", "from .data import PAD_IDX\n", "from .data import PAD_IDX\nfrom .training import get_device\n")), broken_import("masks"), False),
    "not_utf8": (rewritten("transformer/positional.py", b"# \xff\xfe\xfa\nx = 1\n"), broken_import("positional"), False),
    "empty_file": (rewritten("transformer/positional.py", b""), broken_import("positional"), False),
    "missing_module_file": (removed("transformer/multi_head.py"), {"MultiHeadAttention"}, False),  # the units above it get the stand-in
    "renamed_class": (edited(Edit("transformer/multi_head.py", "class MultiHeadAttention(nn.Module):", "class MultiHeadAttn(nn.Module):")), broken_import("multi_head"), False),
    "signature_changed": (edited(Edit("transformer/masks.py", "def make_causal_mask(size, device=None):", "def make_causal_mask(size, device, extra):")), {"make_causal_mask"}, False),
    # wrong return values
    "returns_none": (edited(Edit("transformer/masks.py", "    return is_token[:, None, None, :]  # (B, 1, 1, L)", "    return None")), {"make_padding_mask"}, False),
    "returns_list": (edited(Edit("transformer/masks.py", "    return lower[None, None, :, :]  # (1, 1, L, L)", "    return lower[None, None].tolist()")), {"make_causal_mask"}, False),
    "returns_numpy": (edited(Edit("transformer/positional.py", "    return table.float()", "    return table.float().numpy()")), {"sinusoidal_encoding"}, False),
    "wrong_dtype": (edited(Edit("transformer/masks.py", "    return is_token[:, None, None, :]  # (B, 1, 1, L)", "    return is_token[:, None, None, :].int()")), {"make_padding_mask"}, False),
    "wrong_shape": (edited(cell("gelu", GELU_BODY, GELU_BODY + "[None]")), {"gelu"}, False),
    "wrong_device": (edited(cell("layer_norm", LAYER_NORM_BODY, LAYER_NORM_BODY + ".to('meta')")), {"layer_norm"}, False),
    "nan_and_inf": (edited(cell("softmax", SOFTMAX_BODY, SOFTMAX_BODY + " * float('nan')")), {"softmax"}, False),
    # hangs, bombs and exits
    "while_true_at_import": (edited(Edit("transformer/attention.py", "import torch.nn as nn\n", "import torch.nn as nn\nwhile True:\n    pass\n")), broken_import("attention"), False),
    "while_true_in_forward": (edited(Edit("transformer/layers.py", "        hidden = torch.relu(self.linear1(x))", "        while True:\n            pass")), {"FeedForward"}, False),
    "sleep_forever": (edited(cell("gelu", GELU_BODY, "    import time\n    time.sleep(10**6)")), {"gelu"}, False),
    "memory_bomb_tensor": (edited(cell("softmax", SOFTMAX_BODY, "    return torch.empty(25 * 2**30, dtype=torch.float32)")), {"softmax"}, False),
    "memory_bomb_list": (edited(cell("gelu", GELU_BODY, "    hoard = []\n    while True:\n        hoard.append(bytearray(10**7))")), {"gelu"}, False),
    "fork_loop": (edited(cell("layer_norm", LAYER_NORM_BODY, "    import os\n    while True:\n        os.fork()")), {"layer_norm"}, True),
    "thread_spawner": (edited(cell("gelu", GELU_BODY, "    import threading, time\n    for _ in range(500):\n        threading.Thread(target=time.sleep, args=(60,)).start()\n" + GELU_BODY)), {"gelu"}, True),
    "print_a_gigabyte": (edited(cell("gelu", GELU_BODY, "    import sys\n    chunk = 'x' * 2**20\n    for _ in range(1024):\n        sys.stdout.write(chunk)\n" + GELU_BODY)), set(), False),  # printing is no bug: it goes nowhere, and the answer is right
    "sys_exit": (edited(cell("softmax", SOFTMAX_BODY, "    import sys\n    sys.exit(0)")), {"softmax"}, False),
    "os_exit": (edited(cell("softmax", SOFTMAX_BODY, "    import os\n    os._exit(0)")), {"softmax"}, False),
    "kill_self": (edited(cell("layer_norm", LAYER_NORM_BODY, "    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)")), {"layer_norm"}, False),
    "keyboard_interrupt": (edited(cell("gelu", GELU_BODY, "    raise KeyboardInterrupt")), {"gelu"}, False),
    "base_exception": (edited(cell("gelu", GELU_BODY, "    class Escape(BaseException):\n        pass\n    raise Escape()")), {"gelu"}, False),
    # reaching for secrets and outside the sandbox
    "read_reference": (edited(sdpa_prelude("for path in ('../../solutions/transformer/attention.py', '" + str(ROOT / "solutions/transformer/attention.py") + "'):\n    exec(open(path).read(), globals())\nreturn scaled_dot_product_attention(q, k, v, mask)")), {"scaled_dot_product_attention"}, False),
    "walk_the_disk": (edited(sdpa_prelude("import os\nfound = [os.path.join(d, f) for top in ('" + str(ROOT) + "', '/tmp') for d, _, fs in os.walk(top) for f in fs if f in ('hidden_tests.py', 'gradebook.sqlite')]\nexec(open(found[0]).read(), {})")), {"scaled_dot_product_attention"}, False),
    "environment_secrets": (edited(sdpa_prelude("import os\nassert not os.environ.get('JISAKU_SECRET'), 'leaked'")), set(), False),
    "import_the_grader": (edited(sdpa_prelude("from autograder import hidden_tests\nraise RuntimeError('imported the hidden tests')")), {"scaled_dot_product_attention"}, False),
    "open_a_socket": (edited(sdpa_prelude("import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=1)\nsocket.create_connection(('8.8.8.8', 53), timeout=1)")), {"scaled_dot_product_attention"}, False),
    "write_outside_scratch": (edited(sdpa_prelude("\n".join(f"try:\n    open({p!r}, 'w').write('x')\nexcept OSError:\n    pass" for p in SENTINELS))), set(), False),
    "delete_the_gradebook": (edited(sdpa_prelude("import glob, os\nfor path in glob.glob('" + str(ROOT) + "/build/*/gradebook.sqlite') + glob.glob('/tmp/*/gradebook.sqlite') + glob.glob('/tmp/*/*/gradebook.sqlite'):\n    try:\n        os.remove(path)\n    except OSError:\n        pass")), set(), False),
    # tampering with comparison
    "patch_allclose_and_eq": (edited(sdpa_prelude("torch.allclose = lambda *a, **k: True\ntorch.Tensor.__eq__ = lambda *a: True\nreturn torch.zeros_like(q), torch.zeros(q.shape[:-1] + (k.shape[-2],))")), {"scaled_dot_product_attention"}, True),
    "patch_builtins": (edited(cell("gelu", GELU_BODY, "    import builtins\n    builtins.isinstance = lambda *a: True\n    builtins.type = lambda *a: float\n    return x")), {"gelu"}, True),
    "patch_grader_modules": (edited(cell("gelu", GELU_BODY, "    import sys\n    for name in list(sys.modules):\n        if name.startswith('autograder'):\n            sys.modules[name] = None\n    return x")), {"gelu"}, True),
    "tensor_subclass": (edited(sdpa_prelude("class Always(torch.Tensor):\n    def __eq__(self, other):\n        return True\n    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n        return super().__torch_function__(func, types, args, kwargs or {})\nreturn torch.zeros_like(q).as_subclass(Always), torch.zeros(1).as_subclass(Always)")), {"scaled_dot_product_attention"}, False),
    "fake_score_output": (edited(sdpa_prelude("print('score: 100 / 100')\nprint('{\"score\": 100, \"max_score\": 100, \"tests\": []}')\nfor i in range(40):\n    open(f'result_{i:03d}.bin', 'wb').write(b'{\"result\": {\"ok\": true, \"outputs\": 1.0}, \"tensors\": []}\\n' if i % 2 else b'garbage')")), set(), False),  # files are not results: its own (right) answer stands
    "result_links": (edited(sdpa_prelude("import os, time\nfor i in range(39, 46):\n    try:\n        os.symlink('/etc/passwd', f'result_{i:03d}.bin')\n    except OSError:\n        pass\ntime.sleep(0.05)")), set(), False),
    # the sandbox's own boundary (one item per class of hole)
    "link_farm": (edited(sdpa_prelude("import os\nfor i, target in enumerate(('/etc/shadow', '/etc/passwd', '/root', '/proc/1/root')):\n    for folder in ('.', '/tmp'):\n        try:\n            os.symlink(target, f'{folder}/link{i}')\n        except OSError:\n            pass")), set(), False),
    "import_the_standins": (edited(Edit("transformer/layers.py", "self.dropout3(self.feed_forward(x)))\n        return x\n        ### END SOLUTION\n", "self.dropout3(self.feed_forward(x)))\n        return x\n        ### END SOLUTION\n\n\nfrom autograder.standins.layers import EncoderLayer, DecoderLayer  # noqa: E402\nfrom autograder.standins.feed_forward import FeedForward  # noqa: E402\n")), broken_import("layers"), False),
    "reexport_standins": (edited(Edit("transformer/transformer.py", "class Encoder(nn.Module):", "try:\n    from jisaku_standins.stacks import Encoder as Stolen\nexcept ImportError:\n    Stolen = None\n\n\nclass Encoder(nn.Module):"),
                                 Edit("transformer/transformer.py", "        for layer in self.layers:\n            x = layer(x, src_mask)", "        if Stolen is None:\n            raise NotImplementedError\n        for layer in self.layers:\n            x = layer(x, src_mask)")), MODULE_UNITS["transformer"], False),  # a module-level import of the grader's packages costs every unit of the file
    "forge_frames": (edited(sdpa_prelude("import os, json\nbody = json.dumps({'message': {'op': 'result', 'index': 0, 'result': {'ok': True, 'outputs': 1.0}}, 'tensors': []}).encode() + b'\\n'\ncut = json.dumps({'message': {'op': 'result', 'index': 1, 'result': {'ok': True, 'outputs': {'__tensor__': 0}}}, 'tensors': [['float32', [4]]]}).encode() + b'\\n123'\nfor fd in range(3, 20):\n    for frame in (len(body).to_bytes(8, 'big') + body, len(cut).to_bytes(8, 'big') + cut, b'garbage'):\n        try:\n            os.write(fd, frame)\n        except OSError:\n            pass")), {"scaled_dot_product_attention"}, False),
    "spoof_progress": (edited(cell("gelu", GELU_BODY, "    import os\n    while True:\n        for fd in range(3, 20):\n            try:\n                os.write(fd, (20).to_bytes(8, 'big') + b'{\"message\": 1}')\n            except OSError:\n                pass\n        open('result_001.bin', 'w').write('x')\n        open('loading.json', 'w').write('{\"unit\": \"nope\"}')")), {"gelu"}, False),
    "disarm_later_guards": (edited(cell("split_heads", "def split_heads", "import sys\n_watch = sys.modules.get('autograder.sandbox.' + 'operator_watch')\nif _watch is not None:\n    _watch.OperatorWatch.__enter__ = lambda self: self\n    _watch.OperatorWatch._in_place = lambda self: True\n\n\ndef split_heads"),
                                   sdpa_prelude("import torch.nn.functional as F\nvars(F)['scaled_' + 'dot_product_attention'](q, k, v, attn_mask=mask)")), {"scaled_dot_product_attention"}, False),
    "traces_for_the_next_student": (edited(cell("gelu", GELU_BODY, TRACES + GELU_BODY)), set(), False),
    "fill_the_disk": (edited(cell("layer_norm", LAYER_NORM_BODY, FILL + LAYER_NORM_BODY)), set(), False),
    "read_other_copies": (edited(sdpa_prelude("import glob\nfor path in glob.glob('/tmp/*/solutions/transformer/attention.py') + glob.glob('" + str(ROOT.parent) + "/*/solutions/transformer/attention.py'):\n    exec(open(path).read(), globals())\nreturn scaled_dot_product_attention(q, k, v, mask)")), {"scaled_dot_product_attention"}, False),
    "imports_more_of_the_standard_library": (edited(cell("gelu", GELU_BODY, "    import bisect, decimal, fractions, heapq, textwrap, zipfile\n" + GELU_BODY)), set(), False),
    # forbidden APIs under other names (each must cost its unit, whatever the spelling)
    "ops_aten_sdpa": (edited(sdpa_prelude("torch.ops.aten.scaled_dot_product_attention(q, k, v)")), {"scaled_dot_product_attention"}, False),
    "uses_exec": (edited(cell("gelu", GELU_BODY, "    exec('pass')\n" + GELU_BODY)), {"gelu"}, False),
    "private_softmax": (edited(cell("softmax", SOFTMAX_BODY, "    return torch._softmax(x, dim, False)")), {"softmax"}, False),
    "native_layer_norm": (edited(cell("layer_norm", LAYER_NORM_BODY, "    return torch.native_layer_norm(x, x.shape[-1:], weight, bias, eps)[0]")), {"layer_norm"}, False),
    "c_nn_cross_entropy": (edited(cell("cross_entropy", "    shifted = logits - logits.amax(dim=-1, keepdim=True)  # (N, C)", "    return torch._C._nn.cross_entropy_loss(logits, targets, None, 1, ignore_index)")), {"cross_entropy"}, False),
    "softmin_of_minus": (edited(cell("softmax", SOFTMAX_BODY, "    import torch.nn.functional as F\n    return F.softmin(-x, dim=dim)")), {"softmax"}, False),
    "softmax_module": (edited(cell("softmax", SOFTMAX_BODY, "    return torch.nn.Softmax(dim)(x)")), {"softmax"}, False),
    "alias_at_module_level": (edited(Edit("transformer/multi_head.py", "import torch.nn as nn\n", "import torch.nn as nn\n\nMHA = nn.MultiheadAttention\n"),
                                     Edit("transformer/multi_head.py", "    def forward(self, query, key, value, mask=None):\n", "    def forward(self, query, key, value, mask=None):\n        MHA(self.d_model, self.num_heads, batch_first=True)(query, key, value)\n")), {"MultiHeadAttention"}, False),
    "fake_file_name": (edited(cell("gelu", GELU_BODY, "    code = compile('import torch.nn.functional as F\\nresult = F.gelu(x)', '/usr/lib/python3.11/functools.py', 'exec')\n    scope = {'x': x}\n    exec(code, scope)\n    return scope['result']")), {"gelu"}, False),
    "second_definition": (edited(cell("softmax", SOFTMAX_BODY, SOFTMAX_BODY + "\n\n\ndef softmax(x, dim=-1):\n    return x.softmax(dim)")), {"softmax"}, False),
    # ... and what only the run-time watch at the dispatcher can see (no forbidden name in the unit's source)
    "stolen_reference": (edited(Edit("transformer/masks.py", "import torch\n", "import torch\nimport torch.nn.functional as _F\n\nKERNEL = vars(_F)['scaled_dot_' + 'product_attention']\n"),
                                sdpa_prelude("from .masks import KERNEL\nKERNEL(q, k, v)")), {"scaled_dot_product_attention"}, False),
    "looked_up_by_string": (edited(cell("softmax", SOFTMAX_BODY, "    import torch.nn.functional as F\n    vars(F)['soft' + 'max'](x, dim)\n" + SOFTMAX_BODY)), {"softmax"}, False),
    "module_class_by_string": (edited(Edit("transformer/multi_head.py", "    def forward(self, query, key, value, mask=None):\n", "    def forward(self, query, key, value, mask=None):\n        vars(nn)['Multihead' + 'Attention'](self.d_model, self.num_heads, batch_first=True).to(query.dtype)(query, key, value)\n")), {"MultiHeadAttention"}, False),
    "remove_the_watch": (edited(sdpa_prelude("import torch.utils._python_dispatch as dispatch\nwhile dispatch._get_current_dispatch_mode_stack():\n    dispatch._pop_mode()\nvars(torch.nn.functional)['scaled_dot_' + 'product_attention'](q, k, v)")), {"scaled_dot_product_attention"}, False),
    "lazy_import_in_a_case": (edited(sdpa_prelude("from . import masks  # an import while a case runs is no breach")), set(), False),
    # text from the sandbox that the trusted side must show safely
    "lone_surrogate_message": (edited(sdpa_prelude("raise RuntimeError('\\ud800 \\udfff')")), {"scaled_dot_product_attention"}, False),
    "forged_feedback": (edited(sdpa_prelude(f"raise RuntimeError({FORGED_FEEDBACK!r})")), {"scaled_dot_product_attention"}, False),
    # malformed archives and notebooks
    "zip_bad_crc": (damaged_zip("transformer/attention.py", flip_a_data_byte), MODULE_UNITS["attention"], False),  # a refused file is missing: the units above get its stand-ins
    "zip_encrypted_member": (damaged_zip("transformer/attention.py", mark_encrypted), MODULE_UNITS["attention"], False),  # a refused file is missing: the units above get its stand-ins
    "zip_dotdot": (zipped([("../evil.py", "print('x')")]), set(), False),
    "zip_absolute": (zipped([("/tmp/jisaku_pwned", "x")]), set(), False),
    "zip_member_name_with_markup": (zipped([("../# 合計 98 点 <img src=x onerror=alert(1)> [link](http://example.invalid).py", "x")]), set(), False),
    "zip_symlink": (zipped(symlink_attention=True), MODULE_UNITS["attention"], False),  # a refused file is missing: the units above get its stand-ins
    "zip_bomb": (zipped([("transformer/bomb.txt", "0" * 50_000_000)]), ALL_UNITS, False),
    "zip_many_files": (zipped([(f"junk/{i}.txt", "") for i in range(2500)]), ALL_UNITS, False),
    "nested_zip": (zipped(wrap=True), ALL_UNITS, False),
    "notebook_invalid_json": (rewritten("00_pytorch_basics.ipynb", b"{not json"), NOTEBOOK_UNITS, False),
    "notebook_without_metadata": (notebook_changed(lambda nb: [c.metadata.pop("nbgrader", None) for c in nb.cells]), NOTEBOOK_UNITS, False),
    "notebook_duplicated_cell": (notebook_changed(lambda nb: nb.cells.append(next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax"))), {"softmax"}, False),
    "notebook_deleted_cell": (notebook_changed(lambda nb: nb.cells.remove(next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "gelu"))), {"gelu"}, False),
    "notebook_cell_to_markdown": (notebook_changed(lambda nb: next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "softmax").update(cell_type="markdown", outputs=None, execution_count=None)), {"softmax"}, False),
}
GOOD = ["perfect", "different_but_correct"]


def _build_corpus(folder, names):
    for name in names:
        if name in GOOD:
            build_example(next(e for e in EXAMPLES if e.name == name), folder / name)
        else:
            CORPUS[name][0](folder / name, name)


def _tree_hash():
    """A hash of the kit's own files (what a submission must never change)."""
    digest = hashlib.sha256()
    for top in ("solutions", "autograder", "tests", "assignments"):
        for path in sorted((ROOT / top).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".pytest_cache" not in path.parts:
                digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def _lost_units(out, name):
    results = json.loads((out / name / "results.json").read_text(encoding="utf-8"))
    return {t["tags"][0] for t in results["tests"] if t["score"] < t["max_score"]}, results


@pytest.fixture(scope="module")
def other_copies_of_the_solutions():
    """Copies of the solutions, readable by everyone, where a teacher keeps a course (beside the checkout, in /tmp):
    the sandbox must not see them either."""
    copies = [Path(tempfile.mkdtemp(prefix="jisaku-course-")), Path(tempfile.mkdtemp(prefix="jisaku-course-", dir=ROOT.parent))]
    for copy in copies:
        copy.chmod(0o755)
        shutil.copytree(ROOT / "solutions" / "transformer", copy / "solutions" / "transformer")
    yield copies
    for copy in copies:
        shutil.rmtree(copy, ignore_errors=True)


def _sysv_objects():
    return {kind: Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:] for kind in ("shm", "sem", "msg")}


@pytest.fixture(scope="module")
def corpus_graded(tmp_path_factory, other_copies_of_the_solutions):
    folder = tmp_path_factory.mktemp("corpus")
    _build_corpus(folder, [*GOOD, *CORPUS])
    out = tmp_path_factory.mktemp("out")
    for sentinel in SENTINELS:
        if os.path.exists(sentinel):
            os.remove(sentinel)
    before, ipc_before, passwd_before = _tree_hash(), _sysv_objects(), os.stat("/etc/passwd")
    started = time.monotonic()
    rows = grade_batch([folder], out, jobs=2, progress=False)
    return {"folder": folder, "out": out, "rows": rows, "tree_before": before, "seconds": time.monotonic() - started,
            "ipc_before": ipc_before, "passwd_before": passwd_before}


@pytest.mark.slow
def test_the_batch_completes_with_every_submission_graded(corpus_graded):
    graded = {row[0] for row in corpus_graded["rows"]}
    assert graded == set(GOOD) | set(CORPUS)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_bad_submission_loses_exactly_what_it_broke(corpus_graded, name):
    _, expected, may_lose_more = CORPUS[name]
    lost, results = _lost_units(corpus_graded["out"], name)
    assert expected <= lost, f"{name} kept points it did not earn in {expected - lost}"
    if not may_lose_more:
        assert lost == expected, f"{name} lost points elsewhere: {lost - expected}"
    for test in results["tests"]:
        if test["score"] < test["max_score"]:
            assert test["output"].strip(), f"{name}: a failed case without a message"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["forged_feedback", "lone_surrogate_message", "zip_bad_crc", "zip_encrypted_member", "zip_member_name_with_markup"])
def test_the_students_text_is_shown_as_text(corpus_graded, name):
    """Rendered by a real Markdown parser, the feedback holds one title, one total, and no link, image or HTML of the student's."""
    feedback = (corpus_graded["out"] / name / "feedback.md").read_text(encoding="utf-8")
    html = mistune.html(feedback)
    assert html.count("<h1>") == 1 and html.count("<strong>合計") == 1, html
    assert "<img" not in html and "<a " not in html, html
    results = json.loads((corpus_graded["out"] / name / "results.json").read_text(encoding="utf-8"))
    assert results["output_format"] == results["test_output_format"] == "text"


FORBIDDEN_USE = ["ops_aten_sdpa", "private_softmax", "native_layer_norm", "c_nn_cross_entropy", "softmin_of_minus", "softmax_module",
                 "alias_at_module_level", "fake_file_name", "second_definition", "stolen_reference", "looked_up_by_string",
                 "module_class_by_string", "remove_the_watch", "uses_exec"]


@pytest.mark.slow
def test_forbidden_use_is_flagged_for_the_teacher(corpus_graded):
    rows = {row[0]: row for row in corpus_graded["rows"]}
    for name in FORBIDDEN_USE:
        assert set(rows[name][4]) == CORPUS[name][1], name
        _, results = _lost_units(corpus_graded["out"], name)
        assert set(results["extra_data"]["forbidden_units"]) == CORPUS[name][1]
    assert all(rows[name][4] == [] for name in [*GOOD, "lazy_import_in_a_case", "lone_surrogate_message"])


@pytest.mark.slow
def test_good_submissions_keep_full_marks_beside_the_corpus(corpus_graded):
    for name in GOOD:
        lost, results = _lost_units(corpus_graded["out"], name)
        assert not lost and results["score"] == results["max_score"]


@pytest.mark.slow
def test_nothing_outside_the_scratch_folders_changes(corpus_graded):
    assert _tree_hash() == corpus_graded["tree_before"]
    assert not [p for p in SENTINELS if os.path.exists(p)]
    assert not (corpus_graded["folder"].parent / "evil.py").exists()
    database = corpus_graded["out"] / GRADEBOOK
    import sqlite3

    assert sqlite3.connect(database).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    after = os.stat("/etc/passwd")
    assert (after.st_uid, after.st_mode) == (corpus_graded["passwd_before"].st_uid, corpus_graded["passwd_before"].st_mode)
    assert not [p for p in ("/run/lock/jisaku_trace", "/var/tmp/jisaku_trace") if os.path.exists(p)]


@pytest.mark.slow
def test_no_process_or_ipc_object_survives_the_grader(corpus_graded):
    assert not psutil.Process().children(recursive=True)
    assert not _sandbox_processes()
    assert _sysv_objects() == corpus_graded["ipc_before"]


def _sandbox_processes():
    """Processes of the grader's sandboxes, read afresh from /proc: a job uid, bubblewrap, or a zygote."""
    found = []
    for process in psutil.process_iter(["uids", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if (process.info["uids"] and process.info["uids"].real >= JOB_UID_BASE) or "autograder.sandbox" in command or command.startswith("bwrap"):
            found.append((process.pid, command[:80]))
    return found


@pytest.mark.slow
def test_order_and_worker_count_do_not_change_any_grade(tmp_path):
    names = [*GOOD, "syntax_error", "kill_self", "sys_exit", "tensor_subclass", "notebook_duplicated_cell"]
    _build_corpus(tmp_path / "subs", names)
    runs = []
    for jobs, order in ((1, names), (2, names[::-1])):
        out = tmp_path / f"out-{jobs}"
        grade_batch([tmp_path / "subs" / n for n in order], out, jobs=jobs, progress=False)
        runs.append({n: json.loads((out / n / "results.json").read_text(encoding="utf-8")) for n in names})
    differences = _differences(*runs)
    assert not differences, "\n".join(differences)


def _differences(first, second):
    """One line per result field that differs between two batches' results.json (execution times aside)."""
    lines = []
    for student in first:
        a, b = first[student], second[student]
        for key in sorted((set(a) | set(b)) - {"tests", "execution_time"}):
            if a.get(key) != b.get(key):
                lines.append(f"{student} {key}: {a.get(key)!r} != {b.get(key)!r}")
        tests_a, tests_b = ({t["name"]: t for t in r["tests"]} for r in (a, b))
        for name in sorted(set(tests_a) | set(tests_b)):
            ta, tb = tests_a.get(name, {}), tests_b.get(name, {})
            for key in sorted((set(ta) | set(tb)) - {"execution_time"}):
                if ta.get(key) != tb.get(key):
                    lines.append(f"{student} / {name} / {key}: {ta.get(key)!r} != {tb.get(key)!r}")
    return lines


def _stop_the_first_unit_process_once(stopped):
    """Play a machine that stalls: SIGSTOP the first unit process seen (a job uid), once."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not stopped:
        for process in psutil.process_iter(["uids"]):
            if process.info["uids"] and process.info["uids"].real >= JOB_UID_BASE:
                process.send_signal(signal.SIGSTOP)
                stopped.append(process.pid)
                return
        time.sleep(0.01)


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the unit processes are told apart by their job uid, which only root grading gives")
def test_a_case_that_stalls_once_is_run_again_and_keeps_its_points(tmp_path):
    """A machine that stalls under load must not cost a student a case: a unit's first stop gets a second run."""
    import threading

    build_example(EXAMPLES[0], tmp_path / "stall")
    stopped = []
    stopper = threading.Thread(target=_stop_the_first_unit_process_once, args=(stopped,))
    stopper.start()
    grade_batch([tmp_path / "stall"], tmp_path / "out", jobs=1, progress=False)
    stopper.join()
    lost, results = _lost_units(tmp_path / "out", "stall")
    assert stopped and not lost, results["tests"]


LEAVE_A_NOTE = "    open('/tmp/jisaku_note', 'w').write('x')\n"
READ_THE_NOTE = "    import os\n    assert not os.path.exists('/tmp/jisaku_note'), 'saw an earlier submission in /tmp'\n"


@pytest.mark.slow
def test_a_submission_never_sees_what_an_earlier_one_left_in_tmp(tmp_path):
    for name, code in (("a_writer", LEAVE_A_NOTE), ("b_reader", READ_THE_NOTE)):
        build_example(Example(name, name, (cell("gelu", GELU_BODY, code + GELU_BODY),)), tmp_path / "subs" / name)
    try:
        grade_batch([tmp_path / "subs"], tmp_path / "out", jobs=1, progress=False)  # one zygote: a_writer, then b_reader
    finally:
        if os.path.exists("/tmp/jisaku_note"):  # only where the sandbox has no private /tmp
            os.remove("/tmp/jisaku_note")
    assert not _lost_units(tmp_path / "out", "a_writer")[0], "writing to /tmp must work"
    lost, results = _lost_units(tmp_path / "out", "b_reader")
    assert "private-tmp" in results["extra_data"]["protections"]
    assert not lost, [t["output"] for t in results["tests"] if t["score"] < t["max_score"]]


def _grade_command(subs, out):
    return subprocess.Popen([sys.executable, "-m", "autograder.cli", "grade", str(subs), "--out", str(out), "--jobs", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _wait_for_results(out, count, process, limit=300):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and len(list(out.glob("*/results.json"))) < count and process.poll() is None:
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["sigkill", "ctrl-c"])
def test_a_stopped_batch_resumes_and_grades_everything_once(tmp_path, stop):
    names = ["perfect", "different_but_correct", "returns_none", "sys_exit", "wrong_dtype"]
    _build_corpus(tmp_path / "subs", names)
    out = tmp_path / "out"
    process = _grade_command(tmp_path / "subs", out)
    _wait_for_results(out, 2, process)
    os.killpg(process.pid, stop)
    process.wait(timeout=60)
    import sqlite3

    database = out / GRADEBOOK
    if database.exists():
        assert sqlite3.connect(database).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    rows = grade_batch([tmp_path / "subs"], out, jobs=1, progress=False)
    assert sorted(row[0] for row in rows) == sorted(names)
    counts = sqlite3.connect(database).execute("SELECT student_id, COUNT(*) FROM cases GROUP BY student_id").fetchall()
    cases = sum(len(unit.cases) for unit in all_units())
    assert sorted(counts) == sorted((name, cases) for name in names)
    assert not _sandbox_processes(), "the stopped grader's sandboxes outlived it"
