"""The kb analysis (:mod:`kb.analysis`) as Whoosh analyzers.

Both classes are pickled into the index schema, so their import path is part of
the index format (moving them means bumping ``SCHEMA_VERSION``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from whoosh.analysis import Token, Tokenizer

from ..analysis import fold, iter_terms, surface_entries


class _Analyzer(Tokenizer):  # type: ignore[misc]
    """kb's analyzers hold no settings: two of a kind are equal (Whoosh compares a
    field's analyzer when it checks a schema)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self).__name__)


class KbAnalyzer(_Analyzer):
    """:func:`iter_terms` as a Whoosh analyzer (positions renumbered past stop words)."""

    def __call__(  # type: ignore[override]
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        if not tokenize:
            # wildcard, prefix and range texts: fold case only
            t.original = t.text = fold(value)
            t.boost = 1.0
            if positions:
                t.pos = start_pos
            if chars:
                t.startchar = start_char
                t.endchar = start_char + len(value)
            yield t
            return
        pos = start_pos
        for text, s, e in iter_terms(value):
            t.text = text
            t.boost = 1.0
            t.stopped = False
            if keeporiginal:
                t.original = value[s:e]
            if positions:
                t.pos = pos
            if chars:
                t.startchar = start_char + s
                t.endchar = start_char + e
            pos += 1
            yield t


class SurfaceAnalyzer(_Analyzer):
    """:func:`surface_entries` as a Whoosh analyzer, for the ``words`` field (no
    positions, no frequencies: the field only answers "which words are written")."""

    def __call__(  # type: ignore[override]
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        **kwargs: Any,
    ) -> Iterator[Token]:
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        entries = [fold(value)] if not tokenize else sorted(surface_entries(value))
        for i, e in enumerate(entries):
            t.text = e
            t.boost = 1.0
            t.stopped = False
            if positions:
                t.pos = start_pos + i
            if chars:
                t.startchar = start_char
                t.endchar = start_char + len(value)
            yield t
