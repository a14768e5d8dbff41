"""kb end to end over PDF, DOCX and HTML: the sample corpus plus the three UN PDFs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli

from .conftest import SAMPLE
from .fixtures import RESOLUTION, HTML, copy_sample_pdfs, encrypted_pdf, make_docx, scanned_pdf


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> list[str]:
    """Sample report, three UN PDFs, a DOCX and an HTML file; indexed once."""
    root = tmp_path_factory.mktemp("mixed")
    corpus = root / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    copy_sample_pdfs(corpus / "un")
    (corpus / "peer.docx").write_bytes(make_docx())
    (corpus / "peer.html").write_text(HTML, encoding="utf-8")
    loc = ["--corpus", str(corpus), "--index", str(root / "index")]
    r = run("index", *loc)
    assert r.exit_code == 0, r.output
    assert "added 6" in r.stdout and "skipped 0" in r.stdout
    return loc


def search_json(loc: list[str], *query: str) -> list[dict]:
    r = run("search", *query, "--format", "json", *loc)
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["results"]


def test_index_lists_all_formats(mixed):
    r = run("status", *mixed)
    assert r.exit_code == 0
    assert "documents: 6" in r.stdout


def test_prevent_sexual_exploitation_finds_resolution_paragraph_20(mixed):
    hits = search_json(mixed, "prevent sexual exploitation and abuse")
    h = hits[0]  # a short query's exact phrase ranks first
    assert (h["doc"], h["paragraph"]) == (f"un/{RESOLUTION}", "20"), [x["citation"] for x in hits]
    assert h["page"] == 7 and h["title"] == "Resolution 2771 (2025)"
    assert h["citation"].endswith(f"un/{RESOLUTION} p. 7 ¶ 20")
    assert "prevent sexual exploitation and abuse" in h["snippet"]
    # the exact phrase: only paragraph 20 has it
    first = search_json(mixed, '"prevent sexual exploitation and abuse"')[0]
    assert (first["doc"], first["page"], first["paragraph"]) == (f"un/{RESOLUTION}", 7, "20")


def test_prevent_sexual_exploitation_text_output(mixed):
    r = run("search", "prevent sexual exploitation and abuse", *mixed)
    assert r.exit_code == 0
    assert f"un/{RESOLUTION} p. 7 ¶ 20" in r.stdout


def test_technical_committee_on_gender_equality_finds_paragraph_7_on_page_5(mixed):
    hits = search_json(mixed, "Technical Committee on Gender Equality")
    h = hits[0]
    assert (h["doc"], h["page"], h["paragraph"]) == (f"un/{RESOLUTION}", 5, "7")
    assert h["page"] == 5 and h["citation"].endswith(f"un/{RESOLUTION} p. 5 ¶ 7")
    assert h["text"].startswith("7. Regrets the ongoing lack of full, equal and meaningful")
    assert "Technical Committee on Gender Equality" in h["snippet"]


def test_snippets_read_as_one_clean_paragraph(mixed):
    hits = search_json(mixed, "trust-building", "--limit", "20")
    texts = [h["text"] for h in hits if h["doc"] == f"un/{RESOLUTION}"]
    assert len(texts) == 2 and all("trust-building" in t for t in texts)
    for h in search_json(mixed, "sexual exploitation", "--limit", "50"):
        for bad in ("25-01522", "*25", "S/RES/2771 (2025)", "UNW/2025/1\n", "\ufffe",
                    "SecretaryGeneral", "Secretary -"):
            assert bad not in h["text"], (bad, h["citation"])
        assert "\n" not in h["snippet"]


def test_symbol_filter(mixed):
    hits = search_json(mixed, "symbol:S/RES/2771", "sexual", "exploitation")
    assert hits and {h["doc"] for h in hits} == {f"un/{RESOLUTION}"}
    hits = search_json(mixed, "symbol:UNW/2025/1", "risk")
    assert hits and {h["doc"] for h in hits} == {"un/UNW_2025_1.en.pdf"}


def test_docx_and_html_passages_cite_paragraph_positions(mixed):
    hits = search_json(mixed, "Committee notes that peer support networks")
    cites: dict[str, str] = {}
    for h in hits:
        # the two files hold the same text: one hit, the other file in also_in
        for c in (h["citation"], *h["also_in"]):
            cites.setdefault(c.split(":")[0].rsplit("/", 1)[-1], c)
    # paragraph 7 and its sub-paragraph (a) are one passage: paragraphs 5-6 of the file
    assert cites["peer.docx"].endswith("peer.docx:5-6 ¶ 7")
    assert cites["peer.html"].endswith("peer.html:4-5 ¶ 7")


def test_unreadable_pdfs_are_reported_in_status(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "scan.pdf").write_bytes(scanned_pdf())
    (corpus / "locked.pdf").write_bytes(encrypted_pdf())
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.7\nnot really")
    (corpus / "broken.docx").write_bytes(b"PK not really")
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    loc = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    r = run("index", *loc)
    assert r.exit_code == 0, r.output
    assert "skipped 4" in r.stdout
    r = run("status", *loc)
    out = r.stdout
    assert "scan.pdf: no text layer: needs OCR" in out
    assert "locked.pdf: encrypted PDF: needs a password" in out
    assert "broken.pdf: corrupt PDF: data format error" in out
    assert "broken.docx: corrupt DOCX" in out
    assert "Traceback" not in r.output

