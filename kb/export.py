"""Hits -> json | jsonl | csv | md | html | docx, and the atomic, no-clobber file writer.

One serializer feeds every machine format: ``jsonl`` is each hit's
``to_dict()``, ``json`` wraps them with the query and total, the CSV header
has every hit field under the same names (lists joined into one cell); they
are one hit per row, in rank order.  ``md``, ``html`` and ``docx`` are
briefing annexes, all three laid out from one model (:mod:`kb.annex`).  The
format of ``-o FILE`` comes from its extension (:data:`EXPORT_FORMATS`); an
unknown extension is an error, never a guess.  A CSV file is written as
UTF-8 with a byte order mark, so Excel reads accents and curly quotes right
(CSV on stdout has none: the programs a pipe feeds take a BOM for data).

Exports are documents other people open: HTML is escaped (a report's
``<script>`` is shown, never run) and CSV cells that a spreadsheet would
read as a formula (starting ``= + - @``, tab or carriage return) are
prefixed with ``'`` as the OWASP guidance on CSV injection says.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import OutputError, OutputExists
from .models import Hit, SearchResult
from .render import json_text

#: every field of a hit (:meth:`Hit.to_dict`), long text last for spreadsheets
#: (the UN citation, when there is one, before the file's: citations lead with the symbol)
CSV_FIELDS = ("rank", "score", "id", "doc", "title", "date", "section", "heading_path",
              "line_start", "line_end", "page", "paragraph", "symbol", "symbol_citation",
              "citation", "path", "more_in_doc", "ref", "fingerprint", "changed", "also_in", "match",
              "missing_terms", "highlights", "snippet", "text")
#: how list fields are written in one CSV cell
HEADING_SEP = " › "
LIST_SEP = "; "
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """Neutralise a cell a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_row(h: Hit) -> dict[str, Any]:
    d = h.to_dict()
    d["heading_path"] = HEADING_SEP.join(h.heading_path)
    d["missing_terms"] = LIST_SEP.join(h.missing_terms)
    d["also_in"] = LIST_SEP.join(h.also_in)
    d["highlights"] = LIST_SEP.join(f"{s}-{e}" for s, e in h.highlights)
    return {k: csv_safe("" if d.get(k) is None else d.get(k)) for k in CSV_FIELDS}


def write_json(result: SearchResult, out: IO[str], title: str | None = None) -> None:
    """The result's JSON (that of ``kb search --format json``); ``title`` (``kb export
    --title``): a ``"title"`` field first."""
    out.write(json_text({"title": title, **result.to_dict()} if title else result.to_dict(),
                        indent=2))
    out.write("\n")


def write_jsonl(result: SearchResult, out: IO[str]) -> None:
    for h in result.hits:
        out.write(json_text(h.to_dict()))
        out.write("\n")


def write_csv(result: SearchResult, out: IO[str]) -> None:
    w = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for h in result.hits:
        w.writerow(_csv_row(h))


def _md_quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def write_md_list(result: SearchResult, out: IO[str]) -> None:
    """``kb search --format md``: a Markdown list of quoted passages with citations."""
    for h in result.hits:
        out.write(f"{h.rank}. **{h.title}** — {h.section} ({h.citation})\n\n")
        out.write("   " + _md_quote(h.snippet).replace("\n", "\n   ") + "\n\n")


def write_md_annex(result: SearchResult, out: IO[str], now: dt.datetime | None = None,
                   order: str = "reading") -> None:
    """``kb export --format md``: a briefing annex (:mod:`kb.annex`)."""
    from . import annex

    annex.write_md(annex.build(result, now, order), out)


def write_html_annex(result: SearchResult, out: IO[str], now: dt.datetime | None = None,
                     order: str = "reading") -> None:
    """``kb export --format html``: a self-contained, escaped briefing annex."""
    from . import annex

    annex.write_html(annex.build(result, now, order), out)


def write_docx_annex(result: SearchResult, out: IO[bytes], now: dt.datetime | None = None,
                     order: str = "reading") -> None:
    """``kb export --format docx``: a Word briefing annex."""
    from . import annex

    annex.write_docx(annex.build(result, now, order), out)


@dataclass(frozen=True, slots=True)
class ExportFormat:
    name: str  #: the --format value
    extensions: tuple[str, ...]  #: file name endings that choose it (lower case)
    write: Callable[[SearchResult, IO[Any]], None]
    annex: bool = False  #: a briefing annex (:mod:`kb.annex`): ``--order`` applies
    binary: bool = False  #: written as bytes, not text
    #: the text encoding of a file written with ``-o`` (CSV: with a BOM, for Excel)
    encoding: str = "utf-8"


#: the export formats; ``-o FILE`` picks one by its extension, ``--format`` by name
EXPORT_FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("md", (".md", ".markdown"), write_md_annex, annex=True),
    ExportFormat("html", (".html", ".htm"), write_html_annex, annex=True),
    ExportFormat("docx", (".docx",), write_docx_annex, annex=True, binary=True),
    ExportFormat("csv", (".csv",), write_csv, encoding="utf-8-sig"),
    ExportFormat("json", (".json",), write_json),
    ExportFormat("jsonl", (".jsonl", ".ndjson"), write_jsonl),
)
FORMATS = tuple(f.name for f in EXPORT_FORMATS)
FORMAT: dict[str, ExportFormat] = {f.name: f for f in EXPORT_FORMATS}
WRITERS: dict[str, Callable[[SearchResult, IO[Any]], None]] = {
    f.name: f.write for f in EXPORT_FORMATS}
