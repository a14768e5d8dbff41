"""The index folder: the only module that writes Whoosh.

Layout of an index folder::

    index/
      kb-index.json      marker and pointer: schema version, settings, current generation,
                         the corpus it was built from (resolved path, random id)
      kb.lock            held (flock) by the one ``kb index`` that may write
      g000003/           the current generation: a Whoosh index plus
        MAIN_*.toc, *.seg ...
        files-<N>.json   the file table (hash, size, mtime, passages per file) that
                         belongs to Whoosh generation N

Safety (see README "Safety"):

* A **rebuild** writes a new generation folder and switches to it by
  atomically replacing ``kb-index.json`` (``os.replace``); the old folder is
  removed only after the switch.  A crash at any point leaves the previous
  generation current and intact; leftovers are removed by the next update.
* An **incremental update** adds a new Whoosh segment and deletions to the
  current generation.  The file table for Whoosh generation N+1 is written
  (to a temporary file, then renamed) *before* Whoosh commits generation
  N+1, and Whoosh's commit is itself an atomic rename of its TOC file.
  Readers open the newest Whoosh generation and the file table with that
  number, so passages and the file table always match: the switch to the
  new state is the single rename of the TOC.
* Only one writer at a time: ``kb.lock`` is held with ``flock``, which the
  kernel releases when the holder dies, so a lock left by a killed process
  is taken over, never a permanent block.
* kb never writes into or deletes a folder it did not create: a non-empty
  index folder without ``kb-index.json`` is refused.
* An index belongs to one corpus (:func:`check_corpus`): reading or updating it
  with another corpus folder is refused unless that folder holds the same files
  (the corpus moved or was renamed); ``--rebuild`` re-points it.
"""

from __future__ import annotations

import errno
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
    IndexWriteFailed,
    KbError,
    NotAnIndex,
)
from .models import IndexReport, Passage, Skipped, SourceFile

#: Bump when the schema, the analysis or the passage rules change.
SCHEMA_VERSION = 4  # 3: the ``words`` field (wildcards match words as written); 4: ranking arrays
MARKER = "kb-index.json"
LOCK = "kb.lock"
_GEN_DIR = re.compile(r"^g\d{6}$")
_FILES_RE = re.compile(r"^files-(\d+)\.json$")

#: progress(done, total, current file id)
Progress = Callable[[int, int, str], None]


def settings_fingerprint() -> dict[str, Any]:
    """The build settings recorded in the index; a mismatch means rebuild."""
    from . import analysis, passages

    return {
        "schema": SCHEMA_VERSION,
        "analysis": analysis.ANALYSIS_VERSION,
        "min_words": passages.MIN_WORDS,
        "max_words": passages.MAX_WORDS,
    }


def words_field() -> Any:
    """The words of a document as written (folded, unstemmed), each with its term:
    what wildcards are matched against (:func:`kb.search.expand_wildcards`).
    Existence postings only, not scored, not stored, and only on a document's first
    passage (:func:`document_fields`): a file's passages are always deleted together,
    so its words go with them, at a fraction of the size of per-passage postings."""
    from whoosh import formats
    from whoosh.fields import FieldType

    from .analysis import SurfaceAnalyzer

    return FieldType(formats.Existence(), analyzer=SurfaceAnalyzer(), scorable=False)


def make_schema() -> Any:
    from whoosh.fields import DATETIME, ID, STORED, TEXT, Schema

    from .analysis import KbAnalyzer

    an = KbAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        doc=ID(stored=True),
        title=TEXT(analyzer=an, multitoken_query="phrase"),
        section=TEXT(analyzer=an, multitoken_query="phrase"),
        text=TEXT(analyzer=an, stored=True, multitoken_query="phrase"),
        date=DATETIME(),
        symbol=TEXT(analyzer=an),  # UN document symbol: a filter, ``symbol:S/RES/2771``
        words=words_field(),
        meta=STORED(),
    )


def document_fields(passages: list[Passage]) -> Iterator[dict[str, Any]]:
    """The Whoosh fields of a document's passages, in order: the first one also
    carries the ``words`` of the whole document."""
    for i, p in enumerate(passages):
        if i == 0:
            words = "\n".join(f"{q.text}\n{q.section}\n{' '.join(q.heading_path)}"
                              for q in passages)
            yield passage_fields(p, words=f"{words}\n{p.title}")
        else:
            yield passage_fields(p)


