"""Terminal presentation of results, status and document lists.

On a terminal (and without ``--no-color``/``NO_COLOR``) output is styled
with Rich; otherwise it is the same layout as plain text, produced without
importing Rich (a one-shot ``kb search | less`` does not pay for it).

No character from a document, a file name or a query reaches the terminal
as a control sequence: everything printed passes through :func:`safe`
(document text) or :func:`safe_line` (names, ids, paths, citations, queries,
one-line messages), JSON through :func:`json_text`.  The index keeps the text
as it is; only what is printed changes.
"""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from collections.abc import Collection
from typing import IO, Any

from .models import DocumentInfo, Hit, IndexReport, SearchResult, Skipped

# --------------------------------------------------------------------------- terminal safety

#: bidi embeddings, overrides and isolates: they reorder the rest of the line
_BIDI = "\u202a-\u202e\u2066-\u2069"
#: lone surrogates (undecodable bytes of a file name): UTF-8 output cannot hold them
_SURROGATES = "\ud800-\udfff"
#: C0 controls but tab and newline (CR only when it ends a CRLF pair), DEL, C1, bidi
_UNSAFE_TEXT = re.compile(
    f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI}{_SURROGATES}]|\r(?!\n)")
#: what JSON output escapes besides what ``json.dumps`` does (C0): DEL, C1,
#: line and paragraph separators, bidi controls (escaping is lossless in JSON)
_UNSAFE_JSON = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI}{_SURROGATES}]")
_INVISIBLE = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))


def _visible(c: str) -> str:
    """C0 controls and DEL as Unicode control pictures (␛ ␇ ␈ ␍ …, one column
    wide like the character they stand for), anything else as ``\\u202e``."""
    o = ord(c)
    if o < 0x20:
        return chr(0x2400 + o)
    if o == 0x7F:
        return "\u2421"
    return f"\\u{o:04x}" if o <= 0xFFFF else f"\\U{o:08x}"


def safe(text: str) -> str:
    """Document text (passages, titles, headings) made safe to print: control
    characters other than tab and newline (ESC, BEL, backspace, a lone CR, DEL,
    C1 such as the 8-bit CSI ``\\x9b``) and bidi overrides are shown visibly.
    Other invisible characters (zero-width joiners and spaces) are part of the
    writing in many scripts and are kept."""
    if text.isascii() and text.isprintable():
        return text
    return _UNSAFE_TEXT.sub(lambda m: _visible(m.group()), text)


def safe_line(text: str) -> str:
    """A name, id, path, citation, query or one-line message made safe to print:
    every control character (newline and tab too), every invisible format
    character (zero-width space and joiners, bidi controls, BOM, soft hyphen)
    and line or paragraph separator is shown visibly, so one file name cannot
    pass for another or fake a line of output."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(_visible(c) if unicodedata.category(c) in _INVISIBLE else c for c in text)


def json_text(obj: Any, indent: int | None = None) -> str:
    """``json.dumps`` (UTF-8 text kept) with DEL, C1 controls, line separators
    and bidi controls escaped as ``\\u....``: the same data, safe on a terminal
    (``json.dumps`` itself escapes only the C0 controls)."""
    out = json.dumps(obj, ensure_ascii=False, indent=indent)
    return _UNSAFE_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", out)


class SafeWriter:
    """A text stream that passes everything written through :func:`safe`
    (for Markdown, CSV and HTML written to stdout)."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def write(self, s: str) -> int:
        return self._out.write(safe(s))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


#: text output shows at most this many characters of the query (JSON keeps it whole)
QUERY_SHOWN = 60