#: the formats ``--order`` applies to
ANNEX_FORMATS = tuple(f.name for f in EXPORT_FORMATS if f.annex)
#: the formats that have a title (``--title``): the annexes, and json's ``"title"``
TITLE_FORMATS = (*ANNEX_FORMATS, "json")


def write(result: SearchResult, fmt: str, out: IO[Any], *, now: dt.datetime | None = None,
          order: str | None = None, chosen: bool = False, title: str | None = None,
          picked_from: Mapping[str, tuple[str, Collection[str]]] | None = None) -> None:
    """Write ``result`` in format ``fmt`` to ``out`` (a text stream, or a binary one
    for a binary format).  Annexes: made at ``now``, their passages in ``order``
    (``reading`` by default, or ``rank``); ``chosen``: the hits are passages the user
    picked (titled "Chosen passages" when there is no query); ``title``: the annex's
    title (:func:`kb.annex.clean_title` it first; json: a ``"title"`` field);
    ``picked_from``: the queries chosen passages were picked from (:func:`kb.annex.build`).
    Data formats are one hit per row in the order the hits come (rank order)."""
    if title and fmt not in TITLE_FORMATS:
        raise ValueError(f"a {fmt} export has no title (only {', '.join(TITLE_FORMATS)})")
    if FORMAT[fmt].annex:
        from . import annex

        annex.WRITERS[fmt](annex.build(result, now, order or "reading", title=title,
                                       chosen=chosen, picked_from=picked_from), out)
    elif fmt == "json":
        write_json(result, out, title)
    else:
        WRITERS[fmt](result, out)


def export_file(result: SearchResult, fmt: str, path: Path, *, force: bool = False,
                now: dt.datetime | None = None, order: str | None = None,
                chosen: bool = False, title: str | None = None) -> None:
    """Write ``result`` to the file ``path`` (atomically, never over an existing file
    unless ``force``: :func:`write_file`) in format ``fmt``."""
    f = FORMAT[fmt]
    write_file(path, lambda out: write(result, fmt, out, now=now, order=order, chosen=chosen,
                                       title=title),
               force=force, binary=f.binary, encoding=f.encoding)


def format_for(path: str | os.PathLike[str]) -> str:
    """The export format named by a file's extension.

    :raises OutputError: no format in :data:`EXPORT_FORMATS` has this extension
        (an unknown one is never guessed: ``annex.docx`` must not silently be Markdown).
    """
    name = Path(path).name
    ext = Path(name).suffix.lower()
    for f in EXPORT_FORMATS:
        if ext in f.extensions:
            return f.name
    known = " ".join(e for f in EXPORT_FORMATS for e in f.extensions)
    what = f"'{ext}' is not one of {known}" if ext else f"it has no extension (one of {known})"
    raise OutputError(f"cannot tell the export format of {name}: {what}; "
                      f"give one with --format {'|'.join(FORMATS)}")


def render(result: SearchResult, fmt: str, **options: Any) -> str:
    """``result`` in a text format (options: those of :func:`write`)."""
    buf = io.StringIO()
    write(result, fmt, buf, **options)
    return buf.getvalue()


def render_bytes(result: SearchResult, fmt: str, **options: Any) -> bytes:
    """``result`` in a binary format (``docx``), as bytes."""
    buf = io.BytesIO()
    write(result, fmt, buf, **options)
    return buf.getvalue()


def write_file(path: Path, write: Callable[[IO[Any]], None], force: bool = False, *,
               binary: bool = False, encoding: str = "utf-8") -> None:
    """Write a file atomically; never replace an existing one unless ``force``.

    ``write`` gets a text stream (in ``encoding``, newlines as written) or, with
    ``binary``, a bytes stream.

    The content goes to a temporary file in the target folder, which is
    linked (no-clobber) or renamed (``force``) into place only when writing
    succeeded; on any failure the temporary file is removed and the target is
    untouched.
    """
    if path.is_dir():
        raise OutputError(f"{path} is a folder; give a file name with -o")
    if path.exists() and not force:
        raise OutputExists(f"{path} already exists; use --force to overwrite it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"folder {parent} does not exist; create it first or choose another -o")
    try:
        fd, tmp = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as ex:
        raise OutputError(f"cannot write in {parent}: {ex.strerror}") from None
    try:
        f: IO[Any]
        with (os.fdopen(fd, "wb") if binary
              else os.fdopen(fd, "w", encoding=encoding, newline="")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if the target appeared meanwhile
            except FileExistsError:
                raise OutputExists(f"{path} already exists; use --force to overwrite it") from None
            os.unlink(tmp)
    except OSError as ex:
        _unlink(tmp)
        raise OutputError(f"cannot write {path}: {ex.strerror or ex}") from None
    except BaseException:
        _unlink(tmp)
        raise


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
