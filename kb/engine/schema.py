"""The Whoosh schema and the stored-record codec.

A passage is indexed as Whoosh fields (:func:`passage_fields`) and stored as
``id``, ``doc``, ``text`` and one ``meta`` dict holding every other
:class:`~kb.models.Passage` field by name.  :func:`passage_to_stored` and
:func:`passage_from_stored` are a named pair: a field added to ``Passage`` is
stored and read back without touching them, and a stored record that lacks a
field (written before it existed) gets the field's default.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from ..models import Passage, own_headings

#: Passage fields stored in fields of their own (the rest go in ``meta``)
_OWN = ("id", "doc", "text")
_FIELDS = dataclasses.fields(Passage)


def words_field() -> Any:
    """The words of a document as written (folded, unstemmed), each with its term:
    what wildcards are matched against (:func:`kb.engine.query.surface_terms`).
    Existence postings only, not scored, not stored, and only on a document's first
    passage (:func:`document_fields`): a file's passages are always deleted together,
    so its words go with them, at a fraction of the size of per-passage postings."""
    from whoosh import formats
    from whoosh.fields import FieldType

    from .analyzers import SurfaceAnalyzer

    return FieldType(formats.Existence(), analyzer=SurfaceAnalyzer(), scorable=False)


def make_schema() -> Any:
    from whoosh.fields import DATETIME, ID, STORED, TEXT, Schema

    from .analyzers import KbAnalyzer

    an = KbAnalyzer()
    return Schema(
        id=ID(stored=True, unique=True),
        doc=ID(stored=True),
        ref=ID(),  # the short reference (:func:`kb.models.short_ref`, from the text): ``kb show 29ktg6``
        title=TEXT(analyzer=an, multitoken_query="phrase"),
        section=TEXT(analyzer=an, multitoken_query="phrase"),
        text=TEXT(analyzer=an, stored=True, multitoken_query="phrase"),
        date=DATETIME(),
        symbol=TEXT(analyzer=an),  # UN document symbol: a filter, ``symbol:S/RES/2771``
        words=words_field(),
        meta=STORED(),
    )


def document_fields(passages: Sequence[Passage]) -> Iterator[dict[str, Any]]:
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
    """A passage as Whoosh fields: the indexed ones and :func:`passage_to_stored`.
    ``words``: the text of the document's ``words`` field (see :func:`document_fields`)."""
    fields = passage_to_stored(p)
    fields["ref"] = p.ref
    fields["title"] = p.title
    # the headings below the title: a heading that only repeats the title is the
    # title (it ranks through the title field; it does not make a passage match)
    own = own_headings(p.title, p.heading_path, p.section)
    if own:
        fields["section"] = " / ".join(own)
    if words is not None:
        fields["words"] = words
    if p.date:
        fields["date"] = dt.datetime.fromisoformat(p.date)
    if p.symbol:
        fields["symbol"] = p.symbol
    return fields


def passage_to_stored(p: Passage) -> dict[str, Any]:
    """The stored fields of a passage: ``id``, ``doc``, ``text`` and ``meta``, a dict of
    every other Passage field by name (tuples as lists)."""
    meta = {}
    for f in _FIELDS:
        if f.name not in _OWN:
            v = getattr(p, f.name)
            meta[f.name] = list(v) if isinstance(v, tuple) else v
    return {"id": p.id, "doc": p.doc, "text": p.text, "meta": meta}


def passage_from_stored(stored: dict[str, Any]) -> Passage:
    """:func:`passage_to_stored` read back, field by field (a missing field: its default)."""
    meta = stored.get("meta") or {}
    values: dict[str, Any] = {}
    for f in _FIELDS:
        if f.name in _OWN:
            values[f.name] = stored[f.name]
        elif f.name in meta:
            v = meta[f.name]
            values[f.name] = tuple(v) if f.name == "heading_path" else v
        elif f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        else:
            values[f.name] = () if f.name == "heading_path" else None
    return Passage(**values)
