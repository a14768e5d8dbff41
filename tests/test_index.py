"""Incremental indexing: counts, stable ids, search follows the folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb import load as kbload
from kb import store as kbstore
from kb.errors import IndexIncompatible, IndexMissing, NotAnIndex

from .conftest import NESTED_MD, PLAIN_TXT, SAMPLE


def make_kb(tmp_path: Path) -> KnowledgeBase:
    return KnowledgeBase(corpus=tmp_path / "corpus", index=tmp_path / "index")


def test_search_without_index_raises_index_missing(tiny_corpus, tmp_path):
    with make_kb(tmp_path) as kb, pytest.raises(IndexMissing):
        kb.search("harassment")


def test_incremental_add_update_remove(tiny_corpus, tmp_path):
    kb = make_kb(tmp_path)
    r = kb.update()
    assert (len(r.added), len(r.updated), len(r.removed), r.unchanged) == (3, 0, 0, 0)
    ids_before = {p.id: p.text for p in kb.passages() if p.doc == SAMPLE.name}

    # add three, edit one, delete one
    for i in range(3):
        (tiny_corpus / f"new-{i}.md").write_text(
            f"# New report {i}\n\nThe zebrafish protocol {i} covers workplace mediation.\n",
            encoding="utf-8")
    (tiny_corpus / "peer-support.txt").write_text(
        PLAIN_TXT.replace("twelve duty stations", "forty duty stations with quokka mentors"),
        encoding="utf-8")
    (tiny_corpus / "guides" / "safe-workplaces.md").unlink()
    stale = kb.staleness()
    assert (len(stale.new), len(stale.changed), len(stale.deleted)) == (3, 1, 1)

    r = kb.update()
    assert sorted(r.added) == ["new-0.md", "new-1.md", "new-2.md"]
    assert r.updated == ["peer-support.txt"]
    assert r.removed == ["guides/safe-workplaces.md"]
    assert r.unchanged == 1
    assert r.passages_added >= 4 and r.passages_removed >= 1
    # unchanged passages keep their ids and text
    assert {p.id: p.text for p in kb.passages() if p.doc == SAMPLE.name} == ids_before
    # search follows the change
    assert kb.search("quokka").total >= 1
    assert kb.search("zebrafish").total == 3
    assert kb.search("twelve duty").total == 0 or all(
        h.doc != "peer-support.txt" for h in kb.search("twelve").hits)
    assert all(not h.doc.startswith("guides/") for h in kb.search("focal point", limit=50).hits)
    assert kb.staleness().count == 0
    kb.close()


def test_unchanged_files_are_not_read_again(tiny_corpus, tmp_path, monkeypatch):
    kb = make_kb(tmp_path)
    kb.update()
    calls = []
    real = kbload.load

    def spy(f):
        calls.append(f.id)
        return real(f)

    monkeypatch.setattr(kbload, "load", spy)
    os.utime(tiny_corpus / "peer-support.txt")  # touched, same content
    r = kb.update()
    assert calls == [] and r.unchanged == 3 and not r.updated
    kb.close()


def test_rebuild_gives_same_passages(tiny_corpus, tmp_path):
    kb = make_kb(tmp_path)
    kb.update()
    first = [(p.id, p.text) for p in kb.passages()]
    r = kb.update(rebuild=True)
    assert r.rebuilt and len(r.updated) == 3
    assert [(p.id, p.text) for p in kb.passages()] == first
    gens = [n for n in os.listdir(tmp_path / "index") if n.startswith("g")]
    assert len(gens) == 1  # the old generation is gone
    kb.close()


@pytest.mark.parametrize("command", ["search", "export"])
def test_search_and_export_rebuild_an_older_kbs_index_and_say_so(tiny_corpus, tmp_path,
                                                                  command):
    """After upgrading kb, the first search rebuilds the index (as `kb index` does)
    with a line on stderr, rather than stopping with "run kb index --rebuild"; an
    index of a newer kb is still refused (exit 2) and left as it is."""
    from click.testing import CliRunner

    from kb.cli import cli

    where = ["--corpus", str(tiny_corpus), "--index", str(tmp_path / "index")]
    make_kb(tmp_path).update()
    marker_path = tmp_path / "index" / kbstore.MARKER
    marker = json.loads(marker_path.read_text())
    marker["schema"] = kbstore.SCHEMA_VERSION - 1
    marker_path.write_text(json.dumps(marker))
    st = CliRunner().invoke(cli, ["status", *where], catch_exceptions=False)
    assert st.exit_code == 2 and f"schema:    {kbstore.SCHEMA_VERSION - 1}" in st.stdout
    assert "built by an older kb" in st.stderr and "run `kb index" in st.stderr
    r = CliRunner().invoke(cli, [command, "harassment", *where], catch_exceptions=False)
    assert r.exit_code == 0, r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith(f"The index was built by an older kb (schema "
                            f"{kbstore.SCHEMA_VERSION - 1}, now {kbstore.SCHEMA_VERSION}): "
                            "rebuilding it from "), first
    assert "harassment" in r.stdout.lower()
    assert json.loads(marker_path.read_text())["schema"] == kbstore.SCHEMA_VERSION
    again = CliRunner().invoke(cli, [command, "harassment", *where], catch_exceptions=False)
    assert again.exit_code == 0 and again.stderr == ""
    newer = json.loads(marker_path.read_text())
    newer["schema"] = kbstore.SCHEMA_VERSION + 1
    marker_path.write_text(json.dumps(newer))
    r = CliRunner().invoke(cli, [command, "harassment", *where], catch_exceptions=False)
    assert r.exit_code == 2 and "newer kb" in r.stderr and len(r.stderr.splitlines()) == 1
    assert json.loads(marker_path.read_text()) == newer


def test_older_schema_is_rebuilt_newer_is_refused(tiny_corpus, tmp_path):
    kb = make_kb(tmp_path)
    kb.update()
    marker_path = tmp_path / "index" / kbstore.MARKER
    marker = json.loads(marker_path.read_text())
    marker["schema"] = kbstore.SCHEMA_VERSION + 1
    marker_path.write_text(json.dumps(marker))
    with pytest.raises(IndexIncompatible, match="newer kb"):
        kb.search("harassment")
    with pytest.raises(IndexIncompatible, match="newer kb"):
        kb.update()
    marker["schema"] = 0
    marker_path.write_text(json.dumps(marker))
    with pytest.raises(IndexIncompatible, match="run `kb index`"):
        kb.search("harassment")
    r = kb.update()  # older: rebuilt automatically
    assert r.rebuilt
    assert kb.search("harassment").total > 0
    kb.close()


def test_foreign_folder_is_never_touched(tiny_corpus, tmp_path):
    foreign = tmp_path / "index"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    kb = make_kb(tmp_path)
    with pytest.raises(NotAnIndex):
        kb.update()
    assert os.listdir(foreign) == ["notes.txt"]


def test_progress_callback_counts_files(tiny_corpus, tmp_path):
    seen = []
    kb = make_kb(tmp_path)
    kb.update(progress=lambda done, total, name: seen.append((done, total)))
    assert seen[-1] == (3, 3)
    kb.close()


def test_context_and_passage(tiny_corpus, tmp_path):
    kb = make_kb(tmp_path)
    kb.update()
    ctx = kb.context(f"{SAMPLE.name}#5", 1)
    assert [p.ordinal for p in ctx] == [4, 5, 6]
    assert [p.ordinal for p in kb.context(f"{SAMPLE.name}#1", 2)] == [1, 2, 3]
    docs = kb.documents()
    assert [d.id for d in docs] == ["guides/safe-workplaces.md", SAMPLE.name, "peer-support.txt"]
    assert sum(d.passages for d in docs) == len(kb.passages())
    kb.close()


def test_skipped_files_are_reported(tiny_corpus, tmp_path):
    (tiny_corpus / "image.png").write_bytes(b"\x89PNG\r\n")
    (tiny_corpus / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    (tiny_corpus / ".hidden.md").write_text("# secret\n\nhidden text\n")
    (tiny_corpus / ".kbignore").write_text("drafts/\n")
    (tiny_corpus / "drafts").mkdir()
    (tiny_corpus / "drafts" / "d.md").write_text("# Draft\n\ndraft text\n")
    kb = make_kb(tmp_path)
    r = kb.update()
    reasons = {s.id: s.reason for s in r.skipped}
    assert "unsupported" in reasons["image.png"]
    assert "binary" in reasons["binary.txt"]
    assert ".hidden.md" not in reasons and "drafts/d.md" not in reasons
    st = kb.status()
    assert {s.id for s in st.skipped} == {"image.png", "binary.txt"}
    assert st.documents == 3
    kb.close()


def test_moved_corpus_copy_is_unchanged(tiny_corpus, tmp_path):
    kb = make_kb(tmp_path)
    kb.update()
    # rewriting identical bytes changes mtime but not the hash: nothing re-indexed
    data = (tiny_corpus / SAMPLE.name).read_bytes()
    (tiny_corpus / SAMPLE.name).unlink()
    (tiny_corpus / SAMPLE.name).write_bytes(data)
    r = kb.update()
    assert r.updated == [] and r.unchanged == 3
    shutil.rmtree(tiny_corpus / "guides")
    assert kb.update().removed == ["guides/safe-workplaces.md"]
    kb.close()


def test_nested_md_fixture_is_searchable(tiny_corpus, tmp_path):
    kb = make_kb(tmp_path)
    kb.update()
    hits = kb.search("formal investigation").hits
    assert hits[0].heading_path == ("Reporting", "Formal investigation")
    assert NESTED_MD  # fixture used
    kb.close()


def test_a_file_that_failed_is_not_reported_as_new_forever(tiny_corpus, tmp_path):
    (tiny_corpus / "broken.md").write_bytes(b"\x00\x01binary" * 50)
    kb = make_kb(tmp_path)
    r = kb.update()
    assert [s.id for s in r.skipped] == ["broken.md"]
    assert kb.staleness().count == 0
    (tiny_corpus / "fresh.md").write_text("# Fresh\n\nA new file.\n")
    assert kb.staleness().new == ["fresh.md"]
    kb.close()
