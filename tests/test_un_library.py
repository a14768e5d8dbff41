"""Issue 17, items 5, 6, 7 and 9, on real UN documents (``tests/data/un``, see its README):
symbols (from the masthead, else the file name) found by a symbol query."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.load import read_markup
from kb.meta import symbol_of_filename

UN = Path(__file__).resolve().parent / "data" / "un"


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def loc(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index")]


def doc(name: str):  # type: ignore[no-untyped-def]
    return read_markup((UN / name).read_bytes(), name, "text")


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The UN fixtures (text files) as a corpus, indexed."""
    corpus = tmp_path_factory.mktemp("un") / "corpus"
    corpus.mkdir()
    for f in UN.glob("*.txt"):
        shutil.copy(f, corpus / f.name)
    r = run("index", *loc(corpus))
    assert r.exit_code == 0, r.output
    return corpus


# --------------------------------------------------------------------------
# 5. symbols


@pytest.mark.parametrize("name, symbol", [
    ("A_RES_74_258.txt", "A/RES/74/258"),
    ("S_RES_1325(2000).txt", "S/RES/1325 (2000)"),
    ("E_ICEF_2025_26.en.pdf", "E/ICEF/2025/26"),
    ("S_RES_2771 (2025).en.pdf", "S/RES/2771 (2025)"),
    ("A_520_REV.20.txt", "A/520/Rev.20"),
    ("A_RES_1166(XII).txt", "A/RES/1166 (XII)"),
    ("A_RES_48_218_B.txt", "A/RES/48/218 B"),
    ("A_RES_71_101_A-B.txt", "A/RES/71/101 A-B"),
    ("A_RES_ES-10_17.txt", "A/RES/ES-10/17"),
    ("UNEP_EA.4_RES.17.txt", "UNEP/EA.4/Res.17"),
    ("TD_500_ADD.1.txt", "TD/500/Add.1"),
    ("ECE_TRANS__WP.30_AC.2_TIB_2.txt", "ECE/TRANS/WP.30/AC.2/TIB/2"),
    ("ECE_NICOSIA._CONF_2022_2_Add.1.txt", "ECE/NICOSIA.CONF/2022/2/Add.1"),
    ("reports/A_HRC_RES_24_35.md", "A/HRC/RES/24/35"),
    ("A_RES_74_258-EN.pdf", "A/RES/74/258"),
    # ordinary file names are not symbols
    ("report_2022.txt", None), ("IMG_2034.pdf", None), ("Annual_Report_2024.docx", None),
    ("notes.md", None), ("A_B.txt", None), ("S_RES_draft.txt", None),
])
def test_a_file_name_of_the_form_of_a_symbol(name, symbol):
    assert symbol_of_filename(name) == symbol


def test_every_document_has_its_symbol(library):
    r = run("docs", "--format", "json", *loc(library))
    assert r.exit_code == 0, r.output
    got = {d["id"]: d["symbol"] for d in json.loads(r.stdout)}
    assert got["A_RES_74_258.txt"] == "A/RES/74/258"          # the file name only
    assert got["S_RES_1325(2000).txt"] == "S/RES/1325 (2000)"
    assert got["A_51_950.txt"] == "A/51/950"                  # printed in the masthead
    assert got["A_520_REV.20.txt"] == "A/520/Rev.20"          # printed "A/520/Rev.20*"
    assert all(got.values()), got


@pytest.mark.parametrize("query, first", [
    ("S/RES/1325 (2000)", "S_RES_1325(2000).txt"),
    ("s/res/1325", "S_RES_1325(2000).txt"),
    ("S/RES/1325", "S_RES_1325(2000).txt"),
    ("A/RES/70/1", "A_RES_70_1.txt"),
    ("a/res/74/258", "A_RES_74_258.txt"),
])
def test_a_symbol_query_finds_that_document_first(library, query, first):
    r = run("search", query, "--format", "json", *loc(library))
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["results"]
    assert hits and hits[0]["doc"] == first, [h["doc"] for h in hits[:3]]


@pytest.mark.parametrize("query, symbol", [
    ("a/res/48/218 b", "A/RES/48/218"), ("A/RES/71/101 A-B", "A/RES/71/101"),
    ("S/RES/1325 (2000)", "S/RES/1325"), ("S/RES/2771 cyprus", None),
])
def test_a_symbol_query_may_name_the_part_of_a_resolution(query, symbol):
    from kb.meta import symbol_base, symbol_query

    assert symbol_query(query) == symbol
    assert symbol_base("A/RES/48/218 B") == "A/RES/48/218"


def test_a_symbol_filter_keeps_that_document(library):
    r = run("search", "symbol:S/RES/1325", "--format", "json", *loc(library))
    assert r.exit_code == 0, r.output
    hits = json.loads(r.stdout)["results"]
    assert hits and {h["doc"] for h in hits} == {"S_RES_1325(2000).txt"}
