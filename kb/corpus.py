"""The corpus folder: which files are documents, and their decoded text.

Parts:

* :func:`walk` finds the files: recursive, hidden files and folders,
  operating-system and editor junk (:func:`is_junk`) and anything matched by
  ``.kbignore`` (gitignore syntax, at the corpus root) ignored, symlinks
  followed only while they stay inside the corpus, only regular files (a
  FIFO or device never blocks the walk), unknown extensions reported as
  skipped.  A file name that is not valid UTF-8 gets an id (the name shown
  in citations) with the undecodable bytes replaced by ``\ufffd``; the file
  is still opened by its real name.
* :func:`decode` turns bytes into text: UTF-8 with or without BOM, UTF-16
  with BOM, UTF-8 with a few damaged bytes, else the encoding
  ``charset-normalizer`` detects; binary or undecodable bytes raise
  :class:`DecodeFailed`.  Line endings (CRLF, lone CR) become ``\\n`` so
  that line numbers match what editors show.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from .models import SourceFile, Skipped

#: file extension -> format name (each has a reader in ``readers.READERS``).
FORMATS: dict[str, str] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".pdf": "pdf",
    ".docx": "docx",
    ".html": "html",
    ".htm": "html",
}

IGNORE_FILE = ".kbignore"

#: Files that operating systems and editors leave next to documents: never
#: documents, so ignored like hidden files (not reported as skipped).  Names
#: starting with "." (``.DS_Store``, AppleDouble ``._*``, LibreOffice's
#: ``.~lock.*#``) are hidden files and ignored anyway.
JUNK_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini"})  # compared lower-cased
JUNK_FOLDERS = frozenset({"__MACOSX", "$RECYCLE.BIN", "System Volume Information"})


def is_junk(name: str, is_dir: bool = False) -> bool:
    """OS or editor junk: Office lock files ``~$*`` and temp files ``~*.tmp``,
    backup files ``*~``, ``Thumbs.db``, ``desktop.ini``; folders ``__MACOSX``
    (AppleDouble files from zip archives), ``$RECYCLE.BIN``, ``System Volume
    Information``."""
    if is_dir:
        return name in JUNK_FOLDERS
    lower = name.lower()
    return (lower in JUNK_NAMES or name.startswith("~$") or name.endswith("~")
            or (name.startswith("~") and lower.endswith(".tmp")))


def text_name(name: str) -> str:
    """A file name as valid text: bytes that are not UTF-8 (which ``os`` hands over
    as lone surrogates, see PEP 383) become ``\ufffd``."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", errors="replace")
    return name


class DecodeFailed(Exception):
    """The bytes are not text in any encoding we can detect."""


@dataclass(slots=True)
class WalkResult:
    files: list[SourceFile] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _ignore_spec(root: Path):  # type: ignore[no-untyped-def]
    path = root / IGNORE_FILE
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(lines)


def walk(root: Path, formats: dict[str, str] | None = None) -> WalkResult:
    """List the documents under ``root`` (see the module docstring for the rules)."""
    formats = FORMATS if formats is None else formats
    result = WalkResult()
    real_root = os.path.realpath(root)
    spec = _ignore_spec(root)
    seen_dirs: set[tuple[int, int]] = set()

    def ignored(rel: str, is_dir: bool) -> bool:
        if spec is None:
            return False
        return bool(spec.match_file(rel + "/" if is_dir else rel))

    renamed: list[SourceFile] = []  # files whose name is not valid UTF-8
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:  # explicit stack: deep folder trees cannot overflow recursion
        dirpath, rel_dir = stack.pop()
        try:
            st = os.stat(dirpath)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:  # a symlink loop, or a folder reached twice
                continue
            seen_dirs.add(key)
            entries = sorted(os.scandir(dirpath), key=lambda e: e.name)
        except OSError as e:
            result.skipped.append(Skipped(text_name(rel_dir) or ".",
                                          f"cannot read folder: {e.strerror}"))
            continue
        subdirs: list[tuple[str, str]] = []
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = f"{rel_dir}/{name}" if rel_dir else name
            full = entry.path
            try:
                if entry.is_symlink():
                    target = os.path.realpath(full)
                    if os.path.commonpath([real_root, target]) != real_root:
                        result.skipped.append(Skipped(text_name(rel),
                                                      "symlink leads outside the corpus"))
                        continue
                st = os.stat(full)  # follows links that stay inside the corpus
            except (OSError, ValueError) as e:
                reason = getattr(e, "strerror", None) or str(e)
                result.skipped.append(Skipped(text_name(rel), f"cannot read: {reason}"))
                continue
            if stat.S_ISDIR(st.st_mode):
                if not is_junk(name, True) and not ignored(rel, True):
                    subdirs.append((full, rel))
                continue
            if is_junk(name) or ignored(rel, False):
                continue
            ext = os.path.splitext(name)[1].lower()
            fmt = formats.get(ext)
            if not stat.S_ISREG(st.st_mode):
                if fmt is not None:
                    result.skipped.append(Skipped(text_name(rel),
                                                  "not a regular file (pipe, socket or device)"))
                continue
            if fmt is None:
                result.skipped.append(Skipped(text_name(rel),
                                              f"unsupported format '{text_name(ext or name)}'"))
                continue
            doc_id = text_name(rel)
            (result.files if doc_id == rel else renamed).append(
                SourceFile(doc_id, full, fmt, st.st_size, st.st_mtime_ns))
        stack.extend(reversed(subdirs))
    # Names that are not valid UTF-8 last, in byte order: two of them (or one and a
    # real name holding "\ufffd") may read the same once their bad bytes are replaced;
    # an id must name one file, so the later one is skipped, never merged.
    ids = {f.id for f in result.files}
    for f in sorted(renamed, key=lambda f: os.fsencode(f.path)):
        if f.id in ids:
            result.skipped.append(Skipped(f.id, "the file name is not valid UTF-8 and reads the "
                                                "same as another file's once its undecodable "
                                                "bytes are shown as \ufffd; rename it"))
            continue
        ids.add(f.id)
        result.files.append(f)
    result.files.sort(key=lambda f: f.id)
    return result


