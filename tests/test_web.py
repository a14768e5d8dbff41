"""`kb serve`: the web page, the HTTP API and their security, through Starlette's
test client (and `kb serve` itself in a subprocess)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
import urllib.error
import urllib.request
import warnings
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli
from kb.render import safe_line

from .conftest import NESTED_MD, PLAIN_TXT, SAMPLE, SAMPLE_ID
from .fixtures import UNW, copy_sample_pdfs, make_pdf
from .killloop import default_sigint

with warnings.catch_warnings():
    # Starlette 1.x asks for the httpx2 fork; httpx works the same
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
BASE = "http://127.0.0.1:8765"
CSP = ("default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'")

#: a file name and a text that try to break out of HTML: tags, attribute quotes,
#: javascript: links, control characters (ESC, BEL)
HOSTILE_NAME = 'x"><script>alert(1)<\\script> \x1b[31m\'.txt'
HOSTILE_TXT = """\
# &lt;script&gt;alert("title")&lt;/script&gt; "Report" &amp; &lt;b&gt;more&lt;/b&gt;

3 March 2021

## Background &lt;img src=x onerror=alert(3)&gt;

Hostile harassment passage: &lt;script&gt;alert('x')&lt;/script&gt; and a link \
[click me](javascript:alert(1)) plus "quotes" onmouseover="alert(1)" and control \
\x1b[31m red \x07 bell characters &lt;img src=x onerror=alert(2)&gt; in the text \
about harassment policy.
"""
HOSTILE_HTML = """<!doctype html><html><head><title>Policy page</title></head><body>
<h1>Harassment policy page</h1><script>alert('doc')</script>
<p>The harassment policy applies to every office and every mission worldwide.</p>
</body></html>"""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory):
    """A corpus with Markdown, text, the sample report, the UN PDFs, an HTML page, a
    hostile file, a file with a comma in its name, a PDF without text (skipped),
    a hidden file (not indexed); and its index."""
    base = tmp_path_factory.mktemp("web")
    corpus = base / "corpus"
    (corpus / "guides").mkdir(parents=True)
    (corpus / "guides" / "safe-workplaces.md").write_text(NESTED_MD, encoding="utf-8")
    (corpus / "peer-support.txt").write_text(PLAIN_TXT, encoding="utf-8")
    (corpus / "copies").mkdir()
    (corpus / "copies" / "peer-support.txt").write_text(PLAIN_TXT, encoding="utf-8")
    shutil.copy(SAMPLE, corpus / SAMPLE_ID)
    copy_sample_pdfs(corpus / "pdf")
    (corpus / HOSTILE_NAME).write_text(HOSTILE_TXT, encoding="utf-8")
    (corpus / "policy.html").write_text(HOSTILE_HTML, encoding="utf-8")
    (corpus / "notes, 2021.txt").write_text(
        "Notes\n\nThe retaliation policy protects those who report misconduct in good "
        "faith, the notes say.\n", encoding="utf-8")
    (corpus / "scan.pdf").write_bytes(make_pdf([[]]))
    (corpus / ".hidden.txt").write_text("Hidden harassment notes.\n", encoding="utf-8")
    (base / "secret.txt").write_text("SECRET outside the corpus\n", encoding="utf-8")
    kb = KnowledgeBase(corpus, base / "index")
    kb.update()
    yield {"base": base, "corpus": corpus, "index": base / "index", "kb": kb}
    kb.close()


@pytest.fixture()
def new_kb():
    """KnowledgeBase(corpus, index), closed after the test."""
    made: list[KnowledgeBase] = []

    def make(corpus, index) -> KnowledgeBase:
        made.append(KnowledgeBase(corpus, index))
        return made[-1]

    yield make
    for kb in made:
        kb.close()


@pytest.fixture(scope="module")
def app(site):
    from kb.web import create_app

    return create_app(site["kb"])


@pytest.fixture()
def client(app):
    with TestClient(app, base_url=BASE) as c:
        yield c


class Page(HTMLParser):
    """Every element of a page: (tag, attrs, text directly inside it)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._stack: list[dict] = []
        # a browser reads &#x1b; as ESC (html.unescape drops it)
        self.feed(re.sub(r"&#x(1[0-9a-f]|[0-9a-f]|7f);",
                         lambda m: chr(int(m.group(1), 16)), html))

    def handle_starttag(self, tag, attrs):
        el = {"tag": tag, "attrs": dict(attrs), "text": "", "children": []}
        if self._stack:
            self._stack[-1]["children"].append(el)
        self.elements.append(el)
        if tag not in ("input", "meta", "link", "br", "img", "hr"):
            self._stack.append(el)

    def handle_endtag(self, tag):
        while self._stack:
            el = self._stack.pop()
            if el["tag"] == tag:
                break

    def handle_data(self, data):
        for el in self._stack:
            el["text"] += data

    def find(self, tag=None, **attrs) -> list[dict]:
        out = []
        for el in self.elements:
            if tag and el["tag"] != tag:
                continue
            ok = True
            for k, v in attrs.items():
                k = k.rstrip("_")
                got = el["attrs"].get(k)
                if k == "class":
                    ok = got is not None and v in got.split()
                else:
                    ok = got == v
                if not ok:
                    break
            if ok:
                out.append(el)
        return out

    def one(self, tag=None, **attrs) -> dict:
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, len(found))
        return found[0]


def within(el: dict, cls: str) -> list[dict]:
    out = []
    for c in el["children"]:
        if cls in (c["attrs"].get("class") or "").split():
            out.append(c)
        out += within(c, cls)
    return out


def text_of(el: dict) -> str:
    return " ".join(el["text"].split())


