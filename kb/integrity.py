"""A damaged index: the checksums recorded at commit, ``kb status --check``, and
telling a damaged file from a bug in kb.

**What is recorded.**  Every committed version ``N`` of a generation has a
manifest ``sums-N.json`` beside its file table ``files-N.json``: the size and
SHA-256 of every file of that version (the engine's files, named by
:meth:`kb.engine.EngineWriter.commit`'s ``seal``, and the file table), and a
checksum of the manifest itself.  It is written (to a temporary file, then
renamed) after every file of the version is written and *before* the engine's
commit makes the version visible, so a version that readers can see always
has its manifest (a kill -9 in between leaves a manifest of a version that
was never committed; the next writer of that version replaces it).  An
incremental update hashes only the files it wrote: the sums of the files it
kept are carried over from the previous version's manifest (engine files are
never rewritten under the same name), so the cost of an update does not grow
with the index.  The marker (``kb-index.json``) is not in a manifest (it is
rewritten on its own, and points to the generation): it is checked by reading
it (JSON, a generation folder that exists), and records ``"sums": 1`` when its
generation records checksums, so that a missing manifest is damage there.

**Checking** (:func:`check`, ``kb status --check``) reads every file of the
current version and compares it with the manifest: missing, truncated (or
grown), or changed.  A version without a manifest (written by an earlier kb)
is read through the engine instead, as far as that finds damage.

**Telling damage from a bug** (:func:`damage`).  An error while reading the
index (the engine's :class:`~kb.engine.ReadFailed` or
:class:`~kb.engine.OpenFailed`) is blamed on the index only when the checksums
say a file is damaged, or, for an index without checksums, when it is an
error only damaged files cause (a file-format error).  When every file
matches its checksum, the error is a bug in kb and is raised as it is.

Every problem found is one :class:`~kb.errors.IndexCorrupt`:
"The index at … is damaged (…): run `kb index --rebuild`", which always works:
a rebuild never reads the old index (:mod:`kb.index`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import IndexCorrupt

SUMS_FORMAT = "kb-sums"
_SUMS_RE = re.compile(r"^sums-(\d+)\.json$")
_TABLE_RE = re.compile(r"^files-(\d+)\.json$")
_CHUNK = 1 << 20


def damaged(index_dir: Path | str, detail: str) -> IndexCorrupt:
    """The one error every kind of damage is reported as."""
    detail = " ".join(str(detail).split())
    if len(detail) > 300:
        detail = detail[:297] + "..."
    return IndexCorrupt(f"The index at {index_dir} is damaged ({detail}): "
                        "run `kb index --rebuild`")


def describe(error: BaseException) -> str:
    """An engine's error in a few words ("FileFormatError: Unknown file header")."""
    text = str(error).splitlines()[0] if str(error) else ""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror + (f": {os.path.basename(str(error.filename))}"
                                 if error.filename else "")
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


# --------------------------------------------------------------------------
# checksums


