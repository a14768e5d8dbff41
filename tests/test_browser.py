"""The search page in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

The app (``kb.web.create_app``) runs under uvicorn in a background thread on a free
loopback port, over a copy of the bundled sample report, a UN PDF with a symbol
(``UNW_2025_1.en.pdf``: pages, paragraph numbers), a small Markdown guide and two hostile
files (``<script>``, ``javascript:`` link text, quotes and ``<b>`` in the file name).  The
tests use the page as a person does (type, press Enter, click) and check what it shows
against the library (:class:`kb.KnowledgeBase` on the same index).

Every page fails its test on a JavaScript dialog (``alert`` from injected markup), a
console error or an uncaught exception.

The browser is never downloaded: Playwright drives ``/usr/bin/chromium`` (``KB_CHROMIUM``
names another).  A missing Playwright or Chromium FAILS these tests, with how to get them;
``KB_SKIP_BROWSER=1`` skips them instead (a developer without Chromium; ignored when ``CI``
is set, and .ci/run unsets it).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urljoin, urlsplit

import pytest

from kb import KnowledgeBase

from .conftest import NESTED_MD, SAMPLE
from .fixtures import SAMPLE_PDF_DIR, UNW

QUERY = "sexual exploitation and abuse"
TIMEOUT_MS = 15_000

#: a plain-text file whose name and text try to break out of HTML; kb keeps ``<b>``,
#: quotes, ``&amp;``, ``javascript:`` and control characters in its text
HOSTILE_TXT = 'hostile "quote" <b>&amp;.txt'
HOSTILE_TEXT = (
    "<script>alert(1)</script> Zanzibarite notes\n\n"
    "<img src=x onerror=alert(2)> The zanzibarite procedure is described here, see "
    "[click me](javascript:alert(3)) and javascript:alert(4) for the details of how it "
    "works. \"><svg onload=alert(5)> A quote \" an apostrophe ' an ampersand &amp; "
    "&lt;b&gt; and control \x1b[31m red \x07 bell characters. The zanzibarite review "
    "covers staff in all duty stations and reports to the board every year with findings "
    "and recommendations.\n"
)
HOSTILE_MD = "evil'md\"file.md"
HOSTILE_MD_TEXT = (
    "# <script>alert(7)</script> Zanzibarite guidance\n\n"
    "See [javascript:alert(6)](javascript:alert(6)) and <a href=\"javascript:alert(8)\">"
    "this</a> for the zanzibarite rules. <iframe src=\"javascript:alert(9)\"></iframe> "
    "Staff in every duty station apply the zanzibarite rules when they report concerns to "
    "the focal point, who keeps a record of every case and of its outcome.\n"
)


# =========================================================================== browser


def _unavailable(why: str) -> None:
    """Fail (the default, and always in CI) or, with KB_SKIP_BROWSER=1, skip."""
    if os.environ.get("KB_SKIP_BROWSER") == "1" and not os.environ.get("CI"):
        pytest.skip(f"{why} (KB_SKIP_BROWSER=1)")
    pytest.fail(f"{why}; set KB_SKIP_BROWSER=1 to skip the browser tests", pytrace=False)


def chromium_path() -> str:
    given = os.environ.get("KB_CHROMIUM")
    for cand in ([given] if given else ["/usr/bin/chromium", shutil.which("chromium") or "",
                                        shutil.which("chromium-browser") or ""]):
        if cand and os.access(cand, os.X_OK):
            return cand
    _unavailable(
        f"Chromium not found at {given or '/usr/bin/chromium'}: install Debian's "
        "package (`apt-get install chromium`; .ci/run does) or point KB_CHROMIUM at one")
    raise AssertionError  # not reached


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright is not installed: pip install -e '.[test]'")
    exe = chromium_path()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        yield b
        b.close()


# =========================================================================== the app


def _write_corpus(corpus: Path) -> None:
    corpus.mkdir(parents=True)
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    pdf = SAMPLE_PDF_DIR / UNW
    assert pdf.is_file(), f"sample PDF missing: {pdf}"
    shutil.copy(pdf, corpus / UNW)
    (corpus / "guides").mkdir()
    (corpus / "guides" / "safe-workplaces.md").write_text(NESTED_MD, encoding="utf-8")
    (corpus / HOSTILE_TXT).write_text(HOSTILE_TEXT, encoding="utf-8")
    (corpus / HOSTILE_MD).write_text(HOSTILE_MD_TEXT, encoding="utf-8")


class Served:
    """The running app: its base URL, and a separate KnowledgeBase on the same index
    for the expected answers (the server's own one is not shared with the tests)."""

    def __init__(self, url: str, corpus: Path, kb: KnowledgeBase) -> None:
        self.url = url
        self.corpus = corpus
        self.kb = kb

    def at(self, path: str) -> str:
        return urljoin(self.url + "/", path.lstrip("/"))


@contextlib.contextmanager
def serve(corpus: Path, index: Path, prefix: str | None = None) -> Iterator[Served]:
    """``create_app`` over ``corpus`` (indexed first) under uvicorn, in a thread, on a
    free loopback port; ``prefix``: how citations name the corpus folder."""
    import uvicorn

    from kb.web import create_app

    KnowledgeBase(corpus, index).update()
    app_kb = KnowledgeBase(corpus, index, corpus_prefix=prefix)
    app = create_app(app_kb, watch=False)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="kb-web-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "the uvicorn server thread died while starting"
        assert time.monotonic() < deadline, "the server did not start within 30 s"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    truth = KnowledgeBase(corpus, index, corpus_prefix=prefix)
    try:
        yield Served(f"http://127.0.0.1:{port}", corpus, truth)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        truth.close()
        app_kb.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("browser")
    _write_corpus(root / "corpus")
    with serve(root / "corpus", root / "index") as s:
        yield s


class Tab:
    """A page in a fresh browser context that records what must never happen:
    dialogs (an injected ``alert``), console errors, uncaught exceptions."""

    def __init__(self, context: Any, served: Served) -> None:
        self.context = context
        self.served = served
        self.page = context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.problems: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))

    def _dialog(self, dialog: Any) -> None:
        self.problems.append(f"a {dialog.type} dialog fired: {dialog.message!r}")
        dialog.dismiss()

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text} ({msg.location})")

    def goto(self, path: str) -> Any:
        resp = self.page.goto(self.served.at(path))
        assert resp is not None and resp.status == 200, (path, resp and resp.status)
        return resp

    def check(self) -> None:
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture()
def tab(browser: Any, served: Served) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    t = Tab(context, served)
    try:
        yield t
        t.check()
    finally:
        context.close()