def passage_fields(p: Passage, words: str | None = None) -> dict[str, Any]:
    """A passage as Whoosh fields.  Display data lives in one stored tuple.
    ``words``: the text of the document's ``words`` field (see :func:`document_fields`)."""
    import datetime as dt

    fields: dict[str, Any] = {
        "id": p.id,
        "doc": p.doc,
        "title": p.title,
        "text": p.text,
        "meta": (p.ordinal, p.title, p.date, p.section, p.heading_path, p.line_start,
                 p.line_end, p.page, p.paragraph, p.format),
    }
    # A section headed by the document title is not scored twice.
    if p.section != p.title:
        fields["section"] = " / ".join(p.heading_path) if p.heading_path else p.section
    if words is not None:
        fields["words"] = words
    if p.date:
        fields["date"] = dt.datetime.fromisoformat(p.date)
    if p.symbol:
        fields["symbol"] = p.symbol
    return fields


def passage_from_stored(stored: dict[str, Any]) -> Passage:
    (ordinal, title, date, section, heading_path, line_start, line_end, page, paragraph,
     fmt) = stored["meta"]
    return Passage(
        id=stored["id"], doc=stored["doc"], ordinal=ordinal, title=title, date=date,
        section=section, heading_path=tuple(heading_path), line_start=line_start,
        line_end=line_end, page=page, paragraph=paragraph, text=stored["text"], format=fmt,
    )


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

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "mtime_ns": self.mtime_ns,
                "passages": self.passages, "title": self.title, "date": self.date,
                "format": self.format}


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


def _write_json_atomic(path: Path, data: Any) -> None:
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
    :raises IndexCorrupt: the marker is unreadable.
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
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"cannot read {marker}: {e}; run `kb index --rebuild`") from None
    if not isinstance(data, dict) or data.get("format") != "kb-index":
        raise NotAnIndex(f"{marker} was not written by kb; choose another folder with --index")
    return data


_GEN_FILE = re.compile(r"^(_?MAIN[_.].*|MAIN_WRITELOCK|\.?files-\d+\.json(\..*\.tmp)?)$")


def _kb_leftover(index_dir: Path, name: str) -> bool:
    """Is ``name`` (in an index folder without marker) something kb itself left there?

    A first build killed before its switch leaves ``kb.lock`` and a generation
    folder holding only Whoosh and kb files; that folder is kb's, not foreign."""
    if name in (".gitkeep", LOCK) or (name.startswith(f".{MARKER}.") and name.endswith(".tmp")):
        return True
    if not _GEN_DIR.match(name):
        return False
    try:
        return all(_GEN_FILE.match(n) for n in os.listdir(index_dir / name))
    except OSError:
        return False


def check_compatible(marker: dict[str, Any]) -> None:
    schema = marker.get("schema")
    if schema != SCHEMA_VERSION:
        newer = isinstance(schema, int) and schema > SCHEMA_VERSION
        if newer:
            raise IndexIncompatible(
                f"the index was built by a newer kb (schema {schema}, this kb reads "
                f"{SCHEMA_VERSION}); upgrade kb, or run `kb index --rebuild` to rebuild it"
            )
        raise IndexIncompatible(
            f"the index was built by an older kb (schema {schema}, now {SCHEMA_VERSION}); "
            "run `kb index --rebuild`"
        )
    if marker.get("settings") != settings_fingerprint():
        raise IndexIncompatible(
            "the index was built with other analysis settings; run `kb index --rebuild`"
        )


# --------------------------------------------------------------------------
# the corpus an index belongs to

#: how many of the indexed files are compared with a corpus folder at another path
CORPUS_SAMPLE = 32
#: at most this many bytes of them are hashed (when a copy changed their mtimes)
CORPUS_HASH_BUDGET = 8 << 20


def _path_text(p: Path | str) -> str:
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
            matched += _sha256(path) == entry.sha256
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
    cur = _path_text(corpus_dir)
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
        index_moved = rec is not None and rec.get("index") != _path_text(index_dir)
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