def get_page(client, url: str, status: int = 200) -> Page:
    r = client.get(url)
    assert r.status_code == status, (url, r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("text/html")
    return Page(r.text)


# --------------------------------------------------------------------------- the page


def test_page_without_query_has_the_form_help_and_annex_panel(client):
    p = get_page(client, "/")
    form = p.one("form", id="search")
    assert form["attrs"]["method"] == "get" and form["attrs"]["action"] == "/"
    assert p.one("input", id="q")["attrs"]["name"] == "q"
    for name in ("doc", "section", "since", "until"):
        assert len(p.find("input", name=name)) == 1, name
    assert p.one(id="go")["tag"] == "button"
    assert "title:" in text_of(p.one("aside", id="help"))
    p.one("section", id="annex")
    p.one("ol", id="annex-items")
    assert sorted(a["attrs"]["data-format"] for a in p.find("a", class_="download")) == \
        ["csv", "docx", "html", "md"]
    assert not p.find(id="results")


def test_search_page_shows_hits_as_the_cli_does(client, site):
    from kb.render import header

    kb = site["kb"]
    expected = kb.search("bystander intervention", limit=10)
    p = get_page(client, "/?q=bystander+intervention")
    summary = text_of(p.one("p", id="summary"))
    strip_time = re.compile(r" \(\d+\.\d\d s\)$")
    assert strip_time.sub("", summary) == strip_time.sub("", header(expected))
    hits = p.find("li", class_="hit")
    assert [h["attrs"]["data-id"] for h in hits] == [h.id for h in expected.hits]
    assert [h["attrs"]["data-ref"] for h in hits] == [h.ref for h in expected.hits]
    first, h0 = hits[0], expected.hits[0]
    assert text_of(within(first, "title")[0]) == h0.title
    assert text_of(within(first, "section")[0]) == " › ".join(h0.heading_path) or h0.section
    assert text_of(within(first, "date")[0]) == h0.date
    assert text_of(within(first, "citation")[0]) == h0.citation
    snippet = within(first, "snippet")[0]
    marks = [text_of(m) for m in snippet["children"] if m["tag"] == "mark"]
    assert marks == [h0.snippet[s:e] for s, e in h0.highlights]
    assert text_of(snippet) == " ".join(h0.snippet.split())
    assert within(first, "open")[0]["attrs"]["href"].startswith("/passage/")
    assert within(first, "source")[0]["attrs"]["href"] == "/file/" + SAMPLE_ID
    add = within(first, "add")[0]
    assert add["tag"] == "button" and add["attrs"]["type"] == "button"
    nojs = within(first, "add-nojs")[0]
    # the passage joins the annex with the query it was picked from (its words in bold)
    assert nojs["attrs"]["href"] == ("/annex?add=" + h0.id.replace("#", "%23") + "%40"
                                     + h0.ref + "&from=bystander%20intervention")


def test_identical_passages_show_where_else_they_are(client, site):
    from kb.render import also_line

    hit = [h for h in site["kb"].search("peer support networks").hits if h.also_in][0]
    p = get_page(client, "/?q=peer+support+networks")
    li = [h for h in p.find("li", class_="hit") if h["attrs"]["data-id"] == hit.id][0]
    also = text_of(within(li, "also")[0])
    other = "peer-support.txt" if hit.doc.startswith("copies/") else "copies/peer-support.txt"
    assert also == also_line(hit) and f"corpus/{other}:" in also


def test_pdf_hits_show_symbol_un_citation_and_link_the_page(client, site):
    p = get_page(client, "/?q=" + "UNW/2025/1")
    hit = p.find("li", class_="hit")[0]
    assert text_of(within(hit, "symbol")[0]) == "UNW/2025/1"
    assert text_of(within(hit, "un-citation")[0]).startswith("UNW/2025/1")
    src = within(hit, "source")[0]["attrs"]["href"]
    assert re.fullmatch(r"/file/pdf/UNW_2025_1\.en\.pdf#page=\d+", src), src


def test_filters_narrow_the_search_and_stay_in_the_form(client, site):
    kb = site["kb"]
    import datetime as dt

    cases = [
        ("doc=pdf/", {"doc": "pdf/"}),
        ("section=opening", {"section": "opening"}),
        ("since=2025", {"since": dt.date(2025, 1, 1)}),
        ("until=2022-12", {"until": dt.date(2022, 12, 31)}),
    ]
    for qs, kwargs in cases:
        expected = kb.search("harassment", limit=10, **kwargs)
        p = get_page(client, f"/?q=harassment&{qs}")
        ids = [h["attrs"]["data-id"] for h in p.find("li", class_="hit")]
        assert ids == [h.id for h in expected.hits], qs
        assert 0 < expected.total < kb.search("harassment").total, qs
        name, value = qs.split("=")
        assert p.one("input", name=name)["attrs"]["value"] == value


def test_a_bad_date_is_a_400_page_that_keeps_the_form(client):
    p = get_page(client, "/?q=harassment&since=someday", 400)
    assert "since" in text_of(p.one(id="error")) and "YYYY" in text_of(p.one(id="error"))
    assert p.one("input", id="q")["attrs"]["value"] == "harassment"


def test_group_shows_n_more_in_this_document(client, site):
    expected = site["kb"].search("harassment", group=True)
    p = get_page(client, "/?q=harassment&group=1")
    hits = p.find("li", class_="hit")
    assert [h["attrs"]["data-id"] for h in hits] == [h.id for h in expected.hits]
    more = [(h, e) for h, e in zip(hits, expected.hits) if e.more_in_doc]
    assert more
    for h, e in more:
        el = within(h, "more")[0]
        assert text_of(el) == f"{e.more_in_doc} more in this document"
    assert "checked" in p.one("input", name="group")["attrs"]


def test_facets_count_by_document_and_year_and_narrow_when_followed(client, site):
    kb = site["kb"]
    total = kb.search("harassment").total
    p = get_page(client, "/?q=harassment")
    docs = p.one("ul", id="by-doc")
    years = p.one("ul", id="by-year")
    doc_links = [c for li in docs["children"] for c in li["children"] if c["tag"] == "a"]
    year_links = [c for li in years["children"] for c in li["children"] if c["tag"] == "a"]
    assert len(doc_links) >= 4 and len(year_links) >= 2
    counted = 0
    for li in docs["children"] + years["children"]:
        a = [c for c in li["children"] if c["tag"] == "a"][0]
        n = int(text_of([c for c in li["children"] if "count" in c["attrs"].get("class", "")][0]))
        narrowed = get_page(client, a["attrs"]["href"])
        assert re.match(rf"{n} passages? match", text_of(narrowed.one(id="summary"))), \
            (a["attrs"]["href"], n)
        if li in docs["children"]:
            counted += n
            ids = {safe_line(h["attrs"]["data-id"].split("#")[0])
                   for h in narrowed.find("li", class_="hit")}
            assert ids == {a["attrs"]["title"]}  # the title shows the id as text
    assert counted == total  # every document listed: the counts add up


def test_facet_for_a_document_whose_name_is_inside_another_is_exact(new_kb, site, tmp_path):
    from kb.search import doc_pattern, exact_doc_pattern

    for doc in ("report.txt", "guides/safe.md", "a*b?.txt", "Report [draft].docx", "x]y.md"):
        pat = doc_pattern(exact_doc_pattern(doc))
        assert pat.fullmatch(doc) and not pat.fullmatch("old-" + doc) \
            and not pat.fullmatch("x/" + doc), doc
    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "report.txt").write_text("Training\n\nBystander training works well.\n")
    (corpus / "old-report.txt").write_text("Training\n\nBystander training worked.\n")
    kb = new_kb(corpus, tmp_path / "ix")
    kb.update()
    from kb.web import create_app

    with TestClient(create_app(kb), base_url=BASE) as c:
        p = get_page(c, "/?q=bystander")
        for a in [c2 for li in p.one("ul", id="by-doc")["children"] for c2 in li["children"]
                  if c2["tag"] == "a"]:
            narrowed = get_page(c, a["attrs"]["href"])
            ids = [h["attrs"]["data-id"] for h in narrowed.find("li", class_="hit")]
            assert [i.split("#")[0] for i in ids] == [a["attrs"]["title"]]


