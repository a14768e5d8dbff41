"""The array ranker: true BM25F over the ranking arrays, with numpy.

kb parses the query itself (:mod:`kb.query`); :func:`rank` evaluates the
parsed query over the ranking arrays of :mod:`kb.engine.rankarrays`:

* **True BM25F.**  For each query term, each field's term frequency is
  weighted (kb's field weights) and length-normalised,
  ``tf_f * w_f / (1 - B + B * len_f / avglen_f)``, summed across text,
  section and title, and then saturated once:
  ``idf * tf~ * (K1 + 1) / (K1 + tf~)``, with the Robertson idf
  ``log(1 + (N - df + 0.5) / (df + 0.5))`` over the live passages of the
  whole index (``df`` counts passages holding the term in any field searched).
  A word's compound spellings are one term (:meth:`Evaluation.pooled`).
* **The matching rule** (:func:`rank`): a passage matches when its own text or
  section holds every required part of the query; partial matches follow.
* **Boolean structure** as masks over every passage number: ``and``, ``or``,
  ``not``, ``maybe``; a node's score is the sum of its children's scores.
* **Phrases** (exact or with slop) are verified on candidates only: the
  passages holding every word, then positions compared with sorted-array
  binary searches.
* **Wildcards and fuzzy words** are matched against the words as written
  (each part's ``sw`` list), never against stems.
* **Filters and deleted passages** are masks; top-k is a partial sort.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS here: skip its thread pool

import numpy as np  # noqa: E402

from ..errors import QueryError  # noqa: E402
from ..models import Budget, Filters, Scoring  # noqa: E402
from ..query import Clause, Concept, Group, Node, ParsedQuery, doc_pattern  # noqa: E402
from .dates import date_range  # noqa: E402
from . import rankarrays  # noqa: E402


#: a wildcard or fuzzy word searches at most this many words (the most frequent)
MAX_EXPANSION = 1000
#: phrase keys: ``doc * _KEY + position``; positions stay far below this
_KEY = np.int64(1 << 34)


class Unsupported(Exception):
    """An index the array ranker cannot read (not made of segments)."""


class Ranker:
    """The ranking arrays of every segment of one open Whoosh reader.

    Global passage numbers are Whoosh's: a segment's base plus its local numbers.
    """

    def __init__(self, reader: Any, folder: str, k1: float, b: float,
                 derive_missing: bool = True) -> None:
        self.k1, self.b = k1, b
        self.reader = reader
        names = os.listdir(folder)
        self.parts: list[tuple[rankarrays.Part, int]] = []
        self.n = reader.doc_count_all()
        self.live = np.ones(self.n, bool)
        for leaf, base in reader.leaf_readers():
            seg = leaf.segment()
            count = leaf.doc_count_all()
            if seg is None and not count:  # an empty index
                continue
            if seg is None:
                raise Unsupported("not a segment reader")
            parts = rankarrays.open_segment(folder, seg.segment_id(), count, names)
            if parts is None:  # missing or stale: derive them from Whoosh (slow, rare)
                if not derive_missing:
                    raise FileNotFoundError(f"ranking arrays of {seg.segment_id()} missing")
                parts = [rankarrays.Part.from_table(rankarrays.table_from_reader(leaf),
                                                    seg.segment_id())]
            for p in parts:
                self.parts.append((p, base + p.base))
            deleted = list(seg.deleted_docs()) if seg.has_deletions() else []
            if deleted:
                self.live[np.asarray(deleted, np.int64) + base] = False
        self.n_live = int(self.live.sum())
        self._inv_norm: dict[tuple[str, float], Any] = {}
        self._docord: Any = None
        self._docnames: dict[str, int] | None = None
        self._date: Any = None
        self._identical: Any = None
        self._docrank: Any = None
        self._surface: tuple[list[str], list[str]] | None = None
        self._words_blob: tuple[str, Any] | None = None

    # -- per-passage arrays, concatenated on first use -------------------------

    def _concat(self, name: str, dtype: Any) -> Any:
        out = np.empty(self.n, dtype)
        for p, base in self.parts:
            out[base:base + p.docs] = p.a[name]
        return out

    def inv_norm(self, field: str, b: float | None = None) -> Any:
        """``1 / (1 - B + B * len / avglen)`` per passage, for ``field``."""
        b = self.b if b is None else b
        v = self._inv_norm.get((field, b))
        if v is None:
            length = self._concat(f"{field}.len", np.float32)
            live_len = length[self.live]
            avg = float(live_len.mean()) if len(live_len) else 0.0
            if avg <= 0:
                v = np.ones(self.n, np.float32)
            else:
                v = (1.0 / ((1.0 - b) + b * length / np.float32(avg))).astype(np.float32)
            self._inv_norm[(field, b)] = v
        return v

    def docord(self) -> tuple[Any, dict[str, int]]:
        """Per passage, the number of its document, and document id -> that number."""
        if self._docord is None:
            names: dict[str, int] = {}
            out = np.empty(self.n, np.int32)
            for p, base in self.parts:
                m = np.array([names.setdefault(nm, len(names)) for nm in p.docnames()]
                             or [0], np.int32)
                out[base:base + p.docs] = m[p.a["docord"]] if p.docs else 0
            # names first: a thread that sees ``_docord`` set (this reader is shared
            # by a server's threads) must see the names too
            self._docnames = names
            self._docord = out
        return self._docord, self._docnames  # type: ignore[return-value]

    def docrank(self) -> Any:
        """Per passage, the rank of its document's id among the ids (sorted)."""
        if self._docrank is None:
            docord, names = self.docord()
            ordered = sorted(names, key=lambda s: s.encode("utf-8", "surrogatepass"))
            lut = np.zeros(len(names) + 1, np.int32)
            for r, nm in enumerate(ordered):
                lut[names[nm]] = r
            self._docrank = lut[docord]
        return self._docrank

    def identical(self) -> Any:
        """The groups of identical live passages (:class:`kb.engine.identical.Identical`)."""
        if self._identical is None:
            from .identical import Identical

            self._identical = Identical.from_parts(self.parts, self.n, self.live)
        return self._identical

    def dates(self) -> Any:
        if self._date is None:
            self._date = self._concat("date", np.int32)
        return self._date

    # -- terms ------------------------------------------------------------------

    def surface(self) -> tuple[list[str], list[str]]:
        """The words as written in the index (every part's, distinct, sorted) and the
        term each is indexed as."""
        if self._surface is None:
            entries: set[str] = set()
            for p, _ in self.parts:
                entries.update(p.surface())
            words, terms = [], []
            for e in sorted(entries):
                w, _, t = e.partition(" ")
                words.append(w)
                terms.append(t or w)
            self._surface = (words, terms)
        return self._surface

    def frequency(self, term: str) -> int:
        """How many passages hold ``term`` in their text (deleted ones included until
        their segment is rewritten): how common a word is, for spelling correction."""
        b = term.encode("utf-8")
        total = 0
        for p, _ in self.parts:
            i = p.term_index(b)
            if i >= 0:
                ptr = p.a["text.ptr"]
                total += int(ptr[i + 1] - ptr[i])
        return total

    def near_words(self, word: str, maxdist: int) -> list[tuple[str, str, int]]:
        """``(word as written, its term, edits)`` for the index's words within
        ``maxdist`` edits of ``word`` (optimal string alignment distance:
        insertions, deletions, substitutions and swaps of two neighbours), found
        with rapidfuzz over :meth:`surface`."""
        if maxdist <= 0:
            words, terms = self.surface()
            i = _bisect(words, word)
            return [(word, terms[i], 0)] if i < len(words) and words[i] == word else []
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        words, terms = self.surface()
        found = process.extract(word, words, scorer=OSA.distance, score_cutoff=maxdist,
                                limit=None) if words else []
        return [(w, terms[k], int(d)) for w, d, k in found if self._live(w, terms[k])]

    def _live(self, word: str, term: str) -> bool:
        """Is the word as written still in a live document?  (A part's ``sw`` list
        keeps a deleted document's words until its segment is merged; Whoosh's
        ``words`` field knows which documents are deleted.)"""
        reader = self.reader
        if not reader.has_deletions():
            return True
        entry = (word if word == term else f"{word} {term}").encode("utf-8")
        return ("words", entry) in reader and reader.postings("words", entry).is_active()

    def fuzzy_terms(self, word: str, maxdist: int, nearest: bool = False) -> list[str]:
        """The terms of the words as written within ``maxdist`` edits of ``word``;
        ``nearest``: only those at the smallest distance found (at least 1: the word
        itself and its one-edit neighbours are always in)."""
        found = self.near_words(word, maxdist)
        if nearest and found:
            d = max(1, min((d for _, _, d in found if d > 0), default=1))
            found = [f for f in found if f[2] <= d]
        return sorted({t for _, t, _ in found})

    def _blob(self) -> tuple[str, Any]:
        """The words as written, one per line in one string, and where each starts: a
        wildcard is one regular-expression scan of it (in C), not a match per word."""
        if self._words_blob is None:
            words, _ = self.surface()
            blob = "\n".join(words)
            starts = np.zeros(len(words), np.int64)
            if words:
                np.cumsum(np.fromiter((len(w) + 1 for w in words[:-1]), np.int64,
                                      len(words) - 1), out=starts[1:])
            self._words_blob = (blob, starts)
        return self._words_blob

    def wildcard_terms(self, pattern: str) -> list[str]:
        """The terms of the words as written that the glob ``pattern`` (``*``, ``?``,
        ``[...]``; already folded) matches, the most frequent first."""
        words, terms = self.surface()
        cut = min([pattern.index(c) for c in "*?[" if c in pattern] or [len(pattern)])
        prefix = pattern[:cut]
        lo, hi = 0, len(words)
        if prefix:
            lo = _bisect(words, prefix)
            hi = _bisect(words, prefix + "\U0010ffff")
        if hi <= lo:
            return []
        blob, starts = self._blob()
        begin = int(starts[lo])
        end = int(starts[hi - 1]) + len(words[hi - 1])
        rx = re.compile(_glob_lines(pattern), re.M)
        found: set[str] = set()
        for m in rx.finditer(blob, begin, end):
            i = int(np.searchsorted(starts, m.start(), side="right")) - 1
            if self._live(words[i], terms[i]):
                found.add(terms[i])
        return sorted(found)

    def _lookup(self, term: bytes) -> list[tuple[rankarrays.Part, int, int]]:
        out = []
        for p, base in self.parts:
            i = p.term_index(term)
            if i >= 0:
                out.append((p, base, i))
        return out