def _with_corpus(marker: dict[str, Any], index_dir: Path, corpus_dir: Path,
                 new_id: bool = False) -> dict[str, Any]:
    """``marker`` recording ``corpus_dir`` (the corpus id kept unless ``new_id``)."""
    rec = recorded_corpus(marker)
    corpus_id = rec.get("id") if rec and not new_id else None
    if not isinstance(corpus_id, str) or not corpus_id:
        import secrets

        corpus_id = secrets.token_hex(8)
    out = dict(marker)
    out["corpus"] = {"path": _path_text(corpus_dir), "id": corpus_id,
                     "index": _path_text(index_dir)}
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
            marker = _with_corpus(marker, index_dir, corpus_dir)
            _write_json_atomic(index_dir / MARKER, marker)
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
                if not by_search and holder[1:] == ["search"] and \
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


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with _corpus.open_regular(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(slots=True)
class Generation:
    """An open, readable view of the current index generation.

    The file table is read on first use of :attr:`table` when the generation was
    opened with ``load_table=False`` (a search does not need it: at a million
    passages it is a 10 MB file); that read raises ``OSError`` if a writer has
    moved on and removed it meanwhile.
    """

    dir: Path
    ix: Any  # whoosh.index.FileIndex
    _table: FileTable | None
    marker: dict[str, Any]
    whoosh_gen: int = 0

    reader: Any = None  #: the Whoosh reader of exactly this generation
    ranker: Any = None  #: the array ranker over this reader (:mod:`kb.ranker`), if opened

    @property
    def table(self) -> FileTable:
        if self._table is None:
            self._table = _load_table(self.dir, self.whoosh_gen)
        return self._table

    def table_path(self) -> Path:
        return self.dir / f"files-{self.whoosh_gen}.json"

    def searcher(self, **kwargs: Any) -> Any:
        """A searcher over exactly this generation (its files are already open)."""
        from whoosh.searching import Searcher

        return Searcher(self.reader, fromindex=self.ix, **kwargs)

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
        self.ix.close()


def _open_lazy_files(reader: Any) -> None:
    """Open the column files Whoosh would open on first use, now.

    Whoosh opens a segment's stored-fields and field-length columns lazily.
    A writer may delete a merged segment's files, or a whole replaced
    generation folder, at any moment; a file that is already open survives
    its deletion, one opened later would not (stored fields would come back
    as ``None``, field lengths silently as 0).  So a reader holds every file
    from the start, or fails here, where :func:`open_generation` retries.
    """
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN, STORED_COLUMN, _lenfield

    for leaf, _base in reader.leaf_readers():
        perdoc = getattr(leaf, "_perdoc", None)
        if perdoc is None or not leaf.doc_count_all():
            continue
        if perdoc._cached_reader("_stored", STORED_COLUMN) is None:
            raise FileNotFoundError("a segment's stored fields vanished")
        for name in leaf.schema.scorable_names():
            if leaf.field_length(name) and \
                    perdoc._cached_reader(_lenfield(name), LENGTHS_COLUMN) is None:
                raise FileNotFoundError("a segment's field lengths vanished")


def _load_table(gen_dir: Path, whoosh_gen: int) -> FileTable:
    path = gen_dir / f"files-{whoosh_gen}.json"
    with open(path, encoding="utf-8") as f:
        return FileTable.from_json(json.load(f))


def open_generation(index_dir: Path, retries: int = 8, load_table: bool = True,
                    ranker: tuple[float, float] | None = None) -> Generation:
    """Open the current generation for reading, retrying across a concurrent switch.

    :param load_table: read the file table now (else on first use, see :class:`Generation`).
    :param ranker: ``(K1, B)``: also open the ranking arrays (:mod:`kb.ranker`), with the
        Whoosh files, so that a writer removing files later cannot take them away.
    :raises IndexMissing: no index has been built yet.
    """
    from whoosh.index import EmptyIndexError, open_dir

    last: Exception | None = None
    for attempt in range(retries):
        marker = read_marker(index_dir)
        if marker is None:
            raise IndexMissing(f"no index in {index_dir} yet; run `kb index`")
        check_compatible(marker)
        gen_dir = index_dir / marker["current"]
        reader = None
        try:
            ix = open_dir(str(gen_dir))
            reader = ix.reader()
            _open_lazy_files(reader)
            whoosh_gen = reader.generation()
            if whoosh_gen is None:  # an empty index has no versioned reader
                whoosh_gen = ix.latest_generation()
            table = _load_table(gen_dir, whoosh_gen) if load_table else None
            rk = None
            if ranker is not None:
                from .ranker import Ranker

                # arrays missing after every retry: derive them from Whoosh (slow, rare)
                rk = Ranker(reader, str(gen_dir), *ranker,
                            derive_missing=attempt == retries - 1)
            return Generation(gen_dir, ix, table, marker, whoosh_gen, reader, rk)
        except (OSError, EmptyIndexError, ValueError, KeyError) as e:
            # a writer switched generations or cleaned files under us: try again
            last = e
            if reader is not None:
                reader.close()
            time.sleep(0.02 * (attempt + 1))
    raise IndexCorrupt(f"cannot open the index in {index_dir} ({last}); run `kb index --rebuild`")


# --------------------------------------------------------------------------
# building


@dataclass(slots=True)
class _Plan:
    add: list[SourceFile] = field(default_factory=list)  # new files
    change: list[SourceFile] = field(default_factory=list)  # changed files
    remove: list[str] = field(default_factory=list)
    unchanged: dict[str, FileEntry] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)