def test_paging_links(client, site):
    total = site["kb"].search("harassment").total
    assert total > 20
    p1 = get_page(client, "/?q=harassment")
    assert not p1.find(id="prev")
    nxt = p1.one("a", id="next")["attrs"]["href"]
    p2 = get_page(client, nxt)
    assert p2.one("ol", id="results")["attrs"]["start"] == "11"
    assert "showing 11-20" in text_of(p2.one(id="summary"))
    prev = p2.one("a", id="prev")["attrs"]["href"]
    p1b = get_page(client, prev)
    assert [h["attrs"]["data-id"] for h in p1b.find("li", class_="hit")] == \
        [h["attrs"]["data-id"] for h in p1.find("li", class_="hit")]


def test_corrected_query_and_did_you_mean(client):
    p = get_page(client, "/?q=harrasment")
    corrected = text_of(p.one("p", id="corrected"))
    assert "harrasment" in corrected and "harassment" in corrected
    assert p.find("li", class_="hit")
    only = [a for a in p.one("p", id="corrected")["children"] if a["tag"] == "a"][0]
    p_orig = get_page(client, only["attrs"]["href"])
    assert not p_orig.find("li", class_="hit") and not p_orig.find(id="corrected")

    # a slip beside other words is corrected too
    p = get_page(client, "/?q=bystandr+intervention")
    assert "bystander intervention" in text_of(p.one("p", id="corrected"))
    # a word not clearly meant (its first letter changed, a short word): only suggested
    p = get_page(client, "/?q=yexual+harassment")
    sug = p.one("p", id="suggestion")
    link = [a for a in sug["children"] if a["tag"] == "a"][0]
    assert text_of(link) == "sexual harassment"
    assert "q=sexual+harassment" in link["attrs"]["href"]


def test_passage_page_shows_the_passage_in_context(client, site):
    kb = site["kb"]
    hit = kb.search("bystander intervention", limit=1).hits[0]
    p = get_page(client, f"/passage/{hit.id.replace('#', '%23')}?context=2")
    focus = p.find("article", class_="focus")
    assert len(focus) == 1 and focus[0]["attrs"]["data-id"] == hit.id
    arts = p.find("article", class_="passage")
    assert [a["attrs"]["data-id"] for a in arts] == [x.id for x in kb.context(hit.id, 2)]
    assert p.one("a", class_="source")["attrs"]["href"] == "/file/" + SAMPLE_ID
    # a short reference works too, and context=0 shows the passage alone
    p0 = get_page(client, f"/passage/{hit.ref}?context=0")
    assert [a["attrs"]["data-id"] for a in p0.find("article", class_="passage")] == [hit.id]
    get_page(client, "/passage/nothing.txt%231", 404)
    get_page(client, f"/passage/{hit.ref}?context=999", 400)


def test_pdf_passage_links_its_page(client, site):
    hit = site["kb"].search("UNW/2025/1", limit=1).hits[0]
    p = get_page(client, f"/passage/{hit.ref}")
    assert p.one("a", class_="source")["attrs"]["href"] == f"/file/pdf/{UNW}#page={hit.page}"


def test_status_page(client, site):
    st = site["kb"].status()
    p = get_page(client, "/status")
    dl = p.one("dl", id="status")
    text = text_of(dl)
    for label in ("Documents", "Passages", "Last updated", "Update running"):
        assert label in text
    assert text_of(p.one("dd", class_="documents")) == f"{st.documents:,}"
    assert text_of(p.one("dd", class_="passages")) == f"{st.passages:,}"
    skipped = {text_of(li) for li in p.one("ul", id="skipped")["children"]}
    assert any(s.startswith("scan.pdf: no text layer") for s in skipped), skipped


def test_annex_page_without_javascript(client, site):
    kb = site["kb"]
    a, b = kb.search("harassment", limit=2).hits
    p = get_page(client, f"/annex?ids={a.id.replace('#', '%23')}&add={b.ref}")
    items = p.one("ol", id="annex-items")["children"]
    assert [li["attrs"]["data-id"] for li in items] == [a.id, b.id]
    for link in p.find("a", class_="download"):
        href = link["attrs"]["href"]
        assert href.startswith("/api/export?ids=") and link["attrs"]["data-format"] in href
        r = client.get(href)
        assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")
    # two passages of one document differ at a glance: their first words are shown
    for li, h in zip(items, (a, b)):
        shown = text_of(within(li, "annex-excerpt")[0])
        assert li["attrs"]["data-excerpt"] == shown and len(shown) <= 90
        assert " ".join(h.text.split()).startswith(shown.rstrip("…").rstrip())
        assert len(h.text) <= 90 or shown.endswith("…")
    removed = get_page(client, within(items[0], "remove-nojs")[0]["attrs"]["href"])
    assert [li["attrs"]["data-id"] for li in removed.one("ol", id="annex-items")["children"]] \
        == [b.id]


