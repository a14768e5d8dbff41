"""`kb search` and `kb export` bring a stale index up to date first when that is
cheap (issue 10, friction "A stale index is only reported").

Small changes (at most 20 files and 1 MB to read; deletions are free) are
indexed before the search, with one line on stderr; larger ones, a locked or
read-only index, `--no-update` and kb.toml `auto_update = false` search the
index as it is and say how to update it.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import api
from kb import store as kbstore
from kb.api import KnowledgeBase
from kb.cli import cli

from .conftest import SAMPLE_ID


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def loc(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index")]


NOTE = ("# Mediation note {i}\n\nThe ombudsman offers mediation to staff in field missions "
        "(note {i}).\n")  # each its own text: identical passages are one hit


def add_notes(corpus: Path, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        (corpus / f"note{i:02d}.md").write_text(NOTE.format(i=i), encoding="utf-8")


def docs_found(r) -> set[str]:  # type: ignore[no-untyped-def]
    return {h["doc"] for h in json.loads(r.stdout)["results"]}


@pytest.fixture()
def built(sample_corpus: Path) -> Path:
    assert run("index", *loc(sample_corpus)).exit_code == 0
    return sample_corpus


def test_a_few_new_files_are_indexed_before_the_search(built):
    add_notes(built, 2)
    r = run("search", "mediation", "--format", "json", *loc(built))
    assert r.exit_code == 0
    assert docs_found(r) == {"note00.md", "note01.md"}
    assert r.stderr.startswith("Updated the index first: added 2, updated 0, removed 0 (")
    assert len(r.stderr.splitlines()) == 1
    r = run("search", "mediation", "--format", "json", *loc(built))
    assert r.stderr == ""  # now up to date: nothing to say
    assert "unchanged 3" in run("index", *loc(built)).stdout


def test_changed_and_deleted_files_are_updated_before_the_search(built):
    add_notes(built, 1)
    run("index", *loc(built))
    (built / "note00.md").write_text("# Note\n\nNow about arbitration only.\n")
    r = run("search", "arbitration", "--format", "json", *loc(built))
    assert docs_found(r) == {"note00.md"} and "updated 1" in r.stderr
    (built / "note00.md").unlink()
    r = run("search", "arbitration", *loc(built))
    assert r.exit_code == 1 and "removed 1" in r.stderr  # no citation of a deleted file


def test_export_updates_first_too(built):
    add_notes(built, 1)
    r = run("export", "--format", "jsonl", "-o", "-", *loc(built))
    assert r.exit_code == 0 and "Updated the index first" in r.stderr
    assert "note00.md" in {json.loads(line)["doc"] for line in r.stdout.splitlines()}


def test_many_changed_files_are_searched_as_they_were(built):
    add_notes(built, api.AUTO_UPDATE_MAX_FILES + 1)
    r = run("search", "mediation", *loc(built))
    assert r.exit_code == 1  # the old index: none of the new notes
    (line,) = r.stderr.splitlines()
    assert line.startswith(f"Note: {api.AUTO_UPDATE_MAX_FILES + 1} files changed since the "
                           "index was updated")
    assert "more than a search updates by itself (20 files or 1 MB)" in line
    assert f"run `kb index {' '.join(loc(built))}` to update it" in line
    assert "added 21" in run("index", *loc(built)).stdout


def test_a_large_file_is_left_to_kb_index(built):
    big = "\n\n".join(f"Paragraph {i} on mediation in the field, with enough words to be "
                      "a passage of its own in a long report." for i in range(12_000))
    (built / "big.md").write_text("# Big\n\n" + big)
    assert (built / "big.md").stat().st_size > api.AUTO_UPDATE_MAX_BYTES
    r = run("search", "mediation", *loc(built))
    assert r.exit_code == 1 and "more than a search updates by itself" in r.stderr


@pytest.mark.parametrize("how", ["flag", "kb.toml"])
def test_updating_first_can_be_turned_off(built, tmp_path, monkeypatch, how):
    add_notes(built, 1)
    args = ["search", "mediation"]
    if how == "flag":
        args.append("--no-update")
    else:
        monkeypatch.chdir(tmp_path)
        (tmp_path / "kb.toml").write_text("auto_update = false\n")
    r = run(*args, *loc(built))
    assert r.exit_code == 1
    assert r.stderr.strip() == (
        "Note: 1 file changed since the index was updated (1 new, 0 changed, 0 deleted); "
        f"run `kb index {' '.join(loc(built))}` to update it.")
    r = run("export", "mediation", "-o", "-", *loc(built), *args[2:])
    assert r.exit_code == 1 and "run `kb index" in r.stderr


def test_auto_update_must_be_a_boolean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kb.toml").write_text('auto_update = "no"\n')
    r = run("search", "x")
    assert r.exit_code == 2 and "'auto_update' must be true or false" in r.stderr


def test_a_locked_index_is_searched_as_it_is(built):
    add_notes(built, 1)
    with kbstore.write_lock(built.parent / "index"):  # another update holds it
        r = run("search", "mediation", *loc(built))
    assert r.exit_code == 1
    (line,) = r.stderr.splitlines()
    assert f"another update is running (pid {os.getpid()})" in line
    assert "searching the index as it is" in line
    assert run("search", "mediation", *loc(built)).exit_code == 0  # lock gone: updated


def test_kb_index_waits_for_a_searchs_update_instead_of_failing(built):
    """A search's update is small: a `kb index` that meets it waits, not refuses."""
    add_notes(built, 1)
    index = built.parent / "index"
    held = threading.Event()

    def search_update() -> None:
        with kbstore.write_lock(index, by_search=True):
            assert (index / kbstore.LOCK).read_text() == f"{os.getpid()} search"
            held.set()
            time.sleep(0.5)

    t = threading.Thread(target=search_update)
    t.start()
    assert held.wait(10)
    t0 = time.monotonic()
    r = run("index", *loc(built))
    t.join()
    assert r.exit_code == 0, r.stderr
    assert time.monotonic() - t0 >= 0.3 and "added 1" in r.stdout
    # a search meeting another search's update does not wait: it searches as it is
    add_notes(built, 1, start=1)
    with kbstore.write_lock(index, by_search=True):
        r = run("search", "mediation", *loc(built))
    assert r.exit_code == 0 and "another update is running" in r.stderr