def sha256_of(path: str | Path) -> tuple[int, str]:
    """(size, SHA-256) of a file, read once."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def sums_path(gen_dir: Path, version: int) -> Path:
    return gen_dir / f"sums-{version}.json"


def _digest(version: int, files: dict[str, Any]) -> str:
    body = json.dumps({"version": version, "files": files}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(body.encode("ascii")).hexdigest()


class ManifestDamaged(ValueError):
    """A ``sums-N.json`` that cannot be read or does not match its own checksum."""


#: a file's recorded sums: each ``[size, sha256]`` is right (more than one while
#: the file table of a version is being replaced, :func:`rewrite_table`)
Sums = dict[str, list[list[Any]]]


def read_sums(gen_dir: Path, version: int) -> Sums | None:
    """The sums recorded for ``version``, or None when it has no manifest.

    :raises ManifestDamaged: the manifest is unreadable, or not what kb wrote."""
    path = sums_path(gen_dir, version)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ManifestDamaged(describe(e)) from e
    try:
        data = json.loads(raw.decode("utf-8"))
        files = data["files"]
        ok = (data.get("format") == SUMS_FORMAT and data.get("version") == version
              and isinstance(files, dict)
              and data.get("check") == _digest(version, files)
              and all(isinstance(v, list) and v and all(
                  isinstance(p, list) and len(p) == 2 and isinstance(p[0], int)
                  and isinstance(p[1], str) for p in v) for v in files.values()))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise ManifestDamaged(f"not a checksum manifest ({describe(e)})") from e
    if not ok:
        raise ManifestDamaged("it does not match its own checksum")
    return files  # type: ignore[no-any-return]


def write_sums(gen_dir: Path, version: int, files: Sums) -> None:
    from .store import write_json_atomic

    write_json_atomic(sums_path(gen_dir, version),
                      {"format": SUMS_FORMAT, "version": version, "files": files,
                       "check": _digest(version, files)})


def _previous_sums(gen_dir: Path, version: int) -> Sums:
    """The sums of the newest earlier version with a sound manifest ({} when none)."""
    try:
        found = sorted((int(m.group(1)) for m in map(_SUMS_RE.match, os.listdir(gen_dir))
                        if m and int(m.group(1)) < version), reverse=True)
    except OSError:
        return {}
    for v in found:
        try:
            sums = read_sums(gen_dir, v)
        except ManifestDamaged:
            continue
        if sums is not None:
            return sums
    return {}


def seal(gen_dir: Path, version: int, files: dict[str, str]) -> Sums:
    """Record the sums of every file of ``version`` (``files``: the engine's, ``{name:
    path now}``, plus the version's file table) in ``sums-<version>.json``, before the
    engine commits it (:meth:`kb.engine.EngineWriter.commit`'s ``seal``).

    A file the previous version's manifest records with the same name and size is
    not read again (an engine never rewrites a file under the same name)."""
    prev = _previous_sums(gen_dir, version)
    table = f"files-{version}.json"
    paths = dict(files)
    paths[table] = str(gen_dir / table)
    out: Sums = {}
    for name, path in sorted(paths.items()):
        old = prev.get(name)
        size = os.stat(path).st_size
        if name != table and old is not None and len(old) == 1 and old[0][0] == size:
            out[name] = old
            continue
        out[name] = [list(sha256_of(path))]
    write_sums(gen_dir, version, out)
    return out


def rewrite_table(gen_dir: Path, version: int, data: Any) -> None:
    """Replace the file table of ``version`` in place (an update that changed no
    passage), its recorded sum with it: the manifest first accepts the old table and
    the new, then the new only, so that a kill at any point leaves the two agreeing."""
    from .store import table_path, write_json_atomic

    path = table_path(gen_dir, version)
    try:
        sums = read_sums(gen_dir, version)
    except ManifestDamaged:
        sums = None
    if sums is None or path.name not in sums:  # no checksums to keep up to date
        write_json_atomic(path, data)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        new = list(sha256_of(tmp))
        write_sums(gen_dir, version, {**sums, path.name: sums[path.name] + [new]})
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    write_sums(gen_dir, version, {**sums, path.name: [new]})


# --------------------------------------------------------------------------
# verifying


@dataclass(slots=True)
class Verified:
    """What :func:`verify` found for one version of a generation."""

    recorded: bool  #: the version has a manifest
    problems: list[str] = field(default_factory=list)  #: "NAME: what is wrong", one per file
    files: int = 0  #: files read
    bytes: int = 0  #: bytes read


def _size_text(n: int) -> str:
    return f"{n:,}"


def verify(gen_dir: Path, version: int) -> Verified:
    """Read every file ``sums-<version>.json`` records and compare it with its sums."""
    try:
        sums = read_sums(gen_dir, version)
    except ManifestDamaged as e:
        return Verified(True, [f"sums-{version}.json: {e}"])
    if sums is None:
        return Verified(False)
    out = Verified(True)
    for name, accepted in sorted(sums.items()):
        path = gen_dir / name
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            out.problems.append(f"{name}: missing")
            continue
        except OSError as e:
            out.problems.append(f"{name}: cannot be read ({describe(e)})")
            continue
        sizes = {p[0] for p in accepted}
        if size not in sizes:
            want = max(sizes)
            how = "truncated" if size < want else "longer than written"
            out.problems.append(f"{name}: {how} ({_size_text(size)} of "
                                f"{_size_text(want)} bytes)")
            continue
        try:
            got = list(sha256_of(path))
        except OSError as e:
            out.problems.append(f"{name}: cannot be read ({describe(e)})")
            continue
        out.files += 1
        out.bytes += got[0]
        if got not in accepted:
            out.problems.append(f"{name}: its bytes changed since kb wrote it "
                                "(checksum differs)")
    return out


def sizes(gen_dir: Path, version: int) -> list[str]:
    """What :func:`verify` finds without reading any file: files missing, truncated or
    grown (a stat each; what every open of the index checks, :func:`kb.store.open_generation`).
    A manifest that cannot be read is no problem here (nothing a search reads depends
    on it): :func:`verify` reports it."""
    try:
        sums = read_sums(gen_dir, version)
    except ManifestDamaged:
        return []
    out = []
    for name, accepted in sorted((sums or {}).items()):
        try:
            size = os.stat(gen_dir / name).st_size
        except FileNotFoundError:
            out.append(f"{name}: missing")
            continue
        except OSError:
            continue  # reading it will say what
        recorded = {p[0] for p in accepted}
        if size not in recorded:
            want = max(recorded)
            how = "truncated" if size < want else "longer than written"
            out.append(f"{name}: {how} ({_size_text(size)} of {_size_text(want)} bytes)")
    return out


_CACHE: dict[tuple[str, int], tuple[Any, Verified]] = {}
_CACHE_LOCK = threading.Lock()


def _listing_key(gen_dir: Path) -> Any:
    """The names, sizes and modification times of a folder's files (what a cached
    verification is valid for)."""
    out = []
    try:
        with os.scandir(gen_dir) as it:
            for e in it:
                try:
                    st = e.stat()
                except OSError:
                    continue
                out.append((e.name, st.st_size, st.st_mtime_ns))
    except OSError:
        return None
    return tuple(sorted(out))


def verify_cached(gen_dir: Path, version: int) -> Verified:
    """:func:`verify`, remembered while no file of the folder changes (a server asked
    again and again about a damaged index reads it once)."""
    key = (str(gen_dir), version)
    listing = _listing_key(gen_dir)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None and listing is not None and hit[0] == listing:
        return hit[1]
    v = verify(gen_dir, version)
    with _CACHE_LOCK:
        if len(_CACHE) > 8:
            _CACHE.clear()
        _CACHE[key] = (listing, v)
    return v


def current_version(gen_dir: Path) -> int | None:
    """The version a reader of ``gen_dir`` would open: the engine's newest committed
    one (by its files' names), else the newest with a manifest or a file table."""
    from .engine import get_engine

    v = get_engine().latest_version(gen_dir)
    if v is not None:
        return v
    try:
        names = os.listdir(gen_dir)
    except OSError:
        return None
    found = [int(m.group(1)) for n in names for m in (_SUMS_RE.match(n), _TABLE_RE.match(n))
             if m]
    return max(found) if found else None


def damage(index_dir: Path, gen_dir: Path, version: int | None, error: BaseException,
           certain: bool) -> IndexCorrupt | None:
    """The error to report for ``error``, raised while reading the index: an
    :class:`IndexCorrupt` when the index is damaged, None when it is not (``error``
    is then a bug in kb: raise it as it is).

    The checksums decide (:func:`verify`); a version without them is damaged when
    ``error`` is ``certain`` (only damaged files cause it).  Files that match their
    checksums are sound whatever ``error`` says."""
    if version is None:
        version = current_version(gen_dir)
    if version is not None:
        v = verify_cached(gen_dir, version)
        if v.problems:
            more = len(v.problems) - 1
            return damaged(index_dir, f"{gen_dir.name}/{v.problems[0]}"
                           + (f", and {more} more: see `kb status --check`" if more else ""))
        if v.recorded:
            return None
    elif not gen_dir.is_dir():
        return damaged(index_dir, f"its generation folder {gen_dir.name} is missing")
    if certain:
        return damaged(index_dir, f"{gen_dir.name}: {describe(error)}")
    return None


# --------------------------------------------------------------------------
# kb status --check


@dataclass(slots=True)
class CheckReport:
    """What ``kb status --check`` found (:func:`check`)."""

    index: str
    generation: str | None = None
    version: int | None = None
    recorded: bool = False  #: the version has checksums
    #: "PATH: what is wrong" (PATH relative to the index folder), one per problem
    problems: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    exists: bool = True

    @property
    def sound(self) -> bool:
        return self.exists and not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "exists": self.exists, "sound": self.sound,
                "generation": self.generation, "version": self.version,
                "checksums": self.recorded, "files": self.files, "bytes": self.bytes,
                "problems": list(self.problems), "elapsed": round(self.elapsed, 3)}

    def summary(self) -> str:
        """The last line: sound, or the damaged error's text."""
        if not self.exists:
            return f"There is no index at {self.index} yet: run `kb index`"
        if self.problems:
            n = len(self.problems)
            return str(damaged(self.index, self.problems[0] if n == 1 else f"{n} problems"))
        how = "match their checksums" if self.recorded else \
            "read without error (no checksums recorded: an earlier kb wrote this version)"
        return (f"The index at {self.index} is sound: the {self.files} files of "
                f"{self.generation} (version {self.version}) {how}; "
                f"{self.bytes / 1e6:.1f} MB read in {self.elapsed:.2f} s")