def _glob_lines(pattern: str) -> str:
    """A glob (``*``, ``?``, ``[...]``, ``[!...]``) as a regular expression matching a
    whole line of a newline-separated word list (``re.M``)."""
    out = ["^"]
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "*":
            out.append("[^\n]*")
        elif c == "?":
            out.append("[^\n]")
        elif c == "[":
            j = pattern.find("]", i + 2 if pattern[i + 1:i + 2] in ("!", "]") else i + 1)
            if j < 0:
                out.append(re.escape(c))
            else:
                inner = pattern[i + 1:j].replace("\\", "\\\\")
                neg = inner.startswith("!")
                inner = inner[1:] if neg else inner
                out.append(f"[{'^' if neg else ''}{inner}{chr(10) if neg else ''}]".replace(
                    chr(10), "\\n"))
                i = j + 1
                continue
        else:
            out.append(re.escape(c))
        i += 1
    out.append("$")
    return "".join(out)


def _bisect(words: list[str], w: str) -> int:
    from bisect import bisect_left

    return bisect_left(words, w)


class Result:
    """A node's passages: ``held`` — those whose own text or section heading (or the
    field a concept names) holds it, what the matching rule counts — and ``score``,
    its BM25F over every field searched (the title too: it ranks, it never makes a
    passage match)."""

    __slots__ = ("held", "score")

    def __init__(self, held: Any, score: Any) -> None:
        self.held = held
        self.score = score