def shorten(text: str, width: int = QUERY_SHOWN) -> str:
    """``text`` cut at a word boundary to at most ``width`` characters, with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    cut = text[:width - 1]
    if " " in cut[width // 2:]:
        cut = cut[:cut.rindex(" ")]
    return cut.rstrip() + "…"


def _filters(result: SearchResult) -> str:
    """`` in doc:UNW*, since 2022``: the filters given besides the query."""
    where = [f for f in result.filters if not f.startswith(("since ", "until "))]
    when = [f for f in result.filters if f.startswith(("since ", "until "))]
    return (f" in {', '.join(where)}" if where else "") + \
        (("," if where else "") + f" {', '.join(when)}" if when else "")


def header(result: SearchResult) -> str:
    """``12 passages match “q” in doc:UNW*, showing 1-10 (0.02 s)``; after the full
    matches a page may show partial ones (holding some of the query's parts):
    ``3 passages match “q”, 120 more partly, showing 1-10``, or with none in full
    ``0 passages match “q”, 120 partly, showing 1-10``."""
    n = len(result.hits)
    what = "document" if result.grouped else "passage"
    query = safe_line(shorten(result.query))
    where = safe_line(_filters(result))
    took = f"({result.elapsed:.2f} s)"
    fixed = ""
    if result.corrected_query:
        fixed = (f"No {what}s match “{query}”{where}; showing "
                 f"“{safe_line(shorten(result.corrected_query))}”: ")
        query = safe_line(shorten(result.corrected_query))
    partly = any(h.match == "partial" for h in result.hits)
    listed = result.total + (result.partial if partly else 0)
    shown = ""
    if n == 0 and result.total:  # --offset past the last match
        shown = (f", but none from {result.offset + 1:,} on: the last is number "
                 f"{listed:,}; use a smaller --offset")
    elif n and n < listed:
        shown = f", showing {result.offset + 1}-{result.offset + n}"
    if result.total == 0:
        if not partly:
            return f"{fixed or ''}No {what}s match “{query}”{where} {took}" if not fixed else \
                f"{fixed}no {what}s match {took}"
        lead = f"{fixed}none in full, " if fixed else f"0 {what}s match “{query}”{where}, "
        return f"{lead}{result.partial:,} partly{shown} {took}"
    verb = "matches" if result.total == 1 else "match"
    more = f", {result.partial:,} more partly" if partly else ""
    if fixed:
        return f"{fixed}{_plural(result.total, what)} {verb}{more}{shown} {took}"
    return f"{_plural(result.total, what)} {verb} “{query}”{where}{more}{shown} {took}"


def score_label(h: Hit) -> str:
    """``[score 7.02]``, or "" for a passage matched without a score of its own."""
    return "" if h.score is None else f"  [score {h.score:.2f}]"


def missing_line(h: Hit) -> str:
    """``partial match, missing: zzyzx`` for a partial match, else ""."""
    if h.match != "partial":
        return ""
    missing = safe_line(", ".join(h.missing_terms))
    return "partial match" + (f", missing: {missing}" if missing else "")


def section_label(h: Hit) -> str:
    """The hit's headings (``Part I › Training``) without a first heading that only
    repeats the document's title (a resolution's title is often its first heading);
    "" when nothing else is left."""
    from .models import own_headings

    return " › ".join(own_headings(h.title, h.heading_path, h.section))


def _meta_line(h: Hit, title_shown: bool = True) -> str:
    """Section and date; the section without a first heading that repeats the title
    when the title is shown above it (search results; ``kb show`` shows no title)."""
    label = section_label(h) if title_shown else \
        (" › ".join(h.heading_path) if h.heading_path else h.section)
    bits = [label] if label else []
    if h.date:
        bits.append(h.date)
    return safe(" · ".join(bits))


def _more(h: Hit) -> str:
    return f"(+{h.more_in_doc} more in this document)" if h.more_in_doc else ""


def _cite_line(h: Hit) -> str:
    """The UN citation first when the document has a symbol, then the file citation:
    ``UNW/2025/1, ¶ 9, p. 18  —  corpus/UNW_2025_1.en.pdf p. 18 ¶ 9``; else the file
    citation alone."""
    sym = f"{safe_line(h.symbol_citation)}  —  " if h.symbol_citation else ""
    return sym + safe_line(h.citation)


#: text output names at most this many of the other files holding a hit's text
ALSO_SHOWN = 3


def also_line(h: Hit) -> str:
    """``also in: a.md:12, b.pdf p. 3 (+5 more)``: the other files holding the
    hit's text (JSON lists every one), or ""."""
    if not h.also_in:
        return ""
    shown = ", ".join(h.also_in[:ALSO_SHOWN])
    rest = len(h.also_in) - ALSO_SHOWN
    return safe_line(f"also in: {shown}" + (f" (+{rest:,} more)" if rest > 0 else ""))


def plain_results(result: SearchResult, out: IO[str], width: int = 100) -> None:
    out.write(header(result) + "\n")
    for h in result.hits:
        # [29ktg6]: the short reference, typed back to `kb show` and `kb export --ids`
        ref = f"[{safe_line(h.ref)}] " if h.ref else ""
        out.write(f"\n{h.rank}. {ref}{safe(h.title)}{score_label(h)}\n")
        meta = _meta_line(h)
        if meta:
            out.write(f"   {meta}\n")
        out.write(f"   {_cite_line(h)}\n")
        if h.also_in:
            out.write(f"   {also_line(h)}\n")
        for line in textwrap.wrap(safe(h.snippet), width=max(width - 3, 20),
                                  break_on_hyphens=False):
            out.write(f"   {line}\n")
        if h.match == "partial":
            out.write(f"   {missing_line(h)}\n")
        if h.more_in_doc:
            out.write(f"   {_more(h)}\n")


