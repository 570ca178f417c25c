"""The teacher's HTML report, opened in a real browser (Debian's chromium driven by Playwright).

One small batch is graded once: the reference, a disguised copy of it (renamed and reordered, with a
script tag in a comment), the two independent solutions, the cheating example and one whose exception
message is a script tag. Without chromium the browser tests skip, except in CI (CI set), where they fail:
`make browser-tools` installs it.
"""

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from autograder.authoring.disguise import disguised_copy, renamed, reordered
from autograder.authoring.examples import EXAMPLES, Edit, Example, build_example
from autograder.authoring.independent import INDEPENDENT, build_from_skeleton
from autograder.grader import batch
from autograder.grader.batch import grade_batch
from autograder.grader.intake import STUDENT_ID
from autograder.outputs import html_report
from autograder.outputs.html_report import REPORT_FOLDER

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1200, "height": 900}
IN_A_COMMENT = "</code></pre><script>window.__pwned = 1</script>"
IN_AN_EXCEPTION = "<script>window.__pwned = 2</script>"
EXAMPLE = {example.name: example for example in EXAMPLES}

pytestmark = pytest.mark.slow


def _build_batch(folder):
    """The batch's submission folders (student ids: tanaka, suzuki, the independent ones, cheating, hostile)."""
    tanaka = build_example(EXAMPLE["perfect"], folder / "tanaka")
    suzuki = disguised_copy(tanaka, folder / "suzuki", lambda source: reordered(renamed(source)))
    attention = suzuki / "transformer" / "attention.py"
    text = attention.read_text(encoding="utf-8")
    attention.write_text(text.replace("### BEGIN SOLUTION\n", f"### BEGIN SOLUTION\n    # {IN_A_COMMENT}\n", 1), encoding="utf-8")
    for name, answers in INDEPENDENT.items():
        build_from_skeleton(answers, folder / name)
    build_example(EXAMPLE["cheating"], folder / "cheating")
    crash = EXAMPLE["crashing"].edits[0]  # FeedForward.forward raises: here with markup for a message
    build_example(Example("hostile", "", (Edit(crash.file, crash.old, f"        raise RuntimeError({IN_AN_EXCEPTION!r})"),)), folder / "hostile")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    _build_batch(folder)
    out = tmp_path_factory.mktemp("out")
    rows = grade_batch([folder], out, jobs=2, progress=False)
    return folder, out, {row[0]: row for row in rows}


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: `make browser-tools` installs it")
        pytest.skip(f"{CHROMIUM} is not installed (`make browser-tools`)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    yield context.new_page()
    context.close()


def _index(graded):
    return graded[1] / REPORT_FOLDER / "index.html"


def _open(page, path):
    page.goto(Path(path).as_uri())
    return page


def _linked(page, row_text, link_text):
    """The page a row's link leads to, from the index (`row_text` picks the row)."""
    href = page.locator("tr", has_text=row_text).get_by_role("link", name=link_text).first.get_attribute("href")
    return _index_folder(page) / href


def _index_folder(page):
    return Path(page.evaluate("decodeURIComponent(location.pathname)")).parent


def test_the_independent_solutions_are_correct(graded):
    """They are the 'independent correct solutions' the similarity check must not flag: full marks here."""
    for name in INDEPENDENT:
        _, score, max_score, *_ = graded[2][name]
        assert score == max_score > 0, name


def test_the_index_has_a_row_per_student_and_the_histogram(graded, page):
    _open(page, _index(graded))
    assert page.locator("tr.student-row").count() == len(graded[2]) == 6
    assert page.locator("svg.histogram rect").count() == 10
    counts = [int(title.split(": ")[1].split(" ")[0]) for title in page.locator("svg.histogram rect title").all_text_contents()]
    assert sum(counts) == 6
    assert page.locator(".bar-row").count() > 20 and page.locator("#case-table tbody tr").count() > 100


def test_the_flags_show_forbidden_use_and_the_copied_pair(graded, page):
    _open(page, _index(graded))
    assert "使えない API" in page.locator("#flag-table tr", has_text="cheating").inner_text()
    assert "scaled_dot_product_attention" in page.locator("#flag-table tr", has_text="cheating").inner_text()
    flagged = page.locator(".pair-table tr.pair-row.flagged").all_inner_texts()
    assert any("suzuki と tanaka" in row for row in flagged), flagged
    assert not any("independent" in row for row in flagged), flagged


def test_the_copied_pair_is_shown_side_by_side(graded, page):
    pair_page = _linked(_open(page, _index(graded)), "suzuki と tanaka", "並べて見る")
    _open(page, pair_page)
    left, right = page.locator(".sides").first.locator(":scope > div").all()
    assert left.locator("mark").count() > 0 and right.locator("mark").count() > 0
    left_box, right_box = left.bounding_box(), right.bounding_box()
    assert left_box["y"] == right_box["y"] and left_box["x"] + left_box["width"] <= right_box["x"]  # side by side


def test_a_student_page_renders_the_feedback(graded, page):
    _open(page, _linked(_open(page, _index(graded)), "hostile", "hostile"))
    assert page.locator(".feedback h1").inner_text() == "採点結果: hostile"
    assert page.locator(".feedback h2", has_text="うまくいかなかったケース").count() == 1
    assert page.locator(".feedback h3").count() >= 1 and page.locator(".feedback table tr").count() > 20
    assert IN_AN_EXCEPTION in page.locator(".feedback pre").first.inner_text()


def test_no_script_from_a_submission_runs(graded, page):
    """The markup of a student's comment and exception message is shown as text on every page that holds it."""
    index = _index(graded)
    pages = [index, _linked(_open(page, index), "hostile", "hostile"), _linked(_open(page, index), "suzuki と tanaka", "並べて見る")]
    for path in pages:
        _open(page, path)
        assert page.evaluate("document.scripts.length") == 0, path
        assert page.evaluate("typeof window.__pwned") == "undefined", path
    assert IN_A_COMMENT in page.inner_text("body")


def test_a_phone_reads_it_without_sideways_scrolling(graded, browser, tmp_path_factory):
    shots = tmp_path_factory.mktemp("screenshots")
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True)  # honours the viewport meta
    phone = context.new_page()
    index = _index(graded)
    pages = {"index": index, "student": _linked(_open(phone, index), "hostile", "hostile"),
             "pair": _linked(_open(phone, index), "suzuki と tanaka", "並べて見る")}
    for name, path in pages.items():
        _open(phone, path)
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], name
        phone.screenshot(path=str(shots / f"{name}-phone.png"), full_page=True)
    context.close()
    print(f"screenshots: {shots}")


