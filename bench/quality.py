#!/usr/bin/env python3
"""Ranking quality of kb's own search on a BEIR-layout collection, beside bm25s.

    PYTHONPATH=. python bench/quality.py                    # ../shared/eval/scifact, train
    PYTHONPATH=. python bench/quality.py PATH --split train --sweep

Each document becomes one Markdown file (``# title`` then the abstract), so
kb's own loader, parser and passage splitter are used; the folder is indexed
with :class:`kb.KnowledgeBase` and every query of the split is run through
``KnowledgeBase.search(query, limit=100, group=True, scoring=Scoring(...))``:
documents ranked by their best passage, exactly as ``kb search --group`` ranks
them (full matches first, then partial ones).  Measures (trec_eval semantics,
via pytrec_eval): nDCG@10, Recall@100, MAP@100 (MAP cut at 100); a query with
no result counts 0.  Also queries per second (warm searcher, one process, the
whole ``search()`` call including snippets).

The baseline, **bm25s**, runs in the same process on the same documents,
queries and judgments, set up as its BEIR evaluation is: one text per document
(title, a space, the abstract), ``bm25s.tokenize`` with English stop words and
the PyStemmer English stemmer for documents and queries alike, and
``bm25s.BM25()`` with its defaults (Lucene's BM25, k1 1.5, b 0.75);
``--no-bm25s`` leaves it out.

The corpus folder and index are cached under ``bench/data/`` keyed by the
collection, the analysis/passage/index code and the build options, so repeated
runs with other ranking settings (``--k1``, ``--b``, ``--weights``) only
search.  ``--sweep`` runs the grid that bench/README.md reports.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import analysis as kb_analysis  # noqa: E402
from kb import passages as kb_passages  # noqa: E402
from kb.api import KnowledgeBase  # noqa: E402
from kb.models import Scoring  # noqa: E402

DEFAULT_COLLECTION = ROOT.parent / "shared" / "eval" / "scifact"
CACHE = ROOT / "bench" / "data"
_LIST_START = re.compile(r"^(\d+)([.)])")
_MD_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#|~"})


# --------------------------------------------------------------------------
# collection


def read_jsonl(path: Path) -> Iterator[dict]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            parts = line.rstrip("\n").split("\t")
            if i == 0 and not parts[-1].strip().lstrip("-").isdigit():
                continue  # header
            qid, did, score = parts[0], parts[1], int(parts[2])
            qrels.setdefault(qid, {})[did] = score
    return qrels


def as_markdown(title: str, text: str) -> str:
    """Title as H1, abstract as body; Markdown syntax characters escaped."""
    title = " ".join(title.split()).translate(_MD_SPECIAL) or "Untitled"
    body = " ".join(text.split()).translate(_MD_SPECIAL)
    body = _LIST_START.sub(r"\1\\\2", body)  # "1. ..." / "2) ..." is not a list item
    if body[:1] in "-+=":
        body = "\\" + body
    return f"# {title}\n\n{body}\n"


def code_fingerprint(extra: dict) -> str:
    h = hashlib.sha256()
    for name in ("analysis.py", "passages.py", "parse.py", "index.py", "data/uk_us.tsv",
                 "engine/schema.py", "engine/analyzers.py", "engine/segwriter.py",
                 "engine/rankarrays.py"):
        h.update((ROOT / "kb" / name).read_bytes())
    h.update(json.dumps(extra, sort_keys=True).encode())
    return h.hexdigest()[:12]


def build(collection: Path, opts: argparse.Namespace) -> tuple[Path, Path, float | None]:
    """The cached corpus folder and index for this collection and build options."""
    key = code_fingerprint({"stemmer": opts.stemmer, "variants": not opts.no_variants,
                            "max_words": opts.max_words, "stop": opts.stop})
    base = CACHE / f"{collection.name}-{key}"
    corpus, index = base / "corpus", base / "index"
    done = base / "built.json"
    if done.exists() and not opts.rebuild:
        return corpus, index, None
    corpus.mkdir(parents=True, exist_ok=True)
    n = 0
    for doc in read_jsonl(collection / "corpus.jsonl"):
        name = doc["_id"].replace("/", "_") + ".md"
        (corpus / name).write_text(as_markdown(doc.get("title", ""), doc.get("text", "")),
                                   encoding="utf-8")
        n += 1
    t0 = time.perf_counter()
    if not default_build(opts):
        # the build options patch kb in this process: index here, not in worker
        # processes (they start afresh, without the patches)
        os.environ["KB_INDEX_WORKERS"] = "1"
    with KnowledgeBase(corpus, index) as kb:
        report = kb.update(rebuild=True)
    elapsed = time.perf_counter() - t0
    done.write_text(json.dumps({"documents": n, "passages": report.passages_total,
                                "seconds": elapsed}), encoding="utf-8")
    return corpus, index, elapsed


# --------------------------------------------------------------------------
# build-time variants (stemmer, variant map, passage size)


class _WhooshStemmer:
    """Whoosh's own English stemmer (the one its StemmingAnalyzer uses: Porter)."""

    def __init__(self) -> None:
        from whoosh.lang.porter import stem

        self.stemWord = stem


