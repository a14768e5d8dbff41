"""Issue 18, item 4: the annex can be titled and keeps its query.

``kb export --title`` in every annex format (and json's ``"title"``), a bad title as
one line and exit 2; ``kb export --from`` keeps the saved query's words in bold; and
in Word, headings and the lines that introduce a passage keep with the next
paragraph (``w:keepNext``), checked in the XML and in the pages LibreOffice lays out.

Every corpus here is written by the tests (no ``../shared``).
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import warnings
import zipfile
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

POLICY = """\
# Harassment policy

2 May 2023

## Scope

The policy on harassment covers every office. Staff who were harassed may report it to
the focal point.

## Retaliation

Protection against retaliation applies to everyone who reports misconduct.
"""

GUIDE = """\
# Reporting guide

## Steps

A staff member who reports harassment is protected from retaliation by the ethics office.
"""

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(r) -> str:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.output
    return r.stderr


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two short Markdown documents and a copy of one (a passage "also in" another
    file), indexed."""
    base = tmp_path_factory.mktemp("titled")
    corpus = base / "corpus"
    (corpus / "copies").mkdir(parents=True)
    (corpus / "policy.md").write_text(POLICY, encoding="utf-8")
    (corpus / "guide.md").write_text(GUIDE, encoding="utf-8")
    (corpus / "copies" / "guide.md").write_text(GUIDE, encoding="utf-8")
    args = ["--corpus", str(corpus), "--index", str(base / "index")]
    assert run("index", *args).exit_code == 0
    return {"base": base, "corpus": corpus, "index": base / "index", "args": args}


def export(small: dict, *extra: str) -> str:
    r = run("export", *extra, *small["args"])
    assert r.exit_code == 0, r.output
    return r.stdout


def docx_of(path: Path):  # type: ignore[no-untyped-def]
    import docx

    return docx.Document(str(path))


def md_bold(md: str) -> set[str]:
    return {w.casefold() for w in re.findall(r"\*\*([^*]+)\*\*", md)}


# --------------------------------------------------------------------------- kb export --title

TITLE = 'Annex II: <b>"Harassment" & retaliation</b>'


def test_export_title_in_every_annex_format_and_json(small, tmp_path):
    given = "  Annex II:\t<b>\"Harassment\" &\n retaliation</b> "  # one line, as TITLE
    # Markdown: the heading; the query is still said under it
    md = export(small, "harassment", "--title", given)
    assert md.startswith(f"# {TITLE}\n\nQuery: harassment  \n")
    assert "**harassment**" in md
    # HTML: <title> and <h1>, escaped
    out = tmp_path / "annex.html"
    export(small, "harassment", "--title", given, "-o", str(out))
    page = out.read_text(encoding="utf-8")
    esc = "Annex II: &lt;b&gt;&quot;Harassment&quot; &amp; retaliation&lt;/b&gt;"
    assert f"<title>{esc}</title>" in page and f"<h1>{esc}</h1>" in page
    assert "<b>" not in page
    # Word: the Title paragraph and the document's title property
    out = tmp_path / "annex.docx"
    export(small, "harassment", "--title", given, "-o", str(out))
    d = docx_of(out)
    first = d.paragraphs[0]
    assert first.style.name == "Title" and first.text == TITLE
    assert d.core_properties.title == TITLE
    assert [p.style.name for p in d.paragraphs].count("Title") == 1
    # json: a "title" field, the rest as without it
    data = json.loads(export(small, "harassment", "--format", "json", "--title", given))
    plain = json.loads(export(small, "harassment", "--format", "json"))
    assert data["title"] == TITLE and list(data)[0] == "title" and "title" not in plain
    assert {k: v for k, v in data.items() if k not in ("title", "elapsed")} == \
        {k: v for k, v in plain.items() if k != "elapsed"}
    # chosen passages and every passage take a title too
    ref = json.loads(export(small, "retaliation", "--format", "json"))["results"][0]["ref"]
    assert export(small, "--ids", ref, "--title", "Picked").startswith("# Picked\n")
    assert export(small, "--title", "Everything").startswith("# Everything\n")
    # without --title: the defaults, as before
    assert export(small, "harassment").startswith("# harassment\n")
    assert export(small, "--ids", ref).startswith("# Chosen passages\n")
    assert export(small).startswith("# All passages\n")


@pytest.mark.parametrize("title, fmt, words", [
    ("", "md", "--title is empty"),
    (" \t\n ", "docx", "--title is empty"),
    ("Annex \x1b[31m II", "html", "control character (U+001B)"),
    ("Annex\x00", "md", "control character (U+0000)"),
    ("x" * 301, "md", "at most 300"),
    ("Annex", "csv", "--title names an annex"),
    ("Annex", "jsonl", "--title names an annex"),
])
def test_a_bad_title_is_one_line_exit_2_and_nothing_written(small, tmp_path, title, fmt,
                                                             words):
    out = tmp_path / f"annex.{fmt}"
    r = run("export", "harassment", "--title", title, "-o", str(out), *small["args"])
    assert words in one_line_error(r)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_title_of_any_script_and_300_characters_is_taken(small):
    arabic = "مرفق: التحرش والانتقام"  # Arabic, right to left
    assert export(small, "harassment", "--title", arabic).startswith(f"# {arabic}\n")
    long = "y" * 300
    assert export(small, "harassment", "--title", long).startswith(f"# {long}\n")
    assert export(small, "harassment", "--title", "-draft-").startswith("# -draft-\n")


