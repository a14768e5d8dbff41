"""The index folder's bookkeeping, the same whatever engine holds the passages.

Layout of an index folder::

    index/
      kb-index.json      marker and pointer: schema version, settings, current generation,
                         the corpus it was built from (resolved path, random id)
      kb.lock            held (flock) by the one ``kb index`` that may write
      g000003/           the current generation: the engine's files (for Whoosh,
        MAIN_*.toc, *.seg ...)  plus
        files-<N>.json   the file table (hash, size, mtime, passages per file) that
                         belongs to the engine's version N of the generation

Here: the marker (:func:`read_marker`, :func:`check_compatible`), the writer
lock (:func:`write_lock`), the file table (:class:`FileTable`), the update plan
(:func:`plan`: what changed), the corpus an index belongs to
(:func:`check_corpus`), the generation folders (:class:`Generation`, the
switch and the cleanup).  Nothing here imports an engine module at import
time; the update itself is :mod:`kb.index`, the engine :mod:`kb.engine`.
See :mod:`kb.index` for the safety rules these pieces implement.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import corpus as _corpus
from .errors import (
    CorpusMismatch,
    CorpusNotFound,
    IndexCorrupt,
    IndexIncompatible,
    IndexLocked,
    IndexMissing,
    KbError,
    NotAnIndex,
)
from .models import SourceFile, Skipped

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import EngineReader

#: Bump when the schema, the analysis or the passage rules change.
#: 3: the ``words`` field (wildcards match words as written); 4: ranking arrays;
#: 5: stored passages by field name, with the symbol (:mod:`kb.engine.schema`);
#: 6: the short reference indexed (``ref``, looked up by ``kb show 29ktg6``);
#: 7: symbols and titles read from every format (:mod:`kb.meta`), the symbol per file;
#: 8: a key of each passage's text in the ranking arrays (identical passages: :mod:`kb.dedup`);
#: 9: UN metadata (issue 17): the symbol from the file name, the UN forms of a date, UN
#: masthead titles, part headings ("II", "Annex") in plain text (:mod:`kb.meta`); each
#: part's words as written in the ranking arrays (``sw``: fuzzy words, corrections); the
#: section field without a first heading that repeats the title;
#: 10: the short reference (``ref``) from the passage's text (its content fingerprint)
SCHEMA_VERSION = 10
MARKER = "kb-index.json"
LOCK = "kb.lock"
GEN_DIR = re.compile(r"^g\d{6}$")
_FILES_RE = re.compile(r"^files-(\d+)\.json$")
_SUMS_RE = re.compile(r"^sums-(\d+)\.json$")
def settings_fingerprint() -> dict[str, Any]:
    """The build settings recorded in the index; a mismatch means rebuild."""
    from . import analysis, passages

    return {
        "schema": SCHEMA_VERSION,
        "analysis": analysis.ANALYSIS_VERSION,
        "min_words": passages.MIN_WORDS,
        "max_words": passages.MAX_WORDS,
    }


# --------------------------------------------------------------------------
# folder state


@dataclass(slots=True)
class FileEntry:
    sha256: str
    size: int
    mtime_ns: int
    passages: int
    title: str
    date: str | None
    format: str
    symbol: str | None = None  #: the UN symbol the document prints (:mod:`kb.meta`)

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "mtime_ns": self.mtime_ns,
                "passages": self.passages, "title": self.title, "date": self.date,
                "format": self.format, "symbol": self.symbol}


@dataclass(slots=True)
class FileTable:
    files: dict[str, FileEntry] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    built: float = 0.0  #: time of the last full build
    updated: float = 0.0  #: time of the last update

    def to_json(self) -> dict[str, Any]:
        return {
            "files": {k: v.to_json() for k, v in sorted(self.files.items())},
            "skipped": [{"id": s.id, "reason": s.reason} for s in self.skipped],
            "built": self.built,
            "updated": self.updated,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileTable:
        return cls(
            files={k: FileEntry(**v) for k, v in data.get("files", {}).items()},
            skipped=[Skipped(s["id"], s["reason"]) for s in data.get("skipped", [])],
            built=data.get("built", 0.0),
            updated=data.get("updated", 0.0),
        )


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise


def read_marker(index_dir: Path) -> dict[str, Any] | None:
    """The marker of a kb index folder; None when there is no index.

    :raises NotAnIndex: the folder holds files kb did not create.
    :raises IndexCorrupt: the marker is damaged (unreadable, or not what kb wrote:
        it names no generation).
    """
    if index_dir.exists() and not index_dir.is_dir():
        raise NotAnIndex(f"index path {index_dir} is a file, not a folder; "
                         "choose another place with --index")
    marker = index_dir / MARKER
    try:
        with open(marker, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        if index_dir.is_dir():
            others = [n for n in os.listdir(index_dir) if not _kb_leftover(index_dir, n)]
            if others:
                raise NotAnIndex(
                    f"{index_dir} is not a kb index (it holds {len(others)} other "
                    f"file{'s' * (len(others) != 1)}); "
                    "kb will not touch it: choose another folder with --index"
                ) from None
        return None
    except PermissionError as e:
        raise IndexCorrupt(f"cannot read {marker}: {e.strerror}") from None
    except (OSError, ValueError) as e:
        from .integrity import damaged, describe

        raise damaged(index_dir, f"{MARKER}: {describe(e)}") from None
    if not isinstance(data, dict) or data.get("format") != "kb-index":
        raise NotAnIndex(f"{marker} was not written by kb; choose another folder with --index")
    _check_marker(index_dir, data)
    return data


def _check_marker(index_dir: Path, data: dict[str, Any]) -> None:
    """:raises IndexCorrupt: the marker names no generation folder (the other fields
    are checked where they are used: schema and settings by :func:`check_compatible`,
    the corpus by :func:`check_corpus`)."""
    from .integrity import damaged

    current = data.get("current")
    if not isinstance(current, str) or not GEN_DIR.match(current):
        raise damaged(index_dir, f"{MARKER}: no current generation")


_TABLE_FILE = re.compile(r"^\.?(files|sums)-\d+\.json(\..*\.tmp)?$")


def _generation_file(name: str) -> bool:
    """A file kb or its engine writes into a generation folder."""
    if _TABLE_FILE.match(name):
        return True
    from .engine import get_engine

    return get_engine().owns(name)


def _kb_leftover(index_dir: Path, name: str) -> bool:
    """Is ``name`` (in an index folder without marker) something kb itself left there?

    A first build killed before its switch leaves ``kb.lock`` and a generation
    folder holding only Whoosh and kb files; that folder is kb's, not foreign."""
    if name in (".gitkeep", LOCK) or (name.startswith(f".{MARKER}.") and name.endswith(".tmp")):
        return True
    if not GEN_DIR.match(name):
        return False
    try:
        return all(_generation_file(n) for n in os.listdir(index_dir / name))
    except OSError:
        return False