# =========================================================================== helpers


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as _expect

    return _expect(locator)


def ws(s: str) -> str:
    return " ".join(s.split())


def hit_ids(tab: Tab) -> list[str]:
    return [h.get_attribute("data-id") for h in tab.page.locator("#results > li.hit").all()]


def summary_total(tab: Tab) -> int:
    text = tab.page.locator("#summary").inner_text()
    m = re.search(r"(\d[\d,]*)\s+passages?\s+match", text)
    assert m, f"no count in the summary line {text!r}"
    return int(m.group(1).replace(",", ""))


def doc_facet(page: Any, doc: str) -> Any:
    """The link in the documents facet that narrows the search to ``doc`` (the link
    shows the document's title; its URL adds ``doc=``)."""
    links = [a for a in page.locator("#facets #by-doc li a").all()
             if parse_qs(urlsplit(a.get_attribute("href") or "").query).get("doc") == [doc]]
    assert len(links) == 1, f"no single facet link for {doc}"
    return links[0]


def search_by_typing(tab: Tab, query: str) -> None:
    tab.goto("/")
    box = tab.page.locator("#q")
    box.click()
    box.press_sequentially(query)
    box.press("Enter")
    expect(tab.page.locator("#results > li.hit").first).to_be_visible()


# =========================================================================== tests


