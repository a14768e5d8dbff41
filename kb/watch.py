"""The index keeps itself fresh: watch the corpus folder, update in the background.

    >>> from kb import KnowledgeBase
    >>> from kb.watch import Watcher
    >>> kb = KnowledgeBase("corpus", "index")
    >>> w = Watcher(kb, debounce=1.0, on_update=lambda report: print(report.added))
    >>> w.start()          # a background thread; searches keep working meanwhile
    >>> w.state            # {"running": False, "last_update": "2025-...", ...}
    >>> w.stop()           # prompt: joins the thread

A :class:`Watcher` watches the corpus folder recursively (``watchfiles``: the
operating system's file notifications) in a background thread and runs the
normal incremental update (:meth:`kb.KnowledgeBase.update`) after changes:

* **Debounced**: changes are collected until the folder has been quiet for
  ``debounce`` seconds (each change restarts the wait), so saving a file, or
  copying ten, is one update; a folder that never stays quiet (a long copy)
  is still updated every :data:`MAX_WAIT` seconds.
* **Only what the index reads**: changes to what the corpus walk ignores
  (hidden files and folders, editor and OS junk such as ``~$report.docx``,
  ``report.md~``, ``.~lock.*#``, ``Thumbs.db``, what ``.kbignore`` excludes;
  files of a type kb does not read), and to the index folder when it is inside
  the corpus, start no update.  A change to ``.kbignore`` itself does.
* **At start**, the folder is compared with the index once (an update that
  changes nothing when nothing changed): files added while nobody watched are
  indexed too.  It counts as an update only when it changed something.
* **Locks**: the update takes the index's writer lock like ``kb index``.  When
  another process holds it, the update is tried again :data:`RETRY_LOCKED`
  seconds later (the changes are kept), never an error.
* **Searches keep working** during an update: calls in other threads read the
  previous version until the update commits, then the new one (see
  :class:`kb.KnowledgeBase`, "Threads").
* **Errors** (an unreadable folder, a full disk) are logged (logger
  ``kb.watch``) and kept in :attr:`Watcher.state` (``last_error``, one line,
  cleared by the next update that succeeds); they never stop the watcher.  A
  corpus folder that goes away (moved, unmounted) is watched again, with a
  catch-up update, once it is back.
* :meth:`Watcher.stop` is prompt: watching stops within ``watchfiles``'
  50 ms step, and an update in progress is abandoned at its next file (the
  index stays as it was; the next start catches up).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import IndexCorrupt, IndexLocked, IndexMissing, KbError

if TYPE_CHECKING:
    from .api import KnowledgeBase
    from .models import IndexReport

log = logging.getLogger("kb.watch")

#: a locked index (another process updating it) is tried again after this many seconds
RETRY_LOCKED = 2.0
#: changes that never stay quiet for ``debounce`` seconds are indexed at least this often
MAX_WAIT = 10.0
#: watching that failed (the corpus folder vanished) is tried again after this many seconds
RETRY_WATCH = 2.0
_STEP_MS = 50  #: how often watchfiles looks for changes and for stop()


class _Stopped(Exception):
    """Raised in an update's progress callback: :meth:`Watcher.stop` was called."""


def _iso(t: float | None) -> str | None:
    return dt.datetime.fromtimestamp(t).isoformat(timespec="seconds") if t else None


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    if isinstance(e, KbError):
        return msg or type(e).__name__
    if isinstance(e, OSError):
        msg = (e.strerror or msg) + (f": {e.filename}" if e.filename else "")
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


