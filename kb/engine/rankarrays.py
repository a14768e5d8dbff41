"""Ranking arrays: the postings kb ranks with, as numpy arrays beside each Whoosh segment.

Whoosh stays the index of record (stored fields, the query language); these
arrays are derived data that the array ranker (:mod:`kb.engine.ranker`) reads instead
of decoding Whoosh's pickled posting blocks posting by posting.

A segment ``MAIN_<id>`` has one or more *parts*, files ``MAIN_<id>.kr<k>``
(Whoosh's own clean-up deletes them with their segment, since they follow its
segment file naming).  A part covers a contiguous range of the segment's
document numbers; a segment writer starts a new part when the tokens it holds
pass :data:`PART_TOKENS`, which bounds the memory of a build.

A part file is ``MAGIC``, an 8-byte little-endian header length, a JSON
header, then 64-byte aligned arrays:

* ``vocab`` (uint8) + ``vocab_off`` (int64, T+1): the part's terms, sorted by
  their UTF-8 bytes, shared by every field;
* per field ``f`` of :data:`FIELDS`: ``f.ptr`` (int64, T+1) the range of each
  term's postings, ``f.doc`` (int32) and ``f.tf`` (uint16/32) the postings in
  document order, ``f.posptr`` (int64, T+1) where each term's positions start
  in ``f.pos`` (positions of each posting, in posting order, ``tf`` of them),
  and ``f.len`` (uint16/32, one per document) the field's length in terms;
* ``docord`` (int32, one per document) an index into the part's document
  names ``dn`` (uint8) + ``dn_off`` (int64), and ``date`` (int32, days since
  1970-01-01; :data:`NO_DATE` when undated);
* ``texthash`` (int64, one per document) the key of the passage's text
  (:func:`kb.dedup.text_key`: identical passages share it), and ``hashord``
  (int32) the part's documents sorted by that key (stable), so that a reader
  finds the identical passages of the whole index by merging sorted runs;
* ``sw`` (uint8) + ``sw_off`` (int64): the words as written in the part's
  documents (case and accents folded, not stemmed), sorted, each a ``words``
  entry (:func:`kb.analysis.split_entry`: ``harassment harass``): what spelling
  correction and fuzzy words measure edit distances on (a deleted document's
  words stay until its part is rewritten; their terms' postings say whether
  they are still held).

Everything here is written before Whoosh commits the segment's TOC, so the
arrays switch with the segment they belong to (see :mod:`kb.store` and :mod:`kb.index`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from array import array
from typing import Any

import numpy as np

FIELDS = ("text", "section", "title")
MAGIC = b"KBRANK3\n"
ALIGN = 64
NO_DATE = np.iinfo(np.int32).min
#: a segment writer starts a new part past this many tokens (bounds build memory)
PART_TOKENS = 12_000_000
_EPOCH = dt.date(1970, 1, 1)


def part_name(segment_id: str, k: int) -> str:
    return f"{segment_id}.kr{k}"


def _small_uint(maxval: int) -> Any:
    if maxval < 256:
        return np.uint8
    if maxval < 65536:
        return np.uint16
    return np.uint32


# --------------------------------------------------------------------------
# the posting table: the form parts are built, merged and written in


class Table:
    """Postings of a run of documents, before they are written as a part.

    ``terms`` (sorted list of str) and per field: ``term`` (int32 index into
    ``terms``), ``doc`` (int32, local), ``tf`` (int32), ``pos`` (positions of
    each posting, in posting order), sorted by (term, doc); ``length`` per
    document; plus ``docnames``, ``docord``, ``date`` and ``texthash`` per document.
    """

    def __init__(self, ndocs: int, terms: list[str], fields: dict[str, dict[str, Any]],
                 docnames: list[str], docord: Any, date: Any, texthash: Any,
                 surface: list[str] | None = None) -> None:
        self.ndocs = ndocs
        self.surface = surface or []  #: sorted ``words`` entries (see the module doc)
        self.terms = terms
        self.fields = fields
        self.docnames = docnames
        self.docord = docord
        self.date = date
        self.texthash = texthash


def _postings_from_tokens(tok: Any, lens: Any) -> dict[str, Any]:
    """(term, doc, tf, pos) postings, sorted by (term, doc), from per-document token ids."""
    ndocs = len(lens)
    n = len(tok)
    if n == 0:
        e = np.zeros(0, np.int32)
        return {"term": e, "doc": e, "tf": e, "pos": np.zeros(0, np.uint32),
                "length": np.asarray(lens, np.int64)}
    lens = np.asarray(lens, np.int64)
    starts = np.zeros(ndocs, np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    doc = np.repeat(np.arange(ndocs, dtype=np.int32), lens)
    pos = np.arange(n, dtype=np.int64) - np.repeat(starts, lens)
    order = np.argsort(tok, kind="stable")  # keeps (doc, pos) order within a term
    tok = tok[order]
    doc = doc[order]
    pos = pos[order]
    key_change = np.empty(n, bool)
    key_change[0] = True
    np.not_equal(tok[1:], tok[:-1], out=key_change[1:])
    key_change[1:] |= doc[1:] != doc[:-1]
    first = np.flatnonzero(key_change)
    tf = np.diff(np.append(first, n)).astype(np.int32)
    return {"term": tok[first].astype(np.int32), "doc": doc[first], "tf": tf,
            "pos": pos.astype(np.uint32), "length": lens}


class Builder:
    """Collects what the ranking arrays need, document by document, in docnum order."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.tok = {f: array("I") for f in FIELDS}
        self.lens = {f: array("I") for f in FIELDS}
        self.docnames: dict[str, int] = {}
        self.docord = array("i")
        self.date = array("i")
        self.texthash = array("q")
        self.surface: set[str] = set()
        self.ndocs = 0
        self.ntokens = 0

    def add_surface(self, entries: Any) -> None:
        """A document's words as written (``words`` entries)."""
        self.surface.update(entries)

    def add(self, terms: dict[str, list[str]], doc: str, date: Any, texthash: int) -> None:
        vocab = self.vocab
        for f in FIELDS:
            ts = terms.get(f) or ()
            if ts:
                get = vocab.get
                ids = []
                for t in ts:
                    i = get(t)
                    if i is None:
                        i = vocab[t] = len(vocab)
                    ids.append(i)
                self.tok[f].extend(ids)
            self.lens[f].append(len(ts))
            self.ntokens += len(ts)
        k = self.docnames.get(doc)
        if k is None:
            k = self.docnames[doc] = len(self.docnames)
        self.docord.append(k)
        self.date.append(date_days(date))
        self.texthash.append(texthash)
        self.ndocs += 1

    def table(self) -> Table:
        """The collected documents as a posting table (and the builder is emptied)."""
        words = sorted(self.vocab, key=lambda t: t.encode("utf-8"))
        remap = np.empty(max(len(words), 1), np.int32)
        remap[np.fromiter((self.vocab[t] for t in words), np.int64, len(words))] = \
            np.arange(len(words), dtype=np.int32)
        fields = {}
        for f in FIELDS:
            tok = np.frombuffer(self.tok[f], np.uint32).astype(np.int32)
            tok = remap[tok] if len(tok) else tok
            fields[f] = _postings_from_tokens(tok, np.frombuffer(self.lens[f], np.uint32))
        names = sorted(self.docnames, key=self.docnames.__getitem__)
        t = Table(self.ndocs, words, fields, names,
                  np.frombuffer(self.docord, np.int32).copy(),
                  np.frombuffer(self.date, np.int32).copy(),
                  np.frombuffer(self.texthash, np.int64).copy(),
                  _sorted_bytes(self.surface))
        self.__init__()  # type: ignore[misc]
        return t


