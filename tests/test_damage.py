"""A damaged index (issue 18): every kind of index file with its bytes flipped, cut
short or deleted.  Whatever the damage, a command either answers exactly as the
sound index does or says, in one line and with exit 2, "The index at … is damaged
(…): run `kb index --rebuild`" (never "a bug in kb"); ``kb status --check`` reports
it; ``kb index --rebuild`` repairs it.  Also: the checksums stay right through
updates, merges and parallel builds; a rebuild never reads the old index; a real
bug is still reported as one; the web server and the watcher say "damaged" too.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import store as kbstore
from kb.api import KnowledgeBase
from kb.cli import cli

from .conftest import NESTED_MD, PLAIN_TXT, SAMPLE, SAMPLE_ID

#: the index files, by kind: where they are (a glob in the generation folder, or the
#: marker in the index folder)
KINDS = {
    "terms (.trm)": "*.trm",
    "postings (.pst)": "*.pst",
    "stored passages (_stored.col)": "*._stored.col",
    "field lengths (_text_len.col)": "*._text_len.col",
    "table of contents (.toc)": "_MAIN_*.toc",
    "ranking arrays (.kr0)": "*.kr0",
    "file table (files-N.json)": "files-*.json",
    "checksums (sums-N.json)": "sums-*.json",
    "marker (kb-index.json)": kbstore.MARKER,
}
MODES = ("flipped", "truncated", "deleted")

#: what a search does, where it is not "damaged": the damage is worked around and the
#: answers are exactly those of the sound index ("works"), or there is no index any
#: more, and the search builds one ("rebuilt")
SEARCH_WORKS = {
    # nothing a search or `kb show` reads: they answer from the ranking arrays and
    # the stored passages; `kb status --check` finds it
    ("postings (.pst)", "flipped"): "works",
    ("field lengths (_text_len.col)", "flipped"): "works",
    # the checksums are not needed to answer; `kb status --check` reports them
    ("checksums (sums-N.json)", "flipped"): "works",
    ("checksums (sums-N.json)", "truncated"): "works",
    ("checksums (sums-N.json)", "deleted"): "works",
    # no marker, no index: a search builds a new one (the old folder is kb's own)
    ("marker (kb-index.json)", "deleted"): "rebuilt",
}


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args))


def one_line_damaged(r, index: Path) -> None:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    err = r.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"Error: The index at {index} is damaged ("), err
    assert "kb index --rebuild" in err and "bug in kb" not in err
    assert "Traceback" not in r.output


def results(r) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)["results"]  # type: ignore[no-any-return]


def damage(path: Path, mode: str) -> None:
    if mode == "deleted":
        path.unlink()
    elif mode == "truncated":
        os.truncate(path, path.stat().st_size // 2)
    else:  # random-looking bytes: one in 64 flipped, from the first
        data = bytearray(path.read_bytes())
        for i in range(0, len(data), 64):
            data[i] ^= 0xA5
        path.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A small corpus, its sound index, and what searches answer from it."""
    base = tmp_path_factory.mktemp("damage")
    corpus = base / "corpus"
    (corpus / "guides").mkdir(parents=True)
    (corpus / "guides" / "safe-workplaces.md").write_text(NESTED_MD, encoding="utf-8")
    (corpus / "peer-support.txt").write_text(PLAIN_TXT, encoding="utf-8")
    shutil.copy(SAMPLE, corpus / SAMPLE_ID)
    index = base / "index"
    KnowledgeBase(corpus, index).update()
    where = ["--corpus", str(corpus), "--index", str(index)]
    hits = results(invoke("search", "harassment", "--format", "json", *where))
    ref = hits[0]["ref"]
    shown = invoke("show", str(ref), *where)
    assert shown.exit_code == 0
    return {"corpus": corpus, "index": index, "hits": hits, "ref": ref, "shown": shown.stdout}


def copy_index(pristine: dict[str, object], tmp_path: Path) -> tuple[Path, list[str]]:
    index = tmp_path / "index"
    shutil.copytree(pristine["index"], index)  # type: ignore[arg-type]
    return index, ["--corpus", str(pristine["corpus"]), "--index", str(index)]


