"""References to passages (issue 12): every form kb prints is taken back by ``kb show``,
``kb export --ids`` and ``--from``; short refs in text results."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli
from kb.errors import AmbiguousReference, PassageNotFound
from kb.models import fingerprint, short_ref

from .conftest import SAMPLE, SAMPLE_ID
from .fixtures import SAMPLE_PDF_DIR

PDFS = SAMPLE_PDF_DIR
UNW, SRES, ICEF = "UNW_2025_1.en.pdf", "S_RES_2771 (2025).en.pdf", "E_ICEF_2025_26.en.pdf"

NOTE_MD = """\
# Guidance note on reporting misconduct

3 March 2024

## Duties of managers

1. Managers shall make sure that every member of personnel knows how to report sexual
harassment and where to find confidential support, and shall repeat this at each meeting.

2. Managers shall protect any person who reports misconduct in good faith against
retaliation, and shall refer any allegation of retaliation to the ethics office at once.

## Support

Peer support networks connect staff who experienced harassment with trained colleagues.
"""

#: two documents whose first passages' texts have the same short reference (their
#: fingerprints begin alike; found by trying names)
CLASH = ("n10473.md", "n11753.md")
#: the sample report's passage #21 (line 72): its short reference (from its text)
REF21 = "9aqqcf"

QUERIES = ("protection against retaliation", "sexual exploitation and abuse", "Cyprus",
           "bystander intervention", "gender equality", "managers retaliation", "audit")


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def loc(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index")]


def one_line_error(r) -> str:
    assert r.exit_code == 2, r.output
    assert r.stdout == "" and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr
    return r.stderr.strip()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample report, three UN PDFs (with symbols and numbered paragraphs), a
    Markdown note with numbered paragraphs, and two files whose refs clash."""
    root = tmp_path_factory.mktemp("refs")
    c = root / "corpus"
    (c / "un").mkdir(parents=True)
    shutil.copy(SAMPLE, c / SAMPLE.name)
    for name in (UNW, SRES, ICEF):
        shutil.copy(PDFS / name, c / "un" / name)
    (c / "notes").mkdir()
    (c / "notes" / "note.md").write_text(NOTE_MD, encoding="utf-8")
    for name in CLASH:
        (c / name).write_text(f"# Clash {name}\n\nA short note on peer support in {name}.\n",
                              encoding="utf-8")
    r = run("index", *loc(c))
    assert r.exit_code == 0, r.output
    return c


@pytest.fixture()
def kb(corpus: Path):
    with KnowledgeBase(corpus, corpus.parent / "index") as k:
        yield k


def _searched_hits(corpus: Path) -> list[dict]:
    hits: dict[str, dict] = {}
    for q in QUERIES:
        r = run("search", q, "-n", "200", "--format", "json", *loc(corpus))
        assert r.exit_code == 0, r.output
        for h in json.loads(r.stdout)["results"]:
            hits.setdefault(h["id"], h)
    return list(hits.values())


def _forms(h: dict, corpus: Path) -> dict[str, str]:
    """Every way kb prints (or a user writes) a reference to the hit ``h``."""
    prefix = h["path"][: -len(h["doc"])]
    rest = h["citation"][len(prefix):]
    forms = {
        "ref": h["ref"], "REF": h["ref"].upper(), "[ref]": f"[{h['ref']}]", "id": h["id"],
        "citation": h["citation"], "relative": rest, "absolute": f"{corpus}/{rest}",
        "path-id": f"{h['path']}#{h['id'].rsplit('#', 1)[1]}",
    }
    if h["symbol_citation"]:
        forms["symbol_citation"] = h["symbol_citation"]
        forms["symbol lower case"] = h["symbol_citation"].lower()
    return forms


def test_every_printed_form_resolves_to_its_passage(corpus, kb):
    hits = _searched_hits(corpus)
    docs = {h["doc"] for h in hits}
    assert {f"un/{UNW}", f"un/{SRES}", f"un/{ICEF}", SAMPLE_ID, "notes/note.md"} <= docs
    assert any(h["symbol_citation"] for h in hits) and any(h["paragraph"] for h in hits)
    # what each printed citation is shared with: a shared one names a span or is ambiguous
    every = [kb.hit_for(p) for p in kb.passages()]
    by_cite: dict[str, set[str]] = {}
    for e in every:
        by_cite.setdefault(e.citation, set()).add(e.id)
        if e.symbol_citation:
            by_cite.setdefault(e.symbol_citation, set()).add(e.id)
    checked = 0
    for h in hits:
        for name, form in _forms(h, corpus).items():
            key = h["symbol_citation"] if name.startswith("symbol") else h["citation"]
            try:
                got = [p.id for p in kb.resolve_all(form)]
            except AmbiguousReference as e:
                # only a citation that kb prints for passages in several places
                assert name not in ("ref", "REF", "[ref]", "id", "path-id"), (form, e)
                assert len(by_cite[key]) > 1 and h["ref"] in str(e), (form, e)
                continue
            assert h["id"] in got, (name, form, got)
            if name in ("ref", "REF", "[ref]", "id", "path-id") or len(by_cite[key]) == 1:
                assert got == [h["id"]], (name, form, got)
            assert kb.resolve(form).id == got[0]
            checked += 1
    assert checked > 300