def _sorted_bytes(values: Any) -> list[str]:
    return sorted(values, key=lambda t: t.encode("utf-8", "surrogatepass"))


def date_days(value: Any) -> int:
    if value is None:
        return int(NO_DATE)
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return int(NO_DATE)
    return (value - _EPOCH).days


# --------------------------------------------------------------------------
# writing and reading part files


def _strings(values: list[str]) -> tuple[Any, Any]:
    """Strings as one UTF-8 byte array and the offsets of each (n + 1 of them)."""
    encoded = [v.encode("utf-8") for v in values]
    off = np.zeros(len(encoded) + 1, np.int64)
    if encoded:
        np.cumsum(np.fromiter(map(len, encoded), np.int64, len(encoded)), out=off[1:])
    return np.frombuffer(b"".join(encoded), np.uint8), off


def _decode_strings(blob: Any, off: Any) -> list[str]:
    """The strings :func:`_strings` wrote (one join and split, no loop per string)."""
    n = len(off) - 1
    if n <= 0:
        return []
    cuts = np.asarray(off[1:-1], np.int64)
    out = np.insert(np.asarray(blob), cuts, 10).tobytes().decode("utf-8").split("\n")
    if len(out) != n:  # a string holding a newline: one by one
        raw = np.asarray(blob).tobytes()
        o = np.asarray(off).tolist()
        out = [raw[o[k]:o[k + 1]].decode("utf-8") for k in range(n)]
    return out