def newer_schema(marker: dict[str, Any]) -> bool:
    """Was the index built by a newer kb (never rebuilt by this one)?"""
    schema = marker.get("schema")
    return isinstance(schema, int) and schema > SCHEMA_VERSION


def rebuild_reason(marker: dict[str, Any]) -> str:
    """Why this kb must rebuild the index before reading it ("the index was built by
    an older kb (schema 7, now 8)", or with other analysis settings), else "" (also
    for a newer kb's index, which is refused: :func:`check_compatible`)."""
    schema = marker.get("schema")
    if schema != SCHEMA_VERSION:
        if newer_schema(marker):
            return ""
        return f"the index was built by an older kb (schema {schema}, now {SCHEMA_VERSION})"
    if marker.get("settings") != settings_fingerprint():
        return "the index was built with other analysis settings"
    return ""


def check_compatible(marker: dict[str, Any]) -> None:
    if newer_schema(marker):
        raise IndexIncompatible(
            f"the index was built by a newer kb (schema {marker.get('schema')}, this kb "
            f"reads {SCHEMA_VERSION}); upgrade kb, or run `kb index --rebuild` to rebuild it"
        )
    why = rebuild_reason(marker)
    if why:
        raise IndexIncompatible(f"{why}; run `kb index` (or `kb search`) to rebuild it")


# --------------------------------------------------------------------------
# the corpus an index belongs to

#: how many of the indexed files are compared with a corpus folder at another path
CORPUS_SAMPLE = 32
#: at most this many bytes of them are hashed (when a copy changed their mtimes)
CORPUS_HASH_BUDGET = 8 << 20


def path_text(p: Path | str) -> str:
    """A resolved path as the marker records it (valid Unicode even for undecodable bytes)."""
    real = os.path.realpath(p)
    return real.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def recorded_corpus(marker: dict[str, Any]) -> dict[str, str] | None:
    """The corpus recorded in the marker: ``{"path", "id", "index"}`` (the resolved
    corpus and index folders, a random corpus id); None for an index written by an
    earlier kb, which did not record it."""
    rec = marker.get("corpus")
    if isinstance(rec, dict) and isinstance(rec.get("path"), str):
        return rec
    return None