def test_unknown_page_is_a_short_404_page(client):
    r = client.get("/nothing/here")
    assert r.status_code == 404 and "text/html" in r.headers["content-type"]
    assert len(r.text) < 2000 and "Traceback" not in r.text


# --------------------------------------------------------------------------- files


def test_file_serves_indexed_files_by_id(client, site):
    r = client.get("/file/" + SAMPLE_ID)
    assert r.status_code == 200 and r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == SAMPLE.read_text(encoding="utf-8")
    r = client.get(f"/file/pdf/{UNW}")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content[:5] == b"%PDF-"
    assert r.content == (site["corpus"] / "pdf" / UNW).read_bytes()
    assert r.headers["content-security-policy"].startswith(CSP)  # the viewer still opens it
    assert r.headers["content-disposition"] == f'inline; filename="{UNW}"'
    r = client.get("/file/notes%2C%202021.txt")
    assert r.status_code == 200 and "retaliation" in r.text
    r = client.get("/file/policy.html")  # shown, its scripts never run
    assert r.status_code == 200
    assert r.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.parametrize("path", [
    "/file/../secret.txt",
    "/file/%2e%2e/secret.txt",
    "/file/%2E%2E%2Fsecret.txt",
    "/file/pdf/..%2F..%2Fsecret.txt",
    "/file/%2Fetc%2Fpasswd",
    "/file//etc/passwd",
    "/file/.hidden.txt",  # in the corpus folder, not in the index
    "/file/guides",
    "/file/",
    "/file/nothing.txt",
])
def test_file_refuses_anything_not_indexed(client, path):
    r = client.get(path)
    assert r.status_code == 404, path
    assert "SECRET" not in r.text and "root:" not in r.text


def test_file_refuses_a_symlink_out_of_the_corpus(new_kb, tmp_path):
    from kb.web import create_app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    doc = corpus / "report.txt"
    doc.write_text("Report\n\nThe harassment report text.\n", encoding="utf-8")
    kb = new_kb(corpus, tmp_path / "index")
    kb.update()
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET\n")
    with TestClient(create_app(kb), base_url=BASE) as c:
        assert c.get("/file/report.txt").status_code == 200
        doc.unlink()
        doc.symlink_to(secret)  # indexed name, now leading out of the corpus
        r = c.get("/file/report.txt")
        assert r.status_code == 404 and "SECRET" not in r.text


# --------------------------------------------------------------------------- the API


def _cli_json(site, *args: str) -> object:
    r = CliRunner().invoke(cli, [*args, "--corpus", str(site["corpus"]), "--index",
                                 str(site["index"])])
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


def _no_time(d):
    d = dict(d)
    d.pop("elapsed", None)
    return d


def test_api_search_is_the_cli_json(client, site):
    for qs, args in [
        ("q=bystander+intervention", ["bystander intervention"]),
        ("q=harassment&limit=3&offset=2&doc=pdf/&since=2025", [
            "harassment", "--limit", "3", "--offset", "2", "--doc", "pdf/", "--since", "2025"]),
        ("q=harassment&group=1&section=opening&until=2022", [
            "harassment", "--group", "--section", "opening", "--until", "2022"]),
        ("q=harrasment", ["harrasment"]),
    ]:
        r = client.get("/api/search?" + qs)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        assert _no_time(r.json()) == _no_time(_cli_json(site, "search", *args,
                                                        "--format", "json")), qs


def test_api_passage_is_kb_show_json(client, site):
    hit = site["kb"].search("bystander", limit=1).hits[0]
    r = client.get(f"/api/passage/{hit.id.replace('#', '%23')}?context=1")
    assert r.status_code == 200
    assert r.json() == _cli_json(site, "show", hit.id, "--context", "1", "--format", "json")
    assert client.get(f"/api/passage/{hit.ref}").json()["id"] == hit.id


def test_api_docs_and_status(client, site):
    assert client.get("/api/docs").json() == _cli_json(site, "docs", "--format", "json")
    st = client.get("/api/status").json()
    cli_st = _cli_json(site, "status", "--format", "json")
    assert {k: v for k, v in st.items() if k != "watch"} == cli_st
    assert st["watch"] == {"enabled": False, "running": False, "last_update": None,
                           "last_error": None}


def test_api_export_chosen_passages_in_every_format(client, site):
    from kb import export as ex

    kb = site["kb"]
    hits = kb.search("harassment", limit=3).hits
    comma = kb.search("retaliation notes", limit=1).hits[0]
    assert "," in comma.id
    refs = [hits[0].id, hits[1].ref, hits[2].citation, comma.id]
    enc = ",".join(r.replace("%", "%25").replace("#", "%23").replace(",", "%2C")
                   .replace(" ", "%20") for r in refs)
    chosen = kb.chosen(refs)
    for fmt, ctype in [("docx", "application/vnd.openxmlformats-officedocument"
                                ".wordprocessingml.document"),
                       ("html", "text/html; charset=utf-8"),
                       ("md", "text/markdown; charset=utf-8"),
                       ("csv", "text/csv; charset=utf-8")]:
        r = client.get(f"/api/export?ids={enc}&format={fmt}")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == ctype
        assert re.fullmatch(rf'attachment; filename="kb-annex-\d{{8}}-\d{{4}}\.{fmt}"',
                            r.headers["content-disposition"])
        if fmt == "docx":
            assert r.content[:2] == b"PK"
        elif fmt == "csv":
            assert r.content.startswith(b"\xef\xbb\xbf")
            import csv
            import io

            rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
            assert [row["id"] for row in rows] == [h.id for h in chosen.hits]
        else:
            drop = re.compile(r".*(made|generated|20\d\d-\d\d-\d\d \d\d:\d\d).*\n?")
            assert drop.sub("", r.text) == drop.sub("", ex.render(chosen, fmt, chosen=True))
            for h in chosen.hits:
                assert h.title.split(":")[0] in r.text


