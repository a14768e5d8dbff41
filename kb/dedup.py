"""Identical passages: what counts as the same text, and its 64-bit key.

Two passages are *identical* when they hold the same words in the same order:
the text is Unicode-normalised (NFKC: ligatures such as ``ﬁ`` from PDFs become
``fi``, full-width forms plain), case-folded, and reduced to its words (runs of
letters and digits); whitespace, punctuation, bullets and quote or dash styles
do not count.  A PDF and its Markdown or Word conversion, a re-saved revision and
plain copies so give the same key; a changed word, number or date does not.

The key (:func:`text_key`) is stored per passage with the ranking arrays
(:mod:`kb.engine.rankarrays`); search collapses matches that share it into one
hit listing the other files (``Hit.also_in``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_WORD = re.compile(r"[^\W_]+")


def normalise(text: str) -> str:
    """The words of ``text``, case-folded, one space apart (see the module docstring).
    A text without any word is kept whole, whitespace collapsed."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    words = _WORD.findall(text.casefold())
    return " ".join(words) if words else " ".join(text.split())


def text_key(text: str) -> int:
    """A signed 64-bit hash of :func:`normalise` (``numpy.int64``-ready)."""
    digest = hashlib.blake2b(normalise(text).encode("utf-8", "surrogatepass"),
                             digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)