def test_show_takes_each_form_from_the_command_line(corpus):
    hits = {h["id"]: h for h in _searched_hits(corpus)}
    picks = [f"un/{SRES}#36", f"un/{UNW}#9", f"{SAMPLE_ID}#21", "notes/note.md#2"]
    for pid in picks:
        h = hits[pid]
        for name, form in _forms(h, corpus).items():
            r = run("show", form, "--format", "json", *loc(corpus))
            assert r.exit_code == 0, (name, form, r.stderr)
            data = json.loads(r.stdout)
            assert data["id"] == pid and data["ids"] == [pid], (name, form)
            assert [p["id"] for p in data["passages"]] == [pid]
            assert data["passages"][0]["ref"] == h["ref"]


def test_show_named_forms_of_the_issue(corpus):
    cases = {
        f"{corpus}/{SAMPLE_ID}:72": [f"{SAMPLE_ID}#21"],
        f"{SAMPLE_ID}:72": [f"{SAMPLE_ID}#21"],
        f"{SAMPLE_ID}:74-76": [f"{SAMPLE_ID}#22"],
        f"{SAMPLE_ID}:75": [f"{SAMPLE_ID}#22"],  # a line inside the passage
        f"{SAMPLE_ID}:72-75": [f"{SAMPLE_ID}#21", f"{SAMPLE_ID}#22"],
        REF21: [f"{SAMPLE_ID}#21"],
        REF21.upper(): [f"{SAMPLE_ID}#21"],
        "S/RES/2771 (2025) ¶ 20": [f"un/{SRES}#36"],
        "s/res/2771 (2025) ¶ 20": [f"un/{SRES}#36"],
        "S/RES/2771 ¶ 20": [f"un/{SRES}#36"],  # the year may be left out
        "S/RES/2771 (2025), para. 20": [f"un/{SRES}#36"],
        f"un/{SRES} p. 7 ¶ 20": [f"un/{SRES}#36"],
        f"un/{SRES} p. 7": [f"un/{SRES}#{n}" for n in (35, 36, 37, 38, 39)],
        "UNW/2025/1 ¶ 9 · p. 3": [f"un/{UNW}#9"],
        "unw/2025/1 ¶ 9 · p. 3": [f"un/{UNW}#9"],
        "UNW/2025/1 ¶ 11 · p. 4": [f"un/{UNW}#11", f"un/{UNW}#12"],  # a split paragraph
        "notes/note.md:10-11 ¶ 2": ["notes/note.md#2"],
    }
    for ref, ids in cases.items():
        r = run("show", ref, "--format", "json", *loc(corpus))
        assert r.exit_code == 0, (ref, r.stderr)
        assert json.loads(r.stdout)["ids"] == ids, ref
    with KnowledgeBase(corpus, corpus.parent / "index") as k:
        assert k.resolve(f"un/{SRES} p. 7").id == f"un/{SRES}#35"  # a page: its first passage


def test_show_relative_prefix_and_unquoted_citation(corpus, monkeypatch):
    monkeypatch.chdir(corpus.parent)
    r = run("search", "bystander intervention", "--format", "json", "--corpus", "corpus",
            "--index", "index")
    h = json.loads(r.stdout)["results"][0]
    assert h["citation"] == f"corpus/{SAMPLE_ID}:72"
    r = run("show", h["citation"], "-C", "1", "--corpus", "corpus", "--index", "index")
    assert r.exit_code == 0, r.stderr
    assert f"▶ {SAMPLE_ID}#21  —  corpus/{SAMPLE_ID}:72  [{REF21}]" in r.stdout
    assert f"{SAMPLE_ID}#20" in r.stdout and f"{SAMPLE_ID}#22" in r.stdout
    # a citation typed without quotes arrives as several words; refs after it still count
    r = run("show", "UNW/2025/1", "¶", "9", "·", "p.", "3", REF21, "--format", "json",
            "--corpus", "corpus", "--index", "index")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["ids"] == [f"un/{UNW}#9", f"{SAMPLE_ID}#21"]