def default_build(opts: argparse.Namespace) -> bool:
    """Are the build options kb's own (nothing patched)?"""
    return (opts.stemmer == "pystemmer" and not opts.no_variants and not opts.max_words
            and opts.stop == "kb")


def apply_build_options(opts: argparse.Namespace) -> None:
    if opts.stemmer == "whoosh":
        kb_analysis._stemmer.cache_clear()
        kb_analysis._stemmer = lambda: _WHOOSH  # type: ignore[assignment]
    elif opts.stemmer == "whoosh-snowball":
        from whoosh.lang import stemmer_for_language

        st = type("S", (), {"stemWord": staticmethod(stemmer_for_language("en"))})()
        kb_analysis._stemmer = lambda: st  # type: ignore[assignment]
    if opts.no_variants:
        kb_analysis._variant_table.cache_clear()
        kb_analysis._variant_table = lambda: ({}, frozenset())  # type: ignore[assignment]
    kb_analysis._stem_variants.cache_clear()
    kb_analysis._CACHE.clear()
    if opts.max_words:
        kb_passages.MAX_WORDS = opts.max_words
    if opts.stop == "whoosh-en":
        from whoosh.lang.stopwords import stoplists

        kb_analysis.STOP_WORDS = frozenset(stoplists["en"])


_WHOOSH = _WhooshStemmer()


# --------------------------------------------------------------------------
# evaluation

MEASURES = {"ndcg_cut.10", "recall.100", "map_cut.100"}


def evaluate(run_: dict[str, dict[str, float]], qrels: dict, depth: int
             ) -> tuple[dict, dict[str, dict[str, float]]]:
    """Mean measures over every judged query (one missing from the run counts 0),
    and the per-query figures."""
    import pytrec_eval

    per = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run_)
    n = len(qrels)

    def mean(m: str) -> float:
        return sum(per.get(q, {}).get(m, 0.0) for q in qrels) / n

    full = depth >= 100
    return {"ndcg@10": mean("ndcg_cut_10"),
            "recall@100": mean("recall_100") if full else float("nan"),
            "map@100": mean("map_cut_100") if full else float("nan"), "queries": n}, per


def scoring_of(cfg: dict) -> Scoring:
    return Scoring(**{f.name: cfg[f.name] for f in dataclasses.fields(Scoring)})


def run(index_corpus: tuple[Path, Path], queries: dict[str, str], qrels: dict,
        cfg: dict, depth: int = 100) -> tuple[dict, dict]:
    """kb's figures for one configuration (a :class:`Scoring`'s fields, and
    ``partial``), and the per-query ones."""
    scoring = scoring_of(cfg)
    partial = cfg.get("partial", True)
    corpus, index = index_corpus
    run_: dict[str, dict[str, float]] = {}
    times = []
    with KnowledgeBase(corpus, index) as kb:
        kb.search("warm up", limit=1, scoring=scoring)
        t0 = time.perf_counter()
        for qid in qrels:
            q = queries[qid]
            t = time.perf_counter()
            try:
                res = kb.search(q, limit=depth, group=True, scoring=scoring, partial=partial)
                hits = res.hits
            except Exception as e:  # noqa: BLE001 - a failing query scores 0, and is reported
                print(f"query {qid} failed: {e}", file=sys.stderr)
                hits = ()
            times.append(time.perf_counter() - t)
            ranked = {}
            for h in hits:
                did = h.doc.rsplit(".", 1)[0]
                if did not in ranked:
                    ranked[did] = float(len(hits) - len(ranked))  # kb's order, no ties
            run_[qid] = ranked or {"__none__": 0.0}
        total = time.perf_counter() - t0
    r, per = evaluate(run_, qrels, depth)
    r.update(qps=len(qrels) / total, median_ms=statistics.median(times) * 1000)
    return r, per