def plan(files: list[SourceFile], table: FileTable, verify: bool = True) -> _Plan:
    """Compare the corpus with the file table: size and mtime first, then content hash."""
    p = _Plan()
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
                digest = _sha256(f.path)
            except OSError:
                p.change.append(f)
                continue
            p.hashes[f.id] = digest
            if digest == old.sha256:
                p.unchanged[f.id] = FileEntry(digest, f.size, f.mtime_ns, old.passages,
                                              old.title, old.date, old.format)
                continue
        p.change.append(f)
    p.remove = sorted(set(table.files) - seen)
    return p


@dataclass(slots=True)
class Loaded:
    source: SourceFile
    sha256: str
    passages: list[Passage]
    title: str
    date: str | None


def load_file(f: SourceFile) -> Loaded:
    """Read, decode, parse and split one file.

    :raises OSError, corpus.DecodeFailed, readers' errors: the file is reported, not indexed.
    """
    from . import readers

    return readers.load(f)


def _load_all(files: list[SourceFile], progress: Progress | None, done0: int,
              total: int) -> Iterator[tuple[SourceFile, Loaded | None, str | None]]:
    done = done0
    for f in files:
        try:
            item: Loaded | None = load_file(f)
            reason = None
        except KbError:
            raise
        except MemoryError:
            item, reason = None, "too large to read into memory"
        except Exception as e:  # noqa: BLE001 - any failure of one file is reported, not fatal
            item = None
            if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                raise
            reason = _reason(e)
        done += 1
        if progress:
            progress(done, total, f.id)
        yield f, item, reason


def _reason(e: BaseException) -> str:
    if isinstance(e, _corpus.DecodeFailed):
        return str(e)
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, FileNotFoundError):
        return "file vanished while indexing"
    if isinstance(e, OSError):
        return f"cannot read: {e.strerror or e}"
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return msg[:200]


#: :func:`tiered_merge`: segments whose live passages are within a factor of this of
#: each other are one tier; a tier this full is merged into one segment
MERGE_FACTOR = 3