def test_text_results_show_ref_and_un_citation(corpus):
    r = run("search", "sexual exploitation and abuse", "-n", "20", "--format", "json",
            *loc(corpus))
    hits = json.loads(r.stdout)["results"]
    r = run("search", "sexual exploitation and abuse", "-n", "20", *loc(corpus))
    assert r.exit_code == 0
    titles = [ln for ln in r.stdout.splitlines() if re.match(r"\d+\. ", ln)]
    assert [re.match(r"\d+\. \[(\w{6})\] ", ln).group(1) for ln in titles] == \
        [h["ref"] for h in hits]
    with_symbol = [h for h in hits if h["symbol_citation"]]
    assert with_symbol
    for h in with_symbol:
        assert f"   {h['symbol_citation']}  —  {h['citation']}\n" in r.stdout  # UN one first
    from rich.console import Console

    from kb.render import rich_results

    with KnowledgeBase(corpus, corpus.parent / "index") as k:
        result = k.search("sexual exploitation and abuse", limit=20)
    buf = io.StringIO()
    rich_results(result, Console(file=buf, width=300, color_system=None))
    out = buf.getvalue()
    for h in result.hits:
        assert f"[{h.ref}] " in out
        if h.symbol_citation:
            assert f"{h.symbol_citation}  —  {h.citation}" in out


def test_ambiguous_and_unknown_refs(corpus, kb):
    a, b = (f"{n}#1" for n in CLASH)
    ta, tb = (f"A short note on peer support in {n}." for n in CLASH)
    ref = short_ref(ta)
    assert short_ref(tb) == ref and fingerprint(ta) != fingerprint(tb)
    err = one_line_error(run("show", ref, *loc(corpus)))
    assert a in err and b in err and "names 2 passages" in err
    err = one_line_error(run("export", "--ids", ref, "-o", "-", *loc(corpus)))
    assert a in err and b in err
    # ... each pinned to its whole fingerprint is one passage
    r = run("show", f"{a}@{fingerprint(ta)}", "--format", "json", *loc(corpus))
    assert json.loads(r.stdout)["ids"] == [a]
    # a typo: the error names the reference and the closest one
    typo = REF21[:-1] + ("b" if REF21[-1] != "b" else "c")
    err = one_line_error(run("show", typo, *loc(corpus)))
    assert typo in err and f"{REF21} = {SAMPLE_ID}#21" in err
    err = one_line_error(run("show", "nope.md#3", *loc(corpus)))
    assert "no passage nope.md#3" in err
    err = one_line_error(run("show", f"{SAMPLE_ID}#999", *loc(corpus)))
    assert "has passages #1-#" in err
    err = one_line_error(run("show", "making-zero-tolerance-2022.txt:72", *loc(corpus)))
    assert f"closest: {corpus}/{SAMPLE_ID}" in err
    err = one_line_error(run("show", f"{SAMPLE_ID}", *loc(corpus)))
    assert "names a document, not a passage" in err
    err = one_line_error(run("show", f"un/{SRES} p. 7 ¶ 99", *loc(corpus)))
    assert "no ¶ 99" in err
    # one citation of two decisions' paragraphs 2 on the same page: the candidates
    err = one_line_error(run("show", "E/ICEF/2025/26 ¶ 2 · p. 5", *loc(corpus)))
    assert "3 passages in different places" in err
    assert kb.passage(f"un/{ICEF}#26").ref in err and kb.passage(f"un/{ICEF}#31").ref in err
    with pytest.raises(PassageNotFound):
        kb.resolve("qqqqqq")


def test_ref_lookup_uses_the_index(kb, monkeypatch):
    from kb.engine import whoosh_engine

    def no_scan(self):
        raise AssertionError("a ref lookup read every passage")

    monkeypatch.setattr(whoosh_engine.WhooshReader, "passages", no_scan)
    assert kb.resolve(REF21).id == f"{SAMPLE_ID}#21"
    assert kb.resolve("UNW/2025/1 ¶ 9 · p. 3").id == f"un/{UNW}#9"


