"""Issue 18, item 4: the annex can be titled and keeps its query.

``kb export --title`` in every annex format (and json's ``"title"``), a bad title as
one line and exit 2; ``kb export --from`` keeps the saved query's words in bold; the
web annex's ``title=`` and ``queries=`` (the query each chosen passage was picked
from: its matched words in bold, its text the default title), on ``/api/export`` and
on the ``/annex`` page without JavaScript; and in Word, headings and the lines that
introduce a passage keep with the next paragraph (``w:keepNext``), checked in the
XML and in the pages LibreOffice lays out.

Every corpus here is written by the tests (nothing from outside the repository).
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


# --------------------------------------------------------------------------- the web annex


@pytest.fixture(scope="module")
def client(small):
    from kb.web import create_app

    kb = KnowledgeBase(small["corpus"], small["index"])
    with TestClient(create_app(kb), base_url="http://127.0.0.1:8765") as c:
        yield c
    kb.close()


def enc(*parts: str) -> str:
    """A list parameter's value: each part percent-encoded (commas too), joined by ","."""
    from urllib.parse import quote

    return ",".join(quote(p, safe="") for p in parts)


def hits_of(small: dict, query: str) -> list:
    with KnowledgeBase(small["corpus"], small["index"]) as kb:
        return list(kb.search(query, limit=None, partial=False).hits)


def test_api_export_titles_the_annex_and_bolds_the_query_of_chosen_passages(small, client,
                                                                            tmp_path):
    harassment = hits_of(small, "harassment")
    scope = next(h for h in harassment if "harassed" in h.text)
    steps = next(h for h in hits_of(small, "retaliation") if "ethics office" in h.text)
    ids = enc(scope.id, steps.id)

    def md(url: str) -> str:
        r = client.get(url)
        assert r.status_code == 200, r.text
        return r.text

    # today's annex of chosen passages: "Chosen passages", nothing in bold
    plain = md(f"/api/export?ids={ids}&format=md")
    assert plain.startswith("# Chosen passages\n") and "**" not in plain
    # picked from one search: its query is the title and its words are in bold
    both = md(f"/api/export?ids={ids}&queries={enc('harassment', 'harassment')}&format=md")
    assert both.startswith("# harassment\n\nQuery: harassment  \n")
    assert md_bold(both) == {"harassment", "harassed"}  # "harassed": a form of the word
    # a title of one's own, on one line
    spaced = enc("Annex  III:\tcases")
    titled = md(f"/api/export?ids={ids}&queries={enc('harassment', 'harassment')}"
                f"&title={spaced}&format=md")
    assert titled.startswith("# Annex III: cases\n\nQuery: harassment  \n")
    # from two searches: both named, each passage's own words in bold
    mixed = md(f"/api/export?ids={ids}&queries={enc('harassment', 'retaliation')}&format=md")
    assert mixed.startswith("# Chosen passages\n\nQueries: “harassment”; “retaliation”  \n")
    blocks = {b.split("\n")[0]: b for b in mixed.split("\n\n> ")[1:]}
    [scope_md] = [b for b in blocks.values() if "harassed" in b]
    [steps_md] = [b for b in blocks.values() if "ethics office" in b]
    assert md_bold(scope_md) == {"harassment", "harassed"}
    assert md_bold(steps_md) == {"retaliation"}  # not "harassment": another query's word
    # one passage picked from a search, one from nowhere (the passage page)
    one = md(f"/api/export?ids={ids}&queries={enc('', 'retaliation')}&format=md")
    assert one.startswith("# retaliation\n") and md_bold(one) == {"retaliation"}
    # HTML and Word: the same title, the same bold words
    r = client.get(f"/api/export?ids={ids}&queries={enc('harassment', 'harassment')}"
                   f"&title={enc('<Annex> & co')}&format=html")
    assert "<title>&lt;Annex&gt; &amp; co</title>" in r.text
    assert "<h1>&lt;Annex&gt; &amp; co</h1>" in r.text and "<strong>harassed</strong>" in r.text
    r = client.get(f"/api/export?ids={ids}&queries={enc('harassment', 'harassment')}"
                   f"&title=Annex%20III&format=docx")
    out = tmp_path / "annex.docx"
    out.write_bytes(r.content)
    d = docx_of(out)
    assert d.paragraphs[0].style.name == "Title" and d.paragraphs[0].text == "Annex III"
    bold = {run.text.casefold() for p in d.paragraphs for run in p.runs if run.bold}
    assert bold == {"harassment", "harassed"}
    # json says the title; csv has no place for one
    r = client.get(f"/api/export?ids={ids}&title=Annex%20III&format=json")
    assert r.json()["title"] == "Annex III"
    r = client.get(f"/api/export?ids={ids}&queries={enc('harassment', '')}&format=csv")
    assert r.status_code == 200 and r.text.count("\n") == 3


