"""Terminal presentation of results, status and document lists.

On a terminal (and without ``--no-color``/``NO_COLOR``) output is styled
with Rich; otherwise it is the same layout as plain text, produced without
importing Rich (a one-shot ``kb search | less`` does not pay for it).
"""

from __future__ import annotations

import textwrap
from typing import IO, Any

from .models import DocumentInfo, Hit, IndexReport, SearchResult


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
    n = len(result.hits)
    what = "document" if result.grouped else "passage"
    query = shorten(result.query)
    where = _filters(result)
    fixed = ""
    if result.corrected_query:
        fixed = (f"No {what}s match “{query}”{where}; showing "
                 f"“{shorten(result.corrected_query)}”: ")
    if result.total == 0:
        return f"No {what}s match “{query}”{where} ({result.elapsed:.2f} s)"
    shown = ""
    if n == 0:  # --offset past the last match
        shown = (f", but none from {result.offset + 1:,} on: the last is number "
                 f"{result.total:,}; use a smaller --offset")
    elif n < result.total:
        shown = f", showing {result.offset + 1}-{result.offset + n}"
    verb = "matches" if result.total == 1 else "match"
    if fixed:
        return f"{fixed}{_plural(result.total, what)} {verb}{shown} ({result.elapsed:.2f} s)"
    return (f"{_plural(result.total, what)} {verb} “{query}”{where}{shown} "
            f"({result.elapsed:.2f} s)")


def _meta_line(h: Hit) -> str:
    bits = [" › ".join(h.heading_path) if h.heading_path else h.section]
    if h.date:
        bits.append(h.date)
    return " · ".join(bits)


def _more(h: Hit) -> str:
    return f"(+{h.more_in_doc} more in this document)" if h.more_in_doc else ""


def plain_results(result: SearchResult, out: IO[str], width: int = 100) -> None:
    out.write(header(result) + "\n")
    for h in result.hits:
        out.write(f"\n{h.rank}. {h.title}  [score {h.score:.2f}]\n")
        out.write(f"   {_meta_line(h)}\n")
        out.write(f"   {h.citation}\n")
        for line in textwrap.wrap(h.snippet, width=max(width - 3, 20), break_on_hyphens=False):
            out.write(f"   {line}\n")
        if h.missing_terms:
            out.write(f"   missing: {', '.join(h.missing_terms)}\n")
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
        line.append(h.title, style="bold")
        line.append(f"  score {h.score:.2f}", style="dim")
        console.print(line)
        console.print(Padding(Text(_meta_line(h), style="cyan"), (0, 0, 0, 3)))
        console.print(Padding(Text(h.citation, style="green"), (0, 0, 0, 3)))
        snip = Text(h.snippet)
        for s, e in h.highlights:
            snip.stylize("bold yellow", s, e)
        console.print(Padding(snip, (0, 0, 0, 3)))
        if h.missing_terms:
            console.print(Padding(Text(f"missing: {', '.join(h.missing_terms)}", style="dim"),
                                  (0, 0, 0, 3)))
        if h.more_in_doc:
            console.print(Padding(Text(_more(h), style="dim"), (0, 0, 0, 3)))


def passages_text(hits: list[Hit], focus: str | None = None) -> str:
    """``kb show``: full passages with their citations."""
    parts = []
    for h in hits:
        mark = "▶ " if h.id == focus else ""
        parts.append(f"{mark}{h.id}  —  {h.citation}\n{_meta_line(h)}\n\n{h.text}\n")
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
    lines = [f"Warning: {w}" for w in r.warnings]
    if r.skipped:
        counts: dict[str, int] = {}
        for s in r.skipped:
            counts[s.kind] = counts.get(s.kind, 0) + 1
        kinds = ", ".join(f"{n} {_SKIP_KINDS.get(k, (k, k))[n != 1]}"
                          for k, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        lines.append(f"skipped {_plural(len(r.skipped), 'file')} ({kinds}): see `kb status`")
    return "\n".join(lines)


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def status_text(st: dict[str, Any]) -> str:
    lines = [f"corpus:    {st['corpus']}", f"index:     {st['index']}"]
    if st.get("corpus_recorded") not in (None, st["corpus"]):
        lines.append(f"built from: {st['corpus_recorded']}")
    if not st["exists"]:
        # with no corpus folder, `kb index` would fail: the error says what to do
        lines.append("no index yet" if st.get("problem") else "no index yet: run `kb index`")
        return "\n".join(lines)
    lines += [
        f"documents: {st['documents']:,}",
        f"passages:  {st['passages']:,}",
        f"size:      {_size(st['size_bytes'])}",
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
            lines += [f"  {key:8} {d}" for d in st[key]]
    else:
        lines.append("index is up to date with the corpus")
    if st["skipped"]:
        lines.append(f"skipped or failed: {len(st['skipped'])}")
        lines += [f"  {s['id']}: {s['reason']}" for s in st["skipped"]]
    return "\n".join(lines)


def docs_text(docs: list[DocumentInfo]) -> str:
    if not docs:
        return "no documents indexed"
    lines = []
    for d in docs:
        lines.append(f"{d.title}\n   {d.date or '(no date)'} · {_plural(d.passages, 'passage')}"
                     f" · {d.path}")
    return "\n".join(lines)
