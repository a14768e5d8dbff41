"""The watcher (kb/watch.py) and `kb watch`: the index keeps itself fresh."""

from __future__ import annotations

import logging
import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kb import KnowledgeBase
from kb import store
from kb.errors import KbError
from kb.watch import Watcher

from .corpusgen import make_corpus
from .killloop import default_sigint

ROOT = Path(__file__).resolve().parent.parent


def _text(word: str, title: str = "Note") -> str:
    return f"# {title}\n\n" + " ".join([word, "field", "report", "staff"] * 15) + "\n"


def wait_for(cond: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``cond`` until it is true (the watcher works in the background)."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        time.sleep(0.02)


@pytest.fixture()
def kb(tmp_path: Path) -> KnowledgeBase:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "first.md").write_text(_text("alpha"), encoding="utf-8")
    k = KnowledgeBase(corpus, tmp_path / "index")
    k.update()
    yield k
    k.close()


@pytest.fixture()
def watcher(kb: KnowledgeBase):
    made: list[Watcher] = []

    def make(**kw: object) -> Watcher:
        w = Watcher(kb, **{"debounce": 0.2, **kw})  # type: ignore[arg-type]
        made.append(w)
        return w.start()

    yield make
    for w in made:
        w.stop()


def hits(kb: KnowledgeBase, word: str) -> int:
    return kb.search(word).total


def test_added_changed_and_deleted_files_reach_searches(kb, watcher):
    seen: list[object] = []
    w = watcher(on_update=seen.append)
    start = w.state
    assert start["running"] is False and start["last_error"] is None and start["updates"] == 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", start["last_update"])
    corpus = kb.corpus

    (corpus / "new.md").write_text(_text("quartzite"), encoding="utf-8")
    wait_for(lambda: hits(kb, "quartzite") == 1, what="the new file")
    (corpus / "new.md").write_text(_text("basaltic"), encoding="utf-8")
    wait_for(lambda: hits(kb, "basaltic") == 1 and hits(kb, "quartzite") == 0,
             what="the changed file")
    (corpus / "sub").mkdir()
    os.rename(corpus / "first.md", corpus / "sub" / "moved.md")  # a move: delete + add
    wait_for(lambda: [d.id for d in kb.documents()] == ["new.md", "sub/moved.md"],
             what="the moved file")
    (corpus / "new.md").unlink()
    wait_for(lambda: hits(kb, "basaltic") == 0, what="the deleted file")
    # (a search sees an update as soon as it commits, the state a moment later)
    wait_for(lambda: seen and seen[-1].removed == ["new.md"], what="on_update")

    st = w.state
    assert st["updates"] == len(seen) >= 4
    assert st["last_error"] is None and st["running"] is False
    assert st["last_update"] >= start["last_update"]
    assert [r.removed for r in seen][-1] == ["new.md"]


def test_quick_writes_are_one_update(kb, watcher):
    w = watcher(debounce=0.5)
    target = kb.corpus / "draft.md"
    words = "amber beryl coral dolomite emerald flint garnet hematite ivory jade".split()
    for word in words:  # an editor saving ten times in half a second
        target.write_text(_text(word), encoding="utf-8")
        time.sleep(0.05)
    wait_for(lambda: hits(kb, "jade") == 1, what="the last version")
    time.sleep(0.8)  # past the debounce: nothing more is coming
    assert 1 <= w.state["updates"] <= 2  # (2: the start's catch-up saw the first write)
    assert hits(kb, "garnet") == 0


def test_what_the_walk_ignores_starts_no_update(kb, watcher):
    w = watcher()
    corpus = kb.corpus
    (corpus / "real.md").write_text(_text("granite"), encoding="utf-8")
    wait_for(lambda: w.state["updates"] == 1 and hits(kb, "granite") == 1)
    n = w.state["updates"]
    (corpus / ".hidden.md").write_text(_text("hidden"), encoding="utf-8")
    (corpus / ".git").mkdir()
    (corpus / ".git" / "x.md").write_text("x", encoding="utf-8")
    (corpus / "real.md~").write_text("backup", encoding="utf-8")
    (corpus / "~$real.docx").write_text("lock", encoding="utf-8")
    (corpus / ".~lock.real.docx#").write_text("lock", encoding="utf-8")
    (corpus / "Thumbs.db").write_bytes(b"\0")
    (corpus / "notes.xyz").write_text("not a document", encoding="utf-8")
    time.sleep(0.8)  # a few debounce periods: an update would have run
    assert w.state["updates"] == n