@contextmanager
def _read_only_lock(index_dir: Path, by_search: bool = False):  # type: ignore[no-untyped-def]
    raise OSError(errno.EROFS, "Read-only file system", str(index_dir / kbstore.LOCK))
    yield


@pytest.mark.parametrize("how", ["mount", "permissions"])
def test_a_read_only_index_is_searched_as_it_is(built, monkeypatch, how):
    """Root writes into chmod 555 folders: the refusal is injected, either as a
    read-only mount gives it (the write fails) or as permissions (os.access)."""
    add_notes(built, 1)
    index = built.parent / "index"
    before = {p: p.read_bytes() for p in index.rglob("*") if p.is_file()}
    if how == "mount":
        monkeypatch.setattr(kbstore, "write_lock", _read_only_lock)
        reason = "Read-only file system"
    else:
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: (
            False if mode == os.W_OK and str(p).startswith(str(index)) else real(p, mode, **kw)))
        reason = "permission denied"
    r = run("search", "bystander", *loc(built))
    assert r.exit_code == 0 and "bystander" in r.stdout.lower()
    (line,) = r.stderr.splitlines()
    assert f"the index folder cannot be written ({reason})" in line
    assert "searching the index as it is" in line
    assert {p: p.read_bytes() for p in index.rglob("*") if p.is_file()} == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_chmod_555_index_is_searched_as_it_is(built):
    add_notes(built, 1)
    index = built.parent / "index"
    folders = [index, *[p for p in index.iterdir() if p.is_dir()]]
    for d in folders:
        d.chmod(0o555)
    try:
        r = run("search", "bystander", *loc(built))
    finally:
        for d in folders:
            d.chmod(0o755)
    assert r.exit_code == 0 and "cannot be written" in r.stderr


def test_refresh_says_what_it_did(built):
    with KnowledgeBase(built, built.parent / "index") as kb:
        assert kb.refresh().action == "current"
        add_notes(built, 3)
        r = kb.refresh(update=False)
        assert r.action == "off" and r.stale.new == ["note00.md", "note01.md", "note02.md"]
        r = kb.refresh(max_files=2)
        assert r.action == "too-large" and r.files == 3 and r.report is None
        r = kb.refresh(max_files=3)
        assert r.action == "updated" and r.report is not None and len(r.report.added) == 3
        assert kb.search("mediation").total == 3
        # a touch (same content) is recorded quietly, nothing re-indexed
        os.utime(built / SAMPLE_ID, ns=(1_000_000_000, 1_000_000_000))
        assert kb.refresh().action == "current"
        assert kb.staleness().count == 0
        assert kb._open_table()[1].files[SAMPLE_ID].mtime_ns == 1_000_000_000  # recorded