def tiered_merge(writer: Any, segments: list[Any]) -> list[Any]:
    """Whoosh merge policy for incremental updates: size-tiered.

    Segments are grouped by the size of their live part (tiers of powers of
    :data:`MERGE_FACTOR`); a tier holding :data:`MERGE_FACTOR` segments is merged
    into one (which then belongs to a higher tier), and a segment that is more than
    half deleted is rewritten.  Each passage is so merged about once per tier, and
    an index holds at most ``MERGE_FACTOR - 1`` segments per tier: a handful,
    whatever the number of updates (Whoosh's default policy let 22 accumulate over
    50 updates of 1-200 files at 200k passages).  The ranking arrays follow every
    merge (see :class:`kb.segwriter.KbSegmentWriter`)."""
    import math

    from whoosh.reading import SegmentReader

    tiers: dict[int, list[Any]] = {}
    merge: list[Any] = []
    for seg in segments:
        total, live = seg.doc_count_all(), seg.doc_count()
        if total and live * 2 < total:
            merge.append(seg)
            continue
        tiers.setdefault(int(math.log(max(live, 1), MERGE_FACTOR)), []).append(seg)
    for segs in tiers.values():
        if len(segs) >= MERGE_FACTOR:
            merge += segs
    for seg in merge:
        reader = SegmentReader(writer.storage, writer.schema, seg)
        try:
            writer.add_reader(reader)
        finally:
            reader.close()
    return [s for s in segments if s not in merge]


def _writer(ix: Any) -> Any:
    # No Whoosh WRITELOCK: kb.lock (held for the whole update) already keeps
    # writers out, and Whoosh leaks its lock when the writer's constructor
    # fails (a full disk), blocking every later writer in this process.
    from .segwriter import KbSegmentWriter  # Whoosh's SegmentWriter, leaner (same files)

    return KbSegmentWriter(ix, limitmb=256, compound=False, _lk=False)


def _create_index(gen_dir: Path) -> Any:
    """Whoosh's ``create_in``, closing the table of contents it leaves open when
    writing it fails (see :func:`kb.segwriter.track_files`)."""
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import FileIndex

    from .segwriter import close_files, track_files, untrack_files

    storage = FileStorage(str(gen_dir))
    opened: list[Any] = []
    track_files(storage, opened)
    try:
        return FileIndex.create(storage, make_schema(), "MAIN")
    except BaseException:
        close_files(opened)
        raise
    finally:
        untrack_files(storage)


def _cancel(writer: Any) -> None:
    """Abandon a writer without masking the error that stopped it (Whoosh's
    ``cancel`` raises on a writer whose failed ``commit`` already closed it)."""
    if writer is not None:
        writer.abandon()


def _marker_for_update(index_dir: Path, rebuild: bool) -> dict[str, Any] | None:
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


@contextmanager
def _write_errors(index_dir: Path) -> Iterator[None]:
    """An OS error while writing (full disk, read-only folder) becomes one clear message."""
    try:
        yield
    except OSError as e:
        what = e.strerror or str(e)
        if e.filename:
            what += f" ({e.filename})"
        todo = ("free some space (or choose another --index) and run `kb index` again"
                if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) else
                "fix that and run `kb index` again")
        raise IndexWriteFailed(f"cannot write the index in {index_dir}: {what}; the previous "
                               f"index is unchanged: {todo}") from e


def update(index_dir: Path, corpus_dir: Path, rebuild: bool = False,
           progress: Progress | None = None, by_search: bool = False) -> IndexReport:
    """Bring the index in step with the corpus folder (see the module docstring).

    :param by_search: a search's update before searching (see :func:`write_lock`).
    """
    t0 = time.perf_counter()
    if corpus_problem(corpus_dir) and not rebuild:
        try:  # name the folder the index was built from, as a search would
            marker = read_marker(index_dir)
        except KbError:
            marker = None
        if marker is not None:
            check_corpus(index_dir, marker, corpus_dir, FileTable)
    require_corpus(corpus_dir)
    marker = _marker_for_update(index_dir, rebuild)  # refuses foreign folders first
    with _write_errors(index_dir), write_lock(index_dir, by_search):
        marker = _marker_for_update(index_dir, rebuild)
        if marker is not None and not rebuild:
            try:
                check_compatible(marker)
            except IndexIncompatible as e:
                if "newer kb" in str(e):
                    raise
                rebuild = True  # older schema: rebuilding is cheap and safe
        if marker is None or rebuild:
            walk = _corpus.walk(corpus_dir)
            report = _rebuild(index_dir, corpus_dir, marker, walk, progress)
        else:
            report, walk = _incremental(index_dir, corpus_dir, marker, progress)
        _remove_stale_generations(index_dir)
    report.warnings += _corpus.warnings(corpus_dir, walk, report.documents_total)
    report.elapsed = time.perf_counter() - t0
    return report