def test_export_ids_in_the_order_given(corpus, kb, tmp_path):
    refs = [kb.passage(f"un/{UNW}#9").ref, f"{SAMPLE_ID}#21", "S/RES/2771 (2025) ¶ 20",
            kb.passage(f"{SAMPLE_ID}#3").ref, REF21]  # the last names #21 again: once
    want = [f"un/{UNW}#9", f"{SAMPLE_ID}#21", f"un/{SRES}#36", f"{SAMPLE_ID}#3"]
    r = run("export", "--ids", *refs, "--format", "json", "-o", "-", *loc(corpus))
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert [h["id"] for h in data["results"]] == want
    assert [h["rank"] for h in data["results"]] == [1, 2, 3, 4]
    assert data["query"] == "" and data["total"] == 4
    out = tmp_path / "chosen.csv"
    r = run("export", "--ids", *refs, "-o", str(out), *loc(corpus))
    assert r.exit_code == 0 and "Wrote 4 passages" in r.stderr
    import csv

    with out.open(encoding="utf-8", newline="") as f:
        assert [row["id"] for row in csv.DictReader(f)] == want
    md = tmp_path / "annex.md"
    r = run("export", "--ids", *refs, "-o", str(md), *loc(corpus))
    text = md.read_text(encoding="utf-8")
    assert text.count("\n> ") >= 4 and "Clash" not in text


def test_export_from_edited_results(corpus, tmp_path):
    r = run("search", "sexual exploitation and abuse", "-n", "8", "--format", "json",
            *loc(corpus))
    saved = json.loads(r.stdout)
    hits = saved["results"]
    want = [hits[5]["id"], hits[0]["id"], hits[3]["id"]]
    edited = dict(saved, results=[hits[5], hits[0], dict(hits[3])])  # deleted and reordered
    del edited["results"][2]["id"]  # found by its ref instead
    src = tmp_path / "hits.json"
    src.write_text(json.dumps(edited, indent=1), encoding="utf-8")
    r = run("export", "--from", str(src), "--format", "json", "-o", "-", *loc(corpus))
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert [h["id"] for h in data["results"]] == want
    assert data["query"] == "sexual exploitation and abuse"
    assert [h["rank"] for h in data["results"]] == [1, 2, 3]
    assert data["results"][0]["score"] == hits[5]["score"]
    # kb export --format json and jsonl, and stdin
    r = run("export", "--from", "-", "--format", "json", "-o", "-", *loc(corpus),
            stdin="\n".join(json.dumps(h) for h in [hits[2], hits[1]]))
    assert r.exit_code == 0, r.stderr
    assert [h["id"] for h in json.loads(r.stdout)["results"]] == [hits[2]["id"], hits[1]["id"]]
    md = tmp_path / "annex.md"
    r = run("export", "--from", str(src), "-o", str(md), *loc(corpus))
    assert r.exit_code == 0 and "sexual exploitation and abuse" in md.read_text()


@pytest.mark.parametrize("content, says", [
    ("not json at all", "is not a saved kb result"),
    ('{"query": "x"}', "is not a saved kb result"),
    ('{"results": "abc"}', "is not a saved kb result"),
    ('[1, 2]', "hit 1 has no \"id\""),
    ('{"results": [{"rank": 1, "score": 2.0}]}', "hit 1 has no \"id\""),
    ('{"results": []}', "holds no hits"),
    (json.dumps({"query": "q", "results": [{"id": f"{SAMPLE_ID}#1"}, {"id": "gone.md#4"}]}),
     "gone.md#4"),
    ("", "is not a saved kb result"),
])
def test_bad_from_files_write_nothing(corpus, tmp_path, content, says):
    src = tmp_path / "saved.json"
    src.write_text(content, encoding="utf-8")
    out = tmp_path / "annex.md"
    err = one_line_error(run("export", "--from", str(src), "-o", str(out), *loc(corpus)))
    assert says in err and "saved.json" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [src]


def test_selection_usage_errors_write_nothing(corpus, tmp_path):
    out = tmp_path / "annex.md"
    src = tmp_path / "saved.json"
    src.write_text('{"results": [{"id": "x#1"}]}', encoding="utf-8")
    cases = [
        (["--from", str(src), "harassment"], "cannot be combined with a query"),
        (["--ids", REF21, "--from", str(src)], "cannot be combined"),
        (["--ids"], "--ids needs at least one REF"),
        (["--ids", REF21, "--doc", "un/*"], "--doc cannot be combined"),
        (["--from", str(src), "--limit", "3"], "--limit cannot be combined"),
        (["--ids", REF21, "nope.md#1"], "no passage nope.md#1"),
        (["--from", str(tmp_path / "missing.json")], "cannot read"),
    ]
    for args, says in cases:
        err = one_line_error(run("export", *args, "-o", str(out), *loc(corpus)))
        assert says in err, (args, err)
        assert not out.exists()