def test_api_export_a_query_is_kb_export(client, site):
    r = client.get("/api/export?q=bystander&format=md")
    assert r.status_code == 200
    out = CliRunner().invoke(cli, ["export", "bystander", "--format", "md", "--corpus",
                                   str(site["corpus"]), "--index", str(site["index"])])
    time_line = re.compile(r".*\d\d:\d\d.*\n")
    assert time_line.sub("", r.text) == time_line.sub("", out.stdout)


@pytest.mark.parametrize("url, status, words", [
    ("/api/search", 400, "q=words"),
    ("/api/search?q=", 400, "q=words"),
    ("/api/search?q=harassment&limit=zero", 400, "limit"),
    ("/api/search?q=harassment&limit=0", 400, "limit"),
    ("/api/search?q=harassment&since=May", 400, "YYYY"),
    ("/api/passage/nothing.txt%231", 404, "no passage"),
    ("/api/passage/a.txt%231?context=-1", 400, "context"),
    ("/api/export?format=md", 400, "ids="),
    ("/api/export?q=harassment&format=pdf", 400, "format"),
    ("/api/export?ids=zzzzzz&format=md", 404, ""),
    ("/api/export?q=harassment&ids=x&format=md", 400, "not both"),
    ("/api/nothing", 404, ""),
])
def test_api_errors_are_json(client, url, status, words):
    r = client.get(url)
    assert r.status_code == status, (url, r.text)
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"error"} and words in body["error"] and "Traceback" not in r.text


# --------------------------------------------------------------------------- security


def test_security_headers_on_every_response(site, client):
    from kb.web import create_app

    urls = ["/", "/?q=harassment", "/status", "/api/search?q=x", "/api/nothing", "/nothing",
            "/static/kb.css", "/static/kb.js", "/file/" + SAMPLE_ID]
    responses = [client.get(u) for u in urls]
    responses.append(client.post("/"))
    responses.append(client.get("/", headers={"host": "evil.example"}))
    with TestClient(create_app(site["kb"], token="t" * 20), base_url=BASE) as c:
        responses.append(c.get("/"))
    for r in responses:
        assert r.headers["x-content-type-options"] == "nosniff", r.url
        assert r.headers["referrer-policy"] == "no-referrer", r.url
        assert r.headers["content-security-policy"].startswith(CSP), r.url
    assert {r.status_code for r in responses} >= {200, 400, 401, 404, 405}


def test_pages_have_no_inline_script_style_or_handlers(client):
    for url in ("/", "/?q=harassment", "/?q=harassment&group=1", "/status",
                "/passage/" + SAMPLE_ID + "%233", "/annex?add=" + SAMPLE_ID + "%233", "/nope"):
        r = client.get(url)
        p = Page(r.text)
        scripts = p.find("script")
        assert all(s["attrs"].get("src") for s in scripts) and \
            all(not s["text"].strip() for s in scripts), url
        assert [s["attrs"]["src"].split("?")[0] for s in scripts] in ([], ["/static/kb.js"])
        for el in p.elements:
            assert not any(k.startswith("on") or k == "style" for k in el["attrs"]), (url, el)
        assert not p.find("style")


def test_host_header_must_be_a_served_host(site, client):
    from kb.web import create_app

    assert client.get("/", headers={"host": "127.0.0.1:8765"}).status_code == 200
    assert client.get("/", headers={"host": "localhost:8765"}).status_code == 200
    assert client.get("/", headers={"host": "[::1]:8765"}).status_code == 200
    for bad in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example", "",
                "127.0.0.1:80@evil.example", "localhost.evil"):
        r = client.get("/api/docs", headers={"host": bad})
        assert r.status_code == 400, bad
        assert "Host" in r.json()["error"]
    app = create_app(site["kb"], allowed_hosts=["kb.office.example"])
    with TestClient(app, base_url="http://kb.office.example") as c:
        assert c.get("/").status_code == 200
        assert c.get("/", headers={"host": "127.0.0.1"}).status_code == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_and_head(client, method):
    for url in ("/", "/api/search?q=x", "/api/export?q=x&format=md", "/static/kb.js"):
        r = client.request(method, url)
        assert r.status_code == 405, (method, url)
        assert r.headers["allow"] == "GET, HEAD"


def test_head_is_answered_without_a_body(client):
    r = client.head("/?q=harassment")
    assert r.status_code == 200 and r.content == b""


def test_token_is_required_when_set(site):
    from kb.web import create_app

    token = "s3cret-token-for-tests"
    app = create_app(site["kb"], token=token)
    with TestClient(app, base_url=BASE) as c:
        r = c.get("/")
        assert r.status_code == 401 and "text/html" in r.headers["content-type"]
        assert "token" in r.text and token not in r.text
        r = c.get("/api/search?q=harassment")
        assert r.status_code == 401 and "token" in r.json()["error"]
        assert c.get("/api/docs?token=wrong-token-xxxxxx").status_code == 401
        assert c.get("/api/docs", headers={"authorization": "Bearer nope"}).status_code == 401
        assert c.get("/api/docs", headers={"authorization": f"Bearer {token}"}).status_code \
            == 200
        assert c.get("/static/kb.css").status_code == 200  # no data in it
        for sneaky in ("/static/%2e%2e/api/docs", "/static/../api/docs",
                       "/static/..%2Fapi%2Fdocs"):
            r = c.get(sneaky)
            assert r.status_code in (401, 404) and '"title":' not in r.text, sneaky
        assert "kb_token" not in c.cookies
        r = c.get(f"/?q=harassment&token={token}")
        assert r.status_code == 200 and "li class=\"hit\"" in r.text
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"kb_token={token};")
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        # the links of the page do not carry the token: the cookie does
        assert token not in r.text
        assert c.get("/api/docs").status_code == 200  # with the cookie
        c.cookies.clear()
        assert c.get("/api/docs").status_code == 401
        c.cookies.set("kb_token", "wrong")
        assert c.get("/api/docs").status_code == 401


def test_a_token_that_would_break_the_cookie_is_refused(site):
    from kb.web import create_app

    for bad in ("short", "a;b=c" * 5, "with space and more", "é" * 20):
        with pytest.raises(ValueError, match="16 to 200"):
            create_app(site["kb"], token=bad)