def test_export_from_a_saved_search_keeps_its_words_in_bold(small, tmp_path):
    saved = tmp_path / "hits.json"
    saved.write_text(run("search", "harassment", "--format", "json", *small["args"]).stdout,
                     encoding="utf-8")
    md = export(small, "--from", str(saved))
    assert md.startswith("# harassment\n") and "Query: harassment" in md
    # the words a search for it marks: "harassed" is a form of the word
    assert md_bold(md) >= {"harassment", "harassed"}
    assert md_bold(md) == md_bold(export(small, "harassment"))


# --------------------------------------------------------------------------- Word: keep with next


def _paragraphs(path: Path) -> list[tuple[str, str, bool]]:
    """(style id, text, has w:keepNext) for each paragraph of a docx's body."""
    from lxml import etree

    with zipfile.ZipFile(path) as z:
        root = etree.fromstring(z.read("word/document.xml"))
    out = []
    for p in root.iter(f"{W}p"):
        ppr = p.find(f"{W}pPr")
        style = ppr.find(f"{W}pStyle") if ppr is not None else None
        keep = ppr is not None and ppr.find(f"{W}keepNext") is not None
        text = "".join(t.text or "" for t in p.iter(f"{W}t"))
        out.append((style.get(f"{W}val") if style is not None else "", text, keep))
    return out


def test_docx_headings_and_the_lines_before_a_passage_keep_with_next(small, tmp_path):
    out = tmp_path / "annex.docx"
    export(small, "harassment OR retaliation", "-o", str(out))
    paras = _paragraphs(out)
    d = docx_of(out)
    sid = {name: d.styles[name].style_id for name in
           ("Title", "Heading 1", "Heading 2", "Annex Meta", "Annex Passage", "Annex Citation")}
    kinds = {v: k for k, v in sid.items()}
    seen = {kinds.get(s) for s, _, _ in paras}
    assert {"Title", "Heading 1", "Heading 2", "Annex Meta", "Annex Passage"} <= seen
    for style, text, keep in paras:
        kind = kinds.get(style)
        if kind in ("Title", "Heading 1", "Heading 2", "Annex Meta", "Annex Passage"):
            # the document's heading, its symbol/date line, section headings, the lines
            # under the title, each paragraph of a passage (kept with its citation)
            assert keep, f"{kind} {text!r} is not kept with the next paragraph"
    # a citation keeps with the note under it ("Also in: …"); the last line of a
    # passage's block does not (the next passage may start a page)
    cites = [(t, k) for s, t, k in paras if kinds.get(s) == "Annex Citation"]
    also = [i for i, (t, _) in enumerate(cites) if t.startswith("Also in:")]
    assert also, "the guide's copy should give an 'Also in' line"
    for i in also:
        assert cites[i - 1][1] and cites[i - 1][0].startswith("— ")
        assert not cites[i][1]
    assert not cites[-1][1]
    assert any(not k for t, k in cites if t.startswith("— "))  # a citation with no note


def _long_corpus(corpus: Path) -> None:
    """40 reports of 1 to 3 sections of 1 to 3 paragraphs of varied length, a word
    ("retaliation") in every paragraph: an annex of some 60 pages whose page breaks
    fall anywhere, often just after a document's heading and its date line."""
    rng = random.Random(7)
    words = ("staff report concern office mission policy review board finding member "
             "process case focal point outcome record duty station guidance training "
             "manager").split()
    corpus.mkdir(parents=True)
    for i in range(40):
        lines = [f"# Report number {i} on the protection of staff", "",
                 f"{rng.randint(1, 28)} March 20{10 + i % 15}", ""]
        for s in range(rng.randint(1, 3)):
            lines += [f"## Section {s + 1} of report {i}", ""]
            for _ in range(rng.randint(1, 3)):
                n = rng.choice([20, 40, 80, 140, 220])
                lines += ["The retaliation " + " ".join(rng.choice(words) for _ in range(n))
                          + ".", ""]
        (corpus / f"report-{i:02d}.md").write_text("\n".join(lines), encoding="utf-8")


@pytest.mark.skipif(shutil.which("soffice") is None and not os.environ.get("CI"),
                    reason="LibreOffice is not installed (CI installs it: .ci/run)")
def test_libreoffice_never_leaves_a_heading_or_date_line_at_the_foot_of_a_page(tmp_path):
    """The Word annex laid out by LibreOffice (converted headless to PDF): no page but
    the last ends with a document's heading, its date line or a section heading; each
    is on the page of the passage it introduces."""
    import pypdfium2 as pdfium

    assert shutil.which("soffice"), "LibreOffice's soffice is not installed"
    corpus = tmp_path / "corpus"
    _long_corpus(corpus)
    out = tmp_path / "annex.docx"
    r = run("export", "retaliation", "-o", str(out), "--corpus", str(corpus),
            "--index", str(tmp_path / "index"))
    assert r.exit_code == 0, r.output
    p = subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                        "--convert-to", "pdf", "--outdir", str(tmp_path), str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    pdf = pdfium.PdfDocument(str(tmp_path / "annex.pdf"))
    pages = []
    for i in range(len(pdf)):
        text = pdf[i].get_textpage().get_text_range()
        pages.append([ln.strip() for ln in text.splitlines() if ln.strip()])
    pdf.close()
    assert len(pages) > 20
    introducing = re.compile(r"(Report number \d+ on the protection of staff|Date: .*"
                             r"|Section \d+ of report \d+)$")
    stranded = [f"page {i}: {lines[-1]!r}" for i, lines in enumerate(pages[:-1], 1)
                if introducing.match(lines[-1])]
    assert not stranded, "left at the foot of a page:\n" + "\n".join(stranded)
    # every document's heading is followed, on its page, by its date line
    for lines in pages:
        for k, line in enumerate(lines):
            if line.startswith("Report number "):
                assert k + 1 < len(lines) and lines[k + 1].startswith("Date: "), lines[k:]
