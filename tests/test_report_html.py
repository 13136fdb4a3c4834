"""report.html (every run) and summary.html (every sweep): one self-contained page each, showing what the run
recorded: the benchmark rows, parity per output, the plots, the selection with its bundle's manifest, the int8
search. Read from the shared ALL run (every runtime at int8, a selection with a bundle); the sweep page from two
copies of that run summarised as a sweep (no second conversion)."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import runtimes
from core.samples import per_item
from report import int8_search
from report.html_page import write_run_page
from report.summary import COLUMNS
from report.sweep import finish_sweep
from validators.parity import Slice, compare

pytestmark = pytest.mark.xdist_group("all_run")
PNG = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """The parts of a page the tests read: its tables (header and cell texts), img sources, links, every URL it names,
    external resources (<link>, <script src>), and the text of its headings."""

    def __init__(self, text: str):
        super().__init__()
        self.tables, self.images, self.links, self.urls, self.external, self.headings = [], [], [], [], [], []
        self._cell = self._heading = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.urls += [v for k, v in attrs.items() if k in ("src", "href") and v]
        if tag == "a" and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "link" or (tag == "script" and attrs.get("src")):
            self.external.append(tag)
        if tag == "table":
            self.tables.append({"headers": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in ("h1", "h2", "h3"):
            self._heading = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            table = self.tables[-1]
            (table["headers"] if tag == "th" else table["rows"][-1]).append(text)
            self._cell = None
        elif tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append("".join(self._heading).strip())
            self._heading = None

    def handle_data(self, data):
        for part in (self._cell, self._heading):
            if part is not None:
                part.append(data)

    def table(self, *headers: str) -> list[dict]:
        """The rows (header -> cell) of the first table that has these headers."""
        for table in self.tables:
            if set(headers) <= set(table["headers"]):
                return [dict(zip(table["headers"], row, strict=True)) for row in table["rows"] if row]
        raise AssertionError(f"no table with {headers}; tables: {[t['headers'] for t in self.tables]}")


def assert_self_contained(page: Page, pictures: int) -> None:
    assert not page.external, f"the page loads {page.external}"
    assert not [u for u in page.urls if re.match(r"(https?:)?//", u)], page.urls
    assert len(page.images) >= pictures
    for src in page.images:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG)


@pytest.fixture(scope="module")
def page(all_run) -> Page:
    return Page((all_run.dir / "report.html").read_text())


def test_report_html_is_written_beside_report_md_and_needs_nothing_else(all_run, page):
    assert (all_run.dir / "report.md").is_file()
    assert f"report: {all_run.dir / 'report.html'}" in all_run.stdout
    assert_self_contained(page, pictures=2)  # the timing plot and the selection's
    assert page.headings[0] == f"all graph on tiny_cnn: {all_run.results.status}"


def test_every_benchmark_row_with_every_column_of_the_terminal_table(all_run, page):
    results = all_run.results
    rows = {row["artifact"]: row for row in page.table("runtime", "artifact", "infer ms")}
    assert set(rows) == {b.artifact for b in results.bench} and len(rows) >= 7
    headers = next(t["headers"] for t in page.tables if "infer ms" in t["headers"])
    for head in ("executes in", "pre ms", "p90", "cv", "post ms", "img/s b1", "img/s b2", "cold s", "RSS MB",
                 "size MB", "runtime MB (ver)", "max abs err vs ref", "task agreement", "parity"):
        assert head in headers
    for bench in results.ok_bench():
        row = rows[bench.artifact]
        assert row["runtime"] == runtimes.label(bench.runtime)
        assert row["infer ms"].rstrip("*") == f"{bench.infer_ms.median:.2f}"
        assert row["executes in"] == bench.executed_precision


def test_parity_per_output_and_the_task_agreement(all_run, page):
    rows = page.table("artifact", "output", "max abs", "cosine")
    results = all_run.results
    assert len(rows) == sum(max(len(p.outputs), 1) for p in results.parity) > 0
    for check in results.parity:
        for out in check.outputs:
            row = next(r for r in rows if r["artifact"] == check.artifact and r["output"] == out.name)
            assert row["max abs"] == f"{out.max_abs:.2e}" and row["check"] == ("passed" if out.passed else "FAILED")
    tasks = {r["artifact"]: r for r in page.table("task agreement", "floor")}
    assert tasks["openvino"]["task agreement"].startswith("top-1 ")


def test_the_selection_its_reason_and_the_bundle_manifest(all_run, page):
    selection = all_run.results.selection
    html = (all_run.dir / "report.html").read_text()
    assert f"Selection: {selection.objective}" in page.headings
    assert selection.reason.split(";")[0] in html.replace("&#39;", "'")
    ranked = page.table("candidate", "verdict")
    assert [r["candidate"] for r in ranked if r["verdict"] == "PICK"] == [selection.pick]
    manifest = json.loads((all_run.dir / "deploy" / "manifest.json").read_text())
    assert "Deploy bundle: manifest.json" in page.headings and manifest["artifact"]["sha256"] in html


def test_the_header_says_what_random_weights_mean_and_the_int8_search(all_run, page):
    html = (all_run.dir / "report.html").read_text()
    assert "not evidence for a trained model" in html
    assert "AMD" in html or "Intel" in html or all_run.results.environment.cpu.model in html
    # tiny_cnn's weights are random: its int8 steps quantize everything (accuracy_aware=auto), and the page says why
    assert not int8_search.searches(all_run.results) and "Low precision" in page.headings
    assert int8_search.no_search_note(all_run.results) in html.replace("&#39;", "'")
    versions = {r["package"]: r["version"] for r in page.table("package", "version")}
    assert versions.get("onnxruntime") == all_run.results.environment.packages["onnxruntime"]


def test_a_sweep_gets_summary_html_with_its_jobs_plots_and_pick(all_run, tmp_path):
    for job in ("0", "1"):  # the shared run twice, as the two jobs of a sweep
        shutil.copytree(all_run.dir, tmp_path / job, ignore=shutil.ignore_patterns("deploy"))
    finish_sweep(tmp_path)
    page = Page((tmp_path / "summary.html").read_text())
    assert_self_contained(page, pictures=3)  # latency by runtime, latency vs error, the selection
    rows = page.table("job", *COLUMNS)
    assert {r["job"] for r in rows} == {"0", "1"} and len(rows) == 2 * len(all_run.results.bench)
    assert {r["overrides"] for r in rows} == {"-"}  # two copies vary nothing; what they share is said once
    assert "Every job:" in (tmp_path / "summary.html").read_text()
    selection = json.loads((tmp_path / "selection.json").read_text())
    assert [r["candidate"] for r in page.table("candidate", "verdict") if r["verdict"] == "PICK"] == [
        selection["pick"]]
    assert page.links == ["0/report.html", "1/report.html"]  # each job's own page, relative
    manifest = json.loads((tmp_path / "deploy" / "manifest.json").read_text())  # the sweep's own bundle
    assert "Deploy bundle: manifest.json" in page.headings
    assert manifest["artifact"]["sha256"] in (tmp_path / "summary.html").read_text()


def test_slices_and_failures_are_shown_as_they_are_recorded(all_run, tmp_path):
    """The shared run's results with what it did not have: an output judged per slice (as a detector's boxes and
    scores are) and a step, a benchmark and a parity run that failed; the page is written from them here."""
    results = all_run.results.model_copy(deep=True)
    openvino = results.parity_of("openvino")
    tol = all_run.tolerance("int8")
    slices = {"logits": [Slice("first", 0, 4, tol), Slice("rest", 4, 10, tol)]}
    report = compare("openvino", "model", "int8", per_item(all_run.recorded_outputs("model")),
                     per_item(all_run.recorded_outputs("openvino")), ["logits"], tol, slices)
    openvino.outputs = report.outputs
    broken = results.parity_of("tf")
    broken.outputs, broken.passed, broken.error = [], False, "the runtime could not load the artifact"
    step = next(s for s in results.steps if s.name == "tflite_fp16")
    step.status, step.error = "failed", "StepFailed: converter died"
    bench = next(b for b in results.bench if b.artifact == "tflite_fp16")
    bench.status, bench.error, bench.infer_ms = "failed", "worker crashed", None
    run_dir = tmp_path / "run"
    shutil.copytree(all_run.dir, run_dir, ignore=shutil.ignore_patterns("deploy"))  # its plots, not its bundle
    page = Page(write_run_page(results, run_dir).read_text())
    rows = page.table("artifact", "output", "max abs", "cosine")
    sliced = {r["output"]: r for r in rows if r["artifact"] == "openvino"}
    assert set(sliced) == {"logits[first]", "logits[rest]"}
    assert (sliced["logits[first]"]["shape"], sliced["logits[rest]"]["shape"]) == ("7x4", "7x6")
    for out in report.outputs:
        assert sliced[out.name]["max abs"] == f"{out.max_abs:.2e}"
    assert [r["why not"] for r in rows if r["artifact"] == "tf"] == ["the runtime could not load the artifact"]
    steps = {r["step"]: r for r in page.table("step", "kind", "status")}
    assert steps["tflite_fp16"]["status"] == "failed" and steps["tflite_fp16"]["error / reason"].startswith("Step")
    assert {r["artifact"]: r for r in page.table("runtime", "artifact", "infer ms")}["tflite_fp16"]["infer ms"] == (
        "failed")


# ---- in a real browser ------------------------------------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium; "
                                                             ".ci/run installs it)")


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless Chromium on a local page; its console messages go to stderr (INFO:CONSOLE lines)."""
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--enable-logging=stderr", "--v=0", *args, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