def index_file(index: Path, kind: str) -> Path:
    pattern = KINDS[kind]
    if pattern == kbstore.MARKER:
        return index / pattern
    (gen,) = [p for p in index.iterdir() if kbstore.GEN_DIR.match(p.name)]
    (path,) = gen.glob(pattern)
    return path


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_of_damage_is_reported_checked_and_repaired(pristine, tmp_path, kind,
                                                               mode):
    index, where = copy_index(pristine, tmp_path)
    path = index_file(index, kind)
    damage(path, mode)

    # (a) searching: "damaged" in one line, exit 2; or, where kb works around it,
    # exactly the answers of the sound index
    expect = SEARCH_WORKS.get((kind, mode), "damaged")
    search = invoke("search", "harassment", "--format", "json", *where)
    show = invoke("show", str(pristine["ref"]), *where)
    if expect == "damaged":
        one_line_damaged(search, index)
        if path.name != kbstore.MARKER:
            assert path.name in search.stderr  # the message names the damaged file
    else:
        assert results(search) == pristine["hits"]
    # `kb show` reads other files (the postings of the reference, not the ranking
    # arrays): the same passage, or damaged
    if show.exit_code == 0:
        assert show.stdout == pristine["shown"]
    else:
        one_line_damaged(show, index)

    # (b) kb status --check reports it (here the marker deleted, the search above
    # built a new index: nothing is damaged any more)
    check = invoke("status", "--check", *where)
    if expect == "rebuilt":
        assert check.exit_code == 0 and "is sound" in check.stdout
    else:
        one_line_damaged(check, index)
        lines = check.stdout.splitlines()
        assert lines and all(line.startswith("damaged: ") for line in lines), lines
        assert path.name in check.stdout
        as_json = invoke("status", "--check", "--format", "json", *where)
        assert as_json.exit_code == 2
        report = json.loads(as_json.stdout)
        assert report["sound"] is False and report["problems"]

    # (c) kb index --rebuild repairs it: the same answers, and a sound index
    rebuilt = invoke("index", "--rebuild", *where)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert results(invoke("search", "harassment", "--format", "json", *where)) == \
        pristine["hits"]
    check = invoke("status", "--check", *where)
    assert check.exit_code == 0 and "is sound" in check.stdout, check.output
    # the damaged generation is gone, the new one is the only one
    assert len([p for p in index.iterdir() if kbstore.GEN_DIR.match(p.name)]) == 1


def test_a_truncated_postings_file_is_found_by_status_and_by_check(pristine, tmp_path):
    """The issue's case: a .pst cut short went unnoticed by `kb status` and searches."""
    index, where = copy_index(pristine, tmp_path)
    damage(index_file(index, "postings (.pst)"), "truncated")
    for args in (["status"], ["status", "--check"], ["search", "harassment"],
                 ["search", '"zero tolerance"~3'], ["docs"], ["index"]):
        r = invoke(*args, *where)
        one_line_damaged(r, index)
        assert "truncated" in r.stderr and ".pst" in r.stderr


def test_rebuild_works_whatever_state_every_index_file_is_in(pristine, tmp_path):
    """Every file of the index (marker included) replaced by random bytes: a rebuild
    does not read any of them, and builds the index again from the corpus."""
    index, where = copy_index(pristine, tmp_path)
    for p in index.rglob("*"):
        if p.is_file() and p.name != kbstore.LOCK:
            p.write_bytes(os.urandom(max(64, p.stat().st_size)))
    one_line_damaged(invoke("search", "harassment", *where), index)
    r = invoke("index", "--rebuild", *where)
    assert r.exit_code == 0, r.output
    assert results(invoke("search", "harassment", "--format", "json", *where)) == \
        pristine["hits"]


def test_rebuild_never_opens_the_old_index(pristine, tmp_path, monkeypatch):
    index, where = copy_index(pristine, tmp_path)
    from kb.engine import whoosh_engine

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rebuild opened the old index")

    monkeypatch.setattr(whoosh_engine.WhooshEngine, "open", refuse)
    monkeypatch.setattr(whoosh_engine.WhooshEngine, "writer", refuse)
    monkeypatch.setattr(kbstore, "open_generation", refuse)
    r = invoke("index", "--rebuild", *where)
    assert r.exit_code == 0, r.output
    assert "updated 3" in r.stdout  # the old file table, read on its own, for the report


