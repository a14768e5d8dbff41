"""UN symbols and titles: read from every format, searched in any case, listed by kb docs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.api import KnowledgeBase
from kb.cli import cli
from kb.docx import read_docx
from kb.html import read_html
from kb.load import read_markup
from kb.pdf import read_pdf

from .fixtures import BODY, BOLD, ICEF, RESOLUTION, UNW, copy_sample_pdfs, make_pdf


# --------------------------------------------------------------------------
# what a symbol is


@pytest.mark.parametrize("line, symbol", [
    ("A/RES/73/148", "A/RES/73/148"),
    ("S/RES/2771 (2025)", "S/RES/2771 (2025)"),
    ("United Nations UNW/2025/1", "UNW/2025/1"),
    ("  E/ICEF/2025/26 ", "E/ICEF/2025/26"),
    ("ST/SGB/2003/13", "ST/SGB/2003/13"),
    ("A/HRC/55/L.1", "A/HRC/55/L.1"),
    ("CEDAW/C/GC/39", "CEDAW/C/GC/39"),
    ("UNEP/EA.2/Res.10", "UNEP/EA.2/Res.10"),
    ("A/RES/S-20/2*", "A/RES/S-20/2"),
    ("see A/73/582", None),                    # quoted in a sentence
    ("[on the report of the Third Committee (A/73/582)]", None),
    ("and/or", None),                          # no digit
    ("24/7", None),                            # not a series
    ("79/103. Question of the Cayman Islands", None),
])
def test_a_symbol_stands_alone_on_its_line(line, symbol):
    from kb.meta import symbol_of_line

    got = symbol_of_line(line)
    assert (got.rstrip("*") if got else got) == symbol


@pytest.mark.parametrize("query, symbol", [
    ("E/ICEF/2025/26", "E/ICEF/2025/26"), ("e/icef/2025/26", "E/ICEF/2025/26"),
    ("s/res/2771", "S/RES/2771"), ("S/RES/2771 (2025)", "S/RES/2771"),
    ('"unw/2025/1"', "UNW/2025/1"), ("sexual exploitation", None), ("and/or", None),
    ("S/RES/2771 cyprus", None),
])
def test_a_query_that_is_a_symbol(query, symbol):
    from kb.meta import symbol_query

    assert symbol_query(query) == symbol


# --------------------------------------------------------------------------
# extraction, per format


def _pdf(lines, title=""):
    return read_pdf(make_pdf([lines], title=title), "policy.pdf")


def _body(y0, n=12):
    return [(72, y0 - 14 * i, BODY, 11, f"{i + 1}. The organization owes a duty of care to every "
             f"member of its personnel, in line {i} of this page.") for i in range(n)]


def test_pdf_symbol_standing_alone_at_the_top_without_a_masthead():
    doc = _pdf([(450, 750, BODY, 10, "UNW/2025/1"), (72, 700, BOLD, 16, "Strategic plan")]
               + _body(650))
    assert doc.symbol == "UNW/2025/1"
    assert doc.title == "Strategic plan"


def test_pdf_symbol_quoted_in_the_body_is_not_the_documents():
    doc = _pdf([(72, 700, BOLD, 16, "Strategic plan"),
                (72, 680, BODY, 11, "As requested in A/RES/73/148 the plan is updated.")]
               + _body(650))
    assert doc.symbol is None


def test_sample_pdfs_keep_their_symbols_and_titles(tmp_path):
    want = {
        RESOLUTION: ("S/RES/2771 (2025)", "Resolution 2771 (2025)"),
        UNW: ("UNW/2025/1", "Report on the first regular session 2025, 10 to 11 February 2025"),
        ICEF: ("E/ICEF/2025/26", "Compendium of decisions adopted by the Executive Board at "
                                 "its annual session of 2025"),
    }
    for p in copy_sample_pdfs(tmp_path):
        doc = read_pdf(p.read_bytes(), p.name)
        assert (doc.symbol, doc.title) == want[p.name]


def _docx(build) -> bytes:
    import docx

    d = docx.Document()
    build(d)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_symbol_from_the_masthead_table():
    def build(d):
        t = d.add_table(rows=1, cols=2)
        t.cell(0, 0).text, t.cell(0, 1).text = "United Nations", "A/HRC/55/L.1"
        d.add_heading("Human rights of migrants", level=1)
        d.add_paragraph("The Council recalls its earlier resolutions A/HRC/RES/47/12.")
    doc = read_docx(_docx(build), "l1.docx")
    assert doc.symbol == "A/HRC/55/L.1"
    assert doc.title == "Human rights of migrants"


def test_docx_symbol_from_the_page_header_and_core_properties():
    def header(d):
        d.sections[0].header.paragraphs[0].text = "ST/SGB/2003/13"
        d.add_paragraph("Special measures for protection", style="Title")
        d.add_paragraph("The Secretary-General promulgates the following.")
    assert read_docx(_docx(header), "sgb.docx").symbol == "ST/SGB/2003/13"

    def core(d):
        d.core_properties.title = "CEDAW/C/GC/39"  # a symbol: not the title
        d.add_heading("General recommendation on Indigenous women and girls", level=1)
        d.add_paragraph("The Committee adopts the following recommendation.")
    doc = read_docx(_docx(core), "gc39.docx")
    assert doc.symbol == "CEDAW/C/GC/39"
    assert doc.title == "General recommendation on Indigenous women and girls"


def test_docx_title_style_then_core_title_then_first_heading_past_a_stamp():
    def styled(d):
        d.core_properties.title = "Old working title"
        d.add_paragraph("Policy on the duty of care", style="Title")
        d.add_paragraph("Text of the policy.")
    assert read_docx(_docx(styled), "p.docx").title == "Policy on the duty of care"

    def core(d):
        d.core_properties.title = "Policy on the duty of care"
        d.add_heading("APPROVED", level=1)
        d.add_paragraph("Text of the policy.")
    assert read_docx(_docx(core), "p.docx").title == "Policy on the duty of care"

    def heading(d):
        d.core_properties.title = "Microsoft Word - p.docx"
        d.add_heading("APPROVED", level=2)
        d.add_heading("Policy on the duty of care", level=1)
        d.add_paragraph("Text of the policy.")
    assert read_docx(_docx(heading), "p.docx").title == "Policy on the duty of care"


PAGE = """<!doctype html><html><head><title>{title}</title>{meta}</head>
<body><header>UN Women</header><main>{h1}<p>{top}</p>
<p>The Executive Board takes note of the report (UNW/2024/9) and of its annexes.</p>
</main></body></html>"""


def _html(title="Policy on X | UN Women", h1="", meta="", top="Opening text."):
    return read_html(PAGE.format(title=title, h1=h1, meta=meta, top=top).encode(), "web/x.html")


def test_html_symbol_from_a_meta_tag_or_a_top_line_never_from_the_body():
    assert _html(meta='<meta name="symbol" content="UNW/2025/1">').symbol == "UNW/2025/1"
    assert _html(meta='<meta name="DC.identifier" content="e/icef/2025/26">').symbol is None
    assert _html(top="E/ICEF/2025/26").symbol == "E/ICEF/2025/26"
    assert _html().symbol is None  # UNW/2024/9 is only quoted in the body


def test_html_title_first_h1_else_title_without_the_site_name():
    assert _html(h1="<h1>Duty of care</h1>").title == "Duty of care"
    assert _html().title == "Policy on X"  # no h1: <title> without " | UN Women"
    assert _html(h1="<h1>UN Women</h1>").title == "Policy on X"  # the h1 is the site's name
    assert _html(title="UN Women | Policy on X and on Y").title == \
        "UN Women | Policy on X and on Y"  # which part is the site: unclear, kept whole
    from kb.meta import page_title

    assert page_title("Peer support | Example site") == ("Peer support", ["Example site"])


def test_markdown_front_matter_gives_title_symbol_and_date():
    md = ("---\ntitle: \"Duty of care: the policy\"\nsymbol: unw/2025/1\ndate: 2025-04-23\n"
          "tags:\n  - care\n---\n# Introduction\n\nThe policy applies to all personnel.\n")
    doc = read_markup(md.encode(), "care.md", "markdown")
    assert doc.title == "Duty of care: the policy"
    assert (doc.symbol, doc.date) == ("UNW/2025/1", "2025-04-23")
    assert read_markup(md.replace("unw/2025/1", "see notes").encode(), "care.md",
                       "markdown").symbol is None
    text = " ".join(b.text for s in doc.sections for b in s.blocks)
    assert "symbol" not in text and "tags" not in text  # front matter is not text
    assert doc.sections[0].blocks[0].segments[0][0] == 10  # lines keep their numbers


def test_text_symbol_on_a_top_line_after_the_masthead():
    txt = ("UNITED\n\nNATIONS\n\nDistr.\n\nGENERAL\n\nA/51/950\n\n14 July 1997\n\n"
           "RENEWING THE UNITED NATIONS: A PROGRAMME FOR REFORM\n\n"
           "Report of the Secretary-General\n\nThe Secretary-General sets out a programme, "
           "as asked in A/RES/50/227.\n")
    doc = read_markup(txt.encode(), "A_51_950.txt", "text")
    assert doc.symbol == "A/51/950"
    assert doc.title == "RENEWING THE UNITED NATIONS: A PROGRAMME FOR REFORM"
    body = read_markup(b"Peer support\n\nAs the report A/51/950 says, staff need support.\n",
                       "n.txt", "text")
    assert body.symbol is None


def test_un_resolution_text_is_titled_by_its_own_title_line():
    txt = ("Seventy-ninth session\n\nAgenda item 29\n\n"
           "Resolution adopted by the General Assembly on 4 December 2024\n\n"
           "[on the report of the Fourth Committee (A/79/431, para. 33)]\n\n"
           "79/103.\tQuestion of the Cayman Islands\n\nThe General Assembly,\n\n"
           "Having considered the question of the Cayman Islands and the report,\n")
    doc = read_markup(txt.encode(), "A_RES_79_103.txt", "text")
    assert doc.title == "79/103. Question of the Cayman Islands"


# --------------------------------------------------------------------------
# titles of a PDF with an approval stamp


STAMP = [(400, 740, BOLD, 11, "APPROVED"), (400, 728, BODY, 9, "Executive Director"),
         (400, 716, BODY, 9, "Jane Doe"),
         (400, 704, BODY, 9, "Approved by Order No. 2-D of 12 March 2024")]


def test_stamped_pdf_title_is_the_real_title_below_the_stamp():
    # the stamp in small type (its first word bold), the title in a larger bold font
    doc = _pdf(STAMP + [(72, 650, BOLD, 12, "POLICY ON THE DUTY OF CARE")] + _body(600))
    assert doc.title == "POLICY ON THE DUTY OF CARE"
    # a stamp word set larger than the title is still a stamp
    big = [(400, 740, BOLD, 18, "APPROVED")] + STAMP[1:]
    doc = _pdf(big + [(72, 650, BOLD, 16, "POLICY ON THE DUTY OF CARE")] + _body(600),
               title="Microsoft Word - duty of care v3.docx")
    assert doc.title == "POLICY ON THE DUTY OF CARE"
    assert all(s.heading != "APPROVED" for s in doc.sections)


@pytest.mark.parametrize("title, ok", [
    ("Policy on the duty of care", True), ("Microsoft Word - x.docx", False),
    ("untitled", False), ("policy.pdf", False), ("policy", False), ("", False),
    ("APPROVED", False), ("Approved by Order No. 2-D of 12 March 2024", False),
    ("Executive Director", False), ("UNW/2025/1", False),
])
def test_meaningful_titles(title, ok):
    from kb.meta import meaningful_title

    assert meaningful_title(title, "docs/policy.pdf") is ok


def test_pdf_metadata_title_that_is_a_symbol_is_not_the_title():
    doc = _pdf([(72, 700, BOLD, 16, "Strategic plan")] + _body(650), title="UNW/2025/1")
    assert doc.title == "Strategic plan"


# --------------------------------------------------------------------------
# searching by symbol, kb docs


MENTION = ("# Cyprus briefing\n\nThe Council renewed the mandate of the force in resolution "
           "S/RES/2771 (2025), and the peacekeepers stay in Cyprus for another year.\n\n"
           "## Budget\n\nUnrelated text about budgets and staff in field missions.\n")


@pytest.fixture(scope="module")
def un_corpus(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("un")
    corpus = root / "corpus"
    copy_sample_pdfs(corpus)
    (corpus / "brief.md").write_text(MENTION, encoding="utf-8")
    index = root / "index"
    with KnowledgeBase(corpus, index) as kb:
        kb.update()
    return corpus, index


def _run(un_corpus, *args, env=None):
    corpus, index = un_corpus
    r = CliRunner().invoke(cli, [*args, "--corpus", str(corpus), "--index", str(index)],
                           env=env, catch_exceptions=False)
    return r


def _ids(un_corpus, query, *extra, ranker="arrays"):
    r = _run(un_corpus, "search", query, "--format", "json", *extra, env={"KB_RANKER": ranker})
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    return d["total"], [h["id"] for h in d["results"]], d["results"]


@pytest.mark.parametrize("ranker", ["arrays", "whoosh"])
@pytest.mark.parametrize("clause", ["symbol:unw/2025/1", "symbol:UNW/2025/1",
                                    "symbol:Unw/2025/1"])
def test_symbol_clause_is_case_insensitive(un_corpus, clause, ranker):
    total, ids, _ = _ids(un_corpus, clause, "-n", "100", ranker=ranker)
    assert total == 85 and all(i.startswith(UNW) for i in ids)


@pytest.mark.parametrize("ranker", ["arrays", "whoosh"])
def test_symbol_clause_with_the_year_or_a_wildcard(un_corpus, ranker):
    for q in ("symbol:S/RES/2771 (2025) cyprus", "symbol:'s/res/2771 (2025)' cyprus",
              "symbol:s/res/* cyprus"):
        total, ids, _ = _ids(un_corpus, q, "-n", "100", ranker=ranker)
        assert total > 0 and all(i.startswith(RESOLUTION) for i in ids), q


@pytest.mark.parametrize("ranker", ["arrays", "whoosh"])
@pytest.mark.parametrize("query", ["S/RES/2771", "s/res/2771", "S/Res/2771 (2025)",
                                   "'s/res/2771'"])
def test_a_symbol_query_finds_the_document_first_then_its_mentions(un_corpus, query, ranker):
    total, ids, hits = _ids(un_corpus, query, "-n", "3", ranker=ranker)
    assert total == 40 + 1  # the resolution's passages and the briefing's mention
    assert ids == [f"{RESOLUTION}#1", "brief.md#1", f"{RESOLUTION}#2"]
    assert all(h["missing_terms"] == [] for h in hits)
    total, ids, _ = _ids(un_corpus, query, "--group", ranker=ranker)
    assert ids == [f"{RESOLUTION}#1", "brief.md#1"]


@pytest.mark.parametrize("query", ["E/ICEF/2025/26", "e/icef/2025/26", "unw/2025/1"])
def test_a_symbol_printed_only_in_running_headers_is_found(un_corpus, query):
    r = _run(un_corpus, "search", query, "-n", "1")
    assert r.exit_code == 0 and "No passages match" not in r.output
    name = ICEF if "icef" in query.lower() else UNW
    assert f"{name} p. " in r.output


def test_a_symbol_query_through_the_api(un_corpus):
    corpus, index = un_corpus
    with KnowledgeBase(corpus, index) as kb:
        res = kb.search("e/icef/2025/26", limit=2)
    assert res.hits[0].id == f"{ICEF}#1" and res.hits[0].symbol == "E/ICEF/2025/26"
    assert res.query == "e/icef/2025/26"


def test_an_unknown_symbol_is_searched_as_typed(un_corpus):
    r = _run(un_corpus, "search", "A/RES/99/999")
    assert r.exit_code == 1 and "No passages match" in r.output


def test_kb_docs_shows_the_symbol(un_corpus):
    r = _run(un_corpus, "docs")
    assert r.exit_code == 0
    assert "   UNW/2025/1 · 2025-04-23 · 85 passages · " in r.output
    assert "   S/RES/2771 (2025) · 2025-01-31 · " in r.output
    r = _run(un_corpus, "docs", "--format", "json")
    docs = {d["id"]: d for d in json.loads(r.output)}
    assert docs[ICEF]["symbol"] == "E/ICEF/2025/26"
    assert docs["brief.md"]["symbol"] is None