#: the fields a passage "holds" a concept in (the title ranks, it does not match)
HELD_FIELDS = ("text", "section")


class Evaluation:
    """One search: evaluates a :class:`~kb.query.ParsedQuery`'s nodes over a
    :class:`Ranker`, sharing work between them (the phrase tier, the full and the
    partial matches read the same concepts)."""

    def __init__(self, rk: Ranker, scoring: Scoring,
                 symbol_passages: Callable[[str, bool], Any] | None = None,
                 budget: Budget | None = None) -> None:
        self.rk = rk
        self.budget = budget or Budget()
        #: what the user should know about how the query was searched
        self.notes: list[str] = []
        self.weights = scoring.weights  #: BM25F field weights
        self.k1, self.b = scoring.k1, scoring.b
        self.symbol_passages = symbol_passages
        self._terms: dict[tuple[bytes, tuple[tuple[str, float], ...]], Any] = {}
        self._nodes: dict[int, Result] = {}
        #: phrases are verified only in these passages (sorted numbers; None: everywhere)
        self.restrict: Any = None
        #: the terms (text, section or title) found in the index: what snippets highlight
        self.found_terms: set[str] = set()
        self._expanded: dict[Any, list[bytes]] = {}
        self._fuzzy: dict[Any, Any] = {}
        self._lookups: dict[bytes, list[tuple[rankarrays.Part, int, int]]] = {}
        self._acc: Any = None

    # -- single terms -------------------------------------------------------------

    def _parts_of(self, term: bytes) -> list[tuple[rankarrays.Part, int, int]]:
        hit = self._lookups.get(term)
        if hit is None:
            hit = self._lookups[term] = self.rk._lookup(term)
        return hit

    def _accumulator(self) -> Any:
        if self._acc is None:
            self._acc = np.zeros(self.rk.n, np.float32)
        return self._acc

    def _postings(self, term: bytes, field: str) -> tuple[Any, Any] | None:
        """Global passage numbers and term frequencies of ``term`` in ``field``."""
        docs_l, tf_l = [], []
        for p, base, i in self._parts_of(term):
            docs, tf = p.postings(field, i)
            if len(docs):
                docs_l.append(docs.astype(np.int64) + base)
                tf_l.append(tf)
        if not docs_l:
            return None
        if len(docs_l) == 1:
            return docs_l[0], tf_l[0]
        return np.concatenate(docs_l), np.concatenate(tf_l)

    def _saturate(self, touched: list[Any], held: Any, present: Any) -> Any:
        """Finish a BM25F computation whose weighted, normalised term frequencies were
        added into the accumulator at ``touched``: the score of each passage (dense),
        with the idf over the live passages ``present`` marks."""
        rk = self.rk
        score = np.zeros(rk.n, np.float32)
        if not touched:
            return score
        acc = self._accumulator()
        u = np.concatenate(touched) if len(touched) > 1 else touched[0]
        vals = acc[u]
        acc[u] = 0
        if rk.n_live < rk.n:
            present &= rk.live
            held &= rk.live
            vals = vals * rk.live[u]
        df = int(np.count_nonzero(present))
        if not df:
            return score
        idf = math.log(1.0 + (rk.n_live - df + 0.5) / (df + 0.5))
        k1 = self.k1
        # a passage in ``u`` twice (two fields) gets the same value both times
        score[u] = (idf * (k1 + 1.0)) * vals / (k1 + vals)
        return score

    def pooled(self, forms: list[tuple[bytes, ...]], weights: dict[str, float],
               held_fields: tuple[str, ...], slop: int = 1) -> Result:
        """One BM25F term whose occurrences are those of every form: a word and its
        compound spellings (``peacekeeping``, ``peace-keeping``, ``peace keeping``)
        are one term for ranking, their frequencies and passage counts added, so the
        form a passage happens to use neither lifts nor sinks it.  A form of several
        words counts its occurrences as a phrase."""
        rk = self.rk
        held = np.zeros(rk.n, bool)
        present = np.zeros(rk.n, bool)
        acc = self._accumulator()
        touched = []
        for form in forms:
            for f, w in weights.items():
                if w <= 0:
                    continue
                got = self._postings(form[0], f) if len(form) == 1 else \
                    self.phrase_counts(f, form, slop)
                if got is None:
                    continue
                docs, tf = got
                if not len(docs):
                    continue
                for t in form:
                    self.found_terms.add(t.decode("utf-8"))
                inv = rk.inv_norm(f, self.b)
                acc[docs] += np.float32(w) * tf.astype(np.float32) * inv[docs]  # docs distinct
                touched.append(docs)
                present[docs] = True
                if f in held_fields:
                    held[docs] = True
        score = self._saturate(touched, held, present)
        return Result(held, score)

    def term_score(self, term: bytes, weights: dict[str, float]) -> Any:
        """The BM25F score of one term over the weighted fields (dense, cached)."""
        key = (term, tuple(sorted(weights.items())))
        hit = self._terms.get(key)
        if hit is None:
            hit = self._terms[key] = self.pooled([(term,)], weights, ()).score
        return hit

    def terms_sum(self, terms: list[bytes], weights: dict[str, float],
                  held_fields: tuple[str, ...]) -> Result:
        """A wildcard's or fuzzy word's words: each its own BM25F term, scores summed
        (sparsely: one bincount, no dense array per term)."""
        rk = self.rk
        n = rk.n
        held = np.zeros(n, bool)
        idxs, vals = [], []
        acc = self._accumulator()
        for t in terms:
            touched = []
            for f, w in weights.items():
                if w <= 0:
                    continue
                got = self._postings(t, f)
                if got is None:
                    continue
                docs, tf = got
                inv = rk.inv_norm(f, self.b)
                acc[docs] += np.float32(w) * tf.astype(np.float32) * inv[docs]
                touched.append(docs)
                if f in held_fields:
                    held[docs] = True
            if not touched:
                continue
            self.found_terms.add(t.decode("utf-8"))
            u = np.unique(np.concatenate(touched)) if len(touched) > 1 else touched[0]
            v = acc[u]
            acc[u] = 0
            if rk.n_live < n:
                v = v * rk.live[u]
            df = int(np.count_nonzero(rk.live[u])) if rk.n_live < n else len(u)
            if not df:
                continue
            idf = math.log(1.0 + (rk.n_live - df + 0.5) / (df + 0.5))
            idxs.append(u)
            vals.append((idf * (self.k1 + 1.0)) * v / (self.k1 + v))
        held &= rk.live
        if not idxs:
            return Result(held, np.zeros(n, np.float32))
        score = np.bincount(np.concatenate(idxs), weights=np.concatenate(vals),
                            minlength=n).astype(np.float32)
        return Result(held, score)

    # -- phrases ------------------------------------------------------------------

    def _candidates(self, p: rankarrays.Part, base: int, field: str, idx: list[int]) -> Any:
        """The part's local passage numbers holding every word (term indexes ``idx``) in
        ``field``, among :attr:`restrict` when it is set."""
        if self.restrict is not None:
            lo, hi = np.searchsorted(self.restrict, [base, base + p.docs])
            cand = self.restrict[lo:hi] - base
            for i in dict.fromkeys(idx):
                docs, _ = p.postings(field, i)
                if not len(cand) or not len(docs):
                    return cand[:0]
                j = np.searchsorted(docs, cand)
                j[j == len(docs)] = 0
                cand = cand[docs[j] == cand]
            return cand
        counts = np.zeros(p.docs, np.uint8)
        distinct = list(dict.fromkeys(idx))
        for i in distinct:
            docs, _ = p.postings(field, i)
            if not len(docs):
                return np.zeros(0, np.int64)
            counts[docs] += 1
        return np.flatnonzero(counts == len(distinct))

    def phrase_counts(self, field: str, words: tuple[bytes, ...], slop: int = 1
                      ) -> tuple[Any, Any] | None:
        """The passages holding ``words`` in order in ``field``, each next to the one
        before (``slop`` 1) or at most ``slop`` positions after it, and how many times.

        Candidates are the passages holding every word in ``field`` (and among
        :attr:`restrict`); for those, each word's positions become sorted keys
        ``doc * M + position``, and the words' keys are matched with binary
        searches: no sorting, work in proportion to the candidates' postings."""
        if not words:
            return None
        found = [{id(p): i for p, _, i in self._parts_of(w)} for w in words]
        out_docs, out_counts = [], []
        for p, base in self.rk.parts:
            idx = [f.get(id(p), -1) for f in found]
            if min(idx) < 0:
                continue
            cand = self._candidates(p, base, field, idx).astype(np.int64)
            if not len(cand):
                continue
            keysets = []
            for i in idx:
                docs, tf, pos = p.positions(field, i)
                j = np.searchsorted(docs, cand)  # every candidate holds every word
                tf64 = tf.astype(np.int64)
                csum = np.zeros(len(tf64) + 1, np.int64)
                np.cumsum(tf64, out=csum[1:])
                counts = tf64[j]
                at = rankarrays._ranges(csum[j], counts)
                owner = np.repeat(cand, counts)
                keysets.append(owner * _KEY + pos[at].astype(np.int64))
            if slop <= 1:
                # word k of an occurrence starting at s stands at s + k: shift each
                # word's keys back by its place and intersect, the rarest first
                shifted = sorted((ks - k for k, ks in enumerate(keysets)), key=len)
                keys = shifted[0]
                for other in shifted[1:]:
                    at = np.searchsorted(other, keys)
                    at[at == len(other)] = 0
                    keys = keys[other[at] == keys]
                    if not len(keys):
                        break
            else:
                # each word within ``slop`` positions after a match of the one before
                keys = keysets[0]
                for other in keysets[1:]:
                    if not len(keys):
                        break
                    j = np.searchsorted(keys, other) - 1
                    ok = j >= 0
                    d = other - keys[np.maximum(j, 0)]
                    keys = other[ok & (d >= 1) & (d <= slop)]
            if len(keys):
                d, c = np.unique(keys // _KEY, return_counts=True)
                out_docs.append(d + base)
                out_counts.append(c)
        if not out_docs:
            return None
        docs = np.concatenate(out_docs)
        counts = np.concatenate(out_counts)
        if self.rk.n_live < self.rk.n:
            keep = self.rk.live[docs]
            docs, counts = docs[keep], counts[keep]
        return docs, counts

    def phrase(self, forms: list[tuple[bytes, ...]], weights: dict[str, float],
               held_fields: tuple[str, ...], slop: int = 1, scored: bool = True) -> Result:
        """Passages holding one of the phrase's spellings (``forms``) in a weighted
        field, each scored as the BM25F of the words of the best spelling it holds."""
        rk = self.rk
        held = np.zeros(rk.n, bool)
        score = np.zeros(rk.n, np.float32)
        for form in forms:
            anywhere = np.zeros(rk.n, bool)
            for f, w in weights.items():
                if w <= 0:
                    continue
                got = self.phrase_counts(f, form, slop) if len(form) > 1 else \
                    self._postings(form[0], f)
                if got is None or not len(got[0]):
                    continue
                anywhere[got[0]] = True
                if f in held_fields:
                    held[got[0]] = True
            if not anywhere.any():
                continue
            anywhere &= rk.live
            for t in form:
                self.found_terms.add(t.decode("utf-8"))
            if scored:
                s = np.zeros(rk.n, np.float32)
                for t in dict.fromkeys(form):
                    s += self.term_score(t, weights)
                s[~anywhere] = 0
                np.maximum(score, s, out=score)
        held &= rk.live
        return Result(held, score)

    # -- concepts and query trees -----------------------------------------------

    def _weights(self, c: Concept) -> dict[str, float]:
        if c.field is not None:
            return {c.field: self.weights.get(c.field, 1.0) * c.boost}
        return {f: w * c.boost for f, w in self.weights.items() if w > 0}

    def concept(self, c: Concept) -> Result:
        weights = self._weights(c)
        held_fields = (c.field,) if c.field is not None else HELD_FIELDS
        if c.kind in ("wildcard", "fuzzy"):
            return self.terms_sum(self.expand(c), weights, held_fields)
        forms = [tuple(t.encode("utf-8") for t in f) for f in c.all_forms]
        if c.kind == "phrase":
            return self.phrase(forms, weights, held_fields, c.slop)
        return self.pooled(forms, weights, held_fields)

    def expand(self, c: Concept) -> list[bytes]:
        """The index terms of the words as written that a wildcard matches, or that
        are within a fuzzy word's edits (once per search)."""
        key = (c.kind, c.terms[0], c.maxdist, c.nearest)
        hit = self._expanded.get(key)
        if hit is None:
            self.budget.check()
            if c.kind == "wildcard":
                found = self.rk.wildcard_terms(c.terms[0])
            else:
                found = self.rk.fuzzy_terms(c.terms[0], c.maxdist, c.nearest)
            if len(found) > MAX_EXPANSION:
                freq = self.rk.frequency
                found = sorted(found, key=lambda t: (-freq(t), t))[:MAX_EXPANSION]
                self.notes.append(f"{c.text} matches more than {MAX_EXPANSION:,} words: the "
                                  f"{MAX_EXPANSION:,} most frequent are searched")
            self._expanded[key] = hit = [t.encode("utf-8") for t in sorted(found)]
        return hit

    def node(self, n: Node) -> Result:
        hit = self._nodes.get(id(n))
        if hit is not None:
            return hit
        rk = self.rk
        self.budget.check()
        if isinstance(n, Concept):
            r = self.concept(n)
        elif n.op == "not":
            inner = self.node(n.children[0])
            r = Result(rk.live & ~inner.held, np.zeros(rk.n, np.float32))
        elif n.op == "maybe":
            a, b = self.node(n.children[0]), self.node(n.children[1])
            r = Result(a.held, a.score + b.score)
        else:
            score = np.zeros(rk.n, np.float32)
            held: Any = None
            for c in n.children:
                neg = isinstance(c, Group) and c.op == "not"
                cr = self.node(c.children[0] if neg else c)  # type: ignore[union-attr]
                if neg:
                    if n.op == "and":
                        held = (rk.live & ~cr.held) if held is None else held & ~cr.held
                    else:
                        held = (rk.live & ~cr.held) if held is None else held | ~cr.held
                    continue
                score += cr.score
                if n.op == "and" and isinstance(c, Concept) and c.optional:
                    continue
                if held is None:
                    held = cr.held.copy()
                elif n.op == "and":
                    held &= cr.held
                else:
                    held |= cr.held
            if held is None:
                held = rk.live.copy()
            r = Result(held & rk.live, score)
        self._nodes[id(n)] = r
        return r

    # -- filters ------------------------------------------------------------------

    def filter_mask(self, clauses: tuple[Clause, ...], filters: Filters) -> Any:
        """The live passages that the query's clauses and the option filters admit."""
        rk = self.rk
        mask = rk.live.copy()
        for c in clauses:
            if c.field == "doc":
                m = self.docs_matching(doc_pattern(c.value))
            elif c.field == "date":
                m = self.date_mask(*date_range(c.value))
            else:
                if self.symbol_passages is None:
                    raise QueryError("this index has no symbols")
                m = _mask_of(self.symbol_passages(c.value, True), rk.n)
            mask &= ~m if c.negate else m
        if filters.doc:
            mask &= self.docs_matching(doc_pattern(filters.doc))
        if filters.section:
            from ..analysis import query_terms

            words = query_terms(filters.section)
            if not words:
                raise QueryError(f"--section {filters.section!r} has no searchable words")
            for w in words:
                got = self._postings(w.encode("utf-8"), "section")
                m = np.zeros(rk.n, bool)
                if got is not None:
                    m[got[0]] = True
                mask &= m
        if filters.since or filters.until:
            start = dt.datetime.combine(filters.since, dt.time.min) if filters.since else None
            end = dt.datetime.combine(filters.until, dt.time.max) if filters.until else None
            mask &= self.date_mask(start, end)
        return mask & rk.live

    def docs_matching(self, rx: Any) -> Any:
        """The passages of the documents whose id the pattern matches."""
        rk = self.rk
        docord, index = rk.docord()
        lut = np.zeros(len(index) + 1, bool)
        for name, k in index.items():
            if rx.fullmatch(name):
                lut[k] = True
        return lut[docord] & rk.live

    def date_mask(self, start: dt.datetime | None, end: dt.datetime | None) -> Any:
        """Passages dated within ``start``..``end`` (inclusive, day precision, as kb
        stores dates; an instant after midnight starts the next day)."""
        rk = self.rk
        days = rk.dates()
        mask = days != rankarrays.NO_DATE
        if start is not None:
            lo = rankarrays.date_days(start)
            if isinstance(start, dt.datetime) and start.time() != dt.time.min:
                lo += 1
            mask &= days >= lo
        if end is not None:
            mask &= days <= rankarrays.date_days(end)
        return mask & rk.live


def _b(text: Any) -> bytes:
    return text if isinstance(text, bytes) else str(text).encode("utf-8")


#: the phrase tier verifies the best-scoring full matches first, this many, then twice
#: as many ... until the page is full of phrase hits
PHRASE_CHUNK = 256
#: key offsets of the tiers (scores stay far below ``PARTIAL_STEP``)
FULL = 1e9
PARTIAL_STEP = 1e5
#: partial matches holding more of the query's parts come first for queries of up to
#: this many parts; longer ones (questions, pasted sentences) rank them by score: a
#: passage holding the one rare word beats one holding three common ones (SciFact
#: train nDCG@10 0.6131 with the tiers for every query, 0.6937 so; bench/README.md)
MOST_FIRST_PARTS = 4
SYMBOL_FIRST = 4e9


def _phrase_tier(ev: Evaluation, forms: list[tuple[bytes, ...]], key: Any, in_full: Any,
                 want: int | None, ident: Any = None) -> None:
    """Lift the full matches (``in_full``) whose own text or section holds the query's
    words as one exact phrase into the top tier.

    Only as many as needed are verified: when the best ``want`` phrase hits are
    certain (every passage not yet verified scores lower than those verified),
    the rest keep their tier, which no page shown reaches.  Passages tied with the
    last one verified are verified with it (identical passages tie: which of them
    stands for the others must not depend on where a chunk ends), and with
    ``ident`` (:class:`~kb.engine.identical.Identical`) the hits are counted as
    distinct texts."""
    n = ev.rk.n
    weights = {f: 1.0 for f in HELD_FIELDS}
    try:
        if want is None:  # every one is verified
            ev.restrict = in_full
            key[ev.phrase(forms, weights, HELD_FIELDS, scored=False).held
                & _mask_of(in_full, n)] += FULL
            return
        keys = -key[in_full]
        done, chunk, found = 0, PHRASE_CHUNK, 0
        lifted: list[Any] = []
        while done < len(in_full):
            ev.budget.check()
            upto = min(done + chunk, len(in_full))
            if upto < len(in_full):
                best = np.argpartition(keys, upto - 1)[:upto]
                cut = keys[best].max()
                if np.count_nonzero(keys <= cut) > upto:  # ties with the cut: all of them
                    best = np.flatnonzero(keys <= cut)
                    upto = len(best)
            else:
                best = np.arange(len(in_full))
            best = best[np.lexsort((in_full[best], keys[best]))]  # by score, ties by number
            part = in_full[best[done:upto]]
            ev.restrict = np.sort(part)
            hits = ev.phrase(forms, weights, HELD_FIELDS, scored=False).held & _mask_of(part, n)
            key[hits] += FULL
            if ident is None:
                found += int(np.count_nonzero(hits))
            else:
                lifted.append(np.flatnonzero(hits))
                found = ident.count(np.concatenate(lifted))
            done = upto
            chunk *= 2
            if found >= want:
                return
    finally:
        ev.restrict = None


@dataclass
class RankOut:
    """What :func:`rank` returns."""

    #: the page: (passage number, score or None where none was computed, the indexes
    #: of the query's required parts it lacks)
    page: list[tuple[int, float | None, tuple[int, ...]]]
    total: int  #: full matches (distinct texts with dedup; documents with group)
    partial: int  #: partial matches (holding some of the required parts), likewise
    more: dict[int, int]  #: with group: further matches per document's passage shown
    terms: set[str]  #: the index terms found (to highlight)
    counted: Any = None  #: with facets: :func:`facet_counts` over the full matches
    notes: tuple[str, ...] = ()  #: what the user should know (an expansion cut short)


def rank(rk: Ranker, q: ParsedQuery, filters: Filters, scoring: Scoring,
         want: int | None, group: bool = False, dedup: bool = True, facets: int = 0,
         partial: bool = True, symbol_passages: Callable[[str, bool], Any] | None = None,
         budget: Budget | None = None) -> RankOut:
    """The passages matching ``q`` in one pass over the arrays.

    **The matching rule**: a passage matches when its own text or section heading
    holds every required part of the query (each concept: a word with its variants,
    a phrase; an ``OR`` group as one part), and none it excludes; the title adds
    to the score, never to the match.  Tiers: for 2-6 plain words, the full
    matches holding them as one exact phrase; then every other full match; then,
    with ``partial``, the passages holding some of the parts (those holding most
    first, for queries of up to :data:`MOST_FIRST_PARTS` parts); by BM25F score
    within a tier, ties by passage number.  A query that is a UN symbol
    (``q.symbol``): the first passage of each document with that symbol above
    every tier, its other passages full matches (with no score of their own).

    ``want``: the first ``want`` of the ranking (every one when None).  With
    ``dedup``, identical passages (:mod:`kb.engine.identical`) are one match: the
    best ranked of them (ties by document id) stands for all, before the page is
    cut and before ``group`` groups by document.  ``facets`` (a number of
    documents): the full matches counted by document and year."""
    ev = Evaluation(rk, scoring, symbol_passages, budget)
    n = rk.n
    fmask = ev.filter_mask(q.clauses, filters)
    ev.found_terms = set()  # filter words are not highlighted
    parts = q.required()
    held_parts: list[Any] = []
    partial_mask = None
    unscored = None
    if q.root is None:
        full = fmask
        score = np.zeros(n, np.float32)
    else:
        r = ev.node(q.root)
        full = r.held & fmask
        score = r.score
        if q.symbol and symbol_passages is not None:
            own = _mask_of(symbol_passages(q.symbol, False), n) & fmask
            unscored = own & ~full
            full = full | own
        held_parts = [ev.node(p).held for p in parts]
        if len(parts) > 1:  # counted even when not listed (an export says how many)
            count = np.zeros(n, np.uint16)
            for h in held_parts:
                count += h
            partial_mask = (count > 0) & ~full & fmask
            root = q.root
            tops = list(root.children) if isinstance(root, Group) and root.op == "and" else []
            for c in tops:  # a passage holding an excluded word is no partial match either
                if isinstance(c, Group) and c.op == "not":
                    partial_mask &= ~ev.node(c.children[0]).held
    key = score.astype(np.float64)
    key[full] += FULL
    if partial_mask is not None and len(parts) <= MOST_FIRST_PARTS:
        key[partial_mask] += count[partial_mask].astype(np.float64) * PARTIAL_STEP
    ident = rk.identical() if dedup else None
    if ident is not None and not ident.ngroups:
        ident = None
    in_full = np.flatnonzero(full)
    if q.phrase is not None and len(in_full) > 1:
        forms = [tuple(t.encode("utf-8") for t in f) for f in q.phrase.all_forms]
        _phrase_tier(ev, forms, key, in_full, None if group else want, ident)
    if unscored is not None:
        ids = np.flatnonzero(own)
        if len(ids):
            docord, _ = rk.docord()
            _, first = np.unique(docord[ids], return_index=True)  # ids ascend: the first
            key[ids[first]] += SYMBOL_FIRST
    in_partial = np.flatnonzero(partial_mask) if partial_mask is not None else in_full[:0]
    total, n_partial = len(in_full), len(in_partial)
    if ident is not None:
        total = ident.count(in_full) if total > 1 else total
        n_partial = ident.count(in_partial) if n_partial > 1 else n_partial
    candidates = np.flatnonzero(full | partial_mask) if partial and len(in_partial) \
        else in_full
    if ident is not None and len(candidates) > 1:
        if group or want is None:
            candidates = ident.collapse(candidates, key, rk.docrank)
        else:
            candidates = _collapse_top(ident, rk, key, candidates, want)
    counted = None
    if facets:
        shown = in_full
        if ident is not None and len(in_full) > 1:
            shown = ident.collapse(in_full, key, rk.docrank)
        counted = facet_counts(rk, shown, key, facets)
    more: dict[int, int] = {}
    if group:
        order = top(key, candidates, None, rk.docrank())
        docord, _ = rk.docord()
        _, first, counts = np.unique(docord[order], return_index=True, return_counts=True)
        pick = np.argsort(first, kind="stable")
        order = order[first[pick]]
        extra = counts[pick] - 1
        more = dict(zip(order.tolist(), extra.tolist()))
        # a document with a full match is shown by one (full matches rank first)
        total = int(np.count_nonzero(full[order]))
        if partial:
            n_partial = len(order) - total
        elif len(in_partial):
            n_partial = len(np.setdiff1d(docord[in_partial], docord[in_full]))
    else:
        order = top(key, candidates, want, rk.docrank())
    page = []
    for d in order.tolist():
        sc: float | None = float(score[d])
        if unscored is not None and unscored[d]:
            sc = None
        missing = () if full[d] else tuple(i for i, h in enumerate(held_parts) if not h[d])
        page.append((d, sc, missing))
    return RankOut(page, total, n_partial, more, ev.found_terms, counted, tuple(ev.notes))


def top(order_key: Any, candidates: Any, want: int | None, tie: Any = None) -> Any:
    """``candidates`` (passage numbers) by ``order_key`` descending, ties by ``tie``
    (per passage: its document's rank among the document ids, :meth:`Ranker.docrank`),
    then by number — a document's passages are numbered in order, so ties go by
    passage id, the same after any update as in a fresh build; only the first
    ``want`` when given."""
    if want is not None and want <= 0:
        return candidates[:0]
    if want is not None and want < len(candidates):
        keys = order_key[candidates]
        sel = np.argpartition(-keys, want - 1)[:want]
        # include every candidate tied with the cut-off, so ties break by number
        cut = keys[sel].min()
        tied = np.flatnonzero(keys >= cut)
        candidates = candidates[tied]
    keys = order_key[candidates]
    order = np.lexsort((candidates, -keys) if tie is None else
                       (candidates, tie[candidates], -keys))
    out = candidates[order]
    return out if want is None else out[:want]



def _mask_of(ids: Any, n: int) -> Any:
    m = np.zeros(n, bool)
    m[ids] = True
    return m


def _near_top(key: Any, candidates: Any, w: int) -> Any:
    """The candidates whose key is at least the ``w``-th highest (ties included)."""
    if w >= len(candidates):
        return candidates
    keys = key[candidates]
    cut = keys[np.argpartition(-keys, w - 1)[:w]].min()
    return candidates[keys >= cut]


def _collapse_top(ident: Any, rk: Ranker, key: Any, candidates: Any, want: int) -> Any:
    """The candidates, collapsed (:meth:`~kb.engine.identical.Identical.collapse`),
    as far as the first ``want`` distinct texts need: the best ``w`` passages (and
    their ties) are taken, ``w`` growing until they hold ``want`` texts; a group
    none of them is in ranks below every group they hold, and a group's best
    passage and its ties are among them.  ``w`` starts at twice ``want``: a
    partition costs the same for any ``w``, a second one doubles it."""
    w = max(2 * want, 1)
    while True:
        near = _near_top(key, candidates, w)
        if len(near) == len(candidates) or ident.count(near) >= want:
            return ident.collapse(near, key, rk.docrank)
        w *= 4


def facet_counts(rk: Ranker, shown: Any, key: Any, n_docs: int
                 ) -> tuple[list[tuple[int, int]], int, list[tuple[int, int]], int]:
    """The matches ``shown`` (ascending passage numbers, identical passages already
    collapsed: each text counted once, in the document of the passage that stands
    for it, as the results show it) counted by document and by year.

    Returns ``(docs, documents, years, undated)``: the ``n_docs`` documents with the
    most matches as ``(a passage of it, count)``, most first, ties by the best
    ``key`` (the ranking) among their passages, then by document id (as the
    ranking breaks ties: the document whose hit comes first); how
    many documents match; ``(year, count)`` latest first; and the matches without
    a date.  Bincounts: linear in the matches."""
    docord, names = rk.docord()
    dm = docord[shown]
    ndoc = len(names) + 1
    doc_counts = np.bincount(dm, minlength=ndoc)
    documents = int(np.count_nonzero(doc_counts))
    listed: list[tuple[int, int]] = []
    if n_docs > 0 and documents:
        have = np.flatnonzero(doc_counts)
        ks = key[shown]
        best = np.full(ndoc, -np.inf)
        np.maximum.at(best, dm, ks)
        # a tie of best keys goes as the ranking breaks it (:func:`top`): by document id
        rank_of = np.zeros(ndoc, np.int64)
        rank_of[dm] = rk.docrank()[shown]
        order = have[np.lexsort((rank_of[have], -best[have], -doc_counts[have]))][:n_docs]
        for d in order.tolist():
            listed.append((int(shown[int(np.argmax(dm == d))]), int(doc_counts[d])))
    days = rk.dates()[shown]
    dated = days != rankarrays.NO_DATE
    undated = len(shown) - int(np.count_nonzero(dated))
    by_year: list[tuple[int, int]] = []
    if undated < len(shown):
        years = days[dated].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
        yc = np.bincount(years - years.min())
        by_year = [(int(y + years.min()) + 1970, int(yc[y])) for y in np.flatnonzero(yc)][::-1]
    return listed, documents, by_year, undated
