"""Hits -> json | jsonl | csv | md | html, and the atomic, no-clobber file writer.

One serializer feeds every machine format: ``jsonl`` is each hit's
``to_dict()``, ``json`` wraps them with the query and total, the CSV header
has every hit field under the same names (lists joined into one cell).
``md`` and ``html`` are briefing annexes: the query, when it was run, how
many passages, then the passages grouped by document, each with its full
text and citation.  The format of ``-o FILE`` comes from its extension
(:data:`EXPORT_FORMATS`); an unknown extension is an error, never a guess.

Exports are documents other people open: HTML is escaped (a report's
``<script>`` is shown, never run) and CSV cells that a spreadsheet would
read as a formula (starting ``= + - @``, tab or carriage return) are
prefixed with ``'`` as the OWASP guidance on CSV injection says.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import OutputError, OutputExists
from .models import Hit, SearchResult
from .render import json_text

#: every field of a hit (:meth:`Hit.to_dict`), long text last for spreadsheets
CSV_FIELDS = ("rank", "score", "id", "doc", "title", "date", "section", "heading_path",
              "line_start", "line_end", "page", "paragraph", "citation", "path", "more_in_doc",
              "symbol", "symbol_citation", "ref", "also_in", "missing_terms", "highlights", "snippet", "text")
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


def write_json(result: SearchResult, out: IO[str]) -> None:
    out.write(json_text(result.to_dict(), indent=2))
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


def _by_document(hits: Iterable[Hit]) -> list[tuple[str, list[Hit]]]:
    groups: dict[str, list[Hit]] = {}
    for h in hits:
        groups.setdefault(h.doc, []).append(h)
    return list(groups.items())


def _when(now: dt.datetime | None) -> str:
    return (now or dt.datetime.now()).strftime("%Y-%m-%d %H:%M")


def _md_quote(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.split("\n"))


def _count_line(result: SearchResult, now: dt.datetime | None) -> str:
    """``Searched … · 26 passages from 1 document`` (or ``passages 11-20 of 26``)."""
    n = len(result.hits)
    docs = len({h.doc for h in result.hits})
    if n == result.total and not result.offset:
        what = f"{n} passage{'s' * (n != 1)}"
    elif n:
        what = f"passages {result.offset + 1}-{result.offset + n} of {result.total}"
    else:
        return (f"Searched {_when(now)} · none of the {result.total} passages from "
                f"{result.offset + 1} on")
    return f"Searched {_when(now)} · {what} from {docs} document{'s' * (docs != 1)}"


def write_md_list(result: SearchResult, out: IO[str]) -> None:
    """``kb search --format md``: a Markdown list of quoted passages with citations."""
    for h in result.hits:
        out.write(f"{h.rank}. **{h.title}** — {h.section} ({h.citation})\n\n")
        out.write("   " + _md_quote(h.snippet).replace("\n", "\n   ") + "\n\n")


def _annex_title(result: SearchResult) -> str:
    if result.corrected_query:
        return f"Passages matching “{result.corrected_query}” (no passage matches “{result.query}”)"
    return f"Passages matching “{result.query}”" if result.query else "All passages"


def write_md_annex(result: SearchResult, out: IO[str], now: dt.datetime | None = None) -> None:
    """``kb export --format md``: a briefing annex."""
    title = _annex_title(result)
    out.write(f"# {title}\n\n")
    docs = _by_document(result.hits)
    out.write(f"{_count_line(result, now)}\n\n")
    for doc, hits in docs:
        first = hits[0]
        date = f" ({first.date})" if first.date else ""
        out.write(f"## {first.title}{date}\n\n`{first.path}`\n\n")
        for h in hits:
            out.write(f"### {h.section}\n\n{_md_quote(h.text)}\n\n— {h.citation}\n\n")


_CSS = """body{font-family:Georgia,serif;max-width:50em;margin:2em auto;line-height:1.5;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
h3{font-size:1em;margin-bottom:.2em}.meta{color:#555}.cite{color:#555;font-size:.9em}
blockquote{margin:.3em 0 1.2em;padding-left:1em;border-left:3px solid #ccc;white-space:pre-wrap}"""


def write_html_annex(result: SearchResult, out: IO[str], now: dt.datetime | None = None) -> None:
    """``kb export --format html``: a self-contained, escaped briefing annex."""
    e = html.escape
    title = _annex_title(result)
    docs = _by_document(result.hits)
    out.write("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n")
    out.write(f"<title>{e(title)}</title>\n<style>{_CSS}</style></head><body>\n")
    out.write(f"<h1>{e(title)}</h1>\n<p class=\"meta\">{e(_count_line(result, now))}</p>\n")
    for doc, hits in docs:
        first = hits[0]
        date = f" ({e(first.date)})" if first.date else ""
        out.write(f"<h2>{e(first.title)}{date}</h2>\n<p class=\"meta\"><code>{e(first.path)}"
                  "</code></p>\n")
        for h in hits:
            out.write(f"<h3>{e(h.section)}</h3>\n<blockquote>{e(h.text)}</blockquote>\n"
                      f"<p class=\"cite\">{e(h.citation)}</p>\n")
    out.write("</body></html>\n")


@dataclass(frozen=True, slots=True)
class ExportFormat:
    name: str  #: the --format value
    extensions: tuple[str, ...]  #: file name endings that choose it (lower case)
    write: Callable[[SearchResult, IO[str]], None]


#: the export formats; ``-o FILE`` picks one by its extension, ``--format`` by name
EXPORT_FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("md", (".md", ".markdown"), write_md_annex),
    ExportFormat("html", (".html", ".htm"), write_html_annex),
    ExportFormat("csv", (".csv",), write_csv),
    ExportFormat("json", (".json",), write_json),
    ExportFormat("jsonl", (".jsonl", ".ndjson"), write_jsonl),
)
FORMATS = tuple(f.name for f in EXPORT_FORMATS)
WRITERS: dict[str, Callable[[SearchResult, IO[str]], None]] = {
    f.name: f.write for f in EXPORT_FORMATS}


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


def render(result: SearchResult, fmt: str) -> str:
    buf = io.StringIO()
    WRITERS[fmt](result, buf)
    return buf.getvalue()


def write_file(path: Path, write: Callable[[IO[str]], None], force: bool = False) -> None:
    """Write a file atomically; never replace an existing one unless ``force``.

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
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
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