def formats_read(formats: dict[str, str] | None = None) -> str:
    """The file types kb reads, for messages: ``.md, .markdown, .txt, …``."""
    return ", ".join(FORMATS if formats is None else formats)


def warnings(root: Path, result: WalkResult, documents: int) -> list[str]:
    """What to tell the user about a corpus that gave no documents (else nothing)."""
    if documents:
        return []
    if result.files:
        n = len(result.files)
        which = "its only file" if n == 1 else f"all {n} of its files"
        return [f"no documents could be indexed from {root}: {which} failed (see `kb status`)"]
    if not result.skipped:
        return [f"the corpus folder {root} is empty: kb reads {formats_read()} files"]
    return [f"the corpus folder {root} has no file that kb reads ({formats_read()})"]


def changed_folders(root: Path, since: float) -> list[str]:
    """Folders under ``root`` (walked like :func:`walk`) modified after ``since``.

    A file added, removed or renamed changes its folder's modification time, so
    this finds those changes from one ``stat`` per folder, without a ``stat`` per
    file; a file edited in place is not seen (``kb search`` on large corpora,
    see ``api.KnowledgeBase.quick_staleness``).  Folders without subfolders
    are not even listed; a symlink to a folder inside such a folder is not
    followed here.
    """
    spec = _ignore_spec(root)
    out: list[str] = []
    seen: set[tuple[int, int]] = set()
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        path, rel = stack.pop()
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            if st.st_mtime > since:
                out.append(text_name(rel) or ".")
            if st.st_nlink == 2:
                # a folder's link count is 2 + its subfolders (ext4, xfs; btrfs says 1):
                # no subfolders, so no need to list its files
                continue
            with os.scandir(path) as entries:
                for e in entries:
                    if e.name.startswith(".") or not e.is_dir() or is_junk(e.name, True):
                        continue
                    r = f"{rel}/{e.name}" if rel else e.name
                    if spec is not None and spec.match_file(r + "/"):
                        continue
                    stack.append((e.path, r))
        except OSError:
            continue
    return sorted(out)


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF (editors count lone CR as a line break)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def decode(data: bytes) -> tuple[str, str]:
    """Decode file bytes; returns ``(text, encoding)``.

    :raises DecodeFailed: binary data or no plausible encoding.
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom):].decode(enc.replace("-sig", ""))
            except UnicodeDecodeError:
                raise DecodeFailed(f"invalid {enc} despite its byte-order mark") from None
            return normalize_newlines(text), enc.replace("-le", "").replace("-be", "")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if "\x00" in text:
            raise DecodeFailed("binary file (contains NUL bytes)")
        return normalize_newlines(text), "utf-8"
    if b"\x00" in data:
        raise DecodeFailed("binary file (contains NUL bytes)")
    # UTF-8 with a few damaged bytes stays UTF-8 (the bad bytes become U+FFFD):
    # a detector would pick a legacy code page and garble every other character.
    # Well-formed multi-byte sequences almost never occur by chance in text of
    # another encoding, so a few of them outweigh a few bad bytes at any size.
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")  # U+FFFD written as such is good
    good = sum(1 for ch in text if ord(ch) > 127) - bad
    if good > 0 and bad <= max(3, good):
        return normalize_newlines(text), "utf-8"
    from charset_normalizer import from_bytes

    matches = from_bytes(data)
    best = matches.best()
    if best is None:
        raise DecodeFailed("undecodable: not UTF-8 and no other encoding fits")
    # When the detector cannot tell (a few accented letters in English text),
    # Windows-1252, the usual legacy encoding of Western documents, wins the tie.
    for m in matches:
        if m.encoding == "cp1252" and (m.chaos, m.coherence) == (best.chaos, best.coherence):
            best = m
            break
    text = str(best)
    if _looks_binary(text):
        raise DecodeFailed("binary file (mostly control characters)")
    return normalize_newlines(text), best.encoding


def _looks_binary(text: str) -> bool:
    sample = text[:4096]
    if not sample:
        return False
    bad = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    return bad / len(sample) > 0.05


def open_regular(path: str):  # type: ignore[no-untyped-def]
    """Open a file for reading in binary mode, refusing anything but a regular file.

    Opening a named pipe blocks until a writer comes; a file replaced by a FIFO
    between the walk and the read must not hang the run, so the file is opened
    non-blocking and checked before it is read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.ENXIO, "not a regular file (pipe, socket or device)", path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_text(path: str) -> tuple[str, str]:
    """Read and decode a file.  Raises ``OSError`` or :class:`DecodeFailed`."""
    with open_regular(path) as f:
        data = f.read()
    return decode(data)