def test_the_filter(kb, tmp_path):
    w = Watcher(kb)
    (kb.corpus / "kept.md").write_text("x", encoding="utf-8")
    (kb.corpus / "image.png").write_bytes(b"x")
    (kb.corpus / ".kbignore").write_text("drafts/\n*.tmp.md\n", encoding="utf-8")
    c = str(kb.corpus)
    relevant = {p: w._relevant(None, os.path.join(c, p)) for p in (
        "kept.md", "gone.md", "gone-folder", "image.png", ".kbignore", ".hidden.md",
        "sub/.cache/x.md", "report.md~", "~$report.docx", "__MACOSX/x.md", "Thumbs.db",
        "drafts/a.md", "x.tmp.md")}
    assert relevant == {
        "kept.md": True, "gone.md": True, "gone-folder": True, ".kbignore": True,
        "image.png": False, ".hidden.md": False, "sub/.cache/x.md": False,
        "report.md~": False, "~$report.docx": False, "__MACOSX/x.md": False,
        "Thumbs.db": False, "drafts/a.md": False, "x.tmp.md": False}


def test_an_index_inside_the_corpus_does_not_update_itself_forever(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text(_text("alpha"), encoding="utf-8")
    kb = KnowledgeBase(corpus, corpus / "kbindex")  # not hidden: only the watcher skips it
    kb.update()
    w = Watcher(kb, debounce=0.1).start()
    try:
        (corpus / "b.md").write_text(_text("bravo"), encoding="utf-8")
        wait_for(lambda: hits(kb, "bravo") == 1)
        time.sleep(0.6)  # its own writes would have started more updates by now
        assert w.state["updates"] == 1
    finally:
        w.stop()
        kb.close()


def test_stop_is_prompt(kb, watcher):
    w = watcher()
    t0 = time.monotonic()
    w.stop()
    assert time.monotonic() - t0 < 2
    assert not w._thread.is_alive()


def test_stop_abandons_a_running_update(kb, watcher, tmp_path):
    many = make_corpus(tmp_path / "many", files=800, sections=1, paras=2)
    w = watcher(debounce=0.05)
    os.rename(many, kb.corpus / "many")  # 800 files arrive at once: a long update
    wait_for(lambda: w.state["running"], what="the update to start")
    t0 = time.monotonic()
    w.stop()
    assert time.monotonic() - t0 < 2
    assert not w._thread.is_alive()
    assert w.state["updates"] == 0 and w.state["running"] is False
    assert [d.id for d in kb.documents()] == ["first.md"]  # the index as it was


def test_a_locked_index_is_tried_again(kb, watcher, monkeypatch, caplog):
    monkeypatch.setattr("kb.watch.RETRY_LOCKED", 0.2)
    caplog.set_level(logging.INFO, logger="kb.watch")
    held = threading.Event()
    release = threading.Event()

    def other_writer() -> None:  # as another `kb index`
        with store.write_lock(kb.index):
            held.set()
            release.wait(30)

    t = threading.Thread(target=other_writer)
    t.start()
    try:
        held.wait(5)
        w = watcher()
        (kb.corpus / "late.md").write_text(_text("obsidian"), encoding="utf-8")
        wait_for(lambda: sum("another update is running" in r.getMessage()
                             for r in caplog.records) >= 2, what="two tries")
        assert hits(kb, "obsidian") == 0 and w.state["updates"] == 0
        assert w.state["last_error"] is None  # waiting for a lock is no error
    finally:
        release.set()
        t.join()
    wait_for(lambda: w.state["updates"] == 1, what="the update after the lock")
    assert hits(kb, "obsidian") == 1 and w.state["last_error"] is None


def test_an_update_error_is_recorded_and_the_watcher_survives(kb, watcher, monkeypatch):
    real = kb.update
    errors: list[str] = []
    calls = {"n": 0}

    def flaky(*a: object, **kw: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KbError("cannot write the index in /x: No space left on device\n(details)")
        if calls["n"] == 3:
            raise RuntimeError("a bug")
        return real(*a, **kw)

    monkeypatch.setattr(kb, "update", flaky)
    w = watcher(on_error=errors.append)
    wait_for(lambda: calls["n"] >= 1, what="the catch-up")
    (kb.corpus / "one.md").write_text(_text("jasper"), encoding="utf-8")
    wait_for(lambda: w.state["last_error"] is not None)
    assert w.state["last_error"] == ("update failed: cannot write the index in /x: "
                                     "No space left on device (details)")
    (kb.corpus / "one.md").write_text(_text("onyx"), encoding="utf-8")
    wait_for(lambda: len(errors) == 2)
    assert errors[1] == "update failed: RuntimeError: a bug"
    assert w._thread.is_alive()
    (kb.corpus / "one.md").write_text(_text("peridot"), encoding="utf-8")
    wait_for(lambda: w.state["updates"] == 1, what="the next update")
    assert hits(kb, "peridot") == 1 and w.state["last_error"] is None


def test_start_needs_a_corpus_folder(tmp_path):
    from kb.errors import CorpusNotFound

    with pytest.raises(CorpusNotFound):
        Watcher(KnowledgeBase(tmp_path / "nope", tmp_path / "index")).start()


def test_a_watcher_builds_a_missing_index(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text(_text("alpha"), encoding="utf-8")
    kb = KnowledgeBase(corpus, tmp_path / "index")
    w = Watcher(kb, debounce=0.1).start()
    try:
        assert w.state["last_update"] is None
        wait_for(lambda: w.state["updates"] == 1)
        assert hits(kb, "alpha") == 1 and w.state["last_update"] is not None
    finally:
        w.stop()
        kb.close()


# -- kb watch -------------------------------------------------------------------


def _readline(p: subprocess.Popen[str], timeout: float = 20.0, stream: object = None) -> str:
    """The next line of ``p``'s stdout (or ``stream``), waiting at most ``timeout``."""
    f = p.stdout if stream is None else stream
    sel = selectors.DefaultSelector()
    sel.register(f, selectors.EVENT_READ)  # type: ignore[arg-type]
    try:
        if not sel.select(timeout):
            raise AssertionError("no line from kb watch")
        return f.readline()  # type: ignore[union-attr, no-any-return]
    finally:
        sel.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_kb_watch_prints_updates_and_stops_cleanly(kb, sig):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    p = subprocess.Popen(
        [sys.executable, "-m", "kb", "watch", "--debounce", "0.1",
         "--corpus", str(kb.corpus), "--index", str(kb.index)],
        cwd=kb.corpus.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=default_sigint)
    try:
        assert _readline(p) == "watching corpus/ — Ctrl-C to stop\n"
        (kb.corpus / "new\x1b[31m.md").write_text(_text("feldspar"), encoding="utf-8")
        line = _readline(p)
        assert re.fullmatch(r"\d\d:\d\d:\d\d updated: \+1 ~0 -0 files \(\d+\.\d s\): "
                            r"\+new␛\[31m\.md\n", line), line
        (kb.corpus / "new\x1b[31m.md").unlink()
        assert re.fullmatch(r"\d\d:\d\d:\d\d updated: \+0 ~0 -1 files .*\n", _readline(p))
        (kb.corpus / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
        line = _readline(p)  # a file it could not index is named, with the reason
        assert re.fullmatch(r"\d\d:\d\d:\d\d updated: \+0 ~0 -0 files \(\d+\.\d s\); "
                            r"not indexed: broken\.pdf \(.+\)\n", line), line
        p.send_signal(sig)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0
    assert out == ""
    assert err == "stopped watching\n"


def test_kb_watch_reports_a_missing_corpus(tmp_path):
    from click.testing import CliRunner

    from kb.cli import cli

    r = CliRunner().invoke(cli, ["watch", "--corpus", str(tmp_path / "nope"),
                                 "--index", str(tmp_path / "index")])
    assert r.exit_code == 2
    assert r.output.count("\n") == 1 and "corpus folder" in r.output and "does not exist" \
        in r.output


def test_import_kb_and_help_load_no_watchfiles():
    from .test_imports import _CLI, loaded

    assert not {m for m in loaded("import kb") if m.startswith(("watchfiles", "anyio"))}
    mods = loaded(_CLI.format(args=["watch", "--help"]))
    assert "kb.cli" in mods
    assert not {m for m in mods if m.startswith(("watchfiles", "anyio", "kb.watch"))}


def _interrupt(p: subprocess.Popen[str]) -> tuple[str, str]:
    """Ctrl-C to a running `kb watch`; its stdout and stderr (killed if it hangs)."""
    try:
        p.send_signal(signal.SIGINT)
        return p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()


def _kb_watch(kb: KnowledgeBase) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    p = subprocess.Popen(
        [sys.executable, "-m", "kb", "watch", "--debounce", "0.1",
         "--corpus", str(kb.corpus), "--index", str(kb.index)],
        cwd=kb.corpus.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, preexec_fn=default_sigint)
    assert _readline(p).startswith("watching ")
    return p


def test_kb_watch_prints_a_failed_update_as_one_line_and_goes_on(kb, tmp_path):
    p = _kb_watch(kb)
    try:
        other = tmp_path / "other"
        other.mkdir()
        (other / "x.md").write_text(_text("zircon"), encoding="utf-8")
        KnowledgeBase(other, kb.index).update(rebuild=True)  # the index now belongs to other/
        (kb.corpus / "y.md").write_text(_text("topaz"), encoding="utf-8")
        first = _readline(p, stream=p.stderr)
    finally:
        out, err = _interrupt(p)
    assert p.returncode == 0
    assert re.fullmatch(r"\d\d:\d\d:\d\d error: update failed: the index in .* was built "
                        r"from .*other, not from .*corpus; .*\n", first), first
    assert out == "" and err == "stopped watching\n"  # one line each, no traceback


def test_kb_watch_ends_when_its_reader_goes_away(kb):
    p = _kb_watch(kb)
    try:
        p.stdout.close()  # type: ignore[union-attr]  # as `kb watch | head -1`
        (kb.corpus / "y.md").write_text(_text("topaz"), encoding="utf-8")
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0 and err == "stopped watching\n"


def test_a_corpus_folder_removed_and_restored_is_watched_again(kb, watcher, tmp_path):
    errors: list[str] = []
    w = watcher(on_error=errors.append)
    corpus = kb.corpus
    (corpus / "b.md").write_text(_text("beryllium"), encoding="utf-8")
    wait_for(lambda: w.state["updates"] == 1)
    os.rename(corpus, tmp_path / "away")  # moved away: the update fails, watching waits
    wait_for(lambda: len(errors) >= 2, what="the errors")
    time.sleep(0.5)
    assert errors[0].startswith("update failed: corpus folder") and "does not exist" in errors[0]
    assert errors[1].startswith("cannot watch") and len(errors) == 2  # said once
    os.rename(tmp_path / "away", corpus)
    (corpus / "c.md").write_text(_text("cadmium"), encoding="utf-8")
    wait_for(lambda: hits(kb, "cadmium") == 1, what="watching again")
    assert w._thread.is_alive()


def test_kb_watch_rebuilds_an_older_kbs_index_first(kb):
    """After upgrading kb, `kb watch` rebuilds the index (one line on stderr), as
    `kb search` and `kb index` do, and then watches."""
    import json

    from kb import store as kbstore

    marker_path = kb.index / kbstore.MARKER
    marker = json.loads(marker_path.read_text())
    marker["schema"] = kbstore.SCHEMA_VERSION - 1
    marker_path.write_text(json.dumps(marker))
    p = _kb_watch(kb)
    out, err = _interrupt(p)
    assert p.returncode == 0
    assert err.splitlines()[0].startswith("The index was built by an older kb (schema "), err
    assert err.splitlines()[-1] == "stopped watching"
    assert json.loads(marker_path.read_text())["schema"] == kbstore.SCHEMA_VERSION