@pytest.mark.parametrize("params, words", [
    ("title=%1B%5B31m", "control character (U+001B)"),
    ("title=" + "x" * 301, "at most 300"),
    ("title=Annex&format=csv", "title= names an annex"),
    ("queries=harassment", "one per id"),
    ("queries=harassment,retaliation,abuse", "one per id"),
])
def test_api_export_bad_title_or_queries_are_a_400(small, client, params, words):
    hits = hits_of(small, "harassment")[:2]
    fmt = "" if "format=" in params else "&format=md"
    r = client.get(f"/api/export?ids={enc(*[h.id for h in hits])}&{params}{fmt}")
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error"} and words in r.json()["error"], r.json()


class _Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.els: list[tuple[str, dict]] = []
        self.texts: dict[int, str] = {}
        self._open: list[int] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        self.els.append((tag, dict(attrs)))
        if tag not in ("input", "meta", "link", "br"):
            self._open.append(len(self.els) - 1)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        while self._open:
            i = self._open.pop()
            if self.els[i][0] == tag:
                break

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        for i in self._open:
            self.texts[i] = self.texts.get(i, "") + data

    def find(self, tag: str, **attrs: str) -> list[dict]:
        return [a for t, a in self.els if t == tag and all(
            (v in (a.get(k.rstrip("_")) or "").split()) if k == "class_" else a.get(k) == v
            for k, v in attrs.items())]

    def text(self, tag: str, cls: str) -> list[str]:
        return [" ".join(self.texts.get(i, "").split()) for i, (t, a) in enumerate(self.els)
                if t == tag and cls in (a.get("class") or "").split()]


def test_search_page_hands_the_query_to_the_annex(small, client):
    page = _Page(client.get("/?q=harassment").text)
    hits = page.find("li", class_="hit")
    assert hits and all(h["data-query"] == "harassment" for h in hits)
    links = [a["href"] for a in page.find("a", class_="add-nojs")]
    assert links and all(h.endswith("&from=harassment") for h in links)
    # the panel's title box: JavaScript shows it (the page without it has /annex)
    [form] = page.find("form", id="annex-title-form")
    assert "hidden" in form
    [box] = page.find("input", id="annex-name")
    assert box["placeholder"] == "Chosen passages" and box["maxlength"] == "300"


def test_annex_page_keeps_title_and_queries_without_javascript(small, client):
    scope = next(h for h in hits_of(small, "harassment") if "harassed" in h.text)
    steps = next(h for h in hits_of(small, "retaliation") if "ethics office" in h.text)
    # "Add to annex" from a search for harassment, then one from the passage page
    page = _Page(client.get(f"/annex?ids={enc(scope.id)}&queries=harassment"
                            f"&add={enc(steps.id)}").text)
    items = page.find("li", **{"data-query": "harassment"})
    assert [li["data-id"] for li in items] == [scope.id]
    assert page.text("span", "annex-from") == ["from “harassment”"]
    [box] = page.find("input", id="annex-name")
    assert box["value"] == "" and box["placeholder"] == "harassment"
    hrefs = {a["data-format"]: a["href"] for a in page.find("a", class_="download")}
    for fmt in ("docx", "html", "md"):
        qs = parse_qs(urlsplit(hrefs[fmt]).query, keep_blank_values=True)
        assert qs["queries"] == ["harassment,"] and "title" not in qs
    assert "queries" not in parse_qs(urlsplit(hrefs["csv"]).query)
    md = client.get(hrefs["md"]).text
    assert md.startswith("# harassment\n") and md_bold(md) == {"harassment", "harassed"}

    # the title form: the passages and their queries go along, hidden
    [form] = page.find("form", id="annex-title-form")
    assert "hidden" not in form and form["action"] == "/annex" and form["method"] == "get"
    hidden = [(i["name"], i["value"]) for i in page.find("input", type="hidden")]
    # each id pinned to its text's short ref (a changed text is refused, never swapped)
    assert hidden == [("ids", f"{scope.id}@{scope.ref}"), ("ids", f"{steps.id}@{steps.ref}"),
                      ("queries", "harassment"), ("queries", "")]
    assert page.find("button", class_="title-nojs")
    # ... submitted as a browser does (each field form-encoded: commas as %2C)
    from urllib.parse import urlencode

    titled = _Page(client.get("/annex?" + urlencode(
        [("title", "Annex, IV"), *hidden])).text)
    [box] = titled.find("input", id="annex-name")
    assert box["value"] == "Annex, IV"
    hrefs = {a["data-format"]: a["href"] for a in titled.find("a", class_="download")}
    assert parse_qs(urlsplit(hrefs["md"]).query)["title"] == ["Annex, IV"]
    assert "title" not in parse_qs(urlsplit(hrefs["csv"]).query)
    md = client.get(hrefs["md"]).text
    assert md.startswith("# Annex, IV\n\nQuery: harassment  \n")
    # removing a passage keeps the others' queries and the title
    removes = [a["href"] for a in titled.find("a", class_="remove-nojs")]
    kept = _Page(client.get(removes[1]).text)
    assert [li["data-query"] for li in kept.find("li", **{"data-id": scope.id})] == \
        ["harassment"]
    assert kept.find("input", id="annex-name")[0]["value"] == "Annex, IV"
