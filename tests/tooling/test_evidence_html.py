"""The evidence page (tooling/evidence_html.py, written by tooling/evidence_site.py), rendered in headless
Chromium (Debian's ``chromium``, installed by scripts/install-system-packages.sh): its DOM has one matrix row
per rule and clause, a screenshot is saved beside the evidence, and it prints on A4 landscape."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from evidence_app import LOG_GROUP, LOG_REASON, SCRATCH, SCRATCH_REASON, STACK

from factory_constructs.audit.config_rules import config_rules_for
from tooling import evidence_record
from tooling.evidence import collect
from tooling.evidence_html import render
from tooling.evidence_matrix import traceability
from tooling.evidence_site import write_site_evidence

pytestmark = pytest.mark.synth

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WINDOW = (1280, 1800)
TABLES = ["facts", "packs", "matrix", "changes", "other-acknowledgments", "findings", "templates"]


class Page(HTMLParser):
    """What a reader sees of the page: the tables by id, each row's cell texts, and the matrix rows' keys."""

    def __init__(self, markup: str) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.rows: dict[str, list[list[str]]] = {}  # table id -> rows -> cell texts
        self.keys: list[tuple[str, str]] = []  # (rule, clause) of each matrix row
        self._table = ""
        self._cell: list[str] | None = None
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table":
            self._table = values.get("id") or ""
            self.tables.append(self._table)
        elif tag == "tr":
            self.rows.setdefault(self._table, []).append([])
            if "data-rule" in values:
                self.keys.append((str(values["data-rule"]), str(values["data-clause"])))
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def matrix_row(self, rule: str, clause: str) -> list[str]:
        body = [row for row in self.rows["matrix"] if row and row[0] != "clause"]  # without the header
        return body[self.keys.index((rule, clause))]

    def facts(self) -> dict[str, str]:
        return {name: value for name, value in self.rows["facts"]}


def chromium(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium with a fresh profile, no network services, no first-run UI."""
    binary = shutil.which("chromium")
    if binary is None:
        raise RuntimeError("chromium is not installed; fix: run `make setup` (installs the Debian package)")
    # Chromium refuses to start its sandbox as root (the user the tests run as on this machine); the page is
    # our own file, so the sandbox protects nothing here.
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []
    command = [
        binary,
        "--headless",
        *sandbox,
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={folder / 'chromium-profile'}",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values of the pixel data): a blank page has almost none."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])  # IHDR comes first
    pixels, offset = b"", 8
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        if data[offset + 4 : offset + 8] == b"IDAT":
            pixels += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    return width, height, len(set(zlib.decompress(pixels)))


@pytest.fixture(scope="module")
def failed_page(traced: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Page]:
    """The evidence of the version whose gate failed, as make evidence writes it, and its DOM from Chromium."""
    folder = tmp_path_factory.mktemp("compliance")
    collected = collect(traced)[STACK]
    write_site_evidence(traced, collected, folder=folder, records=folder / "records", passed=False)
    page = folder / f"{STACK}.html"
    dom = chromium(folder, "--dump-dom", page.as_uri()).stdout
    return folder, Page(dom)


def test_chromium_renders_one_matrix_row_per_rule_and_clause(traced: Path, failed_page: tuple[Path, Page]) -> None:
    _, page = failed_page
    rows = traceability(traced, STACK, config_rules_for(["fda-21-cfr-part-11"]))
    assert page.keys == [(row.rule, row.clause) for row in rows]
    assert len(page.keys) == len(set(page.keys))
    assert page.tables == [table for table in TABLES if table != "changes"]  # no record, so no changes


def test_the_matrix_shows_the_failure_and_the_acknowledgment_with_its_reason(failed_page: tuple[Path, Page]) -> None:
    _, page = failed_page
    failed = page.matrix_row("GxP-LogRetention", "21 CFR 11.10(e)")
    assert failed[2] == f"{LOG_GROUP} AWS::Logs::LogGroup: fail"
    assert (failed[3], failed[4]) == ("fail", "none")
    acknowledged = page.matrix_row("GxP-S3Versioned", "21 CFR 11.10(c)")
    assert acknowledged[3] == "acknowledged"
    assert acknowledged[4] == f"{SCRATCH}: {SCRATCH_REASON}"
    assert acknowledged[5] == "plantT-s3-bucket-versioning-enabled S3_BUCKET_VERSIONING_ENABLED"
    nowhere = page.matrix_row("GxP-RawObjectLock", "21 CFR 11.10(c)")
    assert (nowhere[2], nowhere[3]) == ("2 more of its types: not applicable", "not applicable")


def test_the_facts_say_the_gate_failed_and_no_record_was_written(failed_page: tuple[Path, Page]) -> None:
    _, page = failed_page
    facts = page.facts()
    assert (facts["Site"], facts["Regimes"], facts["Compliance gate"]) == (STACK, "fda-21-cfr-part-11", "failed: GxP")
    assert facts["Change record"] == "none written: a check failed"
    assert page.rows["findings"][1][:3] == ["GxP", "GxP-LogRetention", LOG_GROUP]
    assert ["GxP", "failure", "1", "1"] in page.rows["packs"]


