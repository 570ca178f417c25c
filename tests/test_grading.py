"""The grader on the bundled examples and on a catalog of classic bugs: each bug costs points in its own unit only."""

import json
import sqlite3
import subprocess
import sys

import pytest

from autograder.grader.batch import GRADEBOOK, SUMMARY_PLOT, grade_batch
from autograder.outputs.gradebook import Gradebook
from autograder.authoring.examples import EXAMPLES, Edit, Example, build_example
from autograder.grader.catalog import load_rubric
from autograder.grader.hidden_tests import all_units

# Classic bugs beyond the bundled examples: (name, edits, the one unit that must lose points).
CLASSIC_BUGS = [
    ("missing_scale", [Edit("transformer/attention.py", " / math.sqrt(d_k)", "")], "scaled_dot_product_attention"),
    ("inverted_mask", [Edit("transformer/attention.py", 'scores.masked_fill(~mask, float("-inf"))', 'scores.masked_fill(mask, float("-inf"))')], "scaled_dot_product_attention"),
    ("nan_on_fully_masked_rows", [Edit("transformer/attention.py", "    if mask is not None:\n        weights = weights.masked_fill(~mask, 0.0)\n", "")], "scaled_dot_product_attention"),
    ("scale_by_d_model", [Edit("transformer/multi_head.py", "out, weights = scaled_dot_product_attention(q, k, v, mask, dropout=self.dropout)",
                               "out, weights = scaled_dot_product_attention(q * (d_k / self.d_model) ** 0.5, k, v, mask, dropout=self.dropout)")], "MultiHeadAttention"),
    ("padding_over_queries", [Edit("transformer/masks.py", "is_token[:, None, None, :]", "is_token[:, None, :, None]")], "make_padding_mask"),
    ("merge_without_transpose", [Edit("transformer/multi_head.py", "out = out.transpose(1, 2).contiguous().view(B, Lq, H * d_k)", "out = out.reshape(B, Lq, H * d_k)")], "MultiHeadAttention"),
    ("key_from_value", [Edit("transformer/multi_head.py", "k = self.W_k(key)", "k = self.W_k(value)")], "MultiHeadAttention"),
    ("missing_output_projection", [Edit("transformer/multi_head.py", "return self.W_o(out), weights", "return out, weights")], "MultiHeadAttention"),
    ("cross_attention_without_source_mask", [Edit("transformer/layers.py", "self.cross_attn(x, memory, memory, src_mask)", "self.cross_attn(x, memory, memory)")], "DecoderLayer"),
    ("masks_swapped", [Edit("transformer/layers.py", "self.self_attn(x, x, x, tgt_mask)  # (B, T, d_model)", "self.self_attn(x, x, x, src_mask)  # (B, T, d_model)")], "DecoderLayer"),
    ("multiplicative_residual", [Edit("transformer/layers.py", "x = self.norm3(x + self.dropout3(self.feed_forward(x)))", "x = self.norm3(x * self.dropout3(self.feed_forward(x)))")], "DecoderLayer"),
    ("pe_halves", [Edit("transformer/positional.py", "    table[:, 0::2] = torch.sin(angle)\n    table[:, 1::2] = torch.cos(angle)",
                        "    table[:, : d_model // 2] = torch.sin(angle)\n    table[:, d_model // 2 :] = torch.cos(angle)")], "sinusoidal_encoding"),
    ("pe_not_sliced", [Edit("transformer/positional.py", "self.pe[:, :L]", "self.pe[:, :L].clone() * 0 + self.pe[:, -L:]")], "PositionalEncoding"),
    ("pe_as_parameter", [Edit("transformer/positional.py", 'self.register_buffer("pe", sinusoidal_encoding(max_len, d_model)[None])',
                              "self.pe = nn.Parameter(sinusoidal_encoding(max_len, d_model)[None])")], "PositionalEncoding"),
    ("missing_embedding_scale", [Edit("transformer/transformer.py", "x = self.src_embedding(src) * math.sqrt(self.d_model)", "x = self.src_embedding(src)")], "Transformer"),
    ("shared_layers", [Edit("transformer/transformer.py", "nn.ModuleList(EncoderLayer(d_model, num_heads, d_ff, dropout) for _ in range(num_layers))",
                            "nn.ModuleList([EncoderLayer(d_model, num_heads, d_ff, dropout)] * num_layers)")], "Encoder"),
    ("no_train_mode", [Edit("transformer/training.py", "    model.train()\n    losses = []", "    losses = []")], "train_one_epoch"),
    ("dropout_on_in_evaluation", [Edit("transformer/training.py", "    model.eval()\n    losses = []", "    losses = []")], "evaluate"),
    ("wrong_shift", [Edit("transformer/training.py", "tgt_input, tgt_output = tgt[:, :-1], tgt[:, 1:]", "tgt_input, tgt_output = tgt[:, 1:], tgt[:, :-1]")], "sequence_loss"),
    ("bos_missing", [Edit("transformer/training.py", "    return ys\n", "    return ys[:, 1:]\n")], "greedy_decode"),
    ("tokens_after_eos", [Edit("transformer/training.py", "next_token = next_token.masked_fill(finished, pad_idx)", "next_token = next_token")], "greedy_decode"),
    ("loss_counts_pad", [Edit("cell:cross_entropy", "    keep = targets != ignore_index  # (N,)", "    keep = targets == targets")], "cross_entropy"),
    ("zero_grad_after_backward", [Edit("cell:train_step", "    optimizer.zero_grad()\n    loss = criterion(model(x), y)\n    loss.backward()",
                                       "    loss = criterion(model(x), y)\n    loss.backward()\n    optimizer.zero_grad()")], "train_step"),
    ("softmax_over_wrong_axis", [Edit("cell:softmax", "    return exps / exps.sum(dim=dim, keepdim=True)", "    return exps / exps.sum(dim=0, keepdim=True)")], "softmax"),
]