def test_token_is_compared_in_constant_time(site, monkeypatch):
    from kb import web

    seen = []
    real = web.secrets.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(web.secrets, "compare_digest", spy)
    app = web.create_app(site["kb"], token="abcdefghijklmnopqrstuvwxyz")
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/api/docs", headers={"authorization": "Bearer é-not-ascii".encode()}) \
            .status_code == 401
        assert c.get("/api/docs?token=abcdefghijklmnopqrstuvwxyz").status_code == 200
    assert seen and all(isinstance(a, bytes) for a, _ in seen)


def test_hostile_corpus_and_queries_render_as_text(client, site):
    kb = site["kb"]
    hostile = [h for h in kb.search("hostile harassment passage", limit=5).hits
               if h.doc == HOSTILE_NAME][0]
    from urllib.parse import quote

    pid = quote(hostile.id, safe="")
    q = '"><script>alert(9)</script>\x1b[2J hostile harassment'
    pages = {
        "results": client.get("/", params={"q": q}).text,
        "results2": client.get("/", params={"q": "hostile harassment passage"}).text,
        "passage": client.get(f"/passage/{pid}?context=1").text,
        "status": client.get("/status").text,
        "annex": client.get("/annex", params={"add": hostile.id}).text,
        "error": client.get("/", params={"q": q, "since": '"><script>x'}).text,
    }
    for name, html in pages.items():
        assert "<script>alert" not in html, name
        assert "\x1b" not in html and "\x07" not in html, name
        p = Page(html)
        assert [s["attrs"].get("src", "").split("?")[0] for s in p.find("script")] == \
            ["/static/kb.js"] or name == "error", name
        for el in p.elements:
            for k, v in el["attrs"].items():
                assert not k.startswith("on"), (name, el)
                if k in ("href", "src", "action"):
                    assert v.startswith("/") and not v.startswith("//"), (name, k, v)
        assert not p.find("img"), name
        assert not p.find("b"), name
    res = Page(pages["results2"])
    li = [h for h in res.find("li", class_="hit") if h["attrs"]["data-ref"] == hostile.ref][0]
    # the exact id for the script, its ESC as a character reference (a browser reads
    # &#x1b; as ESC; Python's html.unescape drops it)
    from markupsafe import escape

    assert f'data-id="{escape(hostile.id)}"'.replace("\x1b", "&#x1b;") in pages["results2"]
    assert text_of(within(li, "title")[0]) == \
        '<script>alert("title")</script> "Report" & <b>more</b>'
    assert text_of(within(li, "section")[0]) == "Background <img src=x onerror=alert(3)>"
    snippet = text_of(within(li, "snippet")[0])
    assert "<script>alert('x')</script>" in snippet and "␛[31m" in snippet and "␇" in snippet
    assert "onmouseover=\"alert(1)\"" in snippet and "(javascript:alert(1))" in snippet
    assert "<img src=x onerror=alert(2)>" in snippet
    assert "&lt;script&gt;" in pages["results2"]
    assert HOSTILE_NAME.replace("\x1b", "␛") in text_of(within(li, "citation")[0])
    assert f'value="{escape(q)}"'.replace("\x1b", "&#x1b;") in pages["results"]
    # the hostile document's file, by its (encoded) id
    r = client.get("/file/" + quote(hostile.doc, safe=""))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "filename*=utf-8''" in r.headers["content-disposition"]
    assert "<script>" not in r.headers["content-disposition"]


def test_json_api_escapes_control_characters(client):
    r = client.get("/api/search", params={"q": "hostile harassment passage"})
    assert "\x1b" not in r.text and "\\u001b" in r.text


def test_a_failing_route_gets_a_500_page_and_the_log_the_traceback(new_kb, site, monkeypatch,
                                                                   caplog):
    from kb.web import create_app

    kb = new_kb(site["corpus"], site["index"])

    def boom(*a, **k):
        raise RuntimeError("internal detail 1234")

    monkeypatch.setattr(kb, "search", boom)
    with TestClient(create_app(kb), base_url=BASE) as c, caplog.at_level("ERROR", "kb.web"):
        r = c.get("/?q=harassment")
        assert r.status_code == 500 and "text/html" in r.headers["content-type"]
        assert "Traceback" not in r.text and "1234" not in r.text and len(r.text) < 2000
        assert r.headers["content-security-policy"].startswith(CSP)
        r = c.get("/api/search?q=harassment")
        assert r.status_code == 500 and set(r.json()) == {"error"}
        assert "1234" not in r.text
    logged = "\n".join(rec.getMessage() + (str(rec.exc_info[1]) if rec.exc_info else "")
                       for rec in caplog.records)
    assert "internal detail 1234" in logged and "/api/search" in logged
    assert any(rec.exc_info and rec.exc_info[0] is RuntimeError for rec in caplog.records)


def test_an_index_that_cannot_be_used_is_a_503_with_the_reason(new_kb, tmp_path):
    from kb.web import create_app

    kb = new_kb(tmp_path / "nothing", tmp_path / "index")
    with TestClient(create_app(kb), base_url=BASE) as c:
        r = c.get("/api/search?q=x")
        assert r.status_code == 503 and "nothing" in r.json()["error"]
        r = c.get("/?q=x")
        assert r.status_code == 503 and "Traceback" not in r.text


# --------------------------------------------------------------------------- engine, watch


def test_searches_run_at_once_without_a_lock_and_answer_right(new_kb, site, monkeypatch):
    """No lock holds every user while one search runs (issue 19): six clients' searches
    overlap, and every answer is right."""
    from kb.web import create_app

    kb = new_kb(site["corpus"], site["index"])
    real = kb.search
    active, peak = [0], [0]
    lock = threading.Lock()

    def search(*a, **k):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        try:
            time.sleep(0.01)
            return real(*a, **k)
        finally:
            with lock:
                active[0] -= 1

    monkeypatch.setattr(kb, "search", search)
    expected = [h.id for h in real("harassment policy").hits]
    errors: list[object] = []
    with TestClient(create_app(kb), base_url=BASE) as c:
        def worker():
            for _ in range(5):
                r = c.get("/api/search?q=harassment+policy")
                if r.status_code != 200 or [h["id"] for h in r.json()["results"]] != expected:
                    errors.append(r.status_code)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [] and peak[0] > 1


