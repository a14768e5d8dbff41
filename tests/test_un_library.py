"""Issue 17, items 5, 6, 7 and 9, on real UN documents (``tests/data/un``, see its README):
symbols (from the masthead, else the file name) found by a symbol query and leading
citations; the UN forms of a document's date, and ``kb docs --undated``; titles that are
titles; part headings ("II", "Annex") that end a paragraph."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.docx import read_docx
from kb.load import read_markup
from kb.meta import is_front_matter, meaningful_title, symbol_of_filename

UN = Path(__file__).resolve().parent / "data" / "un"


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def loc(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index")]


def doc(name: str):  # type: ignore[no-untyped-def]
    return read_markup((UN / name).read_bytes(), name, "text")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The UN fixtures (text files) as a corpus, indexed."""
    corpus = tmp_path_factory.mktemp("un") / "corpus"
    corpus.mkdir()
    for f in UN.glob("*.txt"):
        shutil.copy(f, corpus / f.name)
    r = run("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    return corpus


# --------------------------------------------------------------------------
# 5. symbols


@pytest.mark.parametrize("name, symbol", [
    ("A_RES_74_258.txt", "A/RES/74/258"),
    ("S_RES_1325(2000).txt", "S/RES/1325 (2000)"),
    ("E_ICEF_2025_26.en.pdf", "E/ICEF/2025/26"),
    ("S_RES_2771 (2025).en.pdf", "S/RES/2771 (2025)"),
    ("A_520_REV.20.txt", "A/520/Rev.20"),
    ("A_RES_1166(XII).txt", "A/RES/1166 (XII)"),
    ("A_RES_48_218_B.txt", "A/RES/48/218 B"),
    ("A_RES_71_101_A-B.txt", "A/RES/71/101 A-B"),
    ("A_RES_ES-10_17.txt", "A/RES/ES-10/17"),
    ("UNEP_EA.4_RES.17.txt", "UNEP/EA.4/Res.17"),
    ("TD_500_ADD.1.txt", "TD/500/Add.1"),
    ("ECE_TRANS__WP.30_AC.2_TIB_2.txt", "ECE/TRANS/WP.30/AC.2/TIB/2"),
    ("ECE_NICOSIA._CONF_2022_2_Add.1.txt", "ECE/NICOSIA.CONF/2022/2/Add.1"),
    ("reports/A_HRC_RES_24_35.md", "A/HRC/RES/24/35"),
    ("A_RES_74_258-EN.pdf", "A/RES/74/258"),
    # ordinary file names are not symbols
    ("report_2022.txt", None), ("IMG_2034.pdf", None), ("Annual_Report_2024.docx", None),
    ("notes.md", None), ("A_B.txt", None), ("S_RES_draft.txt", None),
])
def test_a_file_name_of_the_form_of_a_symbol(name, symbol):
    assert symbol_of_filename(name) == symbol


def test_every_document_has_its_symbol(library):
    r = run("docs", "--format", "json", *loc(library))
    assert r.exit_code == 0, r.output
    got = {d["id"]: d["symbol"] for d in json.loads(r.stdout)}
    assert got["A_RES_74_258.txt"] == "A/RES/74/258"          # the file name only
    assert got["S_RES_1325(2000).txt"] == "S/RES/1325 (2000)"
    assert got["A_51_950.txt"] == "A/51/950"                  # printed in the masthead
    assert got["A_520_REV.20.txt"] == "A/520/Rev.20"          # printed "A/520/Rev.20*"
    assert all(got.values()), got


@pytest.mark.parametrize("query, first", [
    ("S/RES/1325 (2000)", "S_RES_1325(2000).txt"),
    ("s/res/1325", "S_RES_1325(2000).txt"),
    ("S/RES/1325", "S_RES_1325(2000).txt"),
    ("A/RES/70/1", "A_RES_70_1.txt"),
    ("a/res/74/258", "A_RES_74_258.txt"),
])
def test_a_symbol_query_finds_that_document_first(library, query, first):
    r = run("search", query, "--format", "json", *loc(library))
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["results"]
    assert hits and hits[0]["doc"] == first, [h["doc"] for h in hits[:3]]


@pytest.mark.parametrize("query, symbol", [
    ("a/res/48/218 b", "A/RES/48/218"), ("A/RES/71/101 A-B", "A/RES/71/101"),
    ("S/RES/1325 (2000)", "S/RES/1325"), ("S/RES/2771 cyprus", None),
])
def test_a_symbol_query_may_name_the_part_of_a_resolution(query, symbol):
    from kb.meta import symbol_base, symbol_query

    assert symbol_query(query) == symbol
    assert symbol_base("A/RES/48/218 B") == "A/RES/48/218"


def test_a_symbol_filter_keeps_that_document(library):
    r = run("search", "symbol:S/RES/1325", "--format", "json", *loc(library))
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["results"]
    assert hits and {h["doc"] for h in hits} == {"S_RES_1325(2000).txt"}


def test_citations_lead_with_the_symbol(library, tmp_path):
    args = ["retaliation", "--doc", "A_RES_74_258.txt", *loc(library)]
    r = run("search", *args, "--format", "json")
    hit = next(h for h in json.loads(r.stdout)["results"] if h["paragraph"] == "10")
    assert hit["symbol_citation"] == "A/RES/74/258, ¶ 10"
    assert hit["citation"].endswith("A_RES_74_258.txt:33 ¶ 10")  # JSON: still the file's
    text = run("search", *args).stdout
    assert f"   A/RES/74/258, ¶ 10  —  {hit['citation']}\n" in text
    annex = tmp_path / "annex.md"
    assert run("export", *args, "-o", str(annex)).exit_code == 0
    assert "A/RES/74/258, ¶ 10 — A_RES_74_258.txt:33 ¶ 10" in annex.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(run("export", *args, "--format", "csv").stdout)))
    assert rows[0].index("symbol_citation") < rows[0].index("citation")
    show = run("show", hit["ref"], *loc(library)).stdout
    assert f"  —  A/RES/74/258, ¶ 10  —  {hit['citation']}  [" in show


