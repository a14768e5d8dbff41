"""Issue 12: the briefing annex (md, html, docx from one model), --order, CSV for Excel."""

from __future__ import annotations

import csv
import datetime as dt
import errno
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import annex as ax
from kb import export as ex
from kb.analysis import iter_terms, query_terms
from kb.cli import cli
from kb.models import Hit, SearchResult

from .conftest import SAMPLE
from .fixtures import ICEF, RESOLUTION, copy_sample_pdfs

ROOT = Path(__file__).resolve().parent.parent
QUERY = "sexual exploitation and abuse"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def loc(corpus: Path, index: Path | None = None) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(index or corpus.parent / "index")]


def one_line_error(r) -> str:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.output
    return r.stderr


@pytest.fixture(scope="module")
def un(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The three UN PDFs (symbols, pages, numbered paragraphs), indexed once."""
    base = tmp_path_factory.mktemp("un")
    copy_sample_pdfs(base / "corpus")
    args = loc(base / "corpus")
    assert run("index", *args).exit_code == 0
    return args


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The bundled sample report: one document, many sections."""
    base = tmp_path_factory.mktemp("sample")
    (base / "corpus").mkdir()
    shutil.copy(SAMPLE, base / "corpus" / SAMPLE.name)
    args = loc(base / "corpus")
    assert run("index", *args).exit_code == 0
    return args


def search_hits(args: list[str], query: str, partial: bool = False) -> list[dict]:
    """The hits an export of ``query`` holds: the full matches (``partial``: all)."""
    r = run("search", query, "--format", "json", "-n", "1000", *args)
    return [h for h in json.loads(r.stdout)["results"] if partial or h["match"] == "full"]


def ordinal(h: dict) -> int:
    return int(h["id"].rpartition("#")[2])


def export_docx(args: list[str], tmp_path: Path, *extra: str, name: str = "annex.docx"):
    import docx

    out = tmp_path / name
    r = run("export", *extra, "-o", str(out), *args)
    assert r.exit_code == 0, r.output
    return docx.Document(str(out))


# --------------------------------------------------------------------------- reading back

PASSAGE, CITE = "Annex Passage", "Annex Citation"


def bolded(runs) -> str:  # type: ignore[no-untyped-def]
    return "".join(f"**{r.text}**" if r.bold else r.text for r in runs)


def docx_outline(d) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """The annex as (kind, text): title, meta, doc, section, passage (bold as **), cite."""
    out: list[tuple[str, str]] = []
    for p in d.paragraphs:
        style = p.style.name
        kind = {"Title": "title", "Heading 1": "doc", "Heading 2": "section",
                CITE: "cite", PASSAGE: "passage", "Annex Meta": "meta"}[style]
        text = bolded(p.runs) if kind == "passage" else p.text
        if kind == "cite" and text.startswith(("Also in: ", "Partial match, without: ")):
            kind = "also"  # the notes under a citation
        elif kind == "cite":
            text = text.removeprefix("— ")
        if kind == "passage" and out and out[-1][0] == "passage":
            out[-1] = ("passage", out[-1][1] + "\n\n" + text)  # one passage, two paragraphs
        else:
            out.append((kind, text))
    return out


def md_outline(md: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for block in md.strip("\n").split("\n\n"):
        if block.startswith("<!-- kb:"):  # provenance for kb verify: not shown
            continue
        if block.startswith("# "):
            out.append(("title", block[2:]))
        elif block.startswith("## "):
            out.append(("doc", block[3:]))
        elif block.startswith("### "):
            out.append(("section", block[4:]))
        elif block.startswith(">"):
            lines = [line[2:] if line.startswith("> ") else "" for line in block.split("\n")]
            out.append(("passage", "\n".join(lines)))
        elif block.startswith("— "):
            out.append(("cite", block[2:]))
        elif block.startswith(("Also in: ", "Partial match, without: ")):
            out.append(("also", block))
        else:
            out.extend(("meta", line) for line in block.split("  \n"))
    return out


class _HtmlOutline(HTMLParser):
    KINDS = {"h1": "title", "h2": "doc", "h3": "section"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[tuple[str, str]] = []
        self.kind: str | None = None
        self.buf: list[str] = []
        self.paras: list[str] = []
        self.in_body = False

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        cls = dict(attrs).get("class")
        if tag == "body":
            self.in_body = True
        if not self.in_body:
            return
        if tag in self.KINDS:
            self.kind, self.buf = self.KINDS[tag], []
        elif tag == "blockquote":
            self.kind, self.paras = "passage", []
        elif tag == "p" and self.kind == "passage":
            self.buf = []
        elif tag == "p":
            self.kind, self.buf = {"meta": "meta", "cite": "cite", "also": "also"}[cls], []
        elif tag == "strong":
            self.buf.append("**")

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if not self.in_body:
            return
        if tag == "strong":
            self.buf.append("**")
        elif tag == "p" and self.kind == "passage":
            self.paras.append("".join(self.buf))
        elif tag == "blockquote":
            self.out.append(("passage", "\n\n".join(self.paras)))
            self.kind = None
        elif tag in self.KINDS or (tag == "p" and self.kind):
            text = "".join(self.buf)
            self.out.append((self.kind, text.removeprefix("— ") if self.kind == "cite"
                             else text))
            self.kind = None

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if self.kind:
            self.buf.append(data)


def html_outline(page: str) -> list[tuple[str, str]]:
    p = _HtmlOutline()
    p.feed(page)
    return p.out


def docx_xml_text(path: Path) -> str:
    """Every XML part of a .docx (body, styles, core properties), as text."""
    with zipfile.ZipFile(path) as z:
        return "\n".join(z.read(n).decode("utf-8") for n in z.namelist()
                         if n.endswith((".xml", ".rels")))


def matched(text: str, query: str) -> list[str]:
    """The words of ``text`` a query's own words match (stemmed, case and accents folded)."""
    terms = set(query_terms(query))
    return [text[s:e] for t, s, e in iter_terms(text) if t in terms]


# --------------------------------------------------------------------------- the Word annex


def test_docx_annex_order_headings_bold_and_citations(un, tmp_path):
    hits = search_hits(un, QUERY)
    d = export_docx(un, tmp_path, QUERY)
    outline = docx_outline(d)
    # title, the query, when, how many
    assert outline[0] == ("title", QUERY)
    meta = [t for k, t in outline[1:5] if k == "meta"]
    assert meta[0] == f"Query: {QUERY}" and re.fullmatch(r"Searched: \d{4}-\d\d-\d\d \d\d:\d\d",
                                                          meta[1])
    assert meta[2] == f"{len(hits)} passages from 3 documents"
    # documents once each, by their best hit
    docs_by_best = list(dict.fromkeys(h["doc"] for h in hits))
    titles = {h["doc"]: h["title"] for h in hits}
    assert [t for k, t in outline if k == "doc"] == [titles[x] for x in docs_by_best]
    assert [p.style.name for p in d.paragraphs].count("Title") == 1
    for p in d.paragraphs:
        if p.style.name in ("Title", "Heading 1", "Heading 2"):
            assert p.style.builtin  # Word's own styles: the navigation pane lists them
    # per document: its metadata line, then its passages in reading order
    pos = 0
    for doc in docs_by_best:
        pos = outline.index(("doc", titles[doc]), pos)
        first = next(h for h in hits if h["doc"] == doc)
        kind, line = outline[pos + 1]
        assert kind == "meta" and line == (f"Symbol: {first['symbol']} · Date: {first['date']}"
                                           f" · Source: {doc}")
        end = next((i for i in range(pos + 1, len(outline)) if outline[i][0] == "doc"),
                   len(outline))
        part = outline[pos + 2:end]
        mine = sorted((h for h in hits if h["doc"] == doc), key=ordinal)
        passages = [t for k, t in part if k == "passage"]
        assert [t.replace("**", "") for t in passages] == [h["text"] for h in mine]
        # each passage: bold runs are exactly its matched words
        for text, h in zip(passages, mine):
            assert re.findall(r"\*\*(.+?)\*\*", text) == matched(h["text"], QUERY)
        assert any("**" in t for t in passages)
        # the citation under each passage: the symbol's, then the file's (corpus-relative)
        cites = [t for k, t in part if k == "cite"]
        prefix = first["path"][: -len(doc)]  # the corpus folder as kb names it: absolute here
        assert prefix.startswith("/") and all(h["citation"].startswith(prefix) for h in mine)
        assert cites == [f"{h['symbol_citation']} — {h['citation'][len(prefix):]}"
                         for h in mine]
        assert all(part[i + 1][0] == "cite" for i, (k, _) in enumerate(part) if k == "passage")
        # a passage holding only some of the query's words says which it lacks
        withouts = [t for k, t in part if k == "also" and t.startswith("Partial match")]
        assert withouts == []  # an export of a query holds full matches only
        # a section heading only where it changes: once per section in reading order
        sections = [t for k, t in part if k == "section"]
        assert len(sections) == len(set(sections))
    # the example: UNICEF's update heading once, over its 7 paragraphs
    icef = [t for k, t in outline if k == "section" and "2025/11 Update on protection" in t]
    assert icef == ["Annual session, 10–13 June 2025 › 2025/11 Update on protection from "
                    "sexual exploitation and abuse"]
    assert "S/RES/2771 (2025), ¶ 20, p. 7 — S_RES_2771 (2025).en.pdf p. 7 ¶ 20" in \
        [t for k, t in outline if k == "cite"]
    assert not any(t.startswith("Partial match") for k, t in outline if k == "also")
    # with --partial, the passages holding only some of the words follow, marked
    every = search_hits(un, QUERY, partial=True)
    assert len(every) > len(hits)
    d = export_docx(un, tmp_path, QUERY, "--partial", name="partial.docx")
    marks = [t for k, t in docx_outline(d) if k == "also" and t.startswith("Partial match")]
    assert marks and len(marks) == sum(1 for h in every if h["match"] == "partial")
    assert all(t.startswith("Partial match, without: ") for t in marks)
    # Resolution 2771's passages: no section heading that only repeats its title
    assert "Resolution 2771 (2025)" not in [t for k, t in outline if k == "section"]


def test_docx_annex_rank_order(un, tmp_path):
    hits = search_hits(un, QUERY)
    d = export_docx(un, tmp_path, QUERY, "--order", "rank")
    outline = docx_outline(d)
    docs = list(dict.fromkeys(h["doc"] for h in hits))
    got = [t.replace("**", "") for k, t in outline if k == "passage"]
    want = [h["text"] for doc in docs for h in hits if h["doc"] == doc]  # rank within doc
    assert got == want
    reading = [h["text"] for doc in docs for h in sorted(
        (h for h in hits if h["doc"] == doc), key=ordinal)]
    assert got != reading  # the orders differ on this query, so the test can tell them apart
    assert outline[3][1].endswith(", passages by rank")


def test_sample_report_headings_once_in_reading_order(sample, tmp_path):
    """The sample report, many sections: reading order has each section heading once;
    rank order repeats a heading only when another section came in between."""
    hits = search_hits(sample, "sexual harassment")
    outline = docx_outline(export_docx(sample, tmp_path, "sexual harassment"))
    sections = [t for k, t in outline if k == "section"]
    assert len(sections) == len(set(sections)) == len({tuple(h["heading_path"]) for h in hits})
    assert len([k for k, _ in outline if k == "passage"]) == len(hits) > len(sections)
    rank = docx_outline(export_docx(sample, tmp_path, "sexual harassment", "--order", "rank",
                                    name="rank.docx"))
    shown = [t for k, t in rank if k == "section"]
    assert all(a != b for a, b in zip(shown, shown[1:]))
    assert len(shown) > len(sections)


def test_annex_model_headings_and_order():
    def h(rank: int, n: int, path: tuple[str, ...], doc: str = "a.md") -> Hit:
        return Hit(rank=rank, score=1.0, id=f"{doc}#{n}", doc=doc, title=doc.upper(),
                   date=None, section=path[-1] if path else doc.upper(), heading_path=path,
                   line_start=n, line_end=n, page=None, paragraph=None, text=f"text {n}",
                   snippet=f"text {n}", highlights=(), missing_terms=(),
                   citation=f"/abs/corpus/{doc}:{n}", path=f"/abs/corpus/{doc}",
                   also_in=(f"/abs/corpus/copy-of-{doc}:{n}",))

    hits = (h(1, 7, ("S1",)), h(2, 3, ("S2",), "b.md"), h(3, 2, ("S1",)), h(4, 9, ("S2",)),
            h(5, 1, ()))
    result = SearchResult(query="q", total=5, hits=hits, elapsed=0.0)
    a = ax.build(result, dt.datetime(2025, 6, 1, 9, 30))
    assert [d.doc for d in a.documents] == ["a.md", "b.md"]
    first = a.documents[0].passages
    assert [p.id for p in first] == ["a.md#1", "a.md#2", "a.md#7", "a.md#9"]
    assert [p.heading for p in first] == [None, "S1", None, "S2"]
    assert first[1].file_citation == "a.md:2" and first[1].also_in == ("copy-of-a.md:2",)
    assert a.lines == ["Query: q", "Searched: 2025-06-01 09:30", "5 passages from 2 documents"]
    r = ax.build(result, order="rank")
    assert [p.id for p in r.documents[0].passages] == ["a.md#7", "a.md#2", "a.md#9", "a.md#1"]
    assert [p.heading for p in r.documents[0].passages] == ["S1", None, "S2", "A.MD"]
    none = SearchResult(query="", total=5, hits=hits, elapsed=0.0)
    assert ax.build(none).title == "All passages"
    assert ax.build(none, chosen=True).title == "Chosen passages"
    assert ax.build(result, chosen=True).title == "q"
    fixed = ax.build(SearchResult(query="qq", corrected_query="q", total=5, hits=hits,
                                  elapsed=0.0))
    assert fixed.title == "q" and fixed.lines[0] == ("Query: q (spelling correction: no "
                                                     "passage matches “qq”)")


def test_matched_words_beyond_the_snippet(tmp_path):
    """Bold covers the whole passage, not only the snippet's window: a long passage
    whose last words match too, and a wildcard's forms."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    filler = " ".join(f"word{i}" for i in range(60))
    (corpus / "long.md").write_text(
        f"# Long\n\n## Part\n\nQuokkas quokka quokkas. {filler} and one last quokka here.\n\n"
        "## Other\n\nThe quokkaland report.\n", encoding="utf-8")
    args = loc(corpus)
    hit = search_hits(args, "quokka")[0]
    assert "last quokka" not in hit["snippet"]  # the window ends before it
    md = run("export", "quokka", "--format", "md", *args).stdout
    assert "one last **quokka** here" in md and "**Quokkas** **quokka** **quokkas**" in md
    md = run("export", "quokka*", "--format", "md", *args).stdout
    assert "The **quokkaland** report" in md and "one last **quokka** here" in md


def test_md_html_docx_agree(un, tmp_path):
    outlines = []
    for name in ("annex.md", "annex.html", "annex.docx"):
        out = tmp_path / name
        assert run("export", QUERY, "-o", str(out), *un).exit_code == 0
        if name.endswith(".docx"):
            import docx

            outlines.append(docx_outline(docx.Document(str(out))))
        elif name.endswith(".html"):
            outlines.append(html_outline(out.read_text(encoding="utf-8")))
        else:
            outlines.append(md_outline(out.read_text(encoding="utf-8")))
    # the "Searched" minute may differ between the three runs
    norm = [[(k, re.sub(r"\d\d:\d\d$", "hh:mm", t)) for k, t in o] for o in outlines]
    assert norm[0] == norm[1] == norm[2]
    kinds = [k for k, _ in norm[0]]
    assert kinds.count("doc") == 3 and kinds.count("passage") == kinds.count("cite") > 10
    assert any("**" in t for k, t in norm[0] if k == "passage")


def test_no_absolute_path_or_cwd_in_any_annex(tmp_path, monkeypatch):
    far = tmp_path / "far" / "reports"
    (far / "sub").mkdir(parents=True)
    shutil.copy(SAMPLE, far / "sub" / SAMPLE.name)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for corpus in (far, work / "corpus"):  # outside the cwd (absolute prefix), inside it
        if corpus == work / "corpus":
            shutil.copytree(far, corpus)
        for name in ("a.md", "a.html", "a.docx"):
            out = work / name
            r = run("export", "bystander intervention", "-o", name, "--force",
                    "--corpus", str(corpus), "--index", str(corpus.parent / f"ix-{corpus.name}"))
            assert r.exit_code == 0, r.output
            text = docx_xml_text(out) if name.endswith(".docx") else out.read_text("utf-8")
            assert f"sub/{SAMPLE.name}:72" in text
            for bad in (str(far), str(work), str(tmp_path), "corpus/sub", "reports/sub"):
                assert bad not in text, (name, bad)


# --------------------------------------------------------------------------- hostile text

EVIL = ("# Bad \x1b[31mtitle <script>alert('t')</script>\n\n## Sec\x07tion \\<b>x\\</b>\n\n"
        "Harassment \x1b]0;PWNED\x07 text with \x01soh, \x0bvtab, \x9b31m C1, \x7f del, "
        "lone\rcr and \\<script>alert(1)\\</script> & more.\n")  # escaped: kept as text


def test_hostile_text_in_docx_and_html(tmp_path):
    import docx

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "evil\x1b[2J.md").write_text(EVIL, encoding="utf-8")
    args = loc(corpus)
    out = tmp_path / "annex.docx"
    r = run("export", "harassment", "-o", str(out), *args)
    assert r.exit_code == 0, r.output
    text = "\n".join(p.text for p in docx.Document(str(out)).paragraphs)
    assert "Harassment ␛]0;PWNED␇ text" in text and "Source: evil␛[2J.md" in text
    assert "<script>alert(1)</script>" in text  # a Word document shows it; it never runs
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", docx_xml_text(out))
    page = (tmp_path / "annex.html")
    assert run("export", "harassment", "-o", str(page), *args).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html.lower()
    assert "&lt;b&gt;x&lt;/b&gt;" in html


def test_xml_safe_keeps_text_and_shows_what_xml_cannot_hold():
    assert ax.xml_safe("a\tb\nc\r\nd") == "a\tb\nc\nd"
    assert ax.xml_safe("\x00\x1b\x07\x7f\r") == "␀␛␇␡␍"
    assert ax.xml_safe("\x9b \ud800 \ufffe") == "\\u009b \\ud800 \\ufffe"
    assert ax.xml_safe("Café “quoted” \u202e") == "Café “quoted” \u202e"


# --------------------------------------------------------------------------- CSV for Excel

ACCENTS = "Côte d’Ivoire’s “naïve” café — señora Müller"


def test_csv_file_has_a_bom_and_keeps_accents(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "accents.md").write_text(f"# Accents\n\n## Part\n\n{ACCENTS} on harassment.\n",
                                       encoding="utf-8")
    out = tmp_path / "hits.csv"
    assert run("export", "harassment", "-o", str(out), *loc(corpus)).exit_code == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfrank,score,")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0]["text"] == f"{ACCENTS} on harassment."
    # on stdout, for pipes: no BOM in front of the header
    r = run("export", "harassment", "--format", "csv", *loc(corpus))
    assert r.stdout.startswith("rank,score,") and ACCENTS in r.stdout
    r = run("search", "harassment", "--format", "csv", *loc(corpus))
    assert r.stdout.startswith("rank,score,")


def test_order_is_for_annexes_only(sample, tmp_path):
    err = one_line_error(run("export", "harassment", "--order", "rank", "-o",
                             str(tmp_path / "x.csv"), *sample))
    assert "--order" in err and "rank order" in err
    assert not (tmp_path / "x.csv").exists()
    one_line_error(run("export", "harassment", "--order", "page", *sample))
    r = run("export", "harassment", "--order", "rank", "--format", "md", *sample)
    assert r.exit_code == 0 and ", passages by rank" in r.stdout


# --------------------------------------------------------------------------- writing the file


def test_docx_never_clobbers_and_failure_leaves_nothing(sample, tmp_path, monkeypatch):
    target = tmp_path / "annex.docx"
    target.write_bytes(b"my own report")
    err = one_line_error(run("export", "harassment", "-o", str(target), *sample))
    assert "already exists" in err and target.read_bytes() == b"my own report"

    def half_then_full(annex, out):  # type: ignore[no-untyped-def]
        out.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(ax.WRITERS, "docx", half_then_full)
    err = one_line_error(run("export", "harassment", "-o", str(target), "--force", *sample))
    assert "No space left" in err
    assert target.read_bytes() == b"my own report" and os.listdir(tmp_path) == ["annex.docx"]
    target.unlink()
    one_line_error(run("export", "harassment", "-o", str(target), *sample))
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    assert run("export", "harassment", "-o", str(target), "--force", *sample).exit_code == 0
    assert zipfile.is_zipfile(target)


def test_write_file_bytes_is_atomic_and_no_clobber(tmp_path):
    target = tmp_path / "x.docx"
    ex.write_file(target, lambda f: f.write(b"\x00\x01binary"), binary=True)
    assert target.read_bytes() == b"\x00\x01binary"
    with pytest.raises(ex.OutputExists):
        ex.write_file(target, lambda f: f.write(b"new"), binary=True)
    assert target.read_bytes() == b"\x00\x01binary" and os.listdir(tmp_path) == ["x.docx"]


def test_docx_to_a_pipe_and_not_to_a_terminal(sample, tmp_path):
    r = CliRunner().invoke(cli, ["export", "harassment", "--format", "docx", *sample])
    assert r.exit_code == 0 and r.stdout_bytes.startswith(b"PK")
    import docx

    assert docx.Document(io.BytesIO(r.stdout_bytes)).paragraphs[0].text == "harassment"
    # on a terminal: refused, nothing binary is printed
    import pty

    leader, follower = pty.openpty()
    p = subprocess.run([sys.executable, "-m", "kb", "export", "harassment", "--format", "docx",
                        *sample], stdout=follower, stderr=subprocess.PIPE, text=True,
                       cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    os.close(follower)
    try:
        printed = os.read(leader, 65536)
    except OSError:  # EIO: the terminal was closed and nothing was written to it
        printed = b""
    os.close(leader)
    assert p.returncode == 2 and "-o annex.docx" in p.stderr and printed == b""
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(shutil.which("soffice") is None and not os.environ.get("CI"),
                    reason="LibreOffice is not installed (CI installs it: .ci/run)")
def test_libreoffice_opens_the_docx(un, tmp_path):
    """The Word annex opens in LibreOffice (converted headless to text). CI installs
    LibreOffice Writer, so there this never skips."""
    assert shutil.which("soffice"), "LibreOffice's soffice is not installed"
    out = tmp_path / "annex.docx"
    assert run("export", QUERY, "-o", str(out), *un).exit_code == 0
    p = subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                        "--convert-to", "txt:Text", "--outdir", str(tmp_path), str(out)],
                       capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    text = (tmp_path / "annex.txt").read_text(encoding="utf-8-sig")
    assert text.startswith(QUERY) and "E/ICEF/2025/26, ¶ 6, p. 3" in text
    assert f"Source: {ICEF}" in text and f"Source: {RESOLUTION}" in text