class FakeWatcher:
    made: list[FakeWatcher] = []

    def __init__(self, kb, debounce=1.0, on_update=None):
        self.kb, self.debounce, self.on_update = kb, debounce, on_update
        self.started = self.stopped = False
        self.state = {"running": True, "last_update": "2025-03-04T14:05:00",
                      "last_error": None}
        FakeWatcher.made.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.stopped = True


def test_watch_starts_and_stops_the_watcher_with_the_app(site, monkeypatch):
    from kb.web import create_app

    FakeWatcher.made.clear()
    monkeypatch.setitem(sys.modules, "kb.watch", types.SimpleNamespace(Watcher=FakeWatcher))
    app = create_app(site["kb"], watch=True)
    with TestClient(app, base_url=BASE) as c:
        (w,) = FakeWatcher.made
        assert w.started and not w.stopped and w.kb is site["kb"] and w.debounce == 1.0
        assert c.get("/api/status").json()["watch"] == {
            "enabled": True, "running": True, "last_update": "2025-03-04T14:05:00",
            "last_error": None}
        page = Page(c.get("/").text)
        fresh = text_of(page.one(id="freshness"))
        assert "index updated 14:05" in fresh and "updating" in fresh
        assert "yes" in text_of(Page(c.get("/status").text).one("dd", class_="running"))
        w.on_update()  # an update finished: the page reads the summary again
    assert w.stopped


def test_watch_without_a_watcher_module_serves_and_says_so(site, monkeypatch):
    from kb.web import create_app

    monkeypatch.setitem(sys.modules, "kb.watch", None)  # import fails
    with TestClient(create_app(site["kb"], watch=True), base_url=BASE) as c:
        st = c.get("/api/status").json()["watch"]
        assert st["enabled"] is False and "watch" in st["last_error"]
        assert c.get("/?q=harassment").status_code == 200


def test_templates_are_compiled_once(site):
    from kb.web import create_app

    app = create_app(site["kb"])
    env = app.state.web.env

    def no_compile(*a, **k):
        raise AssertionError("template compiled during a request")

    env.compile = no_compile
    with TestClient(app, base_url=BASE) as c:
        for url in ("/", "/?q=harassment", "/status", "/annex", "/nope",
                    "/passage/" + SAMPLE_ID + "%231"):
            assert c.get(url).status_code in (200, 404), url


# --------------------------------------------------------------------------- kb serve


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _serve(site, *args: str, env: dict | None = None) -> tuple[subprocess.Popen, list[str]]:
    cmd = [sys.executable, "-m", "kb", "serve", "--corpus", str(site["corpus"]), "--index",
           str(site["index"]), "--no-watch", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            preexec_fn=default_sigint)
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if "Ctrl-C" in lines[0] and ("--host" not in args or len(lines) >= 2):
            break
    return proc, lines


def _stop(proc: subprocess.Popen) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, err


def _fetch(url: str, headers: dict | None = None) -> tuple[int, bytes, dict]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_serve_prints_one_line_serves_and_stops_on_ctrl_c(site):
    proc, lines = _serve(site, "--port", "0")
    try:
        assert len(lines) == 1, lines
        m = re.fullmatch(r"serving (.+) at (http://127\.0\.0\.1:(\d+)) — Ctrl-C to stop",
                         lines[0])
        assert m and m.group(1).endswith("corpus/"), lines
        status, body, headers = _fetch(m.group(2) + "/?q=bystander")
        assert status == 200 and b'class="hit"' in body
        assert "uvicorn" not in headers.get("server", "")
        status, body, _ = _fetch(m.group(2) + "/api/search?q=bystander&limit=1")
        assert status == 200 and json.loads(body)["results"]
    finally:
        code, err = _stop(proc)
    assert code == 0, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "Stopped."


