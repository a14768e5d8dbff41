"""One KnowledgeBase shared by threads (a web server's threadpool) while updates run.

Reader threads search, show and list documents for a few seconds while another
thread changes the corpus and updates the index through the same
KnowledgeBase (adding, changing and deleting files; once a full rebuild).  Each
committed state of the index is recorded (with a separate KnowledgeBase, after
the update that made it); every answer a reader got must come whole from one
of those states: no exception, no passage with text its file never had, no
total that no state had.  No file descriptor leaks, and once the updates are
over no file of a replaced generation stays mapped.
"""

from __future__ import annotations

import gc
import os
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kb import KnowledgeBase

QUERIES = ("harassment prevention", "walnut", "cobalt lantern", "version", "\"focal point\"")
WORDS = ("policy staff report training mission field office harassment prevention victim "
         "survivor support network focal point investigation complaint bystander culture "
         "leadership accountability workplace safety review guidance walnut cobalt lantern "
         "meadow ember harbor").split()


def _doc(k: int, version: int) -> str:
    """File ``k`` at ``version``: every passage names both (``doc7 v3``)."""
    rng = random.Random(k * 1000 + version)
    paras = []
    for j in range(3):
        words = " ".join(rng.choice(WORDS) for _ in range(50))
        paras.append(f"Paragraph {j} of doc{k} version v{version}: {words}.")
    return f"# Report {k}\n\n" + "\n\n".join(paras) + "\n"


@dataclass
class State:
    """What one committed version of the index answers."""

    texts: dict[str, str]  #: passage id -> text
    totals: dict[str, int]  #: query -> total
    docs: frozenset[str]


def _snapshot(corpus: Path, index: Path) -> State:
    with KnowledgeBase(corpus, index) as ref:
        return State({p.id: p.text for p in ref.passages()},
                     {q: ref.search(q).total for q in QUERIES},
                     frozenset(d.id for d in ref.documents()))


