"""The loading stage: file -> :class:`~kb.models.Document` -> passages.

One reader per format; each returns a Document.  :func:`load` reads the bytes
once, hashes them (the hash is what incremental updates compare), hands them
to the format's reader and splits the document into passages
(:func:`kb.passages.split_document`).  A document that prints no UN symbol
takes the one its file name has the form of (:func:`with_name_symbol`).
Readers raise on unreadable input; :func:`load_all` records the reason and
goes on with the next file.  Both the
serial update (:mod:`kb.index`) and the parallel build's workers
(:mod:`kb.engine.parallel`) load files here.
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Callable, Iterator

from . import corpus as _corpus
from .corpus import decode, open_regular
from .errors import KbError
from .models import Document, Loaded, SourceFile

Reader = Callable[[bytes, str, str], Document]


def read_markup(data: bytes, doc_id: str, fmt: str) -> Document:
    """Markdown and plain text."""
    from .parse import parse

    text, _encoding = decode(data)
    return parse(text, doc_id, fmt)


def read_pdf(data: bytes, doc_id: str, fmt: str) -> Document:
    """PDF: text from PDFium, layout repaired (see :mod:`kb.pdf`)."""
    from .pdf import read_pdf as _read

    return _read(data, doc_id, fmt)


def read_docx(data: bytes, doc_id: str, fmt: str) -> Document:
    """DOCX: python-docx (see :mod:`kb.docx`)."""
    from .docx import read_docx as _read

    return _read(data, doc_id, fmt)


def read_html(data: bytes, doc_id: str, fmt: str) -> Document:
    """HTML: selectolax (see :mod:`kb.html`)."""
    from .html import read_html as _read

    return _read(data, doc_id, fmt)


#: format name -> reader.  Formats are named in ``corpus.FORMATS``.
READERS: dict[str, Reader] = {
    "markdown": read_markup,
    "text": read_markup,
    "pdf": read_pdf,
    "docx": read_docx,
    "html": read_html,
}


def load(f: SourceFile) -> Loaded:
    """Read, hash, parse and split one file.

    :raises OSError, corpus.DecodeFailed, readers' errors: the file is reported, not indexed.
    """
    from .passages import split_document

    with open_regular(f.path) as fh:
        data = fh.read()
    digest = hashlib.sha256(data).hexdigest()
    doc = READERS[f.format](data, f.id, f.format)
    if doc.symbol is None:
        doc = with_name_symbol(doc)
    return Loaded(f, digest, split_document(doc), doc.title, doc.date, doc.symbol)


def with_name_symbol(doc: Document) -> Document:
    """``doc`` with the UN symbol its file name has the form of (``A_RES_74_258.txt``:
    ``A/RES/74/258``), when the document prints none (:func:`kb.meta.symbol_of_filename`)."""
    from dataclasses import replace

    from .meta import symbol_of_filename

    symbol = symbol_of_filename(doc.id)
    return replace(doc, symbol=symbol) if symbol else doc


def load_all(files: list[SourceFile], progress: Callable[[int, int, str], None] | None = None,
             ) -> Iterator[tuple[SourceFile, Loaded | None, str | None]]:
    """:func:`load` each file in turn: ``(file, loaded, None)``, or ``(file, None,
    reason)`` for a file that cannot be indexed (kb's own errors and a full disk
    stop the update instead); ``progress(done, total, file id)`` after each."""
    done = 0
    for f in files:
        try:
            item: Loaded | None = load(f)
            reason = None
        except KbError:
            raise
        except MemoryError:
            item, reason = None, "too large to read into memory"
        except Exception as e:  # noqa: BLE001 - any failure of one file is reported, not fatal
            item = None
            if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                raise
            reason = failure_reason(e)
        done += 1
        if progress:
            progress(done, len(files), f.id)
        yield f, item, reason


def failure_reason(e: BaseException) -> str:
    """Why a file could not be indexed, in a few words."""
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
