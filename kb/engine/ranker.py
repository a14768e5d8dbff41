"""The array ranker: true BM25F over the ranking arrays, with numpy.

Whoosh parses the query (phrases, ``AND``/``OR``/``NOT``, wildcards, fuzzy
words, field filters); :class:`Ranker` evaluates the parsed query over the
ranking arrays of :mod:`kb.engine.rankarrays` instead of Whoosh's per-posting
Python scorer:

* **True BM25F.**  For each query term, each field's term frequency is
  weighted (the query's field boosts) and length-normalised,
  ``tf_f * w_f / (1 - B + B * len_f / avglen_f)``, summed across text,
  section and title, and then saturated once:
  ``idf * tf~ * (K1 + 1) / (K1 + tf~)``, with the Robertson idf
  ``log(1 + (N - df + 0.5) / (df + 0.5))`` over the live passages of the
  whole index (``df`` counts passages holding the term in any field searched).
* **Boolean structure** as masks over every passage number: ``And``, ``Or``,
  ``Not``, ``AndNot``, ``AndMaybe``, ``Require``; a node's score is the sum of
  its matching children's scores, as in Whoosh.
* **Phrases** are verified on candidates only: the passages holding every
  word, then positions compared with sorted-array intersections.
* **Filters and deleted passages** are masks; top-k is a partial sort.

A query holding something the ranker does not evaluate (``~`` slop phrases,
span queries, ranges in the ranked part) raises :class:`Unsupported`, and
the caller ranks it with Whoosh instead.
"""

from __future__ import annotations

import math
import os
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # no BLAS here: skip its thread pool

import numpy as np  # noqa: E402

from . import rankarrays  # noqa: E402


#: phrase keys: ``doc * _KEY + position``; positions stay far below this
_KEY = np.int64(1 << 34)


#: an ``Or`` of more terms than this is summed sparsely (:meth:`Evaluation.terms_sum`)
MANY_TERMS = 8


class Unsupported(Exception):
    """A query node the array ranker does not evaluate."""


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
        self._inv_norm: dict[str, Any] = {}
        self._docord: Any = None
        self._docnames: dict[str, int] | None = None
        self._date: Any = None
        self._identical: Any = None
        self._docrank: Any = None

    # -- per-passage arrays, concatenated on first use -------------------------

    def _concat(self, name: str, dtype: Any) -> Any:
        out = np.empty(self.n, dtype)
        for p, base in self.parts:
            out[base:base + p.docs] = p.a[name]
        return out

    def inv_norm(self, field: str) -> Any:
        """``1 / (1 - B + B * len / avglen)`` per passage, for ``field``."""
        v = self._inv_norm.get(field)
        if v is None:
            length = self._concat(f"{field}.len", np.float32)
            live_len = length[self.live]
            avg = float(live_len.mean()) if len(live_len) else 0.0
            if avg <= 0:
                v = np.ones(self.n, np.float32)
            else:
                v = (1.0 / ((1.0 - self.b) + self.b * length / np.float32(avg))).astype(
                    np.float32)
            self._inv_norm[field] = v
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

    def fuzzy_terms(self, field: str, text: str, maxdist: int, prefix: int,
                    memo: dict[Any, Any]) -> list[bytes]:
        """The terms of ``field`` within ``maxdist`` edits of ``text`` (optimal string
        alignment distance: insertions, deletions, substitutions and swaps of two
        neighbours, each part of the word edited once) that share its first ``prefix``
        characters: what Whoosh's ``FuzzyTerm`` expands to, found over the arrays'
        vocabularies with rapidfuzz instead of Whoosh's Python edit distance per term
        (1-3 ms rather than 40 at 200k passages).  Sorted.  ``memo``: the words found,
        kept by the caller for the word's other fields (one search's)."""
        key = (text, maxdist, prefix)
        per_part = memo.get(key)
        if per_part is None:
            from rapidfuzz import process
            from rapidfuzz.distance import OSA

            per_part = []
            head = text[:prefix].encode("utf-8")
            for p, _ in self.parts:
                lo, hi = p.prefix_range(head)
                words = p.terms_between(lo, hi)
                found = process.extract(text, words, scorer=OSA.distance,
                                        score_cutoff=maxdist, limit=None) if words else []
                per_part.append(np.array(sorted(lo + k for _, _, k in found), np.int64))
            memo[key] = per_part
        out: set[bytes] = set()
        for (p, _), idx in zip(self.parts, per_part):
            if len(idx):
                ptr = p.a[f"{field}.ptr"]
                for i in idx[ptr[idx + 1] > ptr[idx]].tolist():
                    out.add(p.term_at(i).encode("utf-8"))
        return sorted(out)

    def _lookup(self, term: bytes) -> list[tuple[rankarrays.Part, int, int]]:
        out = []
        for p, base in self.parts:
            i = p.term_index(term)
            if i >= 0:
                out.append((p, base, i))
        return out