def test_a_document_without_a_symbol_keeps_the_file_citation(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "report_2022.txt").write_text(
        "Annual report\n\nThe mission trained 40 staff on retaliation and reporting.\n",
        encoding="utf-8")
    r = run("search", "retaliation", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert "   corpus/report_2022.txt:3\n" in r.stdout or "report_2022.txt:3\n" in r.stdout
    assert "  —  " not in r.stdout.split("\n")[3]


# --------------------------------------------------------------------------
# 6. dates


@pytest.mark.parametrize("name, date", [
    ("A_RES_78_134.txt", "2023-12-19"),      # "Resolution adopted by the General Assembly on ..."
    ("S_RES_1325(2000).txt", "2000-10-31"),  # "Adopted by the Security Council at its ..."
    ("A_51_950.txt", "1997-07-14"),          # the masthead's date line, under the symbol
    ("A_RES_57_300.txt", "2002-12-20"),      # "79th plenary meeting" / "20 December 2002"
    ("A_RES_68_215.txt", "2013-12-20"),
    ("A_520_REV.20.txt", "2022-09-15"),      # "Reissued for technical reasons on ..."
    ("HSP_GC_22_3.txt", "2009-04-03"),       # the session: "Nairobi, 30 March–3 April 2009"
    ("A_RES_79_254.txt", "2024-12-24"),
])
def test_the_un_forms_of_a_document_date(name, date):
    assert doc(name).date == date


def test_a_letters_date_below_a_long_agenda_title():
    from kb.meta import document_date

    lines = [  # the first lines of A/73/716
        "Seventy-third session", "Agenda item 74 (c)",
        "Promotion and protection of human rights: human rights situations and reports of "
        "special rapporteurs and representatives",
        "Letter dated 16 January 2019 from the Secretary-General addressed to the President "
        "of the General Assembly",
        "I have the honour to refer to Human Rights Council resolution 39/2, adopted on 27 "
        "September 2018, with respect to the situation of human rights of Rohingya Muslims.",
    ]
    assert document_date(lines) == ("2019-01-16", "letter")


def test_a_date_quoted_in_the_body_is_not_the_documents():
    # A/RES/57/300 recalls "resolutions 52/12 A of 12 November 1997" near its top
    assert doc("A_RES_57_300.txt").date != "1997-11-12"
    d = doc("S_2024_858.txt")  # a report whose first dates are in its paragraphs
    assert d.date is None and d.date_note
    assert d.date_note.startswith("no adoption line, masthead date or closing meeting line")
    assert "(2024-10-31, line 9)" in d.date_note  # "... the period from ... to 31 October 2024"


def test_kb_docs_lists_the_undated_documents_with_why(library):
    r = run("docs", "--undated", *loc(library))
    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert lines[0].startswith("1 of ") and lines[0].endswith("documents have no date:")
    assert "S_2024_858.txt" in r.stdout and "   why: " in r.stdout
    r = run("docs", "--undated", "--format", "json", *loc(library))
    found = json.loads(r.stdout)
    assert [d["id"] for d in found] == ["S_2024_858.txt"]
    assert found[0]["date"] is None and found[0]["undated_reason"].startswith("no ")
    bad = run("docs", "--undated", "--format", "xml", *loc(library))
    assert bad.exit_code == 2


# --------------------------------------------------------------------------
# 7. titles


@pytest.mark.parametrize("name, title", [
    ("HSP_GC_22_3.txt", "Report of the work of the Committee of Permanent Representatives "
                        "during the intersessional period"),
    ("A_51_950.txt", "RENEWING THE UNITED NATIONS: A PROGRAMME FOR REFORM"),
    ("A_520_REV.20.txt", "RULES OF PROCEDURE OF THE GENERAL ASSEMBLY"),
    ("A_RES_78_134.txt", "78/134. International trade and development"),
    ("S_RES_1325(2000).txt", "Resolution 1325 (2000)"),
])
def test_titles_are_titles(name, title):
    assert doc(name).title == title


def test_an_adoption_line_is_never_the_title():
    t = doc("A_RES_68_215.txt").title
    assert t.startswith("68/215. Report of the Governing Council of the United Nations "
                        "Environment Programme"), t


@pytest.mark.parametrize("line", [
    "Item 5 of the provisional agenda*", "Agenda item 16 (a)", "Seventy-eighth session",
    "Resolution adopted by the General Assembly on 20 December 2013",
    "Adopted by the Security Council at its 4213th meeting, on 31 October 2000",
    "Distr.: General 14 July 1997", "ORIGINAL:  ENGLISH", "79th plenary meeting",
    "[on the report of the Second Committee (A/78/459/Add.1, para. 25)]",
])
def test_front_matter_lines_are_never_titles(line):
    assert is_front_matter(line) and not meaningful_title(line)


def test_a_docx_without_heading_styles_takes_its_first_title():
    d = read_docx((UN / "HSP_GC_22_3.docx").read_bytes(), "HSP_GC_22_3.docx")
    assert d.title != "Word Document"  # python-docx's default when it finds no title
    assert d.title == doc("HSP_GC_22_3.txt").title
    assert d.date == "2009-04-03"
    assert not meaningful_title("Word Document")


# --------------------------------------------------------------------------
# 9. part headings


def test_a_part_heading_is_not_glued_to_the_paragraph_before_it():
    from kb.passages import split_document

    ps = split_document(doc("A_RES_79_254.txt"))
    p18 = next(p for p in ps if p.paragraph == "18")
    assert p18.text.rstrip().endswith("in his next report;"), p18.text[-40:]
    p19 = next(p for p in ps if p.paragraph == "19")
    assert p19.heading_path == ("II", "Informal system") and p19.section == "Informal system"


@pytest.mark.parametrize("line, part", [
    ("II", True), ("II.", True), ("III. Formal system", True), ("Annex", True),
    ("Annex II", True), ("Appendix 1: Terms of reference", True), ("IV", True),
    ("I have the honour to transmit the report.", False), ("Informal system", False),
    ("VII. The Committee decided to defer the item to its next session.", False),
])
def test_what_a_part_heading_is(line, part):
    from kb.parse import is_part_heading

    assert is_part_heading(line) is part