def _small(values: Any) -> Any:
    """Non-negative integers in the smallest unsigned type that holds them."""
    return values.astype(_small_uint(int(values.max()) if len(values) else 0))


def part_arrays(table: Table) -> dict[str, Any]:
    """The arrays of a part file (see the module docstring) for a posting table."""
    arrays: dict[str, Any] = {}
    arrays["vocab"], arrays["vocab_off"] = _strings(table.terms)
    nterms = len(table.terms)
    for f in FIELDS:
        p = table.fields[f]
        term, tf = p["term"], p["tf"]
        ptr = np.searchsorted(term, np.arange(nterms + 1, dtype=np.int64)).astype(np.int64)
        arrays[f"{f}.ptr"] = ptr
        arrays[f"{f}.doc"] = p["doc"].astype(np.int32)
        arrays[f"{f}.tf"] = _small(tf)
        csum = np.zeros(len(tf) + 1, np.int64)
        np.cumsum(tf, out=csum[1:])
        arrays[f"{f}.posptr"] = csum[ptr]
        arrays[f"{f}.pos"] = _small(p["pos"])
        arrays[f"{f}.len"] = _small(p["length"])
    arrays["dn"], arrays["dn_off"] = _strings(table.docnames)
    arrays["docord"] = np.asarray(table.docord, np.int32)
    arrays["date"] = np.asarray(table.date, np.int32)
    th = np.asarray(table.texthash, np.int64)
    arrays["texthash"] = th
    arrays["hashord"] = np.argsort(th, kind="stable").astype(np.int32)
    arrays["sw"], arrays["sw_off"] = _strings(table.surface)
    return arrays