def test_the_old_index_stays_until_the_new_one_is_committed(pristine, tmp_path,
                                                             monkeypatch):
    """A rebuild of a damaged index that fails leaves it as it was (and says why)."""
    index, where = copy_index(pristine, tmp_path)
    damage(index_file(index, "terms (.trm)"), "flipped")
    before = {p: p.read_bytes() for p in index.rglob("*") if p.is_file()}
    from kb.engine import segwriter

    def boom(self: object, *args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(segwriter.KbSegmentWriter, "_commit_toc", boom)
    r = invoke("index", "--rebuild", *where)
    assert r.exit_code == 2 and "No space left" in r.stderr
    assert {p: p.read_bytes() for p in index.rglob("*") if p.is_file()} == before


def test_a_bug_is_still_reported_as_a_bug(pristine, tmp_path, monkeypatch):
    """An error while reading a sound index (its files match their checksums) is not
    blamed on the index."""
    index, where = copy_index(pristine, tmp_path)
    from kb.engine import ranker

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("a bug in the ranker")

    monkeypatch.setattr(ranker, "rank", broken)
    r = invoke("search", "harassment", *where)
    assert r.exit_code == 2
    assert "unexpected ValueError: a bug in the ranker; this is a bug in kb" in r.stderr
    assert "damaged" not in r.stderr
    monkeypatch.setattr(ranker.Ranker, "__init__", broken)
    r = invoke("search", "harassment", *where)
    assert r.exit_code == 2 and "bug in kb" in r.stderr and "damaged" not in r.stderr


def test_an_index_without_checksums_is_damaged_by_the_kind_of_error(pristine, tmp_path):
    """An index written by an earlier kb has no sums-N.json: a file-format error is
    damage; `kb status --check` reads it through the engine."""
    index, where = copy_index(pristine, tmp_path)
    gen = index_file(index, "file table (files-N.json)").parent
    for p in gen.glob("sums-*.json"):
        p.unlink()
    marker = json.loads((index / kbstore.MARKER).read_text())
    del marker["sums"]
    (index / kbstore.MARKER).write_text(json.dumps(marker))
    check = invoke("status", "--check", *where)
    assert check.exit_code == 0 and "no checksums recorded" in check.stdout, check.output
    damage(index_file(index, "terms (.trm)"), "flipped")
    r = invoke("search", "harassment", *where)
    one_line_damaged(r, index)
    assert "FileFormatError" in r.stderr
    one_line_damaged(invoke("status", "--check", *where), index)
    assert invoke("index", "--rebuild", *where).exit_code == 0
    assert invoke("status", "--check", *where).exit_code == 0


def test_damaged_ranking_arrays_in_an_index_without_checksums(pristine, tmp_path):
    """A part file that is there but cannot be read is damage (a missing one is
    derived from Whoosh there: tests/test_ranker.py)."""
    index, where = copy_index(pristine, tmp_path)
    for p in index.rglob("sums-*.json"):
        p.unlink()
    damage(index_file(index, "ranking arrays (.kr0)"), "truncated")
    r = invoke("search", "harassment", *where)
    one_line_damaged(r, index)
    assert ".kr0" in r.stderr


def test_checksums_stay_right_through_updates_merges_and_touches(tmp_path, monkeypatch):
    """Incremental updates (new segments, merges that delete segments), an update that
    only rewrites the file table (a file touched), and a parallel build: after each,
    the recorded checksums match, and only the current version's manifest is kept."""
    from kb.engine import parallel

    from .corpusgen import make_corpus, mutate

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    make_corpus(corpus, files=24, sections=3, paras=4)
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    monkeypatch.setenv(parallel.WORKERS_ENV, "2")
    kb = KnowledgeBase(corpus, index)
    kb.update()
    gen = next(p for p in index.iterdir() if kbstore.GEN_DIR.match(p.name))
    assert len(list(gen.glob("*.kr0"))) == 2  # one segment per worker
    assert kb.check().sound
    segments = set()
    for step in range(1, 7):
        mutate(corpus, step)
        kb.update()
        rep = kb.check()
        assert rep.sound and rep.recorded, rep.problems
        assert [p.name for p in gen.glob("sums-*.json")] == [f"sums-{rep.version}.json"]
        segments.update(p.stem for p in gen.glob("*.pst"))
    assert len(segments) > 4  # segments came and went (merges)
    touched = next(p for p in sorted(corpus.rglob("*")) if p.is_file())
    os.utime(touched, (time.time() + 10, time.time() + 10))
    version = kb.check().version
    kb.update()
    rep = kb.check()
    assert rep.sound and rep.version == version  # the file table rewritten in place
    kb.close()


def test_an_update_of_a_damaged_index_says_so_and_never_records_the_damage(pristine,
                                                                           tmp_path):
    """`kb index` on a damaged index: damaged in one line when it runs into the damage;
    when it does not (a file it does not read), the damaged file keeps the checksum
    it was written with, so the update cannot make it look sound."""
    corpus = Path(pristine["corpus"])  # type: ignore[arg-type]
    index, where = copy_index(pristine, tmp_path)
    damage(index_file(index, "postings (.pst)"), "truncated")
    one_line_damaged(invoke("index", *where), index)

    index2, where2 = copy_index(pristine, tmp_path / "2")
    pst = index_file(index2, "postings (.pst)")
    damage(pst, "flipped")
    (corpus / "new.txt").write_text(
        "A new note on harassment reporting in the field offices. " * 5, encoding="utf-8")
    try:
        r = invoke("index", *where2)
        if r.exit_code != 0:
            one_line_damaged(r, index2)
        check = invoke("status", "--check", *where2)
        one_line_damaged(check, index2)
        assert pst.name in check.stdout
        assert invoke("index", "--rebuild", *where2).exit_code == 0
        assert invoke("status", "--check", *where2).exit_code == 0
    finally:
        (corpus / "new.txt").unlink()


def test_the_web_server_answers_a_damaged_index_with_the_line(pristine, tmp_path, caplog):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        from starlette.testclient import TestClient
    from kb.web import create_app

    index, _ = copy_index(pristine, tmp_path)
    damage(index_file(index, "stored passages (_stored.col)"), "truncated")
    kb = KnowledgeBase(pristine["corpus"], index)  # type: ignore[arg-type]
    with TestClient(create_app(kb, watch=True), base_url="http://127.0.0.1:8765") as c:
        r = c.get("/api/search?q=harassment")
        assert r.status_code == 503
        assert r.json()["error"].startswith(f"The index at {index} is damaged (")
        page = c.get("/?q=harassment")
        assert page.status_code == 503 and "is damaged" in page.text
        assert "Traceback" not in page.text
        status = c.get("/api/status")
        assert status.status_code == 503 and "is damaged" in status.json()["error"]
        # repaired behind the server's back: it answers again, no restart
        KnowledgeBase(pristine["corpus"], index).update(rebuild=True)  # type: ignore[arg-type]
        r = c.get("/api/search?q=harassment")
        assert r.status_code == 200 and r.json()["results"] == pristine["hits"]
    kb.close()
    assert "Traceback" not in caplog.text


def test_the_watcher_reports_a_damaged_index_and_keeps_watching(pristine, tmp_path):
    from kb.watch import Watcher

    index, _ = copy_index(pristine, tmp_path)
    damage(index_file(index, "postings (.pst)"), "truncated")
    errors: list[str] = []
    kb = KnowledgeBase(pristine["corpus"], index)  # type: ignore[arg-type]
    w = Watcher(kb, debounce=0.1, on_error=errors.append).start()
    try:
        deadline = time.monotonic() + 20
        while not errors and time.monotonic() < deadline:
            time.sleep(0.05)
        assert errors and "is damaged" in errors[0] and "kb index --rebuild" in errors[0]
        time.sleep(1.0)
        assert len(errors) == 1  # said once: no loop
        assert w._thread is not None and w._thread.is_alive()
    finally:
        w.stop()
        kb.close()


def test_check_reports_every_problem_one_line_each(pristine, tmp_path):
    index, where = copy_index(pristine, tmp_path)
    damage(index_file(index, "postings (.pst)"), "truncated")
    damage(index_file(index, "stored passages (_stored.col)"), "flipped")
    damage(index_file(index, "ranking arrays (.kr0)"), "deleted")
    r = invoke("status", "--check", *where)
    one_line_damaged(r, index)
    assert "3 problems" in r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 3
    assert any(".pst: truncated (" in line for line in lines)
    assert any("._stored.col: its bytes changed" in line for line in lines)
    assert any(".kr0: missing" in line for line in lines)


def test_check_without_an_index_and_of_a_sound_one(pristine, tmp_path):
    r = invoke("status", "--check", "--index", str(tmp_path / "none"))
    assert r.exit_code == 2 and "no index" in r.stderr
    index, where = copy_index(pristine, tmp_path)
    r = invoke("status", "--check", *where)
    assert r.exit_code == 0 and r.stdout.startswith(f"The index at {index} is sound")
    report = json.loads(invoke("status", "--check", "--format", "json", *where).stdout)
    assert report["sound"] is True and report["checksums"] is True
    assert report["files"] >= 9 and report["problems"] == []


def test_a_manifest_of_a_version_never_committed_is_replaced(pristine, tmp_path):
    """kill -9 between the manifest and the commit leaves sums-<N+1>.json of a version
    that does not exist; the next writer of that version writes its own."""
    from kb import integrity

    index, where = copy_index(pristine, tmp_path)
    gen = index_file(index, "file table (files-N.json)").parent
    stale = integrity.sums_path(gen, 2)
    stale.write_text('{"format": "kb-sums", "version": 2, "files": {}, "check": "x"}')
    assert invoke("status", "--check", *where).exit_code == 0  # not the current version
    (Path(pristine["corpus"]) / "later.txt").write_text(  # type: ignore[arg-type]
        "A later note on bystander training for managers. " * 5, encoding="utf-8")
    try:
        assert invoke("index", *where).exit_code == 0
        r = invoke("status", "--check", *where)
        assert r.exit_code == 0 and "version 2" in r.stdout, r.output
    finally:
        (Path(pristine["corpus"]) / "later.txt").unlink()  # type: ignore[arg-type]
