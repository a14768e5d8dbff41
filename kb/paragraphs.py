"""UN paragraph numbering, the one rule every reader (Markdown, PDF, DOCX, HTML) uses.

UN documents number their operative paragraphs ``1.``, ``2.`` ... and their
subparagraphs by letter or roman numeral.  A block is cited as ``12`` or
``12(a)``: the subparagraph's letter after the number of the last numbered
paragraph before it.
"""

from __future__ import annotations

import re

#: ``12. Text``: one to three digits, a full stop, a space, then text
_NUMBER = re.compile(r"^(\d{1,3})\.\s+\S")
#: ``(a) Text``, ``(iv) Text`` or ``a) Text``: see :func:`subparagraph_label`
_SUB = re.compile(r"^(?:\(([a-z]{1,2}|[ivxlc]{1,6})\)|([a-z]{1,2})\))\s+\S")


def paragraph_number(text: str) -> str | None:
    """The number of a numbered paragraph (``"12. Decides ..."`` -> ``"12"``), or None."""
    m = _NUMBER.match(text)
    return m.group(1) if m else None


def subparagraph_label(text: str) -> str | None:
    """The label of a subparagraph, or None.  Accepted forms, each followed by
    whitespace and text: one or two lowercase letters or a lowercase roman
    numeral (up to six of ``ivxlc``) in brackets, ``(a)``, ``(aa)``, ``(iv)``; or
    one or two lowercase letters with a closing bracket only, ``a)``, ``bb)``
    (so ``iv)`` is accepted, ``viii)`` is not).  ``(a)`` -> ``"a"``."""
    m = _SUB.match(text)
    return (m.group(1) or m.group(2)) if m else None


def paragraph_label(text: str, last_number: str | None) -> tuple[str | None, str | None]:
    """``(label, last_number)`` for a block starting with ``text``: a numbered
    paragraph is labelled by its number (which becomes the last number), a
    subparagraph after a numbered paragraph by ``"12(a)"``; anything else None."""
    number = paragraph_number(text)
    if number is not None:
        return number, number
    sub = subparagraph_label(text)
    if sub is not None and last_number:
        return f"{last_number}({sub})", last_number
    return None, last_number


def is_numbered(text: str) -> bool:
    """Does ``text`` start with a paragraph number or a subparagraph label?"""
    return bool(_NUMBER.match(text) or _SUB.match(text))
