"""File -> Document, by format.  One reader per format; each returns a Document.

``load`` reads the bytes once, hashes them (the hash is what incremental
updates compare), hands them to the format's reader and splits the document
into passages.  Readers raise on unreadable input; the index stage records
the reason and goes on with the next file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from .corpus import decode, open_regular
from .models import Document, SourceFile

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


def load(f: SourceFile):  # type: ignore[no-untyped-def]
    """Read, hash, parse and split one file into an ``index.Loaded``."""
    from .index import Loaded
    from .passages import split_document

    with open_regular(f.path) as fh:
        data = fh.read()
    digest = hashlib.sha256(data).hexdigest()
    doc = READERS[f.format](data, f.id, f.format)
    return Loaded(f, digest, split_document(doc), doc.title, doc.date)