def test_serve_on_a_port_in_use_is_a_one_line_error(site):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        r = subprocess.run([sys.executable, "-m", "kb", "serve", "--port", str(port),
                            "--corpus", str(site["corpus"]), "--index", str(site["index"])],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        s.close()
    assert r.returncode == 2
    assert r.stderr.strip() == (f"Error: port {port} is in use (another kb serve?); choose "
                                "another with --port, e.g. --port 8766")
    assert r.stdout == ""


def test_serve_on_another_address_requires_a_token(site):
    proc, lines = _serve(site, "--host", "0.0.0.0", "--port", "0")
    try:
        assert len(lines) == 2, lines
        m = re.fullmatch(r"access token in use: open (http://[^/]+)/\?token=([\w-]+) .*",
                         lines[1])
        assert m, lines
        port = m.group(1).rsplit(":", 1)[1]
        token = m.group(2)
        assert len(token) >= 24
        local = f"http://127.0.0.1:{port}"
        assert _fetch(local + "/api/docs")[0] == 401
        assert _fetch(local + "/api/docs", {"Authorization": f"Bearer {token}"})[0] == 200
        status, _, headers = _fetch(f"{local}/?token={token}")
        assert status == 200 and "HttpOnly" in headers.get("set-cookie", "")
        assert _fetch(local + "/", {"Host": "evil.example"})[0] == 400
    finally:
        code, _ = _stop(proc)
    assert code == 0


def test_serve_token_must_be_long_and_url_safe(site):
    for bad in ("short", "has spaces in it, sixteen+", "semicolon;cookie=xxxxxxxxx"):
        r = CliRunner().invoke(cli, ["serve", "--token", bad, "--corpus", str(site["corpus"]),
                                     "--index", str(site["index"])])
        assert r.exit_code == 2 and "--token must be" in r.stderr, bad


def test_serve_open_opens_the_browser_and_builds_the_index_first(site, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE_ID)
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser.py"
    browser.write_text(f"import sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n")
    env = {"BROWSER": f"{sys.executable} {browser} %s"}
    proc, lines = _serve({"corpus": corpus, "index": tmp_path / "index"}, "--port", "0",
                         "--open", env=env)
    try:
        url = re.search(r"http://\S+", lines[0]).group(0)
        for _ in range(100):
            if opened.exists() and opened.read_text():
                break
            time.sleep(0.1)
        assert opened.read_text() == url + "/"
        assert _fetch(url + "/?q=bystander")[0] == 200
    finally:
        code, err = _stop(proc)
    assert code == 0 and "No index yet: building it" in err


def test_loopback_and_allowed_hosts():
    from kb import serve

    assert serve.is_loopback("127.0.0.1") and serve.is_loopback("::1")
    assert serve.is_loopback("localhost") and serve.is_loopback("127.0.1.1")
    assert not serve.is_loopback("0.0.0.0") and not serve.is_loopback("::")
    assert not serve.is_loopback("192.168.1.20")
    assert serve.allowed_hosts("127.0.0.1", []) == ["127.0.0.1", "localhost", "::1"]
    assert serve.allowed_hosts("192.168.1.20", ["KB.Office.example."]) == [
        "127.0.0.1", "localhost", "::1", "192.168.1.20", "kb.office.example"]
    every = serve.allowed_hosts("0.0.0.0", [])
    assert socket.gethostname().lower() in every and "0.0.0.0" not in every
    assert serve.url_for("127.0.0.1", 8765) == "http://127.0.0.1:8765"
    assert serve.url_for("::1", 8765) == "http://[::1]:8765"
    assert not serve.url_for("0.0.0.0", 8765).startswith("http://0.0.0.0")


# --------------------------------------------------------------------------- packaging, imports


def test_the_wheel_holds_every_package_template_and_asset():
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    packages = set(conf["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "kb").rglob("__init__.py")}
    assert on_disk <= packages, on_disk - packages
    data = conf["package-data"]["kb"]
    import fnmatch

    for f in list((ROOT / "kb" / "templates").iterdir()) + list((ROOT / "kb" / "static")
                                                                .iterdir()):
        rel = f.relative_to(ROOT / "kb").as_posix()
        assert any(fnmatch.fnmatch(rel, pat) for pat in data), rel
    deps = " ".join(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
                    ["dependencies"])
    for dep in ("starlette", "uvicorn", "jinja2"):
        assert dep in deps


def test_one_shot_commands_do_not_load_the_web_layer(tiny_corpus, tmp_path):
    from .test_imports import _CLI, heavy, loaded

    KnowledgeBase(tiny_corpus, tmp_path / "index").update()
    web = ("starlette", "jinja2", "uvicorn", "kb.web", "kb.serve", "markupsafe", "anyio")
    assert heavy(loaded("import kb"), web) == []
    args = ["search", "harassment", "--corpus", str(tiny_corpus), "--index",
            str(tmp_path / "index")]
    mods = loaded(_CLI.format(args=args))
    assert "whoosh.searching" in mods and heavy(mods, web) == []
    assert heavy(loaded(_CLI.format(args=["serve", "--help"])), web) == []


def test_a_served_corpus_stays_fresh_with_the_watcher(new_kb, tmp_path):
    """With kb.watch: a file added while serving is found without a restart, and the
    page and /api/status say when the index changed."""
    from kb.web import create_app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE_ID)
    kb = new_kb(corpus, tmp_path / "index")
    kb.update()
    with TestClient(create_app(kb, watch=True), base_url=BASE) as c:
        assert c.get("/api/search?q=zyxwordnew&correct=0").json()["total"] == 0
        before = c.get("/api/status").json()["watch"]
        assert before["enabled"] is True
        (corpus / "new.md").write_text("# New\n\nThe zyxwordnew policy arrived today.\n",
                                       encoding="utf-8")
        for _ in range(200):
            r = c.get("/api/search?q=zyxwordnew&correct=0")
            assert r.status_code == 200
            if r.json()["total"]:
                break
            time.sleep(0.05)
        assert r.json()["results"][0]["doc"] == "new.md"
        st = c.get("/api/status").json()
        assert st["documents"] == 2 and st["watch"]["last_update"]
        hhmm = st["watch"]["last_update"][11:16]
        assert f"index updated {hhmm}" in text_of(Page(c.get("/").text).one(id="freshness"))


def test_page_header_follows_an_update_made_elsewhere(new_kb, tmp_path):
    """No watcher: a `kb index` in another process changes the index; the next page
    says so (the summary is read again when the index's update time changes)."""
    from kb.web import create_app

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nBystander training works.\n", encoding="utf-8")
    served = new_kb(corpus, tmp_path / "ix")
    served.update()
    with TestClient(create_app(served, watch=False), base_url=BASE) as c:
        assert text_of(Page(c.get("/").text).one(id="freshness")).startswith("1 document ·")
        time.sleep(0.05)
        (corpus / "b.md").write_text("# B\n\nReporting channels.\n", encoding="utf-8")
        other = new_kb(corpus, tmp_path / "ix")  # as a separate `kb index` would
        other.update()
        calls = []
        status = served.status

        def counted():
            calls.append(1)
            return status()

        served.status = counted  # type: ignore[method-assign]
        assert text_of(Page(c.get("/").text).one(id="freshness")).startswith("2 documents ·")
        for _ in range(3):  # nothing changed since: the summary is not read again
            assert c.get("/?q=training").status_code == 200
        assert len(calls) == 1


def test_a_section_that_only_repeats_the_title_is_not_shown():
    from dataclasses import replace

    from kb.models import Hit
    from kb.render import section_label

    h = Hit(rank=1, score=1.0, id="r.txt#1", doc="r.txt", title="Resolution 2771 (2025)",
            date=None, section="Resolution 2771 (2025)", heading_path=("Resolution 2771 (2025)",),
            line_start=1, line_end=2, page=None, paragraph=None, text="t", snippet="t",
            highlights=(), missing_terms=(), citation="r.txt:1-2", path="r.txt")
    assert section_label(h) == ""
    assert section_label(replace(h, heading_path=("RESOLUTION  2771 (2025)", "Annex"))) == "Annex"
    assert section_label(replace(h, heading_path=("Part I", "Training"))) == "Part I › Training"
    assert section_label(replace(h, heading_path=(), section="Scope")) == "Scope"
    assert section_label(replace(h, heading_path=(), section="")) == ""