def _write_file(writer: Any, table: FileTable, f: SourceFile, item: Loaded) -> int:
    """Add one loaded file's passages and its file-table entry; returns the passage count."""
    for fields in document_fields(item.passages):
        writer.add_document(**fields)
    table.files[f.id] = FileEntry(item.sha256, f.size, f.mtime_ns, len(item.passages),
                                  item.title, item.date, f.format)
    return len(item.passages)


def _rebuild(index_dir: Path, corpus_dir: Path, marker: dict[str, Any] | None,
             walk: _corpus.WalkResult, progress: Progress | None) -> IndexReport:
    from whoosh.index import create_in

    old_table = FileTable()
    if marker is not None:
        try:
            gen = open_generation(index_dir)
            old_table = gen.table
            gen.close()
        except KbError:
            pass
    n = int(marker["current"][1:]) + 1 if marker else 1 + max(
        (int(name[1:]) for name in os.listdir(index_dir) if _GEN_DIR.match(name)), default=0)
    gen_name = f"g{n:06d}"
    gen_dir = index_dir / gen_name
    if gen_dir.exists():
        shutil.rmtree(gen_dir)
    gen_dir.mkdir(parents=True)
    report = IndexReport(rebuilt=True)
    table = FileTable(built=time.time(), updated=time.time())
    table.skipped = list(walk.skipped)
    ix = writer = None
    par = None
    try:
        from . import parallel as _parallel

        ix = _create_index(gen_dir)
        writer = _writer(ix)
        total = len(walk.files)
        workers = _parallel.workers_for(walk.files)
        if workers > 1:
            # workers load the files and write the segments (kb/parallel.py)
            par = _parallel.ParallelLoad(str(gen_dir), walk.files, workers)
            done, failed = 0, []
            for f, summary, reason in par:
                done += 1
                if progress:
                    progress(done, total, f.id)
                if summary is None:
                    failed.append(Skipped(f.id, reason or "failed"))
                    continue
                sha, n_passages, title, date = summary
                table.files[f.id] = FileEntry(sha, f.size, f.mtime_ns, n_passages, title, date,
                                              f.format)
                report.passages_added += n_passages
            report.added = [k for k in sorted(table.files) if k not in old_table.files]
            report.updated = [k for k in sorted(table.files) if k in old_table.files]
            table.skipped += sorted(failed, key=lambda s: s.id)  # file order, as serially
        else:
            for f, item, reason in _load_all(walk.files, progress, 0, total):
                if item is None:
                    table.skipped.append(Skipped(f.id, reason or "failed"))
                    continue
                report.passages_added += _write_file(writer, table, f, item)
                (report.updated if f.id in old_table.files else report.added).append(f.id)
        _write_json_atomic(gen_dir / f"files-{ix.latest_generation() + 1}.json", table.to_json())
        if par is not None:
            _parallel.commit(writer, par.segments)
            par.close()
        else:
            writer.commit()
    except BaseException:
        if par is not None:
            par.close()  # stop the workers before their folder is removed
        _cancel(writer)
        if ix is not None:
            ix.close()
        shutil.rmtree(gen_dir, ignore_errors=True)
        raise
    ix.close()
    report.removed = sorted(set(old_table.files) - set(table.files))
    report.skipped = table.skipped
    report.passages_removed = sum(e.passages for e in old_table.files.values())
    new_marker = {
        "format": "kb-index",
        "schema": SCHEMA_VERSION,
        "settings": settings_fingerprint(),
        "current": gen_name,
        "created": time.time(),
    }
    # the corpus keeps its id when rebuilt in place; a rebuild from another folder
    # re-points the index: a new id
    rec = recorded_corpus(marker) if marker else None
    new_marker = _with_corpus({**new_marker, "corpus": rec} if rec else new_marker,
                              index_dir, corpus_dir,
                              new_id=rec is None or rec["path"] != _path_text(corpus_dir))
    _write_json_atomic(index_dir / MARKER, new_marker)  # the switch
    report.passages_total = report.passages_added
    report.documents_total = len(table.files)
    return report