def rich_results(result: SearchResult, console: Any) -> None:
    from rich.padding import Padding
    from rich.text import Text

    console.print(Text(header(result), style="bold"))
    for h in result.hits:
        console.print()
        line = Text()
        line.append(f"{h.rank}. ", style="bold")
        if h.ref:
            line.append(f"[{safe_line(h.ref)}]", style="bold magenta")
            line.append(" ")
        line.append(safe(h.title), style="bold")
        if h.score is not None:
            line.append(f"  score {h.score:.2f}", style="dim")
        console.print(line)
        meta = _meta_line(h)
        if meta:
            console.print(Padding(Text(meta, style="cyan"), (0, 0, 0, 3)))
        cite = Text()
        if h.symbol_citation:  # the UN citation leads, the file's follows
            cite.append(safe_line(h.symbol_citation), style="bold green")
            cite.append("  —  ", style="dim")
        cite.append(safe_line(h.citation), style="green")
        console.print(Padding(cite, (0, 0, 0, 3)))
        if h.also_in:
            console.print(Padding(Text(also_line(h), style="dim green"), (0, 0, 0, 3)))
        console.print(Padding(_snippet_text(h, Text), (0, 0, 0, 3)))
        if h.match == "partial":
            console.print(Padding(Text(missing_line(h), style="yellow"), (0, 0, 0, 3)))
        if h.more_in_doc:
            console.print(Padding(Text(_more(h), style="dim"), (0, 0, 0, 3)))


def _snippet_text(h: Hit, text_cls: Any) -> Any:
    """The snippet as a Rich ``Text``, made safe piece by piece so that the
    highlight offsets (into the original snippet) still fit."""
    snip = text_cls()
    pos = 0
    for s, e in sorted(h.highlights):
        s = max(s, pos)
        if e <= s:
            continue
        snip.append(safe(h.snippet[pos:s]))
        snip.append(safe(h.snippet[s:e]), style="bold yellow")
        pos = e
    snip.append(safe(h.snippet[pos:]))
    return snip


def passages_text(hits: list[Hit], focus: str | Collection[str] | None = None) -> str:
    """``kb show``: full passages with their citations (▶ marks those asked for)."""
    marked = {focus} if isinstance(focus, str) else set(focus or ())
    parts = []
    for h in hits:
        mark = "▶ " if h.id in marked else ""
        sym = f"{safe_line(h.symbol_citation)}  —  " if h.symbol_citation else ""
        changed = (f"CHANGED SINCE PICKED: the reference named “{safe_line(h.changed)}”\n"
                   if h.changed else "")
        parts.append(f"{mark}{safe_line(h.id)}  —  {sym}{safe_line(h.citation)}  "
                     f"[{safe_line(h.ref)}]\n{changed}{_meta_line(h, title_shown=False)}\n\n"
                     f"{safe(h.text)}\n")
    return "\n".join(parts)


def report_text(r: IndexReport) -> str:
    verb = "Updated"
    if r.rebuilt:
        verb = "Rebuilt" if (r.updated or r.removed) else "Built"
    lines = [
        f"{verb} index in {r.elapsed:.2f} s: added {len(r.added)}, updated {len(r.updated)}, "
        f"removed {len(r.removed)}, unchanged {r.unchanged}, skipped {len(r.skipped)} files",
        f"passages: +{r.passages_added:,} -{r.passages_removed:,}, "
        f"{r.passages_total:,} in {_plural(r.documents_total, 'document')}",
    ]
    return "\n".join(lines)


#: :attr:`Skipped.kind` -> how the summary line counts it (one, many)
_SKIP_KINDS = {
    "unsupported": ("unsupported format", "unsupported formats"),
    "unreadable": ("unreadable", "unreadable"),
    "damaged": ("damaged or not text", "damaged or not text"),
    "no-text": ("without text (scanned?)", "without text (scanned?)"),
    "name-clash": ("name clash", "name clashes"),
}