def test_a_screenshot_is_saved_beside_the_evidence(failed_page: tuple[Path, Page]) -> None:
    folder, _ = failed_page
    screenshot = folder / f"{STACK}.png"
    page = folder / f"{STACK}.html"
    chromium(folder, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={screenshot}", page.as_uri())
    assert sorted(path.name for path in folder.glob(f"{STACK}.*")) == [
        "plantT.html",
        "plantT.matrix.csv",
        "plantT.png",
    ]
    width, height, colours = png_size_and_colours(screenshot)
    assert (width, height) == WINDOW
    assert colours > 16  # text and tables, not an empty page


def test_the_page_prints_on_a4_landscape(failed_page: tuple[Path, Page]) -> None:
    folder, _ = failed_page
    pdf = folder / f"{STACK}.pdf"
    chromium(folder, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", (folder / f"{STACK}.html").as_uri())
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    boxes = {tuple(map(float, box)) for box in re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", data)}
    assert len(boxes) == 1
    ((width, height),) = boxes
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (297, 210)  # A4 landscape, in mm
    assert len(re.findall(rb"/Type /Page\b", data)) >= 2  # the matrix runs over pages


def test_the_page_is_self_contained(failed_page: tuple[Path, Page]) -> None:
    folder, _ = failed_page
    markup = (folder / f"{STACK}.html").read_text()
    assert "<style>" in markup
    for outside in ("<script", "<link", "src=", "http://", "https://", "@import"):
        assert outside not in markup


def test_a_passing_version_gets_its_change_record_and_the_page_names_it(revised: Path, tmp_path: Path) -> None:
    records = tmp_path / "records" / STACK
    lines = write_site_evidence(revised, collect(revised)[STACK], folder=tmp_path, records=records, passed=True)
    (record,) = records.iterdir()
    assert lines == [str(tmp_path / f"{STACK}.matrix.csv"), str(tmp_path / f"{STACK}.html"), str(record)]
    page = Page((tmp_path / f"{STACK}.html").read_text())
    assert (page.facts()["Change record"], page.facts()["Compliance gate"]) == (record.name, "passed")
    assert "findings" not in page.tables
    again = write_site_evidence(revised, collect(revised)[STACK], folder=tmp_path, records=records, passed=True)
    assert again[2] == f"{record} (unchanged: this version is recorded there)"
    assert [path.name for path in records.iterdir()] == [record.name]


def test_the_changes_since_the_previous_record_are_listed(traced: Path, revised: Path, tmp_path: Path) -> None:
    def version(assembly: Path, created: datetime) -> dict[str, Any]:
        evidence = collect(assembly)[STACK]
        return evidence_record.build(evidence, assembly, site=STACK, commit="c" * 40, dirty=False, created=created)

    first, _ = evidence_record.write(tmp_path, version(traced, datetime(2026, 12, 1, tzinfo=UTC)))
    second, _ = evidence_record.write(tmp_path, version(revised, datetime(2026, 12, 2, tzinfo=UTC)))
    evidence = collect(revised)[STACK]
    markup = render(
        evidence=evidence,
        regimes=["fda-21-cfr-part-11"],
        rows=traceability(revised, STACK, config_rules_for(["fda-21-cfr-part-11"])),
        record=evidence_record.read(second),
        record_file=second.name,
    )
    acknowledgments, templates = Page(markup).rows["changes"]
    assert acknowledgments[0] == "acknowledgments"
    assert acknowledgments[1].startswith(f"added: GxP::GxP-LogRetention on {LOG_GROUP}: {LOG_REASON}")
    assert f"removed: GxP::GxP-S3Versioned on {SCRATCH}: {SCRATCH_REASON}" in acknowledgments[1]
    assert templates == ["templates", "changed: plantT.template.json"]
    assert f"{second.name} against {first.name}." in markup


def test_reasons_are_escaped(traced: Path, tmp_path: Path) -> None:
    assembly = Path(shutil.copytree(traced, tmp_path / "assembly"))
    report = json.loads((assembly / "validation-report.json").read_text())
    (gxp,) = [plugin for plugin in report["pluginReports"] if plugin["pluginName"] == "GxP"]
    gxp["suppressedViolations"][0]["reason"] = "Kept <b>as is</b> & never <script>run</script> in the page."
    (assembly / "validation-report.json").write_text(json.dumps(report))
    write_site_evidence(assembly, collect(assembly)[STACK], folder=tmp_path, records=None, passed=False)
    markup = (tmp_path / f"{STACK}.html").read_text()
    assert "Kept &lt;b&gt;as is&lt;/b&gt; &amp; never &lt;script&gt;run&lt;/script&gt; in the page." in markup
    assert "<script>" not in markup