def corpus_problem(corpus_dir: Path) -> str | None:
    """Why ``corpus_dir`` cannot be a corpus folder ("does not exist", ...), or None."""
    if corpus_dir.is_dir():
        return None
    if corpus_dir.exists():
        return "is a file, not a folder"
    return "does not exist"


def require_corpus(corpus_dir: Path) -> None:
    """:raises CorpusNotFound: ``corpus_dir`` is not a folder (says whether it is a file)."""
    problem = corpus_problem(corpus_dir)
    if problem:
        raise CorpusNotFound(f"corpus folder {corpus_dir} {problem}; "
                             "point --corpus at your reports folder")


@dataclass(slots=True)
class Binding:
    """How a corpus folder relates to the corpus an index records."""

    recorded: str | None  #: the recorded corpus path (None: an older kb's index)
    corpus_id: str | None
    same_path: bool  #: the corpus is where the index says
    #: the index should record the corpus's new path: the same files, and the
    #: recorded folder is gone, the index folder moved too, nothing was recorded,
    #: or the index holds no files
    rerecord: bool = False


def same_files(table: FileTable, corpus_dir: Path) -> bool:
    """Does ``corpus_dir`` hold the files the index was built from?

    Up to :data:`CORPUS_SAMPLE` indexed files, spread over the file table, are
    looked up in ``corpus_dir``: a file matches when it is there with the same
    size and the same modification time or, when a copy changed the time, the
    same content hash (beyond :data:`CORPUS_HASH_BUDGET` bytes hashed, the size
    alone).  Three in four must match, so a folder moved with a few files
    edited since is still recognised.  An index of no files fits every folder.
    """
    ids = sorted(table.files)
    if not ids:
        return True
    n = min(CORPUS_SAMPLE, len(ids))
    sample = [ids[i * len(ids) // n] for i in range(n)]
    budget, matched = CORPUS_HASH_BUDGET, 0
    for doc_id in sample:
        entry = table.files[doc_id]
        path = os.path.join(corpus_dir, doc_id)
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            continue
        if not os.path.isfile(path) or st.st_size != entry.size:
            continue
        if st.st_mtime_ns == entry.mtime_ns or entry.size > budget:
            matched += 1
            continue
        budget -= entry.size
        try:
            matched += sha256_file(path) == entry.sha256
        except OSError:
            pass
    return matched * 4 >= len(sample) * 3


def check_corpus(index_dir: Path, marker: dict[str, Any], corpus_dir: Path,
                 table: Callable[[], FileTable]) -> Binding:
    """Is ``corpus_dir`` the corpus this index was built from?

    The same resolved path is; another path is when it holds the same files
    (:func:`same_files`: the folder was moved or renamed, or is a copy).  An
    index that records no corpus (built by an older kb) is checked by its files
    the same way.  ``table`` gives the file table (read only when needed).

    :raises CorpusNotFound: ``corpus_dir`` is missing or a file.
    :raises CorpusMismatch: ``corpus_dir`` holds other files than the index.
    """
    rec = recorded_corpus(marker)
    cur = path_text(corpus_dir)
    recorded = rec["path"] if rec else None
    corpus_id = rec.get("id") if rec else None
    problem = corpus_problem(corpus_dir)
    if problem:
        built = "" if recorded is None else (
            f" (the index in {index_dir} was built from "
            + ("it" if recorded == cur else recorded) + ")")
        raise CorpusNotFound(f"corpus folder {corpus_dir} {problem}{built}; "
                             "point --corpus at your reports folder")
    if recorded == cur:
        return Binding(recorded, corpus_id, same_path=True)
    files = table()
    if same_files(files, corpus_dir):
        gone = recorded is None or not os.path.isdir(recorded)
        index_moved = rec is not None and rec.get("index") != path_text(index_dir)
        # an index of no files belongs to the first corpus that fills it
        return Binding(recorded, corpus_id, same_path=False,
                       rerecord=gone or index_moved or not files.files)
    ways = (f"add `--index DIR` to give {corpus_dir} an index of its own, or run "
            "`kb index --rebuild` to rebuild this index from it")
    if recorded is None:
        raise CorpusMismatch(
            f"the index in {index_dir} does not hold the files of {corpus_dir} (it was "
            f"built by an older kb, which did not record its corpus folder); {ways}")
    raise CorpusMismatch(f"the index in {index_dir} was built from {recorded}, "
                         f"not from {corpus_dir}; {ways}")


def with_corpus(marker: dict[str, Any], index_dir: Path, corpus_dir: Path,
                 new_id: bool = False) -> dict[str, Any]:
    """``marker`` recording ``corpus_dir`` (the corpus id kept unless ``new_id``)."""
    rec = recorded_corpus(marker)
    corpus_id = rec.get("id") if rec and not new_id else None
    if not isinstance(corpus_id, str) or not corpus_id:
        import secrets

        corpus_id = secrets.token_hex(8)
    out = dict(marker)
    out["corpus"] = {"path": path_text(corpus_dir), "id": corpus_id,
                     "index": path_text(index_dir)}
    return out


def record_corpus(index_dir: Path, corpus_dir: Path) -> dict[str, str] | None:
    """Record ``corpus_dir`` as the index's corpus if the index can be written now
    (no other writer, a writable folder); returns what was recorded, or None."""
    try:
        with write_lock(index_dir, by_search=True):
            marker = read_marker(index_dir)
            if marker is None:
                return None
            check_compatible(marker)
            marker = with_corpus(marker, index_dir, corpus_dir)
            write_json_atomic(index_dir / MARKER, marker)
        return marker["corpus"]  # type: ignore[no-any-return]
    except (KbError, OSError):
        return None


#: a ``kb index`` waits this long for a search's small update (README "kb search")
#: to release the lock, instead of being refused at once
SEARCH_UPDATE_WAIT = 30.0


@contextmanager
def write_lock(index_dir: Path, by_search: bool = False) -> Iterator[None]:
    """Hold the index's writer lock; :class:`IndexLocked` if another process has it.

    The lock file names its holder's pid, followed by ``search`` when the holder
    is a search bringing the index up to date before searching (``by_search``):
    such an update is small, so another writer waits for it (up to
    :data:`SEARCH_UPDATE_WAIT` seconds); a search never waits.
    """
    import fcntl

    index_dir.mkdir(parents=True, exist_ok=True)
    path = index_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + SEARCH_UPDATE_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                try:
                    holder = os.pread(fd, 64, 0).decode(errors="replace").split()
                except OSError:
                    holder = []
                # an empty file: the holder is between taking the lock and naming
                # itself, or between clearing its name and releasing: look again
                if not by_search and (holder[1:] == ["search"] or not holder) and \
                        time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                pid = holder[0] if holder else "?"
                raise IndexLocked(
                    f"another update is running (pid {pid}); wait for it to finish"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}{' search' if by_search else ''}".encode(), 0)
        try:
            yield
        finally:
            try:
                os.ftruncate(fd, 0)
            except OSError:
                pass
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with _corpus.open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()




@dataclass(slots=True)
class Generation:
    """An open, readable view of the current generation: the marker, the engine's
    reader (:class:`kb.engine.EngineReader`) and the file table of exactly the
    version the reader sees.

    The file table is read on first use of :attr:`table` when the generation was
    opened with ``load_table=False`` (a search does not need it: at a million
    passages it is a 10 MB file); that read raises ``OSError`` if a writer has
    moved on and removed it meanwhile.
    """

    dir: Path
    marker: dict[str, Any]
    engine: EngineReader
    _table: FileTable | None = None

    @property
    def version(self) -> int:
        return self.engine.version

    @property
    def table_loaded(self) -> bool:
        return self._table is not None

    @property
    def table(self) -> FileTable:
        if self._table is None:
            self._table = _read_table(self.dir, self.version)
        return self._table

    def table_path(self) -> Path:
        return table_path(self.dir, self.version)

    def close(self) -> None:
        self.engine.close()


def table_path(gen_dir: Path, version: int) -> Path:
    """The file table that belongs to the engine's version ``version`` of a generation."""
    return gen_dir / f"files-{version}.json"


def _read_table(gen_dir: Path, version: int) -> FileTable:
    """The file table of ``version``.

    :raises OSError: it cannot be opened (a writer moved on and removed it, or it is gone).
    :raises IndexCorrupt: it is damaged (not JSON, not a file table)."""
    return read_table_file(table_path(gen_dir, version), gen_dir.parent)


def read_table_file(path: Path, index_dir: Path) -> FileTable:
    """A file table (see :func:`_read_table`)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = json.loads(raw.decode("utf-8"))
        table = FileTable.from_json(data)
        if not all(isinstance(k, str) and isinstance(e.passages, int)
                   for k, e in table.files.items()):
            raise ValueError("unexpected values")
        return table
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        from .integrity import damaged, describe

        raise damaged(index_dir, f"{path.parent.name}/{path.name}: {describe(e)}") from None


def previous_table(index_dir: Path, marker: dict[str, Any] | None) -> FileTable:
    """The file table of the current generation's newest version, read without the
    engine, for a rebuild's report (what it added, updated, removed); an empty one
    when there is none or it cannot be read (a rebuild never needs the old index)."""
    if marker is None:
        return FileTable()
    gen_dir = index_dir / marker["current"]
    try:
        found = [int(m.group(1)) for m in map(_FILES_RE.match, os.listdir(gen_dir)) if m]
        if found:
            return read_table_file(table_path(gen_dir, max(found)), index_dir)
    except (OSError, KbError):
        pass
    return FileTable()


_UPDATED_RE = re.compile(rb'"updated":(-?[0-9.eE+-]+)\}\s*$')


def table_updated(gen: Generation) -> float:
    """When the index was last updated (the file table's ``updated``), read from the
    end of the file table without parsing the whole of it."""
    if gen._table is None:
        with open(gen.table_path(), "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 200))
            m = _UPDATED_RE.search(f.read())
        if m:
            return float(m.group(1))
    return gen.table.updated


# --------------------------------------------------------------------------
# what an update has to do


@dataclass(slots=True)
class Plan:
    add: list[SourceFile] = field(default_factory=list)  # new files
    change: list[SourceFile] = field(default_factory=list)  # changed files
    remove: list[str] = field(default_factory=list)
    unchanged: dict[str, FileEntry] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)


def plan(files: list[SourceFile], table: FileTable, verify: bool = True) -> Plan:
    """Compare the corpus with the file table: size and mtime first, then content hash."""
    p = Plan()
    seen = set()
    for f in files:
        seen.add(f.id)
        old = table.files.get(f.id)
        if old is None:
            p.add.append(f)
            continue
        if old.size == f.size and old.mtime_ns == f.mtime_ns:
            p.unchanged[f.id] = old
            continue
        if verify:
            try:
                digest = sha256_file(f.path)
            except OSError:
                p.change.append(f)
                continue
            p.hashes[f.id] = digest
            if digest == old.sha256:
                p.unchanged[f.id] = FileEntry(digest, f.size, f.mtime_ns, old.passages,
                                              old.title, old.date, old.format,
                                              old.symbol)
                continue
        p.change.append(f)
    p.remove = sorted(set(table.files) - seen)
    return p


# --------------------------------------------------------------------------
# generations: a new one, the switch, the cleanup


def marker_for_update(index_dir: Path, rebuild: bool) -> dict[str, Any] | None:
    """The marker; for ``--rebuild``, an unreadable marker in a folder that holds
    nothing but kb's own files counts as no index (else the advice "run `kb index
    --rebuild`" could never be followed)."""
    try:
        return read_marker(index_dir)
    except IndexCorrupt:
        names = [n for n in os.listdir(index_dir) if n != MARKER]
        if rebuild and all(_kb_leftover(index_dir, n) for n in names):
            return None
        raise


def new_generation(index_dir: Path, marker: dict[str, Any] | None) -> tuple[str, Path]:
    """The name and (new, empty) folder of the next generation."""
    n = int(marker["current"][1:]) + 1 if marker else 1 + max(
        (int(name[1:]) for name in os.listdir(index_dir) if GEN_DIR.match(name)), default=0)
    gen_name = f"g{n:06d}"
    gen_dir = index_dir / gen_name
    if gen_dir.exists():
        shutil.rmtree(gen_dir)
    gen_dir.mkdir(parents=True)
    return gen_name, gen_dir


def switch(index_dir: Path, corpus_dir: Path, marker: dict[str, Any] | None,
           gen_name: str) -> None:
    """Make ``gen_name`` the current generation: atomically replace the marker."""
    new_marker = {
        "format": "kb-index",
        "schema": SCHEMA_VERSION,
        "settings": settings_fingerprint(),
        "current": gen_name,
        "created": time.time(),
        "sums": 1,  # every version of this generation records its checksums (kb.integrity)
    }
    # the corpus keeps its id when rebuilt in place; a rebuild from another folder
    # re-points the index: a new id
    rec = recorded_corpus(marker) if marker else None
    new_marker = with_corpus({**new_marker, "corpus": rec} if rec else new_marker,
                             index_dir, corpus_dir,
                             new_id=rec is None or rec["path"] != path_text(corpus_dir))
    write_json_atomic(index_dir / MARKER, new_marker)  # the switch


_TEMP_TABLE = re.compile(r"^\.(files|sums)-\d+\.json\..*\.tmp$")


def remove_stale_tables(gen_dir: Path, current: int | None) -> None:
    """Remove the file tables and checksum manifests of versions before ``current``
    (None: unknown, keep all), and the temporary files of writers killed while
    writing one (the lock is held: no other writer is at work)."""
    if current is None:
        return
    for name in os.listdir(gen_dir):
        m = _FILES_RE.match(name) or _SUMS_RE.match(name)
        if _TEMP_TABLE.match(name) or (m and int(m.group(1)) < current):
            try:
                os.unlink(gen_dir / name)
            except OSError:
                pass


def remove_stale_generations(index_dir: Path) -> None:
    """Remove generation folders (and temp files) that are not current.  Lock held."""
    marker = read_marker(index_dir)
    current = marker["current"] if marker else None
    for name in os.listdir(index_dir):
        path = index_dir / name
        if GEN_DIR.match(name) and name != current:
            shutil.rmtree(path, ignore_errors=True)
        elif name.startswith(f".{MARKER}.") and name.endswith(".tmp"):
            try:
                path.unlink()
            except OSError:
                pass


def index_size(index_dir: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(index_dir):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(root, name))
            except OSError:
                pass
    return total


def open_generation(index_dir: Path, retries: int = 8, load_table: bool = True,
                    ranker: bool = False) -> Generation:
    """Open the current generation for reading, retrying across a concurrent switch.

    A failure is tried again when a writer changed the index meanwhile (the marker
    or the generation's files: :func:`kb.integrity.folder_state`); when nothing
    changed, once more, repairing what can be (the engine's ``last_try``), and then
    it is damage (:func:`kb.integrity.damage`), or a bug in kb, raised as it is.

    :param load_table: read the file table now (else on first use, see :class:`Generation`).
    :param ranker: open the engine ready for ranked searches (for Whoosh: the ranking
        arrays too, with its files, so that a writer removing files later cannot take
        them away).
    :raises IndexMissing: no index has been built yet.
    :raises IndexCorrupt: the index is damaged.
    """
    from .engine import OpenFailed, get_engine
    from .integrity import folder_state, sizes

    engine = get_engine()
    last: Exception | None = None
    gen_dir = index_dir
    attempt = 0
    while attempt < retries:
        before = folder_state(index_dir)
        marker = read_marker(index_dir)
        if marker is None:
            raise IndexMissing(f"no index in {index_dir} yet; run `kb index`")
        check_compatible(marker)
        gen_dir = index_dir / marker["current"]
        reader = None
        last_try = attempt == retries - 1
        try:
            reader = engine.open(gen_dir, ranker=ranker, last_try=last_try)
            wrong = sizes(gen_dir, reader.version)
            if wrong:  # a file missing or cut short: damaged, unless a writer is at work
                raise OpenFailed(wrong[0], FileNotFoundError(wrong[0]), True)
            table = _read_table(gen_dir, reader.version) if load_table else None
            return Generation(gen_dir, marker, reader, table)
        except (OpenFailed, OSError) as e:
            # a writer switched generations or cleaned files under us: try again
            last = e
            if reader is not None:
                reader.close()
            if last_try:
                break
            if folder_state(index_dir) == before:
                attempt = retries - 1  # not a writer's doing: once more, then it is damage
                continue
            time.sleep(0.02 * (attempt + 1))
            attempt += 1
        except BaseException:
            if reader is not None:
                reader.close()
            raise
    assert last is not None
    raise _open_failure(index_dir, gen_dir, last)


def _open_failure(index_dir: Path, gen_dir: Path, e: Exception) -> BaseException:
    """What to raise when the generation cannot be opened (see :func:`open_generation`)."""
    import errno

    from .engine import OpenFailed
    from .integrity import damage

    error: BaseException = e.error if isinstance(e, OpenFailed) and e.error is not None else e
    if isinstance(error, OSError) and error.errno in (errno.EACCES, errno.EPERM):
        return IndexCorrupt(f"cannot read the index in {index_dir}: {error.strerror}"
                            + (f" ({error.filename})" if error.filename else ""))
    certain = e.certain if isinstance(e, OpenFailed) else True  # a file it names is gone
    found = damage(index_dir, gen_dir, None, error, certain)
    return found if found is not None else error