def test_typing_a_query_and_enter_shows_highlighted_results(tab: Tab) -> None:
    search_by_typing(tab, QUERY)
    truth = tab.served.kb.search(QUERY)
    page = tab.page
    expect(page.locator("#summary")).to_contain_text(QUERY)
    assert summary_total(tab) == truth.total
    assert hit_ids(tab) == [h.id for h in truth.hits]
    first = page.locator("#results > li.hit").first
    h = truth.hits[0]
    assert first.get_attribute("data-ref") == h.ref
    assert ws(first.locator(".title").inner_text()) == ws(h.title)
    assert ws(first.locator(".symbol").inner_text()) == "UNW/2025/1"
    assert ws(h.section) in ws(first.locator(".section").inner_text())
    assert first.locator(".date").inner_text().strip() == h.date
    assert "p. 18" in first.locator(".citation").inner_text()
    marks = [m.lower() for m in first.locator(".snippet mark").all_inner_texts()]
    assert {"sexual", "exploitation", "abuse"} <= set(marks), marks
    # the search box keeps the query, so it can be refined
    assert page.locator("#q").input_value() == QUERY


def test_slash_key_focuses_the_search_box(tab: Tab) -> None:
    tab.goto("/")
    page = tab.page
    page.locator("body").click(position={"x": 5, "y": 5})
    page.evaluate("document.activeElement && document.activeElement.blur()")
    assert page.evaluate("document.activeElement.id") != "q"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    assert page.locator("#q").input_value() == "", "the / itself must not be typed"
    page.keyboard.type("bystander")  # typing goes into the box
    assert page.locator("#q").input_value() == "bystander"
    expect(page.locator("#help")).to_be_attached()


def test_filters_narrow_the_results(tab: Tab) -> None:
    kb = tab.served.kb
    everything = kb.search(QUERY, limit=None)
    docs = {h.doc for h in everything.hits}
    assert {UNW, SAMPLE.name} <= docs  # both documents match: the filters have work to do
    page = tab.page

    # the document filter: the form's input, submitted with the button
    tab.goto("/")
    page.fill("#q", QUERY)
    page.fill("input[name=doc]", "*.txt")
    page.click("#go")
    expect(page.locator("#results > li.hit").first).to_be_visible()
    expect(page.locator("#summary")).to_contain_text("*.txt")
    want = kb.search(QUERY, doc="*.txt", limit=None)
    assert 0 < summary_total(tab) == want.total < everything.total
    assert all(i.startswith(SAMPLE.name + "#") for i in hit_ids(tab))

    # the date range: since / until as kb takes them
    tab.goto("/")
    page.fill("#q", QUERY)
    page.fill("input[name=since]", "2025-01-01")
    page.locator("input[name=since]").press("Enter")
    expect(page.locator("#results > li.hit").first).to_be_visible()
    import datetime as dt

    want = kb.search(QUERY, since=dt.date(2025, 1, 1), limit=None)
    assert 0 < summary_total(tab) == want.total < everything.total
    dates = page.locator("#results > li.hit .date").all_inner_texts()
    assert dates and all(d.strip() >= "2025-01-01" for d in dates), dates
    assert "since=2025-01-01" in page.url

    tab.goto(f"/?q={quote(QUERY)}&until=2023-12-31")
    want = kb.search(QUERY, until=dt.date(2023, 12, 31), limit=None)
    assert summary_total(tab) == want.total
    assert all(i.startswith(SAMPLE.name + "#") for i in hit_ids(tab))
    # the form shows the filters in force
    assert page.locator("input[name=until]").input_value() == "2023-12-31"


def test_facet_links_narrow_the_search(tab: Tab) -> None:
    kb = tab.served.kb
    search_by_typing(tab, QUERY)
    page = tab.page
    before = summary_total(tab)
    by_doc = page.locator("#facets #by-doc li a")
    assert by_doc.count() >= 2
    doc_facet(page, UNW).click()
    expect(page.locator("#results > li.hit").first).to_be_visible()
    page.wait_for_load_state()
    after = summary_total(tab)
    assert after == kb.search(QUERY, doc=UNW, limit=None).total
    assert 0 < after < before
    assert all(i.startswith(UNW + "#") for i in hit_ids(tab))

    # by year: the sample report is from 2022
    search_by_typing(tab, QUERY)
    year = page.locator("#facets #by-year li a").filter(has_text="2022")
    expect(year).to_have_count(1)
    year.click()
    expect(page.locator("#results > li.hit").first).to_be_visible()
    page.wait_for_load_state()
    dates = page.locator("#results > li.hit .date").all_inner_texts()
    assert dates and all(d.strip().startswith("2022") for d in dates), dates
    assert 0 < summary_total(tab) < before


