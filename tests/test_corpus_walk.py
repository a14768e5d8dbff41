"""The corpus walk (issue 10): file names that are not UTF-8, OS and editor junk,
the skip summary, empty corpora, and small damaged UTF-8 files."""

from __future__ import annotations

import re

import json
import os
from pathlib import Path

from click.testing import CliRunner

from kb.cli import cli
from kb.corpus import decode, walk

FFFD = "\ufffd"


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def loc(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index")]


def write_bytes_name(folder: Path, name: bytes, text: str) -> None:
    """Create a file whose name is raw bytes (not necessarily UTF-8)."""
    fd = os.open(os.fsencode(folder) + b"/" + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def status(corpus: Path) -> dict:  # type: ignore[type-arg]
    r = invoke("status", "--format", "json", *loc(corpus))
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# ------------------------------------------------------------- names that are not UTF-8


def test_file_name_that_is_not_utf8_is_indexed_searched_shown_and_exported(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "ok.md").write_text("# Fine\n\nOrdinary harassment prevention text.\n")
    write_bytes_name(corpus, b"caf\xe9.md", "# Cafe\n\nEspresso harassment in the cafe.\n")
    write_bytes_name(corpus / "sub", b"r\xe9sum\xe9.txt", "Resume\n\nLatte policy text.\n")
    doc_id = f"caf{FFFD}.md"

    r = invoke("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert "added 3" in r.stdout and "skipped" not in r.stderr, r.output
    assert status(corpus)["skipped"] == []

    r = invoke("search", "espresso", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert f"corpus/{doc_id}:3" in r.stdout
    r = invoke("search", "latte", "--format", "json", *loc(corpus))
    hit = json.loads(r.stdout)["results"][0]
    assert hit["doc"] == f"sub/r{FFFD}sum{FFFD}.txt"
    assert hit["path"] == f"{corpus}/sub/r{FFFD}sum{FFFD}.txt"
    r = invoke("search", "harassment", "--format", "json", *loc(corpus))
    assert {h["doc"] for h in json.loads(r.stdout)["results"]} == {"ok.md", doc_id}

    r = invoke("show", f"{doc_id}#1", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert "Espresso harassment in the cafe." in r.stdout and f"{doc_id}#1" in r.stdout
    r = invoke("show", f"{doc_id}#1", "--format", "json", *loc(corpus))
    assert json.loads(r.stdout)["passages"][0]["doc"] == doc_id

    r = invoke("export", "--format", "json", "-o", "-", *loc(corpus))
    assert r.exit_code == 0, r.output
    docs = {h["doc"] for h in json.loads(r.stdout)["results"]}
    assert docs == {"ok.md", doc_id, f"sub/r{FFFD}sum{FFFD}.txt"}
    r = invoke("export", "espresso", "-o", "-", *loc(corpus))
    assert r.exit_code == 0 and f"\n— {doc_id}:3\n" in r.stdout, r.output  # corpus-relative
    r = invoke("docs", "--format", "json", *loc(corpus))
    assert doc_id in {d["id"] for d in json.loads(r.stdout)}

    # the next update finds the same files unchanged
    r = invoke("index", *loc(corpus))
    assert "unchanged 3" in r.stdout, r.output


def test_names_that_read_the_same_once_replaced_are_never_merged(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    write_bytes_name(corpus, b"caf\xe9.md", "# E9\n\nEacuteword text.\n")
    write_bytes_name(corpus, b"caf\xe8.md", "# E8\n\nEgraveword text.\n")
    r = invoke("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert "skipped 1 file (1 name clash): see `kb status`" in _plain(r.stderr)
    skipped = status(corpus)["skipped"]
    assert [s["id"] for s in skipped] == [f"caf{FFFD}.md"]
    assert "not valid UTF-8" in skipped[0]["reason"] and "rename it" in skipped[0]["reason"]
    # the first in byte order keeps the name; the other one's words are not under it
    assert invoke("search", "egraveword", *loc(corpus)).exit_code == 0
    assert invoke("search", "eacuteword", *loc(corpus)).exit_code == 1

    # a file really named with U+FFFD keeps its name; both undecodable ones are skipped
    (corpus / f"caf{FFFD}.md").write_text("# Real\n\nRealword text.\n")
    r = invoke("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert "skipped 2 files (2 name clashes)" in r.stderr
    r = invoke("search", "realword OR egraveword OR eacuteword", "--format", "json",
               *loc(corpus))
    assert [h["title"] for h in json.loads(r.stdout)["results"]] == ["Real"]


# ------------------------------------------------------------------ junk and skips


JUNK = ["~$report.docx", "~WRL0001.tmp", "Thumbs.db", "desktop.ini", "Desktop.ini",
        "report.md~", ".DS_Store", "._report.md", ".~lock.report.docx#",
        "__MACOSX/._report.md", "__MACOSX/report.md", "sub/Thumbs.db", "sub/~$notes.docx"]


def test_os_and_editor_junk_is_ignored_and_other_skips_are_one_line(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "report.md").write_text("# Report\n\nHarassment prevention.\n")
    for name in JUNK:
        (corpus / name).parent.mkdir(parents=True, exist_ok=True)
        (corpus / name).write_bytes(b"\x00junk\x00" * 10)
    (corpus / "slides.pptx").write_bytes(b"PK\x03\x04")
    (corpus / "sub" / "data.xlsx").write_bytes(b"PK\x03\x04")
    (corpus / "binary.txt").write_bytes(bytes(range(256)) * 4)
    r = invoke("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert "added 1" in r.stdout
    assert _plain(r.stderr) == [
        "skipped 3 files (2 unsupported formats, 1 damaged or not text): see `kb status`"]
    assert {s["id"] for s in status(corpus)["skipped"]} == {"slides.pptx", "sub/data.xlsx",
                                                            "binary.txt"}
    # every later update says the same in the same one line
    r = invoke("index", *loc(corpus))
    assert _plain(r.stderr) == [
        "skipped 3 files (2 unsupported formats, 1 damaged or not text): see `kb status`"]


def _plain(stderr: str) -> list[str]:
    """stderr lines with the advice's --corpus/--index (the user's, added by kb) left out."""
    return [re.sub(r"`(kb \w+)(?: --corpus \S+)?(?: --index \S+)?`", r"`\1`", line)
            for line in stderr.splitlines()]


def test_is_junk():
    from kb.corpus import is_junk

    for name in ("~$report.docx", "~$x.xlsx", "Thumbs.db", "THUMBS.DB", "desktop.ini",
                 "notes.txt~", "~WRL1234.tmp"):
        assert is_junk(name), name
    for name in ("report.md", "~notes.md", "thumbs.db.md", "a~b.md", "__MACOSX"):
        assert not is_junk(name), name
    assert is_junk("__MACOSX", is_dir=True) and not is_junk("reports", is_dir=True)


def test_empty_corpus_warns_and_names_the_formats(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "Thumbs.db").write_bytes(b"junk")  # junk alone is still an empty corpus
    r = invoke("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert _plain(r.stderr) == [
        f"Warning: the corpus folder {corpus} is empty: kb reads .md, .markdown, .txt, .pdf, "
        ".docx, .html, .htm files"]
    # the first search builds the index and says the same
    r = invoke("search", "anything", "--corpus", str(corpus), "--index",
               str(tmp_path / "index2"))
    assert r.exit_code == 1
    assert f"Warning: the corpus folder {corpus} is empty" in r.stderr

    (corpus / "slides.pptx").write_bytes(b"PK")
    r = invoke("index", *loc(corpus))
    assert _plain(r.stderr) == [
        f"Warning: the corpus folder {corpus} has no file that kb reads (.md, .markdown, .txt, "
        ".pdf, .docx, .html, .htm)",
        "skipped 1 file (1 unsupported format): see `kb status`"]

    (corpus / "binary.md").write_bytes(bytes(range(256)))
    r = invoke("index", *loc(corpus))
    assert _plain(r.stderr)[0] == (
        f"Warning: no documents could be indexed from {corpus}: its only file failed "
        "(see `kb status`)")

    (corpus / "real.md").write_text("# Real\n\nText.\n")
    r = invoke("index", *loc(corpus))
    assert "Warning" not in r.stderr


# ------------------------------------------------------------------ damaged UTF-8


def test_small_utf8_file_with_three_bad_bytes_stays_utf8(tmp_path):
    data = "Café – note\n\nIt’s small ".encode() + b"\xff\xfe\x80" + b".\n"
    text, encoding = decode(data)
    assert encoding == "utf-8"
    assert text == f"Café – note\n\nIt’s small {FFFD * 3}.\n"
    # one good character is enough at this size
    assert decode("café ".encode() + b"\xff\xfe\x80 ok") == (f"café {FFFD * 3} ok", "utf-8")
    # a real U+FFFD in the file is a good character, not a bad byte
    assert decode(f"{FFFD}é".encode() + b"\xe9") == (f"{FFFD}é{FFFD}", "utf-8")
    # legacy encodings are still detected
    assert decode("Café résumé naïve déjà vu.".encode("cp1252"))[0] == "Café résumé naïve déjà vu."

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "tiny.md").write_bytes(data)
    r = invoke("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    r = invoke("show", "tiny.md#1", *loc(corpus))
    assert r.exit_code == 0, r.output
    assert f"It’s small {FFFD * 3}." in r.stdout and "Café – note" in r.stdout


def test_walk_returns_text_ids_and_real_paths(tmp_path):
    write_bytes_name(tmp_path, b"caf\xe9.md", "x")
    files = walk(tmp_path).files
    assert [f.id for f in files] == [f"caf{FFFD}.md"]
    assert os.fsencode(files[0].path).endswith(b"/caf\xe9.md")
    files[0].id.encode("utf-8")  # valid text