def write_part(path: str, table: Table, segment: str, part: int, base: int) -> None:
    """Write ``table`` as part ``part`` of ``segment`` (documents from ``base``)."""
    arrays = part_arrays(table)
    layout: dict[str, list[Any]] = {}
    offset = 0
    for name, a in arrays.items():
        layout[name] = [offset, a.dtype.str, int(a.size)]
        offset += -(-a.nbytes // ALIGN) * ALIGN
    header = json.dumps({"segment": segment, "part": part, "base": base,
                         "docs": table.ndocs, "terms": len(table.terms),
                         "arrays": layout}).encode()
    start = -(-(len(MAGIC) + 8 + len(header)) // ALIGN) * ALIGN
    tmp = f"{path}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(MAGIC + len(header).to_bytes(8, "little") + header)
        fh.write(b"\0" * (start - fh.tell()))
        for a in arrays.values():
            fh.write(np.ascontiguousarray(a).tobytes())
            pad = -a.nbytes % ALIGN
            if pad:
                fh.write(b"\0" * pad)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class Part:
    """A part file, memory-mapped: arrays are views into the file, read on use."""

    @classmethod
    def from_table(cls, table: Table, segment: str, base: int = 0) -> Part:
        """A part held in memory (for a segment whose part files are missing)."""
        self = cls.__new__(cls)
        self.segment, self.part, self.base = segment, 0, base
        self.docs, self.nterms = table.ndocs, len(table.terms)
        self.a = part_arrays(table)
        self._names = None
        self._surface = None
        return self

    def __init__(self, path: str) -> None:
        import mmap

        with open(path, "rb") as fh:
            head = fh.read(len(MAGIC) + 8)
            if len(head) < len(MAGIC) + 8 or not head.startswith(MAGIC):
                raise ValueError(f"{path} is not a ranking-array file")
            hlen = int.from_bytes(head[len(MAGIC):], "little")
            size = os.fstat(fh.fileno()).st_size
            if len(MAGIC) + 8 + hlen > size:
                raise ValueError(f"{path} is truncated")
            header = json.loads(fh.read(hlen))
            self._mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if size else None
        start = -(-(len(MAGIC) + 8 + hlen) // ALIGN) * ALIGN
        self.segment: str = header["segment"]
        self.part: int = header["part"]
        self.base: int = header["base"]
        self.docs: int = header["docs"]
        self.nterms: int = header["terms"]
        self.a: dict[str, Any] = {}
        for name, (offset, dtype, count) in header["arrays"].items():
            if start + offset + count * np.dtype(dtype).itemsize > size:
                raise ValueError(f"{path} is truncated")
            self.a[name] = np.frombuffer(self._mm, dtype, count, start + offset) if count \
                else np.zeros(0, dtype)
        if "texthash" not in self.a or "hashord" not in self.a or "sw" not in self.a:
            raise ValueError(f"{path} has no text keys or words")
        self._names: list[str] | None = None
        self._surface: list[str] | None = None

    def term_index(self, term: bytes) -> int:
        """The index of ``term`` in the part's vocabulary, or -1."""
        vocab, off = self.a["vocab"], self.a["vocab_off"]
        lo, hi = 0, self.nterms
        while lo < hi:
            mid = (lo + hi) // 2
            w = vocab[off[mid]:off[mid + 1]].tobytes()
            if w < term:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.nterms and vocab[off[lo]:off[lo + 1]].tobytes() == term:
            return lo
        return -1

    def prefix_range(self, prefix: bytes) -> tuple[int, int]:
        """The indexes ``lo:hi`` of the part's terms that start with ``prefix``."""
        vocab, off = self.a["vocab"], self.a["vocab_off"]

        def first(at_least: bytes) -> int:  # the first term >= at_least
            lo, hi = 0, self.nterms
            while lo < hi:
                mid = (lo + hi) // 2
                if vocab[off[mid]:off[mid + 1]].tobytes() < at_least:
                    lo = mid + 1
                else:
                    hi = mid
            return lo

        if not prefix:
            return 0, self.nterms
        lo = first(prefix)
        # the first term past every one starting with the prefix: the prefix with its
        # last byte below 0xff raised by one, trailing 0xff bytes dropped
        head = prefix.rstrip(b"\xff")
        hi = first(head[:-1] + bytes([head[-1] + 1])) if head else self.nterms
        return lo, hi

    def terms_between(self, lo: int, hi: int) -> list[str]:
        """The part's terms ``lo:hi``, decoded (one join and split, no loop per term)."""
        if hi <= lo:
            return []
        off = self.a["vocab_off"]
        start = int(off[lo])
        blob = self.a["vocab"][start:int(off[hi])]
        cuts = np.asarray(off[lo + 1:hi], np.int64) - start
        out = np.insert(blob, cuts, 10).tobytes().decode("utf-8").split("\n")
        if len(out) != hi - lo:  # a term holding a newline (none does): one by one
            out = [self.term_at(i) for i in range(lo, hi)]
        return out

    def term_at(self, i: int) -> str:
        off = self.a["vocab_off"]
        return self.a["vocab"][off[i]:off[i + 1]].tobytes().decode("utf-8")

    def postings(self, field: str, i: int) -> tuple[Any, Any]:
        """Local doc numbers and term frequencies of term ``i`` in ``field``."""
        ptr = self.a[f"{field}.ptr"]
        s, e = int(ptr[i]), int(ptr[i + 1])
        return self.a[f"{field}.doc"][s:e], self.a[f"{field}.tf"][s:e]

    def positions(self, field: str, i: int) -> tuple[Any, Any, Any]:
        """(docs, tf, positions) of term ``i``: ``tf[j]`` positions per posting ``j``."""
        docs, tf = self.postings(field, i)
        pp = self.a[f"{field}.posptr"]
        return docs, tf, self.a[f"{field}.pos"][int(pp[i]):int(pp[i + 1])]

    def surface(self) -> list[str]:
        """The part's ``words`` entries (sorted; see the module docstring)."""
        if self._surface is None:
            self._surface = _decode_strings(self.a["sw"], self.a["sw_off"])
        return self._surface

    def docnames(self) -> list[str]:
        if self._names is None:
            blob = self.a["dn"].tobytes()
            off = self.a["dn_off"].tolist()
            self._names = [blob[off[k]:off[k + 1]].decode("utf-8")
                           for k in range(len(off) - 1)]
        return self._names

    def table(self) -> Table:
        """This part back as a posting table (for merging)."""
        fields = {}
        for f in FIELDS:
            ptr = self.a[f"{f}.ptr"]
            counts = np.diff(ptr)
            fields[f] = {
                "term": np.repeat(np.arange(self.nterms, dtype=np.int32), counts),
                "doc": np.asarray(self.a[f"{f}.doc"], np.int32),
                "tf": np.asarray(self.a[f"{f}.tf"], np.int32),
                "pos": np.asarray(self.a[f"{f}.pos"], np.uint32),
                "length": np.asarray(self.a[f"{f}.len"], np.int64),
            }
        terms = [self.term_at(i) for i in range(self.nterms)]
        return Table(self.docs, terms, fields, list(self.docnames()),
                     np.asarray(self.a["docord"], np.int32), np.asarray(self.a["date"], np.int32),
                     np.asarray(self.a["texthash"], np.int64), list(self.surface()))


# --------------------------------------------------------------------------
# merging (Whoosh merges small segments on commit; the arrays follow)


def _ranges(starts: Any, counts: Any) -> Any:
    """Indices ``starts[j] .. starts[j] + counts[j]`` for every j, concatenated."""
    counts = np.asarray(counts, np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(counts)
    shift = np.repeat(np.asarray(starts, np.int64) - (ends - counts), counts)
    return np.arange(total, dtype=np.int64) + shift


def subset(table: Table, keep: Any) -> Table:
    """``table`` without the documents where ``keep`` is False (renumbered in order)."""
    keep = np.asarray(keep, bool)
    if keep.all():
        return table
    newnum = np.cumsum(keep, dtype=np.int64) - 1
    fields = {}
    for f, p in table.fields.items():
        sel = keep[p["doc"]]
        tf = p["tf"]
        csum = np.zeros(len(tf) + 1, np.int64)
        np.cumsum(tf, out=csum[1:])
        pos = p["pos"][_ranges(csum[:-1][sel], tf[sel])]
        fields[f] = {"term": p["term"][sel], "doc": newnum[p["doc"][sel]].astype(np.int32),
                     "tf": tf[sel], "pos": pos, "length": p["length"][keep]}
    return Table(int(keep.sum()), table.terms, fields, table.docnames,
                 table.docord[keep], table.date[keep], table.texthash[keep], table.surface)


def concat(tables: list[Table]) -> Table:
    """Tables of consecutive document ranges as one table (postings re-sorted by term)."""
    if len(tables) == 1:
        return tables[0]
    words = sorted(set().union(*[t.terms for t in tables]), key=lambda t: t.encode("utf-8"))
    index = {w: i for i, w in enumerate(words)}
    names: dict[str, int] = {}
    docords, dates, hashes = [], [], []
    for t in tables:
        m = np.array([names.setdefault(n, len(names)) for n in t.docnames] or [0], np.int32)
        docords.append(m[t.docord] if len(t.docord) else t.docord)
        dates.append(t.date)
        hashes.append(np.asarray(t.texthash, np.int64))
    fields = {}
    for f in FIELDS:
        terms, docs, tfs, poss, lens = [], [], [], [], []
        base = 0
        for t in tables:
            p = t.fields[f]
            remap = np.fromiter((index[w] for w in t.terms), np.int32, len(t.terms))
            terms.append(remap[p["term"]] if len(p["term"]) else p["term"])
            docs.append(p["doc"] + base)
            tfs.append(p["tf"])
            poss.append(p["pos"])
            lens.append(p["length"])
            base += t.ndocs
        term = np.concatenate(terms)
        tf = np.concatenate(tfs)
        pos = np.concatenate(poss)
        order = np.argsort(term, kind="stable")  # tables are in doc order: stays so per term
        csum = np.zeros(len(tf) + 1, np.int64)
        np.cumsum(tf, out=csum[1:])
        fields[f] = {"term": term[order], "doc": np.concatenate(docs)[order].astype(np.int32),
                     "tf": tf[order], "pos": pos[_ranges(csum[:-1][order], tf[order])],
                     "length": np.concatenate(lens)}
    return Table(sum(t.ndocs for t in tables), words, fields,
                 sorted(names, key=names.__getitem__), np.concatenate(docords),
                 np.concatenate(dates), np.concatenate(hashes),
                 _sorted_bytes(set().union(*[t.surface for t in tables])))


# --------------------------------------------------------------------------
# a segment's parts


def segment_parts(folder: str, segment_id: str, names: list[str] | None = None) -> list[str]:
    """The part files of a segment, in part order."""
    if names is None:
        names = os.listdir(folder)
    prefix = f"{segment_id}.kr"
    found = sorted((int(n[len(prefix):]), n) for n in names
                   if n.startswith(prefix) and n[len(prefix):].isdigit())
    return [os.path.join(folder, n) for _, n in found]


class PartDamaged(ValueError):
    """A segment's part files are there but cannot be read, or do not add up to the
    segment (a damaged file: kb writes them whole, before the segment is committed)."""


def open_segment(folder: str, segment_id: str, doccount: int,
                 names: list[str] | None = None) -> list[Part] | None:
    """The parts of a segment, or None when it has none (or they vanished: a writer
    merged the segment away meanwhile).

    :raises PartDamaged: a part cannot be read, or the parts do not add up to the
        segment's ``doccount`` documents."""
    paths = segment_parts(folder, segment_id, names)
    if not paths and doccount:
        return None
    parts = []
    base = 0
    for k, path in enumerate(paths):
        name = os.path.basename(path)
        try:
            p = Part(path)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, OverflowError) as e:
            raise PartDamaged(f"{name}: {type(e).__name__}: {e}") from e
        if p.segment != segment_id or p.part != k or p.base != base:
            raise PartDamaged(f"{name} is not part {k} of {segment_id} from document {base}")
        parts.append(p)
        base += p.docs
    if base != doccount:
        raise PartDamaged(f"the ranking arrays of {segment_id} hold {base} passages, "
                          f"the segment {doccount}")
    return parts


def table_from_reader(reader: Any) -> Table:
    """A segment's posting table read back from Whoosh (slow: one posting at a time).

    Used only when a segment's parts are missing (an index written by other
    code); kb's segment writer always writes them."""
    from .analyzers import KbAnalyzer  # noqa: F401 - schema analyzers must import

    n = reader.doc_count_all()
    fields = {}
    words: set[str] = set()
    raw: dict[str, list[tuple[str, int, list[int]]]] = {f: [] for f in FIELDS}
    for f in FIELDS:
        if f not in reader.schema or not reader.schema[f].indexed:
            continue
        for tb in reader.lexicon(f):
            t = tb.decode("utf-8") if isinstance(tb, bytes) else tb
            words.add(t)
            m = reader.postings(f, tb)
            while m.is_active():
                raw[f].append((t, m.id(), list(m.value_as("positions"))))
                m.next()
    terms = sorted(words, key=lambda t: t.encode("utf-8"))
    index = {w: i for i, w in enumerate(terms)}
    for f in FIELDS:
        rows = sorted(raw[f], key=lambda r: (index[r[0]], r[1]))
        term = np.array([index[r[0]] for r in rows], np.int32)
        doc = np.array([r[1] for r in rows], np.int32)
        tf = np.array([len(r[2]) for r in rows], np.int32)
        pos = np.array([q for r in rows for q in r[2]], np.uint32)
        length = np.array([reader.doc_field_length(d, f, 0) or 0 for d in range(n)], np.int64)
        fields[f] = {"term": term, "doc": doc, "tf": tf, "pos": pos, "length": length}
    from ..dedup import text_key

    names: dict[str, int] = {}
    docord = np.zeros(n, np.int32)
    date = np.full(n, NO_DATE, np.int32)
    texthash = np.zeros(n, np.int64)
    for d in range(n):
        stored = reader.stored_fields(d) or {}
        docord[d] = names.setdefault(stored.get("doc", ""), len(names))
        meta = stored.get("meta")
        if meta and meta.get("date"):
            date[d] = date_days(meta["date"])
        texthash[d] = text_key(stored.get("text") or "")
    surface = []
    if "words" in reader.schema:
        surface = [b.decode("utf-8") for b in reader.lexicon("words")]
    return Table(n, terms, fields, sorted(names, key=names.__getitem__), docord, date,
                 texthash, _sorted_bytes(surface))