def test_markup_in_the_feedback_is_shown_as_text(tmp_path):
    """Raw HTML in feedback.md is escaped; the references reports.markdown_text writes (`&lt;`) read as the characters."""
    (tmp_path / "taro").mkdir()
    (tmp_path / "taro" / "feedback.md").write_text("# 採点結果: a&lt;b&gt; &amp; c\n\n<script>window.__pwned = 3</script>\n", encoding="utf-8")
    html = str(html_report._feedback(tmp_path, "taro"))
    assert "<h1>採点結果: a&lt;b&gt; &amp; c</h1>" in html
    assert "<script>" not in html and "&lt;script&gt;window.__pwned = 3&lt;/script&gt;" in html


def test_the_report_folder_is_never_a_students(graded):
    assert not STUDENT_ID.fullmatch(REPORT_FOLDER)
    assert (graded[1] / REPORT_FOLDER / "index.html").is_file() and not (graded[1] / REPORT_FOLDER / "results.json").exists()


def test_a_failing_report_costs_no_grades(graded, tmp_path, monkeypatch):
    out = shutil.copytree(graded[1], tmp_path / "out")

    def broken(*args, **kwargs):
        raise RuntimeError("the report broke")

    monkeypatch.setattr(batch, "write_report", broken)
    rows = grade_batch([graded[0]], out, jobs=1, progress=False)
    assert {row[0]: row for row in rows} == graded[2]