def test_paging_with_next_and_previous(tab: Tab) -> None:
    kb = tab.served.kb
    q = "harassment"
    truth = kb.search(q, limit=30)
    assert truth.total > 20
    search_by_typing(tab, q)
    page = tab.page
    first = hit_ids(tab)
    assert first == [h.id for h in truth.hits[:10]]
    expect(page.locator("a#prev")).to_have_count(0)
    page.click("a#next")
    page.wait_for_url(re.compile(r"offset=10"))
    expect(page.locator("#results > li.hit").first).to_be_visible()
    second = hit_ids(tab)
    assert second == [h.id for h in truth.hits[10:20]]
    assert summary_total(tab) == truth.total  # the total stays, the range moves
    page.click("a#prev")
    expect(page.locator("#results > li.hit").first).to_have_attribute("data-id", first[0])
    assert hit_ids(tab) == first


def test_a_hit_opens_its_passage_in_context_and_its_source_file(tab: Tab) -> None:
    kb = tab.served.kb
    h = kb.search(QUERY).hits[0]
    assert h.doc == UNW and h.page == 18
    search_by_typing(tab, QUERY)
    page = tab.page
    hit = page.locator(f'#results > li.hit[data-id="{h.id}"]')
    # the hit's own source link: the PDF at the passage's page
    src = hit.locator("a.source").get_attribute("href")
    assert src is not None and src.endswith("#page=18"), src
    hit.locator("a.open").click()
    page.wait_for_url(re.compile(r"/passage/"))
    focus = page.locator("article.passage.focus")
    expect(focus).to_have_count(1)
    assert ws(h.text) in ws(focus.inner_text())
    # the neighbouring passages are there, in reading order around the focus
    ctx = kb.context(h.id, 1)
    articles = page.locator("article.passage")
    assert articles.count() >= len(ctx) >= 2
    texts = [ws(t) for t in articles.all_inner_texts()]
    pos = [next(i for i, t in enumerate(texts) if ws(p.text)[:200] in t) for p in ctx]
    assert pos == sorted(pos)
    link = page.locator("a.source").first
    href = link.get_attribute("href")
    assert href is not None and href.endswith("#page=18"), href
    url = urljoin(page.url, href)
    resp = page.request.get(url.split("#")[0])
    assert resp.status == 200
    assert resp.body() == (tab.served.corpus / UNW).read_bytes()
    assert "application/pdf" in resp.headers.get("content-type", "")

    # a text file: its source link has no page
    t = kb.search("bystander intervention").hits[0]
    tab.goto(f"/passage/{quote(t.id, safe='')}?context=1")
    href = page.locator("a.source").first.get_attribute("href")
    assert href is not None and "#page=" not in href
    resp = page.request.get(urljoin(page.url, href))
    assert resp.status == 200 and resp.body() == (tab.served.corpus / t.doc).read_bytes()


def _annex_ids(tab: Tab) -> list[str]:
    return [li.get_attribute("data-id") for li in tab.page.locator("#annex-items > li").all()]


def _link_ids(href: str) -> tuple[list[str], str]:
    qs = parse_qs(urlsplit(href).query)
    return qs["ids"][0].split(","), qs["format"][0]


