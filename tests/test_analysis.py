"""Text analysis: the pure pipeline (no index)."""

from __future__ import annotations

from kb.analysis import _stem_variants, iter_terms, query_terms, variants


def terms(text: str) -> list[str]:
    return [t for t, _, _ in iter_terms(text)]


def test_curly_and_straight_apostrophes_are_one_term():
    assert query_terms("Task Force's") == query_terms("Task Force’s") == ["task", "forc"]
    assert query_terms("women’s") == query_terms("women's")


def test_nfkc_accents_and_case_fold():
    assert query_terms("Ｃafé") == query_terms("CAFE") == query_terms("cafe")
    assert query_terms("ﬁeld") == query_terms("field")  # ligature


def test_british_and_american_spellings_are_one_term():
    for uk, us in [("centred", "centered"), ("behaviour", "behavior"),
                   ("behavioural", "behavior"), ("programme", "program"),
                   ("organisation", "organization"), ("organisations", "organizations"),
                   ("analyse", "analyze"), ("analysed", "analyzed"), ("defence", "defense"),
                   ("colour", "color"), ("tumours", "tumors"), ("haemoglobin", "hemoglobin"),
                   ("oestrogen", "estrogen"), ("paediatric", "pediatric"),
                   ("licence", "license"), ("judgement", "judgment"), ("grey", "gray"),
                   ("travelled", "traveled"), ("fulfil", "fulfill")]:
        assert query_terms(uk) == query_terms(us), (uk, us)


def test_variant_list_is_real_and_sourced():
    pairs = variants()
    assert len(pairs) > 1000
    from importlib import resources

    head = resources.files("kb").joinpath("data/uk_us.tsv").read_text(encoding="utf-8")[:2000]
    assert "SCOWL" in head and "Kevin Atkinson" in head and "Permission" in head


def test_variant_collisions_stay_apart():
    # "analyses" (plural of analysis) is not the British verb "analyses"
    assert query_terms("analyses") != query_terms("analyzes")
    assert query_terms("analysis") != query_terms("analyze")
    # no British stem maps onto a word spelled alike in both varieties
    assert "analys" not in _stem_variants()
    assert query_terms("axes") == query_terms("axes")  # untouched
    # an American word is never rewritten
    for us in ("program", "programming", "center", "behavior", "check"):
        assert query_terms(us) == terms(us)


def test_acronyms_in_capitals_are_not_stop_words():
    assert query_terms("US") == ["us"]
    assert query_terms("IT") == ["it"]
    assert query_terms("SEA") == ["sea"]
    assert query_terms("SEAH") == ["seah"]
    assert query_terms("us") == [] and query_terms("it") == []
    assert query_terms("UNCT") == query_terms("UNCTs")


def test_un_symbols_are_one_term():
    assert query_terms("A/HRC/50/12") == ["a/hrc/50/12"]
    assert query_terms("ST/SGB/2003/13") == ["st/sgb/2003/13"]
    assert query_terms("A/RES/73/148") == ["a/res/73/148"]
    assert query_terms("see A/HRC/50/12.") == ["see", "a/hrc/50/12"]


def test_hyphen_and_slash_compounds_split_into_consecutive_words():
    # "to" is a stop word, kept where a hyphen joins it: "by-catch" is "bycatch" in parts
    assert terms("peer-to-peer") == ["peer", "to", "peer"]
    assert terms("peer to peer") == ["peer", "peer"]
    assert terms("by-catch, on-going") == ["by", "catch", "on", "go"]
    got = list(iter_terms("victim/survivor-centred"))
    assert [t for t, _, _ in got] == ["victim", "survivor", "center"]
    assert [("victim/survivor-centred")[s:e] for _, s, e in got] == ["victim", "survivor",
                                                                    "centred"]
