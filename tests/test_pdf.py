"""The PDF reader: layout repair on built PDFs and on the three sample UN documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from kb.models import Document
from kb.passages import split_document
from kb.pdf import Line, PdfError, layout, read_pdf

from .fixtures import (
    ICEF,
    RESOLUTION,
    SAMPLE_PDF_DIR,
    SAMPLE_PDFS,
    UNW,
    copy_sample_pdfs,
    encrypted_pdf,
    scanned_pdf,
    un_report_pdf,
)


def blocks(doc: Document):
    return [(s, b) for s in doc.sections for b in s.blocks]


def by_paragraph(doc: Document, number: str, section: str | None = None):
    found = [b for s, b in blocks(doc) if b.paragraph == number
             and (section is None or s.heading.startswith(section))]
    assert found, f"no paragraph {number}"
    return found[0]


# --------------------------------------------------------------------------
# a PDF built by the test


@pytest.fixture(scope="module")
def report() -> Document:
    return read_pdf(un_report_pdf(), "reports/safe.pdf")


def test_masthead_gives_title_symbol_and_date(report):
    assert report.title == "Safe workplaces in field missions"
    assert report.symbol == "A/TEST/2025/1"
    assert report.date == "2025-03-03"
    assert report.format == "pdf"
    text = " ".join(b.text for _, b in blocks(report))
    for furniture in ("Distr.", "25-01234", "*2501234*", "A/TEST/2025/1", "2/3", "United Nations"):
        assert furniture not in text


def test_headings_become_sections(report):
    paths = [s.heading_path for s in report.sections]
    assert paths == [("I. Background",), ("I. Background", "1. Key frameworks"),
                     ("II. Next steps",), ("Footnotes",)]


def test_numbered_paragraphs_and_sub_paragraphs(report):
    assert [b.paragraph for s, b in blocks(report) if s.heading != "Footnotes"] == \
        ["1", "2", "2(a)", "3", "4", "5"]
    assert by_paragraph(report, "2(a)").text.startswith("(a) the first sub-paragraph")


def test_hyphens_at_line_ends_decided_by_the_documents_vocabulary(report):
    p2 = by_paragraph(report, "2").text
    # "Secretary-" / "General": the document writes "Secretary-General" elsewhere
    assert "the Secretary-General had launched" in p2
    # "trust-" / "building": no evidence either way, the hyphen is real
    assert "the trust-building work" in p2
    # "organi-" / "zation-wide": the document writes "organization", never "organi-zation"
    assert "an organization-wide plan" in p2
    # "troop-" before "and": a suspended hyphen keeps its space
    assert "for troop- and police-contributing countries" in p2
    assert "  " not in p2 and "- " not in p2.replace("troop- and", "")


def test_paragraph_broken_by_a_page_end_continues_cited_on_its_start_page(report):
    p3 = by_paragraph(report, "3")
    assert p3.page == 1
    assert "continues on the next page, where it is still part of the same paragraph and " \
           "is cited on the page where it starts" in p3.text
    assert p3.text.endswith("second page of this report.")
    # lines are counted on each page, without the running header
    assert p3.segments[0][0] == 16 and p3.segments[-1][0] == 2


def test_footnotes_stay_out_of_paragraphs(report):
    notes = [b for s, b in blocks(report) if s.heading == "Footnotes"]
    assert [b.text for b in notes] == [
        "1 See https://www.un.org/en/ethics/ for the ethics office."]
    assert notes[0].page == 1
    assert all("ethics office" not in b.text for s, b in blocks(report) if s.heading != "Footnotes")


def test_passages_are_cited_by_page_and_paragraph(report):
    ps = split_document(report)
    p3 = next(p for p in ps if p.paragraph == "3")
    assert (p3.page, p3.line_start, p3.line_end) == (1, 16, 2)
    assert all(p.symbol == "A/TEST/2025/1" for p in ps)


def test_metadata_title_wins_when_meaningful():
    from .fixtures import BODY, make_pdf

    data = make_pdf([[(72, 700, BODY, 10, "Some text of a plain document without headings.")]],
                    title="Annual review of field safety")
    assert read_pdf(data, "x.pdf").title == "Annual review of field safety"
    data = make_pdf([[(72, 700, BODY, 10, "Some text of a plain document without headings.")]],
                    title="Microsoft Word - draft3.docx")
    assert read_pdf(data, "dir/x.pdf").title == "x.pdf"


@pytest.mark.parametrize("data, reason", [
    (scanned_pdf, "no text layer: needs OCR"),
    (encrypted_pdf, "encrypted PDF: needs a password"),
    (lambda: b"%PDF-1.4\nthis is not really a PDF", "corrupt PDF: data format error"),
    (lambda: b"", "corrupt PDF"),
])
def test_unreadable_pdfs_raise_a_clear_one_line_reason(data, reason):
    with pytest.raises(PdfError) as e:
        read_pdf(data(), "bad.pdf")
    msg = str(e.value)
    assert msg.startswith(reason)
    assert "\n" not in msg and len(msg) < 120


# --------------------------------------------------------------------------
# layout rules on plain Line records


def L(text, page, y, x=72.0, size=10.0, bold=False, hyphen=False):  # noqa: N802
    return Line(text, page, x, x + 5 * len(text), y, size, bold, hyphen)


def test_running_header_repeating_on_every_page_is_dropped():
    words = ["alpha", "bravo", "charlie"]
    pages = [[L("Peer review of reporting channels", n, 760, size=8),
              L(f"Page {n} of 3", n, 40, size=8)]
             + [L(f"The {words[n - 1]} text, line {k}, goes on", n, 700 - 12 * k)
                for k in range(5)] for n in (1, 2, 3)]
    doc = layout(pages, "x.pdf")
    text = " ".join(b.text for _, b in blocks(doc))
    assert "Peer review" not in text and "Page" not in text
    assert text.startswith("The alpha text, line 0, goes on The alpha text, line 1")
    assert text.endswith("The charlie text, line 4, goes on")


def test_soft_hyphen_join_or_keep():
    lines = [
        L("1. The organization and the Secretary-General agreed that the", 1, 700),
        L("organi", 1, 688, hyphen=True),
        L("zation of trust", 1, 676, hyphen=True),
        L("building by the Secretary", 1, 664, hyphen=True),
        L("General continues.", 1, 652),
    ]
    doc = layout([lines], "x.pdf")
    assert blocks(doc)[0][1].text.endswith(
        "organization of trust-building by the Secretary-General continues.")


def test_indented_first_lines_start_paragraphs_and_the_next_page_continues():
    p1 = [L("Welcoming the report of the Secretary-General on the", 1, 700, x=96),
          L("mission and its work,", 1, 688),
          L("Recalling its earlier resolutions on the mission and", 1, 676, x=96),
          L("on the situation in the region and the wider", 1, 664)]
    p2 = [L("area of operations,", 2, 700),
          L("Urging both sides to continue their efforts in good faith,", 2, 688, x=96)]
    doc = layout([p1, p2], "x.pdf")
    bs = [b for _, b in blocks(doc)]
    assert [b.text.split()[0] for b in bs] == ["Welcoming", "Recalling", "Urging"]
    assert bs[1].page == 1 and bs[1].text.endswith("the wider area of operations,")


# --------------------------------------------------------------------------
# the three sample UN documents


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Document]:
    folder = tmp_path_factory.mktemp("corpus-pdf")
    paths = copy_sample_pdfs(folder)
    return {p.name: read_pdf(p.read_bytes(), p.name) for p in paths}


def test_sample_pdfs_are_present():
    assert SAMPLE_PDF_DIR.is_dir(), f"missing {SAMPLE_PDF_DIR}"
    assert sorted(p.name for p in SAMPLE_PDF_DIR.glob("*.pdf")) == sorted(SAMPLE_PDFS)


def test_resolution_title_symbol_date(samples):
    doc = samples[RESOLUTION]
    assert (doc.title, doc.symbol, doc.date) == \
        ("Resolution 2771 (2025)", "S/RES/2771 (2025)", "2025-01-31")


def test_resolution_paragraph_20_on_page_7(samples):
    p20 = by_paragraph(samples[RESOLUTION], "20")
    assert p20.page == 7
    assert p20.text.startswith("20. Urges troop- and police-contributing countries to continue "
                               "taking appropriate action to prevent sexual exploitation and abuse")
    assert p20.text.endswith("abuse by those units;")


def test_resolution_paragraph_7_on_page_5_and_sub_paragraphs(samples):
    doc = samples[RESOLUTION]
    p7 = by_paragraph(doc, "7")
    assert p7.page == 5 and "the Technical Committee on Gender Equality with" in p7.text
    assert [b.paragraph for _, b in blocks(doc) if (b.paragraph or "").startswith("6(")] == \
        ["6(a)", "6(b)", "6(c)", "6(d)", "6(e)"]
    # 6(e) runs from page 4 onto page 5: one paragraph, cited on page 4
    p6e = by_paragraph(doc, "6(e)")
    assert p6e.page == 4 and p6e.text.endswith("benefit men and women in Cyprus;")


def test_resolution_text_is_clean(samples):
    doc = samples[RESOLUTION]
    text = "\n".join(b.text for _, b in blocks(doc))
    assert text.count("trust-building") == 2
    assert "Secretary-General and his team" in text
    for bad in ("SecretaryGeneral", "Secretary -", "trustbuilding", "25-01522", "*2501522*",
                "S/RES/2771", "7/8", "Distr.", "\ufffe"):
        assert bad not in text, bad
    assert "Pyla/Pile, welcoming" in text
    assert not re.search(r"\w- \w", text.replace("troop- and", ""))


def test_resolution_preamble_is_under_the_title(samples):
    doc = samples[RESOLUTION]
    assert doc.sections[0].heading == "Resolution 2771 (2025)"
    first = [b.text for b in doc.sections[0].blocks[:3]]
    assert first[0].startswith("Adopted by the Security Council at its 9854th meeting")
    assert first[2].startswith("Welcoming the report of the Secretary-General")


def test_unw_report_structure(samples):
    doc = samples[UNW]
    assert doc.title == "Report on the first regular session 2025, 10 to 11 February 2025"
    assert (doc.symbol, doc.date) == ("UNW/2025/1", "2025-04-23")
    headings = [s.heading for s in doc.sections]
    assert headings[0] == "I. Election of the Bureau"
    assert "VI. Organizational culture, anti-discrimination and anti-racism" in headings
    annex = [s for s in doc.sections if s.heading.startswith("2025/4")][0]
    assert annex.heading_path == ("Annex I", "Decisions adopted at the first regular session 2025",
                                  "2025/4 Risk management")
    assert [b.paragraph for b in annex.blocks[5:11]] == \
        ["6", "6(a)", "6(b)", "6(c)", "6(d)", "6(e)"]
    p7 = by_paragraph(doc, "7", "III.")
    assert p7.page == 2 and "the Under-Secretary-General/Executive Director noted" in p7.text
    notes = [b.text for s, b in blocks(doc) if s.heading == "Footnotes"]
    assert notes == ["1 Note: This document was processed in its entirety by UN-Women."]


def test_icef_compendium_sections_and_no_table_of_contents(samples):
    doc = samples[ICEF]
    assert doc.title == ("Compendium of decisions adopted by the Executive Board at its annual "
                         "session of 2025")
    assert doc.symbol == "E/ICEF/2025/26"
    headings = [s.heading for s in doc.sections]
    assert "2025/11 Update on protection from sexual exploitation and abuse" in headings
    assert len([h for h in headings if re.match(r"2025/\d+ ", h)]) == 11
    text = "\n".join(b.text for _, b in blocks(doc))
    assert "....." not in text and "Decision Page" not in text
    assert "Secretary-General’s zero-tolerance policy" in text


def test_sample_passages_cite_pages(samples):
    for name, doc in samples.items():
        ps = split_document(doc)
        assert ps, name
        assert all(p.page is not None and p.line_start is not None for p in ps), name
        assert all(p.format == "pdf" for p in ps)


def test_pdf_speed_is_reasonable(samples):
    import time

    data = (SAMPLE_PDF_DIR / UNW).read_bytes()
    t0 = time.perf_counter()
    read_pdf(data, UNW)
    assert time.perf_counter() - t0 < 5  # 20 pages; about 0.1 s on a 2-core machine


def test_reader_is_registered_for_pdf(tmp_path: Path):
    from kb import corpus
    from kb import load as readers

    assert corpus.FORMATS[".pdf"] == "pdf" and "pdf" in readers.READERS