def test_two_hits_go_to_the_annex_and_download_as_docx(tab: Tab, tmp_path: Path) -> None:
    import docx

    kb = tab.served.kb
    hits = kb.search(QUERY).hits
    chosen = [hits[0], hits[2]]
    search_by_typing(tab, QUERY)
    page = tab.page
    for h in chosen:
        page.locator(f'#results > li.hit[data-id="{h.id}"] button.add').click()
    expect(page.locator("#annex-items > li")).to_have_count(2)
    assert _annex_ids(tab) == [h.id for h in chosen]
    panel = page.locator("#annex")
    expect(panel).to_be_visible()
    for h in chosen:  # the panel says which passages they are
        item = ws(page.locator(f'#annex-items > li[data-id="{h.id}"]').inner_text())
        assert ws(h.title) in item and f"p. {h.page}" in item, item
    # every format's link carries the chosen ids
    links = page.locator("#annex a.download")
    assert sorted(a.get_attribute("data-format") for a in links.all()) == \
        ["csv", "docx", "html", "md"]
    for a in links.all():
        href = a.get_attribute("href")
        assert href is not None and urlsplit(href).path == "/api/export"
        ids, fmt = _link_ids(href)  # each pinned to its text's short ref
        assert ids == [f"{h.id}@{h.ref}" for h in chosen] and fmt == a.get_attribute("data-format")

    # the choice lives in the browser: a reload, or another search, keeps it
    page.reload()
    expect(page.locator("#annex-items > li")).to_have_count(2)
    search_by_typing(tab, "bystander intervention")
    expect(page.locator("#annex-items > li")).to_have_count(2)

    with page.expect_download() as info:
        page.click('#annex a.download[data-format="docx"]')
    dl = info.value
    assert re.fullmatch(r"kb-annex-\d{8}-\d{4}\.docx", dl.suggested_filename), \
        dl.suggested_filename
    out = tmp_path / dl.suggested_filename
    dl.save_as(out)
    doc = docx.Document(str(out))
    text = ws(" ".join(p.text for p in doc.paragraphs))
    for h in chosen:
        assert ws(h.text) in text, f"passage {h.id} is not in the downloaded annex"
        assert h.symbol_citation and ws(h.symbol_citation) in text
    assert ws(hits[1].text) not in text  # only the chosen ones

    # removing one updates the panel and the links
    page.locator(f'#annex-items > li[data-id="{chosen[0].id}"] button.remove').click()
    expect(page.locator("#annex-items > li")).to_have_count(1)
    href = page.locator('#annex a.download[data-format="md"]').get_attribute("href")
    assert href is not None and _link_ids(href)[0] == [f"{chosen[1].id}@{chosen[1].ref}"]


def test_the_annex_title_is_kept_and_downloaded_with_the_query_in_bold(
        tab: Tab, tmp_path: Path) -> None:
    """The panel's title box: its default is the query the passages were picked from;
    a title typed in it is kept in the browser with the passages (a reload, another
    page), goes with the download, and is the annex's title; the passages' matched
    words are in bold, as in an export of the search."""
    import docx

    kb = tab.served.kb
    hits = kb.search(QUERY).hits
    chosen = [hits[0], hits[1]]
    search_by_typing(tab, QUERY)
    page = tab.page
    box = page.locator("#annex-name")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("placeholder", "Chosen passages")
    for h in chosen:
        page.locator(f'#results > li.hit[data-id="{h.id}"] button.add').click()
    expect(page.locator("#annex-items > li")).to_have_count(2)
    expect(box).to_have_attribute("placeholder", QUERY)  # the title if none is typed
    expect(page.locator("#annex-items .annex-from").first).to_have_text(f"from “{QUERY}”")
    title = "Annex II: <b>SEA</b> cases & “quotes”"
    box.click()
    box.press_sequentially(title)
    assert page.locator(".title-nojs").is_hidden()  # typing is enough

    page.reload()  # kept in this browser, with the passages
    expect(page.locator("#annex-name")).to_have_value(title)
    tab.goto(f"/passage/{quote(chosen[0].id, safe='')}")
    expect(page.locator("#annex-name")).to_have_value(title)
    href = page.locator('#annex a.download[data-format="md"]').get_attribute("href")
    qs = parse_qs(urlsplit(href or "").query)
    assert qs["title"] == [title] and qs["queries"] == [f"{QUERY},{QUERY}"]
    csv = page.locator('#annex a.download[data-format="csv"]').get_attribute("href")
    assert "title" not in parse_qs(urlsplit(csv or "").query)

    with page.expect_download() as info:
        page.click('#annex a.download[data-format="docx"]')
    out = tmp_path / info.value.suggested_filename
    info.value.save_as(out)
    doc = docx.Document(str(out))
    first = doc.paragraphs[0]
    assert first.style.name == "Title" and first.text == title
    assert f"Query: {QUERY}" in [p.text for p in doc.paragraphs]
    bold = {r.text.casefold() for p in doc.paragraphs for r in p.runs if r.bold}
    assert bold and all(w.startswith(("sexual", "exploit", "abuse")) for w in bold), bold
    _no_injected_markup(tab)

    # clearing the annex clears its title
    page.click("#annex-clear")
    expect(page.locator("#annex-items > li")).to_have_count(0)
    expect(page.locator("#annex-name")).to_have_value("")
    expect(page.locator("#annex-name")).to_have_attribute("placeholder", "Chosen passages")