class Watcher:
    """Keeps ``kb``'s index in step with its corpus folder from a background thread.

    :param kb: the knowledge base (shared with the threads that search it).
    :param debounce: seconds the folder must stay quiet before an update.
    :param on_update: called with the :class:`~kb.models.IndexReport` after each update
        (in the watcher's thread; an exception in it is logged, never fatal).
    :param on_error: called with the one-line message of each failed update.
    """

    def __init__(self, kb: KnowledgeBase, debounce: float = 1.0,
                 on_update: Callable[[IndexReport], Any] | None = None, *,
                 on_error: Callable[[str], Any] | None = None) -> None:
        if not debounce >= 0:
            raise ValueError("debounce must be a number of seconds >= 0")
        self.kb = kb
        self.debounce = float(debounce)
        self.on_update = on_update
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the index folder relative to the corpus folder, when it is inside it
        self._index_rel: str | None = None
        self._ignore: tuple[int, Any] | None = None  #: (.kbignore's mtime, its rules)
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {"running": False, "last_update": None,
                                       "last_error": None, "updates": 0}

    # -- the interface ----------------------------------------------------------

    @property
    def state(self) -> dict[str, Any]:
        """``running`` (an update in progress), ``last_update`` (ISO time the index
        last changed; at start, when it was last updated), ``last_error`` (one line,
        or None), ``updates`` (how many updates this watcher ran)."""
        with self._lock:
            return dict(self._state)

    def start(self) -> Watcher:
        """Start watching (returns at once; a second call does nothing).

        :raises CorpusNotFound: the corpus folder is missing.
        :raises CorpusMismatch: the index belongs to another folder.
        """
        if self._thread is not None and self._thread.is_alive():
            return self
        import watchfiles  # noqa: F401 - lazily: `import kb` stays cheap; fails here, not later

        from . import store

        store.require_corpus(self.kb.corpus)
        try:
            updated = self.kb.last_updated()
        except IndexMissing:
            updated = None  # the first update builds it
        except IndexCorrupt:
            # watched all the same: each update says it is damaged (last_error), once
            # per change, until `kb index --rebuild` repairs it; then updates work again
            updated = None
        self._set(last_update=_iso(updated))
        rel = os.path.relpath(os.path.realpath(self.kb.index), os.path.realpath(self.kb.corpus))
        self._index_rel = None if rel == os.pardir or rel.startswith(os.pardir + os.sep) \
            else rel
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kb-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop watching and join the thread (an update in progress is abandoned at
        its next file, the index left as it was)."""
        self._stop.set()
        t = self._thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout)
            if t.is_alive():
                log.warning("the watcher thread did not stop within %s s", timeout)

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread -------------------------------------------------------------

    def _set(self, **kw: Any) -> None:
        with self._lock:
            self._state.update(kw)

    def _run(self) -> None:
        said = None
        while not self._stop.is_set():
            try:
                self._watch()
            except Exception as e:  # noqa: BLE001 - never kills the thread
                line = f"cannot watch {self.kb.corpus}: {_one_line(e)}"
                if line != said:  # said once, tried again quietly
                    self._error(line, e)
                    said = line
                self._stop.wait(RETRY_WATCH)

    def _watch(self) -> None:
        import watchfiles

        tick_ms = int(max(_STEP_MS, min(250, self.debounce * 1000 / 4)))
        pending = False
        first = last = 0.0
        retry_at = 0.0
        catch_up = True
        for changes in watchfiles.watch(
                self.kb.corpus, watch_filter=self._relevant, debounce=1600, step=_STEP_MS,
                stop_event=self._stop, rust_timeout=tick_ms, yield_on_timeout=True,
                raise_interrupt=False, ignore_permission_denied=True):
            if self._stop.is_set():
                return
            now = time.monotonic()
            if changes:
                if not pending:
                    first = now
                pending, last = True, now
                log.debug("changes: %s", sorted(p for _, p in changes)[:20])
            if catch_up:  # watching now: what changed before is found by comparing once
                catch_up = False
                outcome = self._update(quiet_if_unchanged=True)
                if outcome == "stopped":
                    return
                if outcome == "locked":
                    pending, first, last = True, now, now - self.debounce
                    retry_at = time.monotonic() + RETRY_LOCKED
                else:
                    pending = False  # what changed until now, it has seen
                continue
            quiet = now - last >= self.debounce or now - first >= max(MAX_WAIT, self.debounce)
            if pending and quiet and now >= retry_at:
                outcome = self._update()
                if outcome == "stopped":
                    return
                if outcome == "failed" and not os.path.isdir(self.kb.corpus):
                    # the corpus folder was removed (or renamed): watch it again once
                    # it is back, from the start (its catch-up update)
                    raise FileNotFoundError("the folder is gone")
                if outcome == "locked":
                    retry_at = time.monotonic() + RETRY_LOCKED
                else:
                    pending = False

    def _update(self, quiet_if_unchanged: bool = False) -> str:
        """Run one update: "done", "failed", "locked" or "stopped"."""
        def progress(done: int, total: int, current: str) -> None:
            if self._stop.is_set():
                raise _Stopped

        self._set(running=True)
        try:
            report = self.kb.update(progress=progress)
        except _Stopped:
            self._set(running=False)
            log.info("update abandoned: the watcher was stopped")
            return "stopped"
        except IndexLocked as e:
            self._set(running=False)
            log.info("%s; trying again in %s s", _one_line(e), RETRY_LOCKED)
            return "locked"
        except Exception as e:  # noqa: BLE001 - recorded, never kills the thread
            self._set(running=False)
            self._error(f"update failed: {_one_line(e)}", e)
            return "failed"
        except BaseException:
            self._set(running=False)
            raise
        changed = bool(report.added or report.updated or report.removed or report.rebuilt)
        if quiet_if_unchanged and not changed:
            self._set(running=False, last_error=None)
            return "done"
        try:
            updated = self.kb.last_updated()
        except Exception:  # noqa: BLE001 - the update itself succeeded
            updated = time.time()
        with self._lock:  # one step: a reader of the state never sees it half done
            self._state["running"] = False
            self._state["updates"] += 1
            self._state["last_error"] = None
            self._state["last_update"] = _iso(updated) or self._state["last_update"]
        log.info("updated: +%d ~%d -%d files (%.1f s)", len(report.added),
                 len(report.updated), len(report.removed), report.elapsed)
        if self.on_update is not None:
            try:
                self.on_update(report)
            except Exception:  # noqa: BLE001
                log.exception("on_update failed")
        return "done"

    def _error(self, line: str, e: BaseException) -> None:
        self._set(last_error=line)
        log.warning("%s", line, exc_info=not isinstance(e, (KbError, OSError)))
        if self.on_error is not None:
            try:
                self.on_error(line)
            except Exception:  # noqa: BLE001
                log.exception("on_error failed")

    # -- which changes matter ---------------------------------------------------

    def _ignore_rules(self) -> Any:
        """The corpus's ``.kbignore`` rules (read again when the file changes), or None."""
        from . import corpus as _corpus

        try:
            mtime = os.stat(Path(self.kb.corpus) / _corpus.IGNORE_FILE).st_mtime_ns
        except OSError:
            return None
        if self._ignore is None or self._ignore[0] != mtime:
            self._ignore = (mtime, _corpus._ignore_spec(Path(self.kb.corpus)))
        return self._ignore[1]

    def _relevant(self, change: Any, path: str) -> bool:
        """Could this change alter what the index holds? (see the module docstring)"""
        from . import corpus as _corpus

        rel = os.path.relpath(path, self.kb.corpus)
        if rel == os.curdir or rel == os.pardir or rel.startswith(os.pardir + os.sep):
            return rel == os.curdir  # the corpus folder itself (renamed, removed)
        ix = self._index_rel
        if ix is not None and (ix == os.curdir or rel == ix or rel.startswith(ix + os.sep)):
            return False  # the index's own writes
        parts = rel.split(os.sep)
        if rel == _corpus.IGNORE_FILE:
            return True
        name = parts[-1]
        if any(p.startswith(".") for p in parts) or _corpus.is_junk(name) or \
                any(_corpus.is_junk(p, True) for p in parts[:-1]):
            return False
        try:
            is_file = os.path.isfile(path)
        except (OSError, ValueError):
            is_file = False
        if is_file and os.path.splitext(name)[1].lower() not in _corpus.FORMATS:
            return False  # a file kb does not read (a deleted path may have been a folder)
        spec = self._ignore_rules()
        if spec is not None:
            relp = "/".join(parts)
            if spec.match_file(relp) or (not is_file and spec.match_file(relp + "/")):
                return False
        return True
