"""Search over small corpora built here: analysis examples of issue 4, ranking rules."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.cli import cli

from .conftest import SAMPLE

SYMBOLS_MD = """\
# Report citing UN documents

## Bulletin

The Secretary-General's bulletin ST/SGB/2003/13 sets out special measures for
protection from sexual exploitation and abuse, and all personnel must follow it.

## Other bulletin

The later bulletin ST/SGB/2019/8 addresses discrimination, harassment, including
sexual harassment, and abuse of authority across the Organization.

## Council report

The report A/HRC/50/12 to the Human Rights Council describes the situation of
women human rights defenders in the field offices.

## Neighbouring council report

The report A/HRC/50/13 covers a different topic, the right to education in
emergencies and the financing of schools.

## Resolution

General Assembly resolution A/RES/73/148 on intensifying efforts to prevent and
eliminate all forms of violence against women: sexual harassment.

## Other resolution

The resolution A/RES/73/149 concerns another subject, namely the elimination of
female genital mutilation in all regions.
"""

ACRONYMS_MD = """\
# Country notes

## Offices

The US office and the IT section share a building near the SEA regional hub,
and staff from us and it are welcome.

## Partners

Partners meet quarterly to plan joint work on prevention and response across all
sites in the region.

## Peer support

A peer to peer network of survivors and victims supports colleagues in remote duty
stations with trained focal points.
"""


@pytest.fixture()
def kb(tmp_path: Path) -> KnowledgeBase:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    (corpus / "symbols.md").write_text(SYMBOLS_MD, encoding="utf-8")
    (corpus / "acronyms.md").write_text(ACRONYMS_MD, encoding="utf-8")
    k = KnowledgeBase(corpus, tmp_path / "index")
    k.update()
    yield k
    k.close()


def lines(result, doc: str = SAMPLE.name) -> list[int]:
    return [h.line_start for h in result.hits if h.doc == doc]


def sections(result, doc: str) -> list[str]:
    return [h.section for h in result.hits if h.doc == doc]


def test_task_force_apostrophe(kb):
    straight = kb.search("Task Force's", limit=None)
    curly = kb.search("Task Force’s", limit=None)
    assert 13 in lines(straight)  # "The Task Force’s **Outreach ..." on line 13
    assert lines(straight) == lines(curly)
    assert 13 in lines(kb.search('"Task Force\'s"', limit=None))


def test_victim_centered_finds_victim_centred(kb):
    # line 70: "victim/survivor-centred approach" ... "Victim-centred Approach";
    # line 11: "a victim-centred approach."; line 31: "Victim-centred Approach"
    r = kb.search("victim-centered approach", limit=None)
    assert {70, 11, 31} <= set(lines(r)[:3])
    phrase = kb.search('"victim-centered approach"', limit=None)
    assert sorted(lines(phrase)) == [11, 31, 70]


def test_behavior_finds_behavioural_science(kb):
    r = kb.search("behavior")
    assert lines(r) == [43, 82]  # "behavioural science", "toxic behaviour"
    assert "behavioural science" in r.hits[0].snippet
    assert r.hits[0].highlights  # the British spelling is highlighted
    s, e = r.hits[0].highlights[0]
    assert r.hits[0].snippet[s:e] == "behavioural"


def test_seah_finds_line_95(kb):
    r = kb.search("SEAH")
    assert [(h.line_start, h.line_end) for h in r.hits] == [(91, 99)]


@pytest.mark.parametrize("q", ["UNCT", "UNCTs", "unct"])
def test_unct_finds_lines_35_64_74(kb, q):
    r = kb.search(q, limit=None)
    got = {(h.line_start, h.line_end) for h in r.hits}
    assert {35, 64, 74} <= {s for s, _ in got}
    assert any(s == 74 and e == 76 for s, e in got)


@pytest.mark.parametrize("q", ["US", "IT", "SEA"])
def test_capital_acronyms_are_searchable(kb, q):
    r = kb.search(q, limit=None)
    assert sections(r, "acronyms.md") == ["Offices"]


@pytest.mark.parametrize("symbol,section", [
    ("ST/SGB/2003/13", "Bulletin"),
    ("ST/SGB/2019/8", "Other bulletin"),
    ("A/HRC/50/12", "Council report"),
    ("A/HRC/50/13", "Neighbouring council report"),
    ("A/RES/73/148", "Resolution"),
])
def test_un_symbols_match_only_that_symbol(kb, symbol, section):
    r = kb.search(symbol, limit=None)
    assert [h.section for h in r.hits] == [section]
    assert r.hits[0].doc == "symbols.md"


def test_un_symbol_in_query_with_words(kb):
    r = kb.search("A/RES/73/148 violence")
    assert r.hits[0].section == "Resolution"


def test_peer_to_peer_as_phrase_and_by_parts(kb):
    compound = kb.search("peer-to-peer", limit=None)
    phrase = kb.search('"peer to peer"', limit=None)
    parts = kb.search("peer", limit=None)
    # the compound matches the written-apart phrase and vice versa
    assert "Peer support" in sections(compound, "acronyms.md")
    assert 11 in lines(compound) and 49 in lines(compound) or 51 in lines(compound)
    assert lines(phrase) == lines(compound)
    assert set(lines(compound)) <= set(lines(parts))


def test_victim_survivor_as_phrase_and_by_parts(kb):
    compound = kb.search("victim/survivor", limit=None)
    phrase = kb.search('"victim survivor"', limit=None)
    # "victim/survivor-centred" on line 70, "victims/survivors" on lines 43-70
    assert 70 in lines(compound)
    assert sorted(lines(phrase)) == [43, 66, 68, 70]
    assert sorted(lines(compound)) == sorted(lines(phrase))
    assert 70 in lines(kb.search("survivor", limit=None))
    assert 70 in lines(kb.search("victim", limit=None))


def test_short_queries_put_passages_with_every_word_first(kb):
    for q in ("sexual harassment field", "bystander intervention", "UN system approach",
              "victim survivor", "peer learning dialogue", "reporting mechanisms",
              "leadership environment", "women workforce Bangladesh"):
        r = kb.search(q, limit=None)
        flags = [not h.missing_terms for h in r.hits]
        assert any(flags), q
        first_partial = flags.index(False) if False in flags else len(flags)
        assert all(flags[:first_partial]) and not any(flags[first_partial:]), (q, flags)


# --------------------------------------------------------------------------
# did you mean, fuzzy


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_misspelled_word_shows_the_corrected_results(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SAMPLE, corpus / SAMPLE.name)
    loc = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    r = _run("search", "harrasment", *loc)
    assert r.exit_code == 0
    first = r.stdout.splitlines()[0]
    assert first.startswith("No passages match “harrasment”; showing “harassment”: ")
    assert "passages match, showing 1-10" in first
    assert "Did you mean" not in r.stderr
    r = _run("search", "harrasment", "--format", "json", *loc)
    data = json.loads(r.stdout)
    assert data["query"] == "harrasment" and data["corrected_query"] == "harassment"
    assert data["suggestion"] is None and len(data["results"]) == 10
    assert all("harass" in (h["text"] + h["section"]).lower() for h in data["results"])
    # --no-correct: the old answer, nothing found and a suggestion
    r = _run("search", "harrasment", "--no-correct", *loc)
    assert r.exit_code == 1
    assert r.stdout.startswith("No passages match “harrasment” (")
    assert "Did you mean: harassment?" in r.stderr
    assert "kb search harassment" in r.stderr
    r = _run("search", "harrasment", "--no-correct", "--format", "json", *loc)
    data = json.loads(r.stdout)
    assert data["suggestion"] == "harassment" and data["corrected_query"] is None
    assert data["results"] == []
    # beside other words: the misspelled one is replaced all the same (it could only
    # leave partial matches), and the header says what was searched
    r = _run("search", "harrasment", "training", "--format", "json", *loc)
    data = json.loads(r.stdout)
    assert data["corrected_query"] == "harrasment training".replace("harrasment", "harassment")
    assert data["results"] and data["suggestion"] is None
    r = _run("search", "harrasment", "training", "--no-correct", "--format", "json", *loc)
    data = json.loads(r.stdout)
    assert data["corrected_query"] is None and data["total"] == 0
    assert data["suggestion"] == "harassment training"
    assert all(h["match"] == "partial" for h in data["results"])
    # export corrects too (and says so), unless --no-correct
    out = tmp_path / "a.json"
    r = _run("export", "harrasment", "-o", str(out), *loc)
    assert r.exit_code == 0 and "exporting those that match “harassment”" in r.stderr
    assert json.loads(out.read_text())["corrected_query"] == "harassment"
    r = _run("export", "harrasment", "--no-correct", "-o", str(tmp_path / "b.json"), *loc)
    assert r.exit_code == 1 and json.loads((tmp_path / "b.json").read_text())["results"] == []
    # the API
    with KnowledgeBase(corpus, tmp_path / "index") as k:
        assert k.search("harrasment").corrected_query == "harassment"
        res = k.search("harrasment", correct=False)
        assert res.total == 0 and res.suggestion == "harassment"
    r = _run("search", "harrasment~", "--format", "json", *loc)
    assert r.exit_code == 0
    data = json.loads(r.stdout)
    assert len(data["results"]) == 10
    # every hit holds "harassment" in its text or its section heading
    assert all("harass" in (h["text"] + h["section"]).lower() for h in data["results"])
    assert sum("harass" in h["text"].lower() for h in data["results"]) >= 9


def test_fuzzy_distance_two_for_long_words_only(kb):
    assert kb.search("harrasment~").hits
    assert kb.search("harasment~").hits
    assert kb.search("UNCX~", limit=None).hits  # UNCT at distance 1
    assert not kb.search("UNXX~", limit=None).hits  # UNCT is 2 away: too far for 4 letters


def test_short_query_exact_phrase_first(tmp_path):
    from kb import KnowledgeBase

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    apart = "Abuse abuse abuse was reported; prevention work on sexual topics and abuse followed."
    (corpus / "apart.md").write_text(f"# Apart\n\n{apart}\n", encoding="utf-8")
    (corpus / "phrase.md").write_text(
        "# Phrase\n\nThe plan sets out how to prevent sexual abuse in long field missions "
        "with many partners involved over several years of work.\n", encoding="utf-8")
    (corpus / "none.md").write_text("# None\n\nNothing relevant here.\n", encoding="utf-8")
    with KnowledgeBase(corpus, tmp_path / "index") as kb:
        kb.update()
        hits = kb.search("sexual abuse").hits
        assert [h.doc for h in hits] == ["phrase.md", "apart.md"]
        # without the phrase tier the repeated words would win
        assert kb.search("abuse").hits[0].doc == "apart.md"


# -- issue 10: dates, wildcards, compounds, doc patterns ----------------------------


def _dated(root: Path, name: str, date: str, body: str) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Report {name}\n\n{date}\n\n## Body\n\n{body}\n", encoding="utf-8")


@pytest.fixture()
def dated(tmp_path: Path) -> KnowledgeBase:
    corpus = tmp_path / "corpus"
    for name, date in [("a2021.md", "5 June 2021"), ("b2022-04.md", "30 April 2022"),
                       ("c2022-05.md", "1 May 2022"), ("d2022-12.md", "31 December 2022"),
                       ("e2024-01.md", "1 January 2024"), ("f2024-12.md", "31 December 2024"),
                       ("g2025.md", "1 January 2025")]:
        # each text its own: identical passages would be one hit (kb.dedup)
        _dated(corpus, name, date, f"Harassment prevention work went on in the field ({name}).")
    k = KnowledgeBase(corpus, tmp_path / "index")
    k.update()
    yield k
    k.close()


@pytest.mark.parametrize("clause, dates", [
    ("date:>2024", ["2025-01-01"]),
    ("date:>=2024", ["2024-01-01", "2024-12-31", "2025-01-01"]),
    ("date:<2024", ["2021-06-05", "2022-04-30", "2022-05-01", "2022-12-31"]),
    ("date:<=2024", ["2021-06-05", "2022-04-30", "2022-05-01", "2022-12-31", "2024-01-01",
                     "2024-12-31"]),
    ("date:<2022", ["2021-06-05"]),
    ("date:=<2022", ["2021-06-05", "2022-04-30", "2022-05-01", "2022-12-31"]),
    ("date:<2022-05", ["2021-06-05", "2022-04-30"]),
    ("date:>2022-05", ["2022-12-31", "2024-01-01", "2024-12-31", "2025-01-01"]),
    ("date:>2024-12-30", ["2024-12-31", "2025-01-01"]),
    ("date:>2024-12-31", ["2025-01-01"]),
    ("date:2022", ["2022-04-30", "2022-05-01", "2022-12-31"]),
    ("date:2022-05", ["2022-05-01"]),
    ("date:[2021 to 2022-04]", ["2021-06-05", "2022-04-30"]),
    ("date:[2022-05 TO 2024]", ["2022-05-01", "2022-12-31", "2024-01-01", "2024-12-31"]),
    ("date:{2022 to 2025}", ["2024-01-01", "2024-12-31"]),
    ("date:[to 2021]", ["2021-06-05"]),
    ("date:[2024 to]", ["2024-01-01", "2024-12-31", "2025-01-01"]),
    ("-date:2022", ["2021-06-05", "2024-01-01", "2024-12-31", "2025-01-01"]),
])
def test_date_comparisons_exclude_the_period_named(dated, clause, dates):
    got = sorted(h.date for h in dated.search(f"harassment {clause}", limit=None).hits)
    assert got == dates
    # the clause filters: it is never reported as a missing word or misspelled
    r = dated.search(f"harassment {clause}", limit=None)
    assert r.suggestion is None and not any(h.missing_terms for h in r.hits)


def test_unreadable_date_clauses_are_one_line_errors(dated, tmp_path):
    loc = ["--corpus", str(dated.corpus), "--index", str(dated.index)]
    for clause in ("date:>20x4", "date:2022-13", "date:[2025 to 2021]", "date:>", "date:[to]"):
        r = _run_safe("search", f"harassment {clause}", *loc)
        assert r.exit_code == 2, clause
        assert r.stderr.startswith("Error: ") and len(r.stderr.strip().splitlines()) == 1
        assert "date:" in r.stderr


def _run_safe(*args: str):
    return CliRunner().invoke(cli, list(args))


WILD_MD = """\
# Field notes