@needs_chromium
def test_the_page_renders_in_chromium_without_console_errors(all_run, tmp_path):
    shot = tmp_path / "report.png"
    proc = chromium(all_run.dir / "report.html", "--window-size=1400,2400", f"--screenshot={shot}")
    assert shot.is_file(), proc.stderr[-2000:]
    assert not [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.shape[:2] == (2400, 1400)
    inked = (pixels < 200).any(axis=2).mean()  # text, table rules and plots, not a blank page
    assert 0.02 < inked < 0.6, inked
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 100  # the inline plots are drawn


@needs_chromium
def test_a_click_on_a_header_sorts_its_table_by_number(all_run, tmp_path):
    # the page as shipped, plus one click on the benchmark table's "infer ms" header once it has loaded
    text = (all_run.dir / "report.html").read_text().replace("</body>", """<script>
for (const th of document.querySelectorAll("th")) { if (th.textContent === "infer ms") { th.click(); break; } }
</script></body>""")
    clicked = tmp_path / "clicked.html"
    clicked.write_text(text)
    proc = chromium(clicked, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = Page(proc.stdout).table("runtime", "artifact", "infer ms")
    times = [float(r["infer ms"].rstrip("*")) for r in rows if r["infer ms"] != "failed"]
    assert len(times) >= 7 and times == sorted(times)
    assert [r["artifact"] for r in rows] != [b.artifact for b in all_run.results.bench]  # it did reorder
