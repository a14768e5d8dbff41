"""An index belongs to the corpus it was built from (issue 10, item 3 and part of 12).

Searching, showing, listing, exporting or updating an index with another (or a
missing) corpus folder is a one-line error naming both folders and the ways
out; a corpus moved or renamed with the same files is recognised; every
`kb ...` command that an error advises carries the user's --corpus/--index.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import errors
from kb import store as kbstore
from kb.api import KnowledgeBase
from kb.cli import cli

from .conftest import SAMPLE, SAMPLE_ID


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def loc(corpus: Path, index: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(index)]


def one_line_error(r) -> str:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    return lines[0]


def marker(index: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((index / kbstore.MARKER).read_text())


def other_corpus(tmp_path: Path) -> Path:
    other = tmp_path / "other"
    other.mkdir()
    (other / "memo.md").write_text("# Memo\n\nA memo on gender parity and harassment "
                                   "in field missions.\n", encoding="utf-8")
    return other


@pytest.fixture()
def built(sample_corpus: Path, tmp_path: Path) -> tuple[Path, Path]:
    index = tmp_path / "index"
    assert run("index", *loc(sample_corpus, index)).exit_code == 0
    return sample_corpus, index


def index_files(index: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in index.rglob("*") if p.is_file() and p.name != "kb.lock"}


def test_the_index_records_its_corpus(built):
    corpus, index = built
    rec = marker(index)["corpus"]
    assert rec["path"] == os.path.realpath(corpus)
    assert rec["index"] == os.path.realpath(index)
    assert len(rec["id"]) == 16
    st = json.loads(run("status", "--format", "json", *loc(corpus, index)).stdout)
    assert st["corpus_recorded"] == rec["path"] and st["corpus_id"] == rec["id"]
    assert st["problem"] is None


def test_search_with_a_missing_corpus_is_refused(built, tmp_path):
    corpus, index = built
    nope = tmp_path / "nope"
    for args in (["search", "gender"], ["show", f"{SAMPLE_ID}#1"], ["docs"],
                 ["export", "gender", "-o", "-"], ["index"]):
        r = run(*args, *loc(nope, index))
        line = one_line_error(r)
        assert f"corpus folder {nope} does not exist" in line
        assert os.path.realpath(corpus) in line  # names the index's own corpus
        assert str(nope) not in r.stdout  # no citation of a missing folder


def test_search_with_another_corpus_is_refused(built, tmp_path):
    corpus, index = built
    other = other_corpus(tmp_path)
    before = index_files(index)
    for args in (["search", "gender"], ["show", f"{SAMPLE_ID}#1"], ["docs"],
                 ["export", "-o", "-"], ["index"], ["status"]):
        r = run(*args, *loc(other, index))
        line = one_line_error(r)
        assert f"built from {os.path.realpath(corpus)}, not from {other}" in line
        assert "`--index DIR`" in line  # way out 1: a separate index
        # way out 2, with the user's own options so that it works as printed
        assert f"`kb index --rebuild --corpus {other} --index {index}`" in line
        assert SAMPLE_ID not in r.stdout or args == ["status"]
    assert index_files(index) == before  # `kb index` refused: nothing written
    # the advice works: the rebuild re-points the index (a new corpus id)
    old_id = marker(index)["corpus"]["id"]
    r = run("index", "--rebuild", *loc(other, index))
    assert r.exit_code == 0, r.stderr
    assert marker(index)["corpus"]["path"] == os.path.realpath(other)
    assert marker(index)["corpus"]["id"] != old_id
    hits = json.loads(run("search", "gender", "--format", "json", *loc(other, index)).stdout)
    assert [h["doc"] for h in hits["results"]] == ["memo.md"]
    assert all(Path(h["path"]).exists() for h in hits["results"])
    one_line_error(run("search", "gender", *loc(corpus, index)))  # and now the old one is refused


def test_a_rebuild_in_place_keeps_the_corpus_id(built):
    corpus, index = built
    old_id = marker(index)["corpus"]["id"]
    assert run("index", "--rebuild", *loc(corpus, index)).exit_code == 0
    assert marker(index)["corpus"]["id"] == old_id


def test_corpus_moved_with_its_index_is_recognised(tmp_path, monkeypatch):
    proj = tmp_path / "proj"
    (proj / "corpus").mkdir(parents=True)
    shutil.copy(SAMPLE, proj / "corpus" / SAMPLE.name)
    monkeypatch.chdir(proj)
    assert run("index").exit_code == 0
    corpus_id = marker(proj / "index")["corpus"]["id"]
    moved = tmp_path / "renamed"
    monkeypatch.chdir(tmp_path)
    proj.rename(moved)
    monkeypatch.chdir(moved)
    r = run("search", "bystander intervention", "--format", "json")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ""
    hits = json.loads(r.stdout)["results"]
    assert hits and all((moved / h["path"]).is_file() for h in hits)
    rec = marker(moved / "index")["corpus"]
    assert rec == {"path": os.path.realpath(moved / "corpus"), "id": corpus_id,
                   "index": os.path.realpath(moved / "index")}
    assert run("index").stdout.startswith("Updated index")  # incremental, not refused


def test_renamed_corpus_folder_is_recognised_and_recorded(built, tmp_path):
    corpus, index = built
    renamed = tmp_path / "reports"
    corpus.rename(renamed)
    r = run("search", "gender", "--format", "json", *loc(renamed, index))
    assert r.exit_code == 0, r.stderr
    assert marker(index)["corpus"]["path"] == os.path.realpath(renamed)
    # the old name is gone for good: it is refused now, naming the new one
    line = one_line_error(run("search", "gender", *loc(corpus, index)))
    assert "does not exist" in line and os.path.realpath(renamed) in line


def test_a_copy_with_new_mtimes_is_recognised_by_content(built, tmp_path):
    corpus, index = built
    copy = tmp_path / "copy"
    shutil.copytree(corpus, copy)
    for f in copy.iterdir():
        os.utime(f, ns=(1_000_000_000, 1_000_000_000))
    before = marker(index)
    r = run("search", "gender", "--format", "json", *loc(copy, index))
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["path"].startswith(str(copy))
    assert marker(index)["corpus"] == before["corpus"]  # the original is still there


def test_same_files_needs_three_in_four_of_the_sample(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(8):
        (corpus / f"r{i}.md").write_text(f"# Report {i}\n\nText of report {i}.\n")
    with KnowledgeBase(corpus, tmp_path / "index") as kb:
        kb.update()
        gen = kbstore.open_generation(kb.index)
        table = gen.table
        gen.close()
    moved = tmp_path / "moved"
    corpus.rename(moved)
    (moved / "r0.md").write_text("# Report 0\n\nEdited after the move.\n")
    (moved / "r1.md").unlink()
    assert kbstore.same_files(table, moved)  # 6 of 8 still the same
    (moved / "r2.md").unlink()
    assert not kbstore.same_files(table, moved)  # 5 of 8
    assert kbstore.same_files(kbstore.FileTable(), moved)  # an empty index fits any folder


def test_index_of_an_earlier_kb_adopts_its_own_corpus(built, tmp_path):
    corpus, index = built
    m = marker(index)
    del m["corpus"]  # as written by kb before the corpus was recorded
    (index / kbstore.MARKER).write_text(json.dumps(m))
    other = other_corpus(tmp_path)
    line = one_line_error(run("search", "gender", *loc(other, index)))
    assert "older kb" in line and str(other) in line and "kb index --rebuild" in line
    assert "corpus" not in marker(index)
    r = run("search", "gender", *loc(corpus, index))
    assert r.exit_code == 0 and r.stderr == ""
    assert marker(index)["corpus"]["path"] == os.path.realpath(corpus)


def test_api_refuses_another_corpus(built, tmp_path):
    corpus, index = built
    other = other_corpus(tmp_path)
    with KnowledgeBase(other, index) as kb:
        with pytest.raises(errors.CorpusMismatch):
            kb.search("gender")
        with pytest.raises(errors.CorpusMismatch):
            kb.update()
        st = kb.status()  # never raises for the corpus: says what is wrong
        assert st.exists and st.documents == 1 and "not from" in (st.problem or "")
        assert st.stale.count == 0
    with KnowledgeBase(tmp_path / "nope", index) as kb:
        with pytest.raises(errors.CorpusNotFound):
            kb.search("gender")
        assert "does not exist" in (kb.status().problem or "")


# -- item 12: a corpus that is a file; advice that works as printed -----------


def test_corpus_path_that_is_a_file_says_so(tmp_path):
    f = tmp_path / "report.txt"
    f.write_text("not a folder")
    for args in (["search", "gender"], ["index"], ["status"]):
        line = one_line_error(run(*args, *loc(f, tmp_path / "index")))
        assert f"corpus folder {f} is a file, not a folder" in line


def test_status_with_a_missing_corpus_does_not_advise_kb_index(tmp_path):
    nope, index = tmp_path / "nope", tmp_path / "index"
    r = run("status", *loc(nope, index))
    line = one_line_error(r)
    assert "does not exist" in line and "point --corpus" in line
    assert "kb index" not in r.stdout + r.stderr
    with KnowledgeBase(nope, index) as kb:
        assert "does not exist" in (kb.status().problem or "")
    r = run("docs", *loc(nope, index))  # no index either: the corpus is what to fix
    assert "does not exist" in one_line_error(r)


def test_advice_carries_the_users_index_and_corpus(sample_corpus, tmp_path):
    ix = tmp_path / "my index"
    r = run("status", *loc(sample_corpus, ix))
    assert f"run `kb index --corpus {sample_corpus} --index '{ix}'`" in r.stdout
    assert run("index", *loc(sample_corpus, ix)).exit_code == 0
    (ix / kbstore.MARKER).write_text("{not json")
    line = one_line_error(run("search", "gender", *loc(sample_corpus, ix)))
    assert f"`kb index --rebuild --corpus {sample_corpus} --index '{ix}'`" in line
    assert run("index", "--rebuild", *loc(sample_corpus, ix)).exit_code == 0  # it works
    # only the options the user gave
    line = one_line_error(run("search", "gender", "--index", str(tmp_path / "nope-ix"),
                              "--corpus", str(tmp_path / "missing")))
    assert "kb index" not in line
    r = run("show", "nope#1", *loc(sample_corpus, ix))
    assert f"`kb search ... --format json --corpus {sample_corpus} --index '{ix}'`" in \
        one_line_error(r)


def test_an_empty_index_belongs_to_the_corpus_that_fills_it(tmp_path):
    empty, index = tmp_path / "empty", tmp_path / "index"
    empty.mkdir()
    assert run("index", *loc(empty, index)).exit_code == 0
    other = other_corpus(tmp_path)
    r = run("search", "gender", *loc(other, index))
    assert r.exit_code == 0 and "added 1" in r.stderr
    assert marker(index)["corpus"]["path"] == os.path.realpath(other)
    line = one_line_error(run("search", "gender", *loc(empty, index)))  # not emptied again
    assert f"built from {os.path.realpath(other)}, not from {empty}" in line