def _units_with_lost_points(results):
    return {test["tags"][0] for test in results["tests"] if test["score"] < test["max_score"]}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Every bundled example and every classic bug, graded in one batch with two workers."""
    folder = tmp_path_factory.mktemp("submissions")
    for example in EXAMPLES:
        build_example(example, folder / example.name)
    for name, edits, _ in CLASSIC_BUGS:
        build_example(Example(name, name, tuple(edits)), folder / name)
    out = tmp_path_factory.mktemp("out")
    rows = grade_batch([folder], out, jobs=2, progress=False)
    results = {row[0]: json.loads((out / row[0] / "results.json").read_text(encoding="utf-8")) for row in rows}
    return folder, out, results


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_each_example_loses_points_only_in_its_units(graded, example):
    results = graded[2][example.name]
    assert _units_with_lost_points(results) == set(example.expected_failures)
    if not example.expected_failures:
        assert results["score"] == results["max_score"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name, edits, unit", CLASSIC_BUGS, ids=[bug[0] for bug in CLASSIC_BUGS])
def test_classic_bug_is_caught_in_its_own_unit(graded, name, edits, unit):
    assert _units_with_lost_points(graded[2][name]) == {unit}


@pytest.mark.slow
def test_cheating_gains_nothing_and_sees_nothing(graded):
    results = graded[2]["cheating"]
    attention = [t for t in results["tests"] if t["tags"] == ["scaled_dot_product_attention"]]
    assert attention and all(t["score"] == 0 and "使えない" in t["output"] and "scaled_dot_product_attention" in t["output"] for t in attention)
    text = json.dumps(results, ensure_ascii=False)
    assert "BEGIN SOLUTION" not in text and "score: 100" not in text


@pytest.mark.slow
def test_results_follow_gradescope_schema(graded):
    for results in graded[2].values():
        assert {"score", "max_score", "execution_time", "tests"} <= results.keys()
        assert "隔離" in results["output"]
        for number, test in enumerate(results["tests"], 1):
            assert test.keys() >= {"name", "number", "score", "max_score", "status", "output", "visibility", "tags"}
            assert test["name"].startswith(test["tags"][0] + ": ") and test["number"] == str(number)
            assert test["status"] == ("passed" if test["score"] == test["max_score"] else "failed")


@pytest.mark.slow
def test_feedback_explains_each_failure_in_japanese(graded):
    feedback = (graded[1] / "bug_softmax_axis" / "feedback.md").read_text(encoding="utf-8")
    assert "確かめたこと" in feedback and "よくある原因" in feedback and "最大の差" in feedback
    assert "softmax の軸が違う" in feedback


@pytest.mark.slow
def test_sandbox_reports_its_protections(graded):
    isolation = graded[2]["perfect"]["output"]
    assert "rlimit" in isolation or "上限" in isolation


@pytest.mark.slow
def test_unchanged_submissions_are_skipped_and_regrade_is_deterministic(graded, tmp_path):
    folder, out, results = graded
    database = out / GRADEBOOK
    before = sqlite3.connect(database).execute("SELECT student_id, execution_time FROM submissions").fetchall()
    grade_batch([folder / "perfect", folder / "bug_softmax_axis"], out, jobs=1, progress=False)
    assert sqlite3.connect(database).execute("SELECT student_id, execution_time FROM submissions").fetchall() == before
    grade_batch([folder / "perfect", folder / "bug_softmax_axis"], out, jobs=1, regrade=True, progress=False)
    for name in ("perfect", "bug_softmax_axis"):
        again = json.loads((out / name / "results.json").read_text(encoding="utf-8"))
        assert {**again, "execution_time": 0} == {**results[name], "execution_time": 0}
    assert sqlite3.connect(database).execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.slow
def test_csv_has_a_row_per_submission_and_case(graded):
    lines = (graded[1] / "gradebook.csv").read_text(encoding="utf-8").splitlines()
    cases = sum(len(unit.cases) for unit in all_units())
    assert len(lines) == 1 + cases * len(graded[2])


@pytest.mark.slow
def test_the_summary_shows_exactly_the_units_someone_lost_points_in(graded):
    assert (graded[1] / SUMMARY_PLOT).read_bytes().startswith(b"\x89PNG")
    shares = dict(Gradebook(graded[1] / GRADEBOOK).unit_fractions())
    broken = set().union(*(e.expected_failures for e in EXAMPLES), {unit for _, _, unit in CLASSIC_BUGS})
    assert {unit for unit, share in shares.items() if share < 1} == broken
    assert list(shares) == [unit.name for unit in all_units()]


@pytest.mark.slow
def test_the_summary_draws_japanese_without_font_warnings(graded, tmp_path):
    """In a fresh process: matplotlib caches font lookups, so this process could not warn twice."""
    draw = ("import sys; from pathlib import Path; from autograder.outputs.gradebook import Gradebook; from autograder.outputs.plots import plot_batch; "
            "plot_batch(Gradebook(Path(sys.argv[1])), Path(sys.argv[2]))")
    run = subprocess.run([sys.executable, "-W", "always", "-c", draw, str(graded[1] / GRADEBOOK), str(tmp_path / "summary.png")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert not [line for line in run.stderr.splitlines() if "font" in line.lower()]  # findfont, "Glyph … missing from font"


def test_rubric_names_exactly_the_catalog_cases():
    rubric = load_rubric()
    catalog = {unit.name: {case.name for case in unit.cases} for unit in all_units()}
    assert {unit: set(cases) for unit, cases in rubric.items()} == catalog


def test_every_unit_has_at_least_three_cases():
    thin = [unit.name for unit in all_units() if len(unit.cases) < 3]
    assert not thin