@dataclass
class Seen:
    searches: list[tuple[str, int, list[tuple[str, str]]]] = field(default_factory=list)
    passages: list[tuple[str, str]] = field(default_factory=list)
    docs: list[frozenset[str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    calls: int = 0


def _fds() -> set[str]:
    out = set()
    for n in os.listdir("/proc/self/fd"):
        try:
            out.add(f"{n} -> {os.readlink(f'/proc/self/fd/{n}')}")
        except OSError:
            pass  # the listing's own descriptor, closed meanwhile
    return out


def _mapped(index: Path) -> list[str]:
    """The files under ``index`` this process maps, as /proc/self/maps names them."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[5].startswith(str(index)):
                out.append(parts[5].strip())
    return out


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_threads_search_while_updates_run(tmp_path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    versions = {k: 0 for k in range(8)}
    for k in versions:
        (corpus / f"doc{k}.md").write_text(_doc(k, 0), encoding="utf-8")
    kb = KnowledgeBase(corpus, index)
    kb.update()
    states = [_snapshot(corpus, index)]
    kb.search("warm up")  # the shared engine is open before the threads start
    fds_before = _fds()

    stop = threading.Event()
    seen = [Seen() for _ in range(4)]

    def reader(me: Seen, seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            me.calls += 1
            q = rng.choice(QUERIES)
            try:
                op = rng.random()
                if op < 0.5:
                    r = kb.search(q, limit=5, group=op < 0.1)
                    if not op < 0.1:
                        me.searches.append((q, r.total, [(h.id, h.text) for h in r.hits]))
                    if r.hits:
                        h = rng.choice(r.hits)
                        try:
                            p = kb.passage(h.id)
                            me.passages.append((p.id, p.text))
                        except Exception as e:  # noqa: BLE001
                            # an update since the search may have removed it: then the
                            # error says so, nothing else may go wrong
                            if type(e).__name__ != "PassageNotFound":
                                raise
                        try:
                            shown = kb.show([h.ref], context=1)
                            me.passages += [(p.id, p.text) for p in shown.passages]
                        except Exception as e:  # noqa: BLE001
                            if type(e).__name__ != "PassageNotFound":
                                raise
                elif op < 0.8:
                    me.docs.append(frozenset(d.id for d in kb.documents()))
                elif op < 0.9:
                    kb.status()
                else:
                    r = kb.export_passages(limit=3, doc="doc1*")
                    me.passages += [(h.id, h.text) for h in r.hits]
            except Exception as e:  # noqa: BLE001
                me.errors.append(f"{type(e).__name__}: {e}")

    def updater() -> None:
        rng = random.Random(7)
        step = 0
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline or step < 4:
            step += 1
            change = rng.choice(sorted(k for k in versions if versions[k] >= 0))
            versions[change] += 1
            (corpus / f"doc{change}.md").write_text(_doc(change, versions[change]),
                                                    encoding="utf-8")
            new = max(versions) + 1
            versions[new] = 0
            (corpus / f"doc{new}.md").write_text(_doc(new, 0), encoding="utf-8")
            live = [k for k in versions if versions[k] >= 0 and k not in (change, new)]
            gone = rng.choice(live)
            (corpus / f"doc{gone}.md").unlink()
            versions[gone] = -1
            kb.update(rebuild=step == 3)  # once a full rebuild: a new generation folder
            states.append(_snapshot(corpus, index))

    threads = [threading.Thread(target=reader, args=(s, i)) for i, s in enumerate(seen)]
    for t in threads:
        t.start()
    up = threading.Thread(target=updater)
    up.start()
    up.join(timeout=120)
    stop.set()
    for t in threads:
        t.join(timeout=30)
    assert not up.is_alive() and not any(t.is_alive() for t in threads)

    errors = [e for s in seen for e in s.errors]
    assert errors == []
    assert len(states) >= 5
    assert all(s.calls > 5 for s in seen)

    # every answer comes whole from one committed state
    for s in seen:
        for q, total, hits in s.searches:
            assert any(st.totals[q] == total and all(st.texts.get(i) == t for i, t in hits)
                       for st in states), (q, total, hits)
        for pid, text in s.passages:
            assert any(st.texts.get(pid) == text for st in states), (pid, text)
        for docs in s.docs:
            assert docs in {st.docs for st in states}, docs
    # the readers saw the index change (no restart needed): more than one state answered
    totals = {total for s in seen for q, total, _ in s.searches if q == "version"}
    docsets = {d for s in seen for d in s.docs}
    assert len(docsets) > 1 or len(totals) > 1

    # the next call reads the newest state
    assert frozenset(d.id for d in kb.documents()) == states[-1].docs
    assert kb.search("version").total == states[-1].totals["version"]

    # nothing leaked: no mapping of a replaced generation's files (nor its descriptor),
    # and once closed, nothing at all
    gc.collect()
    assert [f for f in _fds() - fds_before if f"/{kb.status().generation}/" not in f] == []
    mapped = _mapped(index)
    current = kb.status().generation
    assert mapped, "the open generation's files are mapped (the check can see them)"
    assert [m for m in mapped if "(deleted)" in m or f"/{current}/" not in m] == []
    kb.close()
    gc.collect()
    assert _mapped(index) == []
    assert _fds() - fds_before == set()


def test_a_reader_keeps_its_generation_until_it_is_done(tmp_path):
    """A replaced generation is closed when its last user is done, not before."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "a.md").write_text(_doc(1, 0), encoding="utf-8")
    kb = KnowledgeBase(corpus, index)
    kb.update()
    with kb._using() as old:  # a call in progress (as a search in another thread)
        (corpus / "a.md").write_text(_doc(1, 1), encoding="utf-8")
        kb.update()
        # the next call opens the new generation ...
        assert "version v1" in kb.passage("a.md#1").text
        assert kb._gen is not old
        # ... while the one in progress still reads the old one, whole
        p = old.engine.passage("a.md#1")
        assert p is not None and "version v0" in p.text
    # its last user is done: closed now
    assert old.engine.reader.is_closed
    assert not kb._gen.engine.reader.is_closed
    kb.close()
    assert _mapped(index) == [] or not Path("/proc/self/maps").exists()