def test_the_search_works_without_javascript(browser: Any, served: Served) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(served.at("/"))
        page.fill("#q", QUERY)
        page.locator("#q").press("Enter")  # a plain GET form
        page.wait_for_url(re.compile(r"[?&]q=sexual"))
        truth = served.kb.search(QUERY)
        ids = [h.get_attribute("data-id") for h in page.locator("#results > li.hit").all()]
        assert ids == [h.id for h in truth.hits]
        assert page.locator("#results > li.hit").first.locator(".snippet mark").count() > 0
        # the facets, paging and the passage page are plain links
        doc_facet(page, UNW).click()
        page.wait_for_url(re.compile(r"doc="))
        ids = [h.get_attribute("data-id") for h in page.locator("#results > li.hit").all()]
        assert ids and all(i.startswith(UNW + "#") for i in ids)
        page.locator("#results > li.hit a.open").first.click()
        page.wait_for_url(re.compile(r"/passage/"))
        assert page.locator("article.passage.focus").count() == 1
    finally:
        context.close()


def _no_injected_markup(tab: Tab) -> None:
    page = tab.page
    # nothing from a document became an element or a javascript: link
    assert page.locator("script:not([src])").count() == 0
    assert page.locator("img, svg, iframe").count() == 0
    bad = page.evaluate(
        "[...document.querySelectorAll('[href],[src],[action]')]"
        ".map(e => e.getAttribute('href') || e.getAttribute('src') || e.getAttribute('action'))"
        ".filter(u => /^\\s*javascript:/i.test(u))")
    assert bad == []
    handlers = page.evaluate(
        "[...document.querySelectorAll('*')].flatMap(e => [...e.attributes]"
        ".filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name))")
    assert handlers == []


def test_a_hostile_corpus_renders_as_text(tab: Tab) -> None:
    kb = tab.served.kb
    truth = kb.search("zanzibarite")
    by_doc = {h.doc: h for h in truth.hits}
    assert set(by_doc) == {HOSTILE_TXT, HOSTILE_MD}
    search_by_typing(tab, "zanzibarite")
    page = tab.page
    assert sorted(hit_ids(tab)) == sorted(h.id for h in truth.hits)
    for doc, h in by_doc.items():
        [li] = [x for x in page.locator("#results > li.hit").all()
                if x.get_attribute("data-id") == h.id]
        # the document's own text, character for character (no entity decoded twice)
        assert ws(li.locator(".title").text_content() or "") == ws(h.title)
        assert doc in (li.locator(".citation").text_content() or "")
        snippet = ws(li.locator(".snippet").text_content() or "")
        assert "javascript:alert(" in snippet
        assert li.locator(".snippet *:not(mark)").count() == 0
        # the file link still fetches the file, quotes and all
        href = li.locator("a.source").get_attribute("href")
        assert href is not None
        resp = page.request.get(urljoin(page.url, href))
        assert resp.status == 200
        assert resp.body() == (tab.served.corpus / doc).read_bytes()
    # the annex panel (built by JavaScript from the hits) shows them as text too
    for h in truth.hits:
        page.locator(f'#results > li.hit[data-ref="{h.ref}"] button.add').click()
    expect(page.locator("#annex-items > li")).to_have_count(len(truth.hits))
    for li in page.locator("#annex-items > li").all():
        h = next(x for x in truth.hits if x.id == li.get_attribute("data-id"))
        assert ws(h.title) in ws(li.text_content() or "")
        assert li.locator("b, script, img, svg, iframe").count() == 0  # <b> of the file name
    page.reload()  # and from localStorage
    expect(page.locator("#annex-items > li")).to_have_count(len(truth.hits))
    assert HOSTILE_TXT in (page.locator("#annex-items").text_content() or "")
    _no_injected_markup(tab)
    txt = by_doc[HOSTILE_TXT]
    assert HOSTILE_TXT in (page.locator(f'#results > li.hit[data-ref="{txt.ref}"] .title')
                           .text_content() or "")
    assert "<b>" in (page.locator("#results").text_content() or "")
    _no_injected_markup(tab)

    # a hostile query is text as well, in the summary and in the box
    evil = '"><script>alert(10)</script><img src=x onerror=alert(11)> zanzibarite'
    search_by_typing(tab, evil)
    assert page.locator("#q").input_value() == evil
    assert "<script>alert(10)</script>" in (page.locator("#summary").text_content() or "")
    _no_injected_markup(tab)

    # the passage page and the document facet of the same files
    tab.goto(f"/passage/{quote(txt.id, safe='')}?context=1")
    expect(page.locator("article.passage.focus")).to_have_count(1)
    assert "javascript:alert(4)" in (page.locator("article.passage.focus").text_content() or "")
    _no_injected_markup(tab)
    tab.goto("/status")
    expect(page.locator("dl#status")).to_be_visible()
    _no_injected_markup(tab)
    tab.check()


