"""The first queries a policy officer types, on a small real UN library
(``tests/data/library``: nine UN documents, unchanged): typos, acronyms, compounds,
the matching rule, snippets, and a symbol's document.  The same checks at full scale
(3,044 documents) are ``bench/library.py``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb.analysis import iter_terms, query_terms
from kb.cli import cli
from kb.search import choose_correction, snippet

from .fixtures import SAMPLE_PDF_DIR

LIBRARY = Path(__file__).parent / "data" / "library"


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("library")
    corpus = root / "corpus"
    shutil.copytree(LIBRARY, corpus, ignore=shutil.ignore_patterns("*.md"))
    shutil.copy(SAMPLE_PDF_DIR / "S_RES_2771 (2025).en.pdf", corpus)
    kb = KnowledgeBase(corpus, root / "index", corpus_prefix="corpus/")
    kb.update()
    yield kb
    kb.close()


def run(kb: KnowledgeBase, *args: str):
    return CliRunner().invoke(cli, [*args, "--corpus", str(kb.corpus), "--index",
                                    str(kb.index)], catch_exceptions=False)


def holds(text: str, word: str) -> bool:
    return bool(set(query_terms(word)) & {t for t, _, _ in iter_terms(text)})


# -- 1. typos and ~ compare the words as written -------------------------------------


def test_a_one_letter_slip_finds_the_word_meant(lib):
    right = lib.search("retaliation", limit=None)
    for typo in ("retaliaton", "retailation", "retaliatoin", "rettaliation"):
        r = lib.search(typo, limit=None)
        assert r.corrected_query == "retaliation", typo
        assert [h.id for h in r.hits] == [h.id for h in right.hits], typo


def test_tilde_finds_near_spellings_of_the_word_not_of_its_stem(lib):
    r = lib.search("retalation~", limit=None)
    shown = {h.snippet[s:e].lower() for h in r.hits for s, e in h.highlights}
    assert shown and all(w.startswith("retaliat") for w in shown), shown
    # the stem "harras" was one edit from "haram": Boko Haram is not a near spelling
    r = lib.search("harrasment~", limit=None)
    assert not any("haram" in h.snippet[s:e].lower() for h in r.hits for s, e in h.highlights)
    assert all(h.doc != "S_PRST_2015_4.txt" for h in r.hits)


# -- 2. correction never replaces an acronym or a word the index holds -------------


def test_an_acronym_is_never_replaced(lib):
    r = lib.search("PSEA")
    assert r.corrected_query is None and not r.hits  # not "pleas"
    res = run(lib, "search", "PSEA")
    assert res.exit_code == 1 and "pleas" not in res.stdout


def test_a_word_not_clearly_meant_is_only_suggested(lib):
    r = lib.search("wombat")  # "combat" (first letter) and "woman" (two edits): no winner
    assert r.corrected_query is None and not r.hits
    res = run(lib, "search", "wombat")
    assert res.exit_code == 1
    assert res.stdout.startswith("No passages match “wombat”")
    assert "Did you mean" in res.stderr


def test_a_word_the_index_holds_is_never_replaced(lib):
    for word in ("pleas", "combat", "woman", "peace"):
        assert lib.search(word).corrected_query is None, word


def test_choose_correction_rules():
    # one clear winner one edit away
    assert choose_correction("retaliaton", [("retaliation", "retali", 1, 40)]) == \
        ("retaliation", "retaliation")
    # a rival about as likely: only suggested
    assert choose_correction("foruth", [("fourth", "fourth", 1, 1897), ("forth", "forth", 1, 684)]) \
        == (None, "fourth")
    # a word two edits away counts far less than one at one edit
    assert choose_correction("trauia", [("trauma", "trauma", 1, 100), ("train", "train", 2, 3730)]) \
        == ("trauma", "trauma")
    # the first letter replaced in a short word: only suggested
    assert choose_correction("wombat", [("combat", "combat", 1, 3734), ("woman", "woman", 2, 58)]) \
        == (None, "combat")
    assert choose_correction("yexual", [("sexual", "sexual", 1, 500)]) == (None, "sexual")
    # ... dropped or swapped: an ordinary slip
    assert choose_correction("tsorage", [("storage", "storag", 1, 282)])[0] == "storage"
    assert choose_correction("etaliation", [("retaliation", "retali", 1, 500)])[0] == \
        "retaliation"
    # too rare to be sure
    assert choose_correction("retaliaton", [("retaliation", "retali", 1, 2)])[0] is None
    assert choose_correction("qqq", []) == (None, None)


# -- 3. compound spellings are one term for ranking ----------------------------------


def test_closed_and_hyphenated_compounds_rank_alike(lib):
    closed = lib.search("peacekeeping", limit=10)
    hyphen = lib.search("peace-keeping", limit=10)
    assert [(h.id, h.score) for h in closed.hits] == [(h.id, h.score) for h in hyphen.hits]
    assert closed.total == hyphen.total
    # the closed form, written far more often, is not ranked below the rare one
    top = closed.hits[0].text.lower()
    assert "peacekeeping" in top


def test_the_form_a_passage_uses_neither_lifts_nor_sinks_it(tmp_path):
    corpus = tmp_path / "c"
    shutil.copytree(LIBRARY, corpus, ignore=shutil.ignore_patterns("*.md"))
    body = "The Council {} training for troops and police of the mission in the field."
    (corpus / "closed.txt").write_text(body.format("supports peacekeeping"))
    (corpus / "hyphen.txt").write_text(body.format("supports peace-keeping"))
    with KnowledgeBase(corpus, tmp_path / "ix") as kb:
        kb.update()
        for q in ("peacekeeping", "peace-keeping", "peacekeeping training"):
            score = {h.doc: h.score for h in kb.search(q, limit=None).hits}
            a, b = score["closed.txt"], score["hyphen.txt"]
            assert abs(a - b) / max(a, b) < 0.05, (q, a, b)  # one word longer: a little


# -- 4. a passage matches when its own text holds every concept ----------------------


def test_export_of_a_query_holds_every_concept(lib, tmp_path):
    out = tmp_path / "hits.jsonl"
    r = run(lib, "export", "sexual exploitation and abuse", "-o", str(out))
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows
    for h in rows:
        body = f"{h['text']}\n{h['section']}"
        assert all(holds(body, w) for w in ("sexual", "exploitation", "abuse")), h["id"]
        assert h["match"] == "full" and h["missing_terms"] == []
    every = lib.search("sexual exploitation and abuse", limit=None)
    assert every.total == len(rows) and every.partial > 0
    part = [h for h in every.hits if h.match == "partial"]
    assert part and all(h.missing_terms for h in part)
    assert every.hits[every.total - 1].match == "full" and every.hits[every.total].match == \
        "partial"
    out2 = tmp_path / "all.jsonl"
    assert run(lib, "export", "sexual exploitation and abuse", "--partial", "-o",
               str(out2)).exit_code == 0
    assert len(out2.read_text().splitlines()) == every.total + every.partial


def test_a_passage_matching_only_through_its_title_is_no_match(lib):
    # "Woman Farmer" is in A/RES/78/279's title: only its passages that say it match
    r = lib.search("farmer", limit=None)
    assert r.hits and all(holds(f"{h.text}\n{h.section}", "farmer") for h in r.hits)
    titled = [p for p in lib.passages() if p.doc == "A_RES_78_279.txt"]
    assert len(r.hits) < len(titled)


def test_nothing_in_full_export_says_so_and_names_the_option(lib, tmp_path):
    r = run(lib, "export", "peacekeeping zzyzxq", "-o", str(tmp_path / "x.md"))
    assert r.exit_code == 1
    assert "--partial" in r.stderr


def test_question_words_are_not_required(lib):
    r = lib.search("what has the General Assembly said about administration of justice")
    assert r.total > 0
    for h in r.hits:
        assert not {"what", "has", "said", "about"} & set(h.missing_terms)
    assert r.hits[0].match == "full"


def test_partial_matches_are_marked_in_text_json_and_header(lib):
    res = run(lib, "search", "retaliation zzyzxq", "-n", "3")
    assert res.exit_code == 0
    assert res.stdout.startswith("0 passages match “retaliation zzyzxq”")
    assert "partial match, missing: zzyzxq" in res.stdout
    data = json.loads(run(lib, "search", "retaliation zzyzxq", "--format", "json").stdout)
    assert data["total"] == 0 and data["partial"] > 0
    assert {h["match"] for h in data["results"]} == {"partial"}


# -- 8. the snippet shows what made the hit -------------------------------------------


def test_snippet_holds_the_phrase_at_the_end_of_a_long_passage(lib):
    r = lib.search("victim-centred approach", limit=None, partial=False)
    assert r.hits
    for h in r.hits:
        assert re.search(r"victim[- ]cent(?:red|ered)[- ]approach", h.snippet, re.I), h.id


def test_snippet_prefers_the_most_concepts():
    text = ("approach " * 5 + "filler " * 60 + "victim centred approach and more words").strip()
    snip, hl = snippet(text, {"victim", "center", "approach"},
                       groups=[frozenset({"victim"}), frozenset({"center"}),
                               frozenset({"approach"})],
                       phrases=[("victim", "center", "approach")])
    assert "victim centred approach" in snip


# -- 10. no score where none was computed ----------------------------------------------


def test_a_symbols_own_passages_show_no_score(lib):
    r = lib.search("s/res/2771", limit=20)
    assert r.hits[0].doc.startswith("S_RES_2771")
    own = [h for h in r.hits if h.doc.startswith("S_RES_2771")]
    assert own and all(h.score is None for h in own)
    res = run(lib, "search", "s/res/2771", "-n", "2")
    assert "score" not in res.stdout.splitlines()[2]


def test_limit_zero_counts_without_hits(lib):
    r = lib.search("retaliation", limit=0)
    assert r.total > 0 and r.hits == ()