class Result:
    """A node's passages (``mask``) and their scores (0 outside the mask)."""

    __slots__ = ("mask", "score")

    def __init__(self, mask: Any, score: Any) -> None:
        self.mask = mask
        self.score = score


class Evaluation:
    """One search: evaluates query trees over a :class:`Ranker`, sharing work
    between them (the phrase, all-words and any-word tiers score the same terms)."""

    def __init__(self, rk: Ranker, searcher: Any) -> None:
        self.rk = rk
        self.searcher = searcher
        self._terms: dict[tuple[bytes, tuple[tuple[str, float], ...]], Result] = {}
        #: phrases are verified only in these passages (sorted numbers; None: everywhere)
        self.restrict: Any = None
        #: phrases: which passages hold them, unscored (for the phrase tier)
        self.masks_only = False
        #: the terms (text, section or title) found in the index: what snippets highlight
        self.found_terms: set[str] = set()
        self._expanded: dict[Any, list[bytes]] = {}
        self._fuzzy: dict[Any, Any] = {}
        self._lookups: dict[bytes, list[tuple[rankarrays.Part, int, int]]] = {}
        self._acc: Any = None

    # -- scoring ----------------------------------------------------------------

    def _parts_of(self, term: bytes) -> list[tuple[rankarrays.Part, int, int]]:
        hit = self._lookups.get(term)
        if hit is None:
            hit = self._lookups[term] = self.rk._lookup(term)
        return hit

    def term(self, text: bytes, weights: dict[str, float]) -> Result:
        """BM25F of one term over the weighted fields."""
        key = (text, tuple(sorted(weights.items())))
        hit = self._terms.get(key)
        if hit is not None:
            return hit
        mask, u, sc, _ = self._term_scores(text, weights)
        score = np.zeros(self.rk.n, np.float32)
        if u is not None:
            score[u] = sc
        r = Result(mask, score)
        self._terms[key] = r
        return r

    def _term_scores(self, text: bytes, weights: dict[str, float]
                     ) -> tuple[Any, Any, Any, bool]:
        """``(mask, u, sc, repeats)``: the live passages holding the term, and the
        BM25F score ``sc[j]`` of passage ``u[j]`` (``u`` None when none scores; with
        ``repeats``, a passage holding it in two fields is in ``u`` twice, with the
        same score; deleted passages score 0)."""
        rk = self.rk
        n = rk.n
        mask = np.zeros(n, bool)
        touched = []
        if self._acc is None:
            self._acc = np.zeros(n, np.float32)
        acc = self._acc
        found = self._parts_of(text)
        if found:
            self.found_terms.add(text.decode("utf-8"))
        for f, w in weights.items():
            if w <= 0:
                continue
            inv = None
            for p, base, i in found:
                docs, tf = p.postings(f, i)
                if not len(docs):
                    continue
                if inv is None:
                    inv = rk.inv_norm(f)
                g = docs.astype(np.int64) + base
                acc[g] += np.float32(w) * tf.astype(np.float32) * inv[g]
                touched.append(g)
        if not touched:
            return mask, None, None, False
        u = np.concatenate(touched) if len(touched) > 1 else touched[0]
        vals = acc[u]
        acc[u] = 0
        mask[u] = True
        if rk.n_live < n:
            mask &= rk.live
            vals *= rk.live[u]
        df = int(np.count_nonzero(mask))
        if not df:
            return mask, None, None, False
        idf = math.log(1.0 + (rk.n_live - df + 0.5) / (df + 0.5))
        k1 = rk.k1
        return mask, u, (idf * (k1 + 1.0)) * vals / (k1 + vals), len(touched) > 1

    def terms_sum(self, terms: dict[bytes, dict[str, float]]) -> Result:
        """The ``Or`` of many terms (a wildcard's or a fuzzy word's expansions): their
        BM25F scores summed in one bincount, without a dense score array per term.
        Each term's scores are those of :meth:`term` (one already scored is reused)."""
        rk = self.rk
        n = rk.n
        mask = np.zeros(n, bool)
        idxs, vals = [], []
        for text, weights in terms.items():
            done = self._terms.get((text, tuple(sorted(weights.items()))))
            if done is not None:
                idx = np.flatnonzero(done.mask)
                idxs.append(idx)
                vals.append(done.score[idx])
                mask |= done.mask
                continue
            m, u, sc, repeats = self._term_scores(text, weights)
            mask |= m
            if u is None:
                continue
            if repeats or rk.n_live < n:  # one score per live passage
                acc = self._acc
                acc[u] = sc
                u = np.flatnonzero(m)
                sc = acc[u]
                acc[u] = 0
            idxs.append(u)
            vals.append(sc)
        if not idxs:
            return Result(mask, np.zeros(n, np.float32))
        score = np.bincount(np.concatenate(idxs), weights=np.concatenate(vals),
                            minlength=n).astype(np.float32)
        return Result(mask, score)

    def phrase(self, words: tuple[bytes, ...], weights: dict[str, float]) -> Result:
        """Passages holding ``words`` next to each other in one of the weighted fields,
        scored as the BM25F of the words over those fields."""
        rk = self.rk
        mask = np.zeros(rk.n, bool)
        for f, w in weights.items():
            if w > 0:
                mask |= self.phrase_mask(f, words)
        score = np.zeros(rk.n, np.float32)
        if mask.any() and not self.masks_only:
            for w in dict.fromkeys(words):
                score += self.term(w, weights).score
            score[~mask] = 0
        return Result(mask, score)

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

    def phrase_mask(self, field: str, words: tuple[bytes, ...]) -> Any:
        """Passages holding ``words`` next to each other in ``field``.

        Candidates are the passages holding every word in ``field`` (and among
        :attr:`restrict`); for those, each word's positions become sorted keys
        ``doc * M + position - k`` (k its place in the phrase), and the rarest
        word's keys are looked up in the others' with binary searches: no sorting,
        work in proportion to the candidates' postings."""
        rk = self.rk
        n = rk.n
        mask = np.zeros(n, bool)
        if not words:
            return mask
        found = [{id(p): i for p, _, i in self._parts_of(w)} for w in words]
        nw = len(words)
        for p, base in rk.parts:
            idx = [f.get(id(p), -1) for f in found]
            if min(idx) < 0:
                continue
            cand = self._candidates(p, base, field, idx).astype(np.int64)
            if not len(cand):
                continue
            keysets = []
            for k, i in enumerate(idx):
                docs, tf, pos = p.positions(field, i)
                j = np.searchsorted(docs, cand)  # every candidate holds every word
                tf64 = tf.astype(np.int64)
                csum = np.zeros(len(tf64) + 1, np.int64)
                np.cumsum(tf64, out=csum[1:])
                counts = tf64[j]
                at = rankarrays._ranges(csum[j], counts)
                owner = np.repeat(cand, counts)
                keysets.append(owner * _KEY + (pos[at].astype(np.int64) + (nw - k)))
            keysets.sort(key=len)
            keys = keysets[0]
            for other in keysets[1:]:
                at = np.searchsorted(other, keys)
                at[at == len(other)] = 0
                keys = keys[other[at] == keys]
                if not len(keys):
                    break
            if len(keys):
                mask[keys // _KEY + base] = True
        mask &= rk.live
        return mask

    # -- query trees ------------------------------------------------------------

    def evaluate(self, q: Any) -> Result:
        from whoosh import query as Q

        rk = self.rk
        t = type(q)
        if t is Q.Term:
            if q.fieldname == "doc":
                return self._docs([_b(q.text)])
            if q.fieldname not in rankarrays.FIELDS:
                return self._whoosh(q)
            return self.term(_b(q.text), {q.fieldname: q.boost})
        if t is Q.Or or t is Q.DisjunctionMax:
            if t is Q.DisjunctionMax:
                raise Unsupported("DisjunctionMax")
            terms, phrases, rest = self._term_groups(q.subqueries)
            if len(terms) > MANY_TERMS:
                results = [self.terms_sum(terms)]
            else:
                results = [self.term(text, w) for text, w in terms.items()]
            results += [self.phrase(words, w) for words, w in phrases.items()]
            results += [self.evaluate(c) for c in rest]
            return _or(results, rk.n)
        if t is Q.And:
            pos = [self.evaluate(c) for c in q.subqueries if not isinstance(c, Q.Not)]
            neg = [self.evaluate(c.query) for c in q.subqueries if isinstance(c, Q.Not)]
            if not pos:
                mask = rk.live.copy()
                score = np.zeros(rk.n, np.float32)
            else:
                mask = pos[0].mask.copy()
                for r in pos[1:]:
                    mask &= r.mask
                score = pos[0].score.copy()
                for r in pos[1:]:
                    score += r.score
            for r in neg:
                mask &= ~r.mask
            score[~mask] = 0
            return Result(mask, score)
        if t is Q.Not:
            inner = self.evaluate(q.query)
            return Result(rk.live & ~inner.mask, np.zeros(rk.n, np.float32))
        if t is Q.AndNot:
            a, b = self.evaluate(q.a), self.evaluate(q.b)
            mask = a.mask & ~b.mask
            score = a.score.copy()
            score[~mask] = 0
            return Result(mask, score)
        if t is Q.AndMaybe:
            a, b = self.evaluate(q.a), self.evaluate(q.b)
            score = a.score + b.score
            score[~a.mask] = 0
            return Result(a.mask, score)
        if t is Q.Require:
            a, b = self.evaluate(q.a), self.evaluate(q.b)
            mask = a.mask & b.mask
            score = a.score.copy()
            score[~mask] = 0
            return Result(mask, score)
        if isinstance(q, Q.Phrase):
            if q.fieldname not in rankarrays.FIELDS:
                return self._whoosh(q)
            if q.slop != 1:
                raise Unsupported("phrase with slop")
            return self.phrase(tuple(_b(w) for w in q.words), {q.fieldname: q.boost})
        if t is Q.Every:
            return Result(rk.live.copy(), np.zeros(rk.n, np.float32))
        if t is Q.ConstantScoreQuery:
            inner = self.evaluate(q.child)
            return Result(inner.mask, np.where(inner.mask, np.float32(q.score),
                                               np.float32(0)).astype(np.float32))
        if q is Q.NullQuery or t is type(Q.NullQuery):
            return Result(np.zeros(rk.n, bool), np.zeros(rk.n, np.float32))
        if t is Q.DateRange and q.fieldname == "date":
            return self._dates(q)
        if isinstance(q, Q.MultiTerm) and not isinstance(q, Q.ranges.RangeMixin):
            if q.field() == "doc":
                return self._docs(self._expand(q, self.searcher.reader()))
            if q.field() not in rankarrays.FIELDS:
                return self._whoosh(q)
            terms = self._term_groups([q])[0]
            if len(terms) > MANY_TERMS:
                return self.terms_sum(terms)
            return _or([self.term(text, w) for text, w in terms.items()], rk.n)
        raise Unsupported(type(q).__name__)

    def _term_groups(self, subqueries: list[Any]) -> tuple[
            dict[bytes, dict[str, float]], dict[tuple[bytes, ...], dict[str, float]], list[Any]]:
        """The children of an ``Or``: term-like ones grouped by term text (one BM25F
        term each, whatever fields they name), phrases grouped by their words (one
        phrase over the fields named), and the others."""
        from whoosh import query as Q

        groups: dict[bytes, dict[str, float]] = {}
        phrases: dict[tuple[bytes, ...], dict[str, float]] = {}
        rest = []
        reader = self.searcher.reader()
        flat: list[Any] = []
        todo = list(subqueries)
        while todo:  # Or(Or(a, b), c) is Or(a, b, c): matches and sums alike
            c = todo.pop(0)
            if type(c) is Q.Or and c.boost == 1.0:
                todo[:0] = c.subqueries
            else:
                flat.append(c)
        for c in flat:
            t = type(c)
            if t is Q.Term and c.fieldname in rankarrays.FIELDS:
                w = groups.setdefault(_b(c.text), {})
                w[c.fieldname] = w.get(c.fieldname, 0.0) + c.boost
            elif (isinstance(c, Q.MultiTerm) and not isinstance(c, Q.ranges.RangeMixin)
                  and c.field() in rankarrays.FIELDS):
                for text in self._expand(c, reader):
                    w = groups.setdefault(_b(text), {})
                    w[c.field()] = w.get(c.field(), 0.0) + c.boost
            elif isinstance(c, Q.Phrase) and c.fieldname in rankarrays.FIELDS and c.slop == 1:
                w = phrases.setdefault(tuple(_b(x) for x in c.words), {})
                w[c.fieldname] = w.get(c.fieldname, 0.0) + c.boost
            else:
                rest.append(c)
        return groups, phrases, rest

    def _expand(self, q: Any, reader: Any) -> list[bytes]:
        """The indexed terms a wildcard, prefix or fuzzy term stands for (once per search)."""
        from whoosh import query as Q

        key = (type(q).__name__, q.field(), repr(q))
        hit = self._expanded.get(key)
        if hit is None:
            if type(q) is Q.FuzzyTerm and q.field() in rankarrays.FIELDS:
                hit = self.rk.fuzzy_terms(q.field(), q.text, int(q.maxdist), q.prefixlength,
                                          self._fuzzy)
            else:
                hit = list(q._btexts(reader))
            self._expanded[key] = hit
        return hit

    def _docs(self, names: list[bytes]) -> Result:
        """The passages of the documents named (a ``doc`` filter), from the arrays."""
        rk = self.rk
        docord, index = rk.docord()
        lut = np.zeros(len(index) + 1, bool)
        for name in names:
            k = index.get(name.decode("utf-8"))
            if k is not None:
                lut[k] = True
        mask = lut[docord] & rk.live
        return Result(mask, np.zeros(rk.n, np.float32))

    def _dates(self, q: Any) -> Result:
        """``date`` ranges from the per-passage dates (day precision, as kb stores them)."""
        import datetime as dt

        rk = self.rk
        days = rk.dates()
        mask = days != rankarrays.NO_DATE
        start, end = q.startdate, q.enddate
        if start is not None:
            lo = rankarrays.date_days(start)
            if (isinstance(start, dt.datetime) and start.time() != dt.time.min) or \
                    q.startexcl:
                lo += 1
            mask &= days >= lo
        if end is not None:
            hi = rankarrays.date_days(end)
            if q.endexcl and not (isinstance(end, dt.datetime) and end.time() != dt.time.min):
                hi -= 1
            mask &= days <= hi
        mask &= rk.live
        return Result(mask, np.zeros(rk.n, np.float32))

    def _whoosh(self, q: Any) -> Result:
        """A node over a field the arrays do not hold (``doc``, ``date``, ``symbol``,
        ``id``): its passages from Whoosh, unscored (these are filters)."""
        rk = self.rk
        mask = np.zeros(rk.n, bool)
        ids = np.fromiter(q.docs(self.searcher), np.int64)
        if len(ids):
            mask[ids] = True
        mask &= rk.live
        return Result(mask, np.zeros(rk.n, np.float32))


def _b(text: Any) -> bytes:
    return text if isinstance(text, bytes) else str(text).encode("utf-8")


def _or(results: list[Result], n: int) -> Result:
    if not results:
        return Result(np.zeros(n, bool), np.zeros(n, np.float32))
    if len(results) == 1:
        return results[0]
    mask = results[0].mask.copy()
    score = results[0].score.copy()
    for r in results[1:]:
        mask |= r.mask
        score += r.score
    return Result(mask, score)


def top(order_key: Any, candidates: Any, want: int | None) -> Any:
    """``candidates`` (passage numbers) by ``order_key`` descending, ties by number;
    only the first ``want`` when given."""
    if want is not None and want < len(candidates):
        keys = order_key[candidates]
        sel = np.argpartition(-keys, want - 1)[:want]
        # include every candidate tied with the cut-off, so ties break by number
        cut = keys[sel].min()
        tied = np.flatnonzero(keys >= cut)
        candidates = candidates[tied]
    keys = order_key[candidates]
    order = np.lexsort((candidates, -keys))
    out = candidates[order]
    return out if want is None else out[:want]


#: the phrase tier verifies the best-scoring passages holding every word first,
#: this many, then twice as many ... until the page is full of phrase hits
PHRASE_CHUNK = 256


def _phrase_tier(ev: Evaluation, q_phrase: Any, key: Any, in_and: Any,
                 want: int | None, ident: Any = None) -> None:
    """Lift the passages (of ``in_and``) holding the exact phrase into the top tier.

    Only as many as needed are verified: when the best ``want`` phrase hits are
    certain (every passage not yet verified scores lower than those verified),
    the rest keep their all-words tier, which no page shown reaches.  Passages
    tied with the last one verified are verified with it (identical passages tie:
    which of them stands for the others must not depend on where a chunk ends),
    and with ``ident`` (:class:`~kb.engine.identical.Identical`) the hits are
    counted as distinct texts."""
    n = ev.rk.n
    ev.masks_only = True  # the tier needs which passages hold the phrase, not scores
    try:
        if want is None:  # every one is verified
            ev.restrict = in_and
            key[ev.evaluate(q_phrase).mask & _mask_of(in_and, n)] += 1e7
            return
        keys = -key[in_and]
        done, chunk, found = 0, PHRASE_CHUNK, 0
        lifted: list[Any] = []
        while done < len(in_and):
            upto = min(done + chunk, len(in_and))
            if upto < len(in_and):
                best = np.argpartition(keys, upto - 1)[:upto]
                cut = keys[best].max()
                if np.count_nonzero(keys <= cut) > upto:  # ties with the cut: all of them
                    best = np.flatnonzero(keys <= cut)
                    upto = len(best)
            else:
                best = np.arange(len(in_and))
            best = best[np.lexsort((in_and[best], keys[best]))]  # by score, ties by number
            part = in_and[best[done:upto]]
            ev.restrict = np.sort(part)
            hits = ev.evaluate(q_phrase).mask & _mask_of(part, n)
            key[hits] += 1e7
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
        ev.masks_only = False


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


def rank(rk: Ranker, searcher: Any, q_and: Any, q_or: Any, q_phrase: Any, filt: Any,
         want: int | None, group: bool, q_first: Any = None, dedup: bool = True,
         facets: int = 0) -> tuple[list[tuple[int, float]], int, dict[int, int], set[str],
                                   Any]:
    """The tiers of :func:`kb.search.search` in one pass over the arrays.

    Passages holding the words as an exact phrase (``q_phrase``, when given and
    when more than one passage holds every word), then those holding every word
    (``q_and``), then those holding some (``q_or``); by BM25F score within a
    tier, ties by passage number.  Returns ``(ranked, total, more, terms)``: the
    first ``want`` ``(passage number, score)`` pairs (every one when ``want`` is
    None), the number of matches, with ``group`` the number of further matches per
    document's best passage, the index terms the query found (to highlight), and
    with ``facets`` (a number of documents) the matches counted by document and year
    (:func:`facet_counts`), else None.
    ``q_first`` (a query that is a UN symbol): the first passage of each document it
    matches ranks above every tier.

    With ``dedup``, identical passages (:mod:`kb.engine.identical`) are one match:
    the best ranked of them (ties by document id) stands for all, before the page
    is cut and before ``group`` groups by document; ``total`` counts distinct texts.
    """
    ev = Evaluation(rk, searcher)
    fmask = rk.live if filt is None else ev.evaluate(filt).mask
    ev.found_terms = set()  # filter words are not highlighted
    r_or = ev.evaluate(q_or)
    mask_or = r_or.mask & fmask
    score = r_or.score
    if q_and is q_or or q_and == q_or:
        mask_and = mask_or
    else:
        mask_and = ev.evaluate(q_and).mask & fmask
    key = score.astype(np.float64)
    key[mask_and] += 1e7
    ident = rk.identical() if dedup else None
    if ident is not None and not ident.ngroups:
        ident = None
    if q_phrase is not None:
        in_and = np.flatnonzero(mask_and)
        if len(in_and) > 1:
            _phrase_tier(ev, q_phrase, key, in_and, None if group else want, ident)
    if q_first is not None:
        ids = np.flatnonzero(ev.evaluate(q_first).mask & fmask)
        if len(ids):
            docord, _ = rk.docord()
            _, first = np.unique(docord[ids], return_index=True)  # ids ascend: the first
            key[ids[first]] += 2e7
    candidates = matched = np.flatnonzero(mask_or)
    total = len(candidates)
    if ident is not None and total > 1:
        total = ident.count(candidates)
        if group or want is None:
            candidates = ident.collapse(candidates, key, rk.docrank)
        else:
            candidates = _collapse_top(ident, rk, key, candidates, want)
    counted = None
    if facets:
        shown = candidates
        if ident is not None and not (group or want is None) and len(matched) > 1:
            shown = ident.collapse(matched, key, rk.docrank)
        counted = facet_counts(rk, shown, key, facets)
    more: dict[int, int] = {}
    if group:
        order = top(key, candidates, None)
        docord, _ = rk.docord()
        _, first, counts = np.unique(docord[order], return_index=True, return_counts=True)
        pick = np.argsort(first, kind="stable")
        order = order[first[pick]]
        extra = counts[pick] - 1
        more = dict(zip(order.tolist(), extra.tolist()))
        total = len(order)
    else:
        order = top(key, candidates, want)
    return (list(zip(order.tolist(), score[order].tolist())), total, more, ev.found_terms,
            counted)


def facet_counts(rk: Ranker, shown: Any, key: Any, n_docs: int
                 ) -> tuple[list[tuple[int, int]], int, list[tuple[int, int]], int]:
    """The matches ``shown`` (ascending passage numbers, identical passages already
    collapsed: each text counted once, in the document of the passage that stands
    for it, as the results show it) counted by document and by year.

    Returns ``(docs, documents, years, undated)``: the ``n_docs`` documents with the
    most matches as ``(a passage of it, count)``, most first, ties by the best
    ``key`` (the ranking) among their passages, then by the lowest number among
    those (as the ranking breaks ties: the document whose hit comes first); how
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
        # a tie of best keys goes as the ranking breaks it: the lower passage number
        at_best = ks == best[dm]
        first = np.full(ndoc, np.iinfo(np.int64).max, np.int64)
        np.minimum.at(first, dm[at_best], shown[at_best])
        order = have[np.lexsort((first[have], -best[have], -doc_counts[have]))][:n_docs]
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