def test_a_missing_chromium_fails_the_tests_unless_skipped_explicitly(tmp_path: Path) -> None:
    """No silent skip: without a browser the tests fail and say how to get one;
    KB_SKIP_BROWSER=1 is the one way to skip them."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("KB_SKIP_BROWSER", "CI")}
    env["KB_CHROMIUM"] = str(tmp_path / "no-chromium")
    cmd = [sys.executable, "-m", "pytest", "-rs", "-p", "no:cacheprovider",
           f"{Path(__file__).relative_to(root)}::test_slash_key_focuses_the_search_box"]
    r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Chromium not found" in r.stdout and "KB_SKIP_BROWSER=1" in r.stdout, r.stdout
    r = subprocess.run(cmd, cwd=root, env={**env, "KB_SKIP_BROWSER": "1"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "SKIPPED" in r.stdout and "Chromium not found" in r.stdout, \
        r.stdout + r.stderr
    # ... except in CI, where the browser tests always run
    r = subprocess.run(cmd, cwd=root, env={**env, "KB_SKIP_BROWSER": "1", "CI": "true"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "Chromium not found" in r.stdout, r.stdout + r.stderr


def test_screenshot_of_a_search_with_two_passages_in_the_annex(
        browser: Any, tmp_path: Path) -> None:
    """The README's picture (docs/web-page.png): results for "sexual exploitation and
    abuse" over the three UN PDFs and the sample report, two hits in the annex, at
    1280x900.  Taken on every run (to a temporary file); to renew the README's copy:
    ``KB_SCREENSHOT=docs/web-page.png python -m pytest tests/test_browser.py -k screenshot``."""
    from .fixtures import copy_sample_pdfs

    corpus = tmp_path / "corpus"
    copy_sample_pdfs(corpus)
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    with serve(corpus, tmp_path / "index", prefix="corpus/") as served:  # as run in its folder
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            t = Tab(context, served)
            search_by_typing(t, QUERY)
            page = t.page
            hits = served.kb.search(QUERY).hits
            assert len({h.doc for h in hits}) >= 2
            for h in hits[1:3]:
                page.locator(f'#results > li.hit[data-id="{h.id}"] button.add').click()
            expect(page.locator("#annex-items > li")).to_have_count(2)
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.evaluate("window.scrollTo(0, 0)")
            page.mouse.move(0, 0)
            expect(page.locator("#annex")).to_be_in_viewport()
            expect(page.locator("#results > li.hit").first).to_be_in_viewport()
            out = Path(os.environ.get("KB_SCREENSHOT") or tmp_path / "web-page.png")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out))
            t.check()
        finally:
            context.close()
    png = out.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1280, 900)