def _incremental(index_dir: Path, corpus_dir: Path, marker: dict[str, Any],
                 progress: Progress | None) -> tuple[IndexReport, _corpus.WalkResult]:
    """An incremental update; returns its report and the corpus walk it compared."""
    gen = open_generation(index_dir)
    gen.reader.close()  # the writer reads what it needs itself
    ix = gen.ix
    try:
        # an index is updated only from its own corpus (`--rebuild` re-points it)
        if check_corpus(index_dir, marker, corpus_dir, lambda: gen.table).rerecord:
            # moved with its index, or an earlier kb's index: record where it is now
            _write_json_atomic(index_dir / MARKER, _with_corpus(marker, index_dir, corpus_dir))
        table = gen.table
        walk = _corpus.walk(corpus_dir)
    except BaseException:
        ix.close()
        raise
    p = plan(walk.files, table)
    report = IndexReport(unchanged=len(p.unchanged))
    new_table = FileTable(files=dict(p.unchanged), built=table.built, updated=time.time())
    new_table.skipped = list(walk.skipped)
    todo = p.add + p.change
    changed_meta = any(
        table.files[k].mtime_ns != v.mtime_ns or table.files[k].size != v.size
        for k, v in p.unchanged.items()
    ) or [(s.id, s.reason) for s in table.skipped] != [(s.id, s.reason) for s in walk.skipped]
    if not todo and not p.remove:
        if changed_meta:
            new_table.skipped = list(walk.skipped)
            _write_json_atomic(gen.dir / f"files-{ix.latest_generation()}.json",
                               new_table.to_json())
        ix.close()
        report.skipped = new_table.skipped
        report.passages_total = sum(e.passages for e in new_table.files.values())
        report.documents_total = len(new_table.files)
        return report, walk
    writer = None
    try:
        writer = _writer(ix)
        for doc_id in p.remove:
            writer.delete_by_term("doc", doc_id)
            report.removed.append(doc_id)
            report.passages_removed += table.files[doc_id].passages
        changed_ids = {f.id for f in p.change}
        for f, item, reason in _load_all(todo, progress, 0, len(todo)):
            if f.id in changed_ids:
                writer.delete_by_term("doc", f.id)
                report.passages_removed += table.files[f.id].passages
            if item is None:
                new_table.skipped.append(Skipped(f.id, reason or "failed"))
                if f.id in changed_ids:
                    report.removed.append(f.id)
                continue
            report.passages_added += _write_file(writer, new_table, f, item)
            (report.updated if f.id in changed_ids else report.added).append(f.id)
        _write_json_atomic(gen.dir / f"files-{ix.latest_generation() + 1}.json",
                           new_table.to_json())
        writer.commit(mergetype=tiered_merge)
    except BaseException:
        _cancel(writer)
        raise
    finally:
        ix.close()
    _remove_stale_tables(gen.dir)
    report.skipped = new_table.skipped
    report.passages_total = sum(e.passages for e in new_table.files.values())
    report.documents_total = len(new_table.files)
    return report, walk


_UPDATED_RE = re.compile(rb'"updated":(-?[0-9.eE+-]+)\}\s*$')


def table_updated(gen: Generation) -> float:
    """When the index was last updated (the file table's ``updated``), read from the
    end of the file table without parsing the whole of it."""
    if gen._table is None:
        path = gen.table_path()
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - 200))
            m = _UPDATED_RE.search(f.read())
        if m:
            return float(m.group(1))
    return gen.table.updated


def _remove_stale_tables(gen_dir: Path) -> None:
    from whoosh.index import open_dir

    try:
        current = open_dir(str(gen_dir)).latest_generation()
    except Exception:  # noqa: BLE001
        return
    for name in os.listdir(gen_dir):
        m = _FILES_RE.match(name)
        if m and int(m.group(1)) < current:
            try:
                os.unlink(gen_dir / name)
            except OSError:
                pass


def _remove_stale_generations(index_dir: Path) -> None:
    """Remove generation folders (and temp files) that are not current.  Lock held."""
    marker = read_marker(index_dir)
    current = marker["current"] if marker else None
    for name in os.listdir(index_dir):
        path = index_dir / name
        if _GEN_DIR.match(name) and name != current:
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