def run_bm25s(collection: Path, queries: dict[str, str], qrels: dict, depth: int = 100,
              k1: float | None = None, b: float | None = None) -> tuple[dict, dict, dict]:
    """bm25s as its BEIR evaluation sets it up (see the module's docstring), on the
    same documents, queries and judgments; its figures, the per-query ones, and
    what was used (versions, parameters, index time)."""
    import bm25s
    import Stemmer

    ids, texts = [], []
    for doc in read_jsonl(collection / "corpus.jsonl"):
        ids.append(doc["_id"])
        texts.append(f"{doc.get('title', '')} {doc.get('text', '')}")
    stemmer = Stemmer.Stemmer("english")
    params = {k: v for k, v in (("k1", k1), ("b", b)) if v is not None}
    t0 = time.perf_counter()
    tokens = bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False)
    model = bm25s.BM25(**params)
    model.index(tokens, show_progress=False)
    built = time.perf_counter() - t0
    qids = list(qrels)
    t0 = time.perf_counter()
    qtok = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stemmer,
                          show_progress=False)
    docs, scores = model.retrieve(qtok, k=min(depth, len(ids)), show_progress=False,
                                  n_threads=1)
    total = time.perf_counter() - t0
    run_: dict[str, dict[str, float]] = {}
    for i, qid in enumerate(qids):
        # documents holding no query term (score 0) are no match, as in kb's run
        ranked = {ids[d]: float(s) for d, s in zip(docs[i].tolist(), scores[i].tolist())
                  if s > 0}
        run_[qid] = ranked or {"__none__": 0.0}
    r, per = evaluate(run_, qrels, depth)
    r.update(qps=len(qids) / total, median_ms=float("nan"))
    used = {"version": getattr(bm25s, "__version__", "?"), "method": model.method,
            "k1": model.k1, "b": model.b, "index_s": built}
    return r, per, used


CONFIG_KEYS = ("k1", "b", "text", "section", "title")


def fmt(cfg: dict) -> str:
    parts = [f"k1={cfg['k1']:g} b={cfg['b']:g}",
             "w(text/sec/title)=" + "/".join(f"{cfg[f]:g}" for f in ("text", "section", "title"))]
    if not cfg.get("partial", True):
        parts.append("partial=off")
    return " ".join(parts)


SWEEPS = ("k1", "b", "title", "section", "text")


def sweep_configs(base: dict, which: str) -> list[dict]:
    """The grid reported in bench/README.md: one factor at a time around ``base``."""
    parts = SWEEPS if which == "all" else tuple(which.split(","))
    unknown = set(parts) - set(SWEEPS)
    if unknown:
        raise SystemExit(f"--sweep: unknown part(s) {', '.join(sorted(unknown))}; "
                         f"choose from {', '.join(SWEEPS)}")
    grid = {"k1": (0.6, 0.9, 1.2, 1.5, 2.0), "b": (0.3, 0.5, 0.6, 0.75, 0.9),
            "title": (0.0, 0.3, 0.5, 0.75, 1.0, 1.5), "section": (0.0, 0.5, 1.0),
            "text": (0.5, 1.0, 2.0)}
    out = [dict(base)]
    for part in parts:
        for v in grid[part]:
            out.append({**base, part: v})
    seen, uniq = set(), []
    for c in out:
        k = json.dumps(c, sort_keys=True)
        if k not in seen:
            seen.add(k)
            uniq.append(c)
    return uniq