def check(index_dir: Path, attempts: int = 3) -> CheckReport:
    """Read every file of the index's current version and report every problem
    (``kb status --check``).  Taken again from the start when an update changed the
    index meanwhile (up to ``attempts`` times)."""
    t0 = time.perf_counter()
    for _ in range(attempts):
        before = folder_state(index_dir)
        rep = _check_once(index_dir)
        if folder_state(index_dir) == before:
            break
    rep.elapsed = time.perf_counter() - t0
    return rep


def folder_state(index_dir: Path) -> Any:
    """The marker's bytes and the current generation's file names: what a writer
    changes (an update commits a new version; a rebuild switches the marker)."""
    try:
        raw = (index_dir / "kb-index.json").read_bytes()
    except OSError:
        return None
    try:
        current = json.loads(raw)["current"]
        names = tuple(sorted(os.listdir(index_dir / current)))
    except Exception:  # noqa: BLE001 - any unreadable marker: its bytes say it
        names = None
    return raw, names


def _check_once(index_dir: Path) -> CheckReport:
    from . import store
    from .errors import KbError

    rep = CheckReport(str(index_dir))
    try:
        marker = store.read_marker(index_dir)
    except IndexCorrupt as e:
        rep.problems.append(_detail(e))
        return rep
    if marker is None:
        rep.exists = False
        return rep
    rep.generation = marker["current"]
    gen_dir = index_dir / marker["current"]
    rel = marker["current"]
    if not gen_dir.is_dir():
        rep.problems.append(f"{rel}: the generation folder the marker names is missing")
        return rep
    version = current_version(gen_dir)
    rep.version = version
    if version is None:
        rep.problems.append(f"{rel}: no committed version (no table of contents)")
        return rep
    v = verify(gen_dir, version)
    rep.recorded, rep.files, rep.bytes = v.recorded, v.files, v.bytes
    rep.problems += [f"{rel}/{p}" for p in v.problems]
    if rep.problems:
        return rep
    # the checksums match (or there are none): open it as a search does, and read it
    store.check_compatible(marker)  # another kb's index: that error, not "damaged"
    if v.recorded:
        table = store.table_path(gen_dir, version)
        if table.name not in (read_sums(gen_dir, version) or {}):
            rep.problems.append(f"{rel}/{table.name}: not recorded in sums-{version}.json")
    elif marker.get("sums"):
        # this generation was built recording checksums: every version has them
        rep.problems.append(f"{rel}/sums-{version}.json: missing")
        return rep
    try:
        gen = store.open_generation(index_dir, ranker=True)
    except KbError as e:
        rep.problems.append(f"{rel}: {_detail(e)}")
        return rep
    try:
        if not v.recorded:
            from .engine import ReadFailed

            try:
                rep.files, rep.bytes = gen.engine.read_all()
            except ReadFailed as e:
                rep.problems.append(f"{rel}: {describe(e.error)}")
    finally:
        gen.close()
    return rep


def _detail(e: Exception) -> str:
    """The part in parentheses of a damaged-index message, or the whole message."""
    text = str(e)
    m = re.search(r" is damaged \((.*)\): run `kb index --rebuild`", text)
    return m.group(1) if m else text