def skipped_text(r: IndexReport) -> str:
    """What stderr gets after an update: the report's warnings, then one line that
    counts the skipped files by kind (``kb status`` lists them)."""
    lines = [f"Warning: {safe_line(w)}" for w in r.warnings]
    if r.skipped:
        counts: dict[str, int] = {}
        for s in r.skipped:
            counts[s.kind] = counts.get(s.kind, 0) + 1
        kinds = ", ".join(f"{n} {_SKIP_KINDS.get(k, (k, k))[n != 1]}"
                          for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        lines.append(f"skipped {_plural(len(r.skipped), 'file')} ({kinds}): see `kb status`")
    return "\n".join(lines)


def human_size(n: int) -> str:
    """``12.3 MB``: a byte count as ``kb status`` and the status page show it."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def status_text(st: dict[str, Any]) -> str:
    lines = [f"corpus:    {safe_line(st['corpus'])}", f"index:     {safe_line(st['index'])}"]
    if st.get("corpus_recorded") not in (None, st["corpus"]):
        lines.append(f"built from: {safe_line(st['corpus_recorded'])}")
    if not st["exists"]:
        # with no corpus folder, `kb index` would fail: the error says what to do
        lines.append("no index yet" if st.get("problem") else "no index yet: run `kb index`")
        return "\n".join(lines)
    lines += [
        f"documents: {st['documents']:,}",
        f"passages:  {st['passages']:,}",
        f"size:      {human_size(st['size_bytes'])}",
        f"built:     {st['built']}",
        f"updated:   {st['updated']}",
        f"schema:    {st['schema']}",
    ]
    stale = len(st["new"]) + len(st["changed"]) + len(st["deleted"])
    if st.get("problem"):
        pass  # the corpus folder is not this index's: nothing to compare (error on stderr)
    elif stale:
        lines.append(f"since the last update: {len(st['new'])} new, {len(st['changed'])} "
                     f"changed, {len(st['deleted'])} deleted (run `kb index`)")
        for key in ("new", "changed", "deleted"):
            lines += [f"  {key:8} {safe_line(d)}" for d in st[key]]
    else:
        lines.append("index is up to date with the corpus")
    dup = st.get("duplicates") or 0
    if dup:
        lines.append(f"{_plural(dup, 'file')} {'is an exact copy' if dup == 1 else 'are exact copies'}"
                     " of others (their passages are shown once; `kb docs` names them)")
    if st["skipped"]:
        lines.append(f"skipped or failed: {len(st['skipped'])}")
        lines += [f"  {safe_line(s['id'])}: {safe_line(s['reason'])}" for s in st["skipped"]]
    return "\n".join(lines)


def docs_text(docs: list[DocumentInfo]) -> str:
    if not docs:
        return "no documents indexed"
    lines = []
    for d in docs:
        symbol = f"{safe_line(d.symbol)} · " if d.symbol else ""
        prefix = d.path[:len(d.path) - len(d.id)] if d.path.endswith(d.id) else ""
        same = f"\n   same as {safe_line(prefix + d.duplicate_of)}" if d.duplicate_of else ""
        lines.append(f"{safe(d.title)}\n   {symbol}{d.date or '(no date)'} · "
                     f"{_plural(d.passages, 'passage')} · {safe_line(d.path)}{same}")
    return "\n".join(lines)


def undated_text(found: list[tuple[DocumentInfo, str]], total: int) -> str:
    """``kb docs --undated``: how many documents have no date, then each with why."""
    if not found:
        return f"every document has a date ({_plural(total, 'document')})"
    lines = [f"{len(found):,} of {_plural(total, 'document')} have no date:"]
    for d, why in found:
        symbol = f"{safe_line(d.symbol)} · " if d.symbol else ""
        lines.append(f"{safe(d.title)}\n   {symbol}{safe_line(d.path)}\n   why: {safe_line(why)}")
    return "\n".join(lines)


#: ``kb watch`` names the changed files when there are at most this many
WATCH_NAMES = 3


def watch_line(r: IndexReport, when: str, not_indexed: Collection[Skipped] = ()) -> str:
    """``kb watch``'s line for one update: ``12:03:41 updated: +1 ~2 -0 files (0.4 s)``,
    then the files' names when there are at most :data:`WATCH_NAMES`, and the files
    this update could not index (``not_indexed``) and why."""
    verb = "rebuilt" if r.rebuilt else "updated"
    names = [f"+{n}" for n in r.added] + [f"~{n}" for n in r.updated] + \
        [f"-{n}" for n in r.removed]
    line = (f"{when} {verb}: +{len(r.added)} ~{len(r.updated)} -{len(r.removed)} "
            f"files ({r.elapsed:.1f} s)")
    if names and len(names) <= WATCH_NAMES:
        line += ": " + ", ".join(safe_line(n) for n in names)
    if not_indexed and len(not_indexed) <= WATCH_NAMES:
        line += "; not indexed: " + ", ".join(f"{safe_line(s.id)} ({safe_line(s.reason)})"
                                              for s in not_indexed)
    elif not_indexed:
        line += f"; {len(not_indexed)} files not indexed (see `kb status`)"
    return line