def parse_weights(text: str) -> dict[str, float]:
    """``text=1,section=0.5,title=0.3``: the field weights given (others as kb's)."""
    w = {}
    for part in text.split(","):
        k, _, v = part.partition("=")
        k = k.strip()
        if k not in ("text", "section", "title"):
            raise argparse.ArgumentTypeError(f"unknown field {k!r} (text, section, title)")
        w[k] = float(v)
    return w


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    d = Scoring()
    ap.add_argument("collection", nargs="?", type=Path, default=DEFAULT_COLLECTION,
                    help="BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv); "
                         "default ../shared/eval/scifact")
    ap.add_argument("--split", default="train")
    ap.add_argument("--k1", type=float, help=f"kb's K1 (default {d.k1:g})")
    ap.add_argument("--b", type=float, help=f"kb's B (default {d.b:g})")
    ap.add_argument("--weights", type=parse_weights,
                    help="kb's BM25F field weights, e.g. text=1,section=0.5,title=0.3 "
                         f"(default text={d.text:g},section={d.section:g},"
                         f"title={d.title:g}; fields not named keep theirs)")
    ap.add_argument("--no-partial", action="store_true",
                    help="kb: full matches only (search(..., partial=False))")
    ap.add_argument("--no-bm25s", action="store_true", help="leave out the bm25s baseline")
    ap.add_argument("--bm25s-k1", type=float, help="bm25s's k1 (default: bm25s's, 1.5)")
    ap.add_argument("--bm25s-b", type=float, help="bm25s's b (default: bm25s's, 0.75)")
    ap.add_argument("--per-query", type=Path, metavar="TSV",
                    help="write each query's nDCG@10 per row (kb's first configuration, "
                         "bm25s) to this file")

    ap.add_argument("--stemmer", choices=("pystemmer", "whoosh", "whoosh-snowball"),
                    default="pystemmer", help="build-time: which English stemmer")
    ap.add_argument("--no-variants", action="store_true",
                    help="build-time: no British/American variant map")
    ap.add_argument("--max-words", type=int, help="build-time: passage size limit")
    ap.add_argument("--stop", choices=("kb", "whoosh-en"), default="kb",
                    help="build-time: kb's short stop list or Whoosh's 127-word English one")
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached index")
    ap.add_argument("--sweep", nargs="?", const="all", metavar="PARTS",
                    help="run the README grid (all, or some of: " + ",".join(SWEEPS) + ")")
    ap.add_argument("--depth", type=int, default=100,
                    help="documents per query (default 100; 10 is enough for nDCG@10 and "
                         "faster, Recall/MAP@100 are then not reported)")
    ap.add_argument("--only", type=int, help="only the first N configurations of the sweep")
    ap.add_argument("--skip", type=int, default=0, help="skip the first N configurations")
    ap.add_argument("--json", action="store_true", help="print results as JSON lines")
    opts = ap.parse_args(argv)

    col = opts.collection.resolve()
    qrels_path = col / "qrels" / f"{opts.split}.tsv"
    for p in (col / "corpus.jsonl", col / "queries.jsonl", qrels_path):
        if not p.exists():
            print(f"missing {p}", file=sys.stderr)
            return 2
    apply_build_options(opts)
    corpus, index, built = build(col, opts)
    info = json.loads((index.parent / "built.json").read_text())
    print(f"# {col.name} ({info['documents']} documents, {info['passages']} passages, "
          f"index built in {info['seconds']:.1f}s{'' if built else ', cached'}); "
          f"stemmer={opts.stemmer} variants={'off' if opts.no_variants else 'on'} "
          f"max_words={kb_passages.MAX_WORDS} stop={opts.stop}; {os.cpu_count()} cores", flush=True)
    queries = {q["_id"]: q["text"] for q in read_jsonl(col / "queries.jsonl")}
    qrels = read_qrels(qrels_path)
    qrels = {q: r for q, r in qrels.items() if q in queries}

    base: dict = dataclasses.asdict(Scoring())
    if opts.k1 is not None:
        base["k1"] = opts.k1
    if opts.b is not None:
        base["b"] = opts.b
    if opts.weights:
        base.update(opts.weights)
    if opts.no_partial:
        base["partial"] = False

    configs = sweep_configs(base, opts.sweep) if opts.sweep else [base]
    configs = configs[opts.skip:]
    if opts.only:
        configs = configs[:opts.only]
    if not opts.json:
        print(f"{'system':6} {'nDCG@10':>8} {'R@100':>6} {'MAP@100':>7} {'q/s':>6}  config",
              flush=True)
    per_rows: dict[str, dict] = {}
    t_start = time.perf_counter()
    if not opts.no_bm25s:
        r, per, used = run_bm25s(col, queries, qrels, opts.depth, opts.bm25s_k1, opts.bm25s_b)
        per_rows["bm25s"] = per
        desc = (f"bm25s {used['version']} BM25({used['method']}) k1={used['k1']:g} "
                f"b={used['b']:g}, title+text, stopwords=en, PyStemmer english "
                f"(indexed in {used['index_s']:.1f}s)")
        if opts.json:
            print(json.dumps({"system": "bm25s", "config": used, **r}), flush=True)
        else:
            print(f"{'bm25s':6} {r['ndcg@10']:8.4f} {r['recall@100']:6.4f} "
                  f"{r['map@100']:7.4f} {r['qps']:6.1f}  {desc}", flush=True)
    for cfg in configs:
        r, per = run((corpus, index), queries, qrels, cfg, opts.depth)
        per_rows.setdefault("kb", per)
        if opts.json:
            print(json.dumps({"system": "kb", "config": cfg, **r}), flush=True)
        else:
            print(f"{'kb':6} {r['ndcg@10']:8.4f} {r['recall@100']:6.4f} {r['map@100']:7.4f} "
                  f"{r['qps']:6.1f}  {fmt(cfg)}", flush=True)
    if not opts.json:
        print(f"# {len(qrels)} queries of {opts.split}, depth {opts.depth}; "
              f"{time.perf_counter() - t_start:.0f}s for the rows above", flush=True)
    if opts.per_query:
        names = list(per_rows)
        with open(opts.per_query, "w", encoding="utf-8") as f:
            f.write("\t".join(["qid", *[f"{n}_ndcg@10" for n in names], "query"]) + "\n")
            for qid in qrels:
                vals = [f"{per_rows[n].get(qid, {}).get('ndcg_cut_10', 0.0):.4f}" for n in names]
                f.write("\t".join([qid, *vals, queries[qid]]) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