## Bystanders

Bystander training helps people intervene. A bystander intervention starts with noticing.
Sexual harassment was reported by women and by a woman in the office.

## Conduct

Staff behaviour and the behavior of managers were reviewed.
"""


def test_wildcards_match_words_as_written(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text(WILD_MD, encoding="utf-8")
    (corpus / "other.md").write_text("# Other\n\n## Text\n\nNothing about that here.\n",
                                     encoding="utf-8")
    with KnowledgeBase(corpus, tmp_path / "index") as k:
        k.update()
        for q in ("bystand?r", "harass?ent", "interven?ion", "interven*ion", "wom?n",
                  "interven*", "Bystand?r", "behavio?r", "behav*r", "*stander", "h?rassment",
                  "title:fi?ld"):
            r = k.search(q, limit=None)
            assert r.total >= 1 and all(h.doc == "notes.md" for h in r.hits), q
        assert k.search("behavio?r", limit=None).total == 1
        assert "behaviour" in k.search("behavio?r").hits[0].snippet
        # highlighted as written
        hit = k.search("harass?ent").hits[0]
        assert any(hit.snippet[s:e].lower() == "harassment" for s, e in hit.highlights)
        # no word as written matches: nothing (the stems alone would match)
        assert k.search("harass?", limit=None).total == 0
        assert k.search("interven", limit=None).total == 1  # a plain word: any inflection
        # a deleted document's words do not expand any more
        (corpus / "gone.md").write_text("# Gone\n\n## Text\n\nQuokkas lived here.\n")
        (corpus / "stay.md").write_text("# Stay\n\n## Text\n\nA quokka lives here.\n")
        k.update()
        assert {h.doc for h in k.search("quokk?s", limit=None).hits} == {"gone.md", "stay.md"}
        (corpus / "gone.md").unlink()
        k.update()
        assert k.search("quokk?s", limit=None).total == 0
        assert k.search("quokk?", limit=None).total == 1


def test_wildcards_in_the_cli(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text(WILD_MD, encoding="utf-8")
    loc = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    for q in ("bystand?r", "harass?ent", "interven?ion", "interven*ion"):
        r = _run("search", q, "--format", "json", *loc)
        assert r.exit_code == 0, q
        assert json.loads(r.stdout)["total"] >= 1


COMPOUNDS = {
    "hyphen.md": "Every whistle-blower deserves protection. Co-operation in decision-making "
                 "matters, and so does peace-keeping.",
    "closed.md": "Every whistleblower deserves protection. Cooperation in decisionmaking "
                 "matters, and so does peacekeeping.",
    "open.md": "Every whistle blower deserves protection. Co operation in decision making "
               "matters, and so does peace keeping.",
}
# hyphen.md and open.md hold the same words (identical passages are one hit, kb.dedup):
# each file gets a word of its own
COMPOUNDS = {k: f"{v} ({k.split('.')[0]})" for k, v in COMPOUNDS.items()}


@pytest.fixture()
def compounds(tmp_path: Path) -> KnowledgeBase:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in COMPOUNDS.items():
        (corpus / name).write_text(f"# {name}\n\n## Text\n\n{text}\n", encoding="utf-8")
    (corpus / "symbols.md").write_text(SYMBOLS_MD, encoding="utf-8")
    (corpus / "noise.md").write_text("# Noise\n\n## Text\n\nA blower fan and a whistle; "
                                     "the operation of making a decision.\n", encoding="utf-8")
    k = KnowledgeBase(corpus, tmp_path / "index")
    k.update()
    yield k
    k.close()


@pytest.mark.parametrize("q", [
    "whistle-blower", "whistleblower", "whistle blower", "Whistle-Blower",
    "co-operation", "cooperation",
    "decision-making", "decision making", "decisionmaking",
    "peace-keeping", "peacekeeping", "peace keeping",
    '"whistleblower deserves"', '"whistle-blower deserves"', '"every whistle blower"',
])
def test_hyphenated_closed_and_open_compounds_find_each_other(compounds, q):
    r = compounds.search(q, limit=None)
    docs = {h.doc for h in r.hits}
    assert {"hyphen.md", "closed.md", "open.md"} <= docs, (q, docs)
    best = [h.doc for h in r.hits[:3]]
    assert sorted(best) == ["closed.md", "hyphen.md", "open.md"], (q, best)
    for h in r.hits[:3]:
        assert not h.missing_terms and h.highlights, (q, h.doc)
    assert r.suggestion is None


def test_compounds_do_not_break_phrases_or_symbols(compounds):
    # a phrase still needs its words in order
    assert compounds.search('"protection deserves whistleblower"', limit=None).total == 0
    assert {h.doc for h in compounds.search('"blower fan"', limit=None).hits} == {"noise.md"}
    # the words of a split compound, apart, are not the compound
    r = compounds.search('"whistleblower"', limit=None)
    assert "noise.md" not in {h.doc for h in r.hits}
    # symbols match only themselves
    r = compounds.search("ST/SGB/2003/13", limit=None)
    assert [h.section for h in r.hits] == ["Bulletin"]


def test_doc_pattern_rules():
    from kb.search import doc_pattern

    def m(pat: str, path: str) -> bool:
        return bool(doc_pattern(pat).fullmatch(path))

    assert m("UNW*", "UNW_2025_1.pdf") and m("UNW*", "reports/2025/UNW_2025_1.pdf")
    assert not m("UNW*", "reports/old-UNW.pdf")
    assert m("reports", "old/reports/x.md")  # no wildcard: contains the text
    assert m("reports/*", "reports/x.md") and not m("reports/*", "old/reports/x.md")
    assert m("/reports/x*", "reports/x.md") and m("reports/", "reports/a/b.md")
    assert m("guides*", "guides/training.md")  # a matching folder matches what it holds
    assert not m("reports/*.md", "reports/sub/x.md") and m("reports/**/*.md", "reports/a/b/x.md")
    assert m("*.pdf", "a/b/c.pdf") and not m("*.pdf", "a/b/c.pdf.txt")
    assert m("r?ports/[xy].md", "reports/x.md") and not m("r?ports/[!xy].md", "reports/x.md")


def test_doc_glob_without_slash_matches_file_names_and_header_names_filters(tmp_path):
    corpus = tmp_path / "corpus"
    _dated(corpus, "reports/2025/UNW_2025_1.md", "3 March 2025", "Harassment in offices.")
    _dated(corpus, "reports/old-UNW.md", "3 March 2021", "Harassment in the field.")
    loc = ["--corpus", str(corpus), "--index", str(tmp_path / "index")]
    r = _run("search", "harassment", "--doc", "UNW*", "--format", "json", *loc)
    data = json.loads(r.stdout)
    assert r.exit_code == 0 and [h["doc"] for h in data["results"]] == ["reports/2025/UNW_2025_1.md"]
    assert data["filters"] == ["doc:UNW*"]
    r = _run("search", "harassment doc:UNW*", "--format", "json", *loc)
    assert [h["doc"] for h in json.loads(r.stdout)["results"]] == ["reports/2025/UNW_2025_1.md"]
    r = _run("search", "harassment", "--doc", "UNW*", "--since", "2022", *loc)
    assert r.stdout.startswith("1 passage matches “harassment” in doc:UNW*, since 2022 (")
    # "No passages match" never hides a filter
    r = _run("search", "harassment", "--doc", "UNW*", "--since", "2026-02", "--until", "2026",
             "--section", "closing remarks", *loc)
    assert r.exit_code == 1
    assert r.stdout.startswith("No passages match “harassment” in doc:UNW*, "
                               "section:\"closing remarks\", since 2026-02, until 2026 (")
    r = _run("search", "harassment", "--until", "2022-06-15", *loc)
    assert "“harassment” until 2022-06-15 (" in r.stdout.splitlines()[0]
    # export without a query uses the same rule
    r = _run("export", "--doc", "UNW*", "--format", "jsonl", "-o", "-", *loc)
    assert [json.loads(line)["doc"] for line in r.stdout.splitlines()] == \
        ["reports/2025/UNW_2025_1.md"] * 1


def test_wildcards_score_the_sum_of_their_words_and_count_every_match(kb):
    from kb.analysis import _WORD, fold
    from kb.engine.ranker import Evaluation
    from kb.models import Scoring

    wide = kb.search("s*", limit=20, dedup=False)
    expected = sum(any(fold(w).startswith("s") for w in _WORD.findall(
        f"{p.text}\n{p.section}") if _WORD.fullmatch(w)) for p in kb.passages())
    assert wide.total == expected > 20
    rk = kb._open(ranker=True).engine.ranker
    terms = rk.wildcard_terms("s*")
    assert len(terms) > 50
    ev = Evaluation(rk, Scoring())
    summed = sum(ev.term_score(t.encode(), Scoring().weights) for t in terms)
    number = {p.id: d for d, p in enumerate(_stored(kb))}
    got = [h.score for h in wide.hits]
    assert got == [round(float(summed[number[h.id]]), 4) for h in wide.hits]
    assert len(set(got)) > 10


def _stored(kb):
    """Every passage in index order (the ranker's passage numbers)."""
    searcher = kb._open().engine.searcher
    from kb.engine.schema import passage_from_stored

    return [passage_from_stored(searcher.stored_fields(d))
            for d in range(searcher.reader().doc_count_all())]