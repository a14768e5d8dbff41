"""The kb command end to end, through Click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import store as kbstore
from kb.cli import cli

from .conftest import SAMPLE_ID


def run(*args: str, cwd: Path | None = None):
    runner = CliRunner()
    if cwd is None:
        return runner.invoke(cli, list(args), catch_exceptions=False)
    with runner.isolated_filesystem(temp_dir=cwd):
        return runner.invoke(cli, list(args), catch_exceptions=False)


def loc(corpus: Path) -> list[str]:
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index")]


def test_search_bystander_intervention_top_two(sample_corpus):
    r = run("search", "bystander intervention", "--format", "json", *loc(sample_corpus))
    assert r.exit_code == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["query"] == "bystander intervention"
    top = data["results"][:2]
    assert [h["line_start"] for h in top] == [72, 82]
    assert [h["section"] for h in top] == [
        "Peer-to-peer learning dialogue",
        "Closing remarks from the Group of Friends to Eliminate Sexual Harassment",
    ]
    for h in data["results"]:
        for key in ("rank", "score", "id", "doc", "title", "date", "section", "line_start",
                    "line_end", "page", "text", "snippet", "missing_terms"):
            assert key in h
    assert top[0]["title"].startswith("Making zero tolerance a reality")
    assert top[0]["citation"].endswith(f"{SAMPLE_ID}:72")
    assert "No index yet" in r.stderr  # built on first use, message on stderr


def test_search_text_output_has_header_citation_and_snippet(sample_corpus):
    run("index", *loc(sample_corpus))
    r = run("search", "bystander", "intervention", *loc(sample_corpus))
    assert r.exit_code == 0
    out = r.stdout
    assert out.splitlines()[0].startswith("2 passages match “bystander intervention”")
    assert f"{SAMPLE_ID}:72" in out and f"{SAMPLE_ID}:82" in out
    assert "Peer-to-peer learning dialogue" in out
    assert "bystander intervention" in out
    assert "\x1b[" not in out  # plain when not a terminal
    assert r.stderr == ""


def test_first_passage_words_are_on_cited_line(sample_corpus):
    r = run("search", "bystander intervention", "--format", "json", *loc(sample_corpus))
    lines = (sample_corpus / SAMPLE_ID).read_text(encoding="utf-8").split("\n")
    for h in json.loads(r.stdout)["results"]:
        assert h["text"].split()[0] in lines[h["line_start"] - 1]


def test_no_results_exit_1(sample_corpus):
    r = run("search", "xylophone", *loc(sample_corpus))
    assert r.exit_code == 1
    assert r.stdout.startswith("No passages match")


@pytest.mark.parametrize("q", ['"unbalanced', "(a OR", "AND", "title:", "::", "*", "(", ")",
                               "NOT", "\"", "a:b:c", "[2020 to", "~", "-"])
def test_malformed_queries_never_traceback(sample_corpus, q):
    run("index", *loc(sample_corpus))
    r = CliRunner().invoke(cli, ["search", q, *loc(sample_corpus)])
    assert r.exit_code in (0, 1, 2), r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert "Traceback" not in r.stderr
    if r.exit_code == 2:
        assert len(r.stderr.strip().splitlines()) == 1


def test_missing_corpus_is_one_line_error(tmp_path):
    r = run("search", "x", "--corpus", str(tmp_path / "nope"), "--index", str(tmp_path / "ix"))
    assert r.exit_code == 2
    assert r.stderr.startswith("Error: corpus folder")
    assert len(r.stderr.strip().splitlines()) == 1


def test_foreign_index_folder_is_refused(sample_corpus, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    r = run("index", "--corpus", str(sample_corpus), "--index", str(foreign))
    assert r.exit_code == 2
    assert "not a kb index" in r.stderr
    assert (foreign / "thesis.docx").read_text() == "precious"


def test_options_limit_offset_group(sample_corpus):
    base = ["search", "harassment", "--format", "json", *loc(sample_corpus)]
    full = json.loads(run(*base, "--limit", "50").stdout)
    page = json.loads(run(*base, "--limit", "3", "--offset", "2").stdout)
    assert [h["id"] for h in page["results"]] == [h["id"] for h in full["results"][2:5]]
    grouped = json.loads(run(*base, "--group").stdout)
    assert len(grouped["results"]) == 1
    assert grouped["results"][0]["more_in_doc"] == full["total"] - 1


def test_filters_since_until_section_doc(tiny_corpus):
    base = ["search", "harassment", "--format", "json", *loc(tiny_corpus)]
    r = json.loads(run(*base, "--since", "2022").stdout)
    assert r["results"] and all(h["date"] >= "2022-01-01" for h in r["results"])
    r = run(*base, "--until", "2020")
    assert r.exit_code == 1
    r = json.loads(run(*base, "--section", "closing remarks").stdout)
    assert r["results"] and all(h["section"].startswith("Closing remarks") for h in r["results"])
    r = json.loads(run(*base, "--doc", "peer-support").stdout)
    assert r["results"] and all(h["doc"] == "peer-support.txt" for h in r["results"])


def test_bad_date_is_usage_error(sample_corpus):
    r = run("search", "harassment", "--since", "last week", *loc(sample_corpus))
    assert r.exit_code == 2
    assert "not a date" in r.stderr


def test_negative_limit_is_usage_error(sample_corpus):
    r = run("search", "harassment", "--limit", "-1", *loc(sample_corpus))
    assert r.exit_code == 2


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "md"])
def test_search_formats(sample_corpus, fmt):
    r = run("search", "bystander intervention", "--format", fmt, *loc(sample_corpus))
    assert r.exit_code == 0
    if fmt == "jsonl":
        rows = [json.loads(line) for line in r.stdout.splitlines()]
        assert [h["line_start"] for h in rows] == [72, 82]
    elif fmt == "csv":
        assert r.stdout.splitlines()[0].startswith("rank,score,id,doc,title")
    else:
        assert f"{SAMPLE_ID}:72" in r.stdout and "> " in r.stdout


def test_query_syntax(tiny_corpus):
    def ids(q):
        r = run("search", q, "--format", "json", "--limit", "100", *loc(tiny_corpus))
        return r.exit_code, [h["id"] for h in json.loads(r.stdout)["results"]]

    code, phrase = ids('"bystander intervention"')
    assert code == 0 and len(phrase) == 2
    code, title = ids("title:peer")
    assert code == 0 and all(i.startswith("peer-support.txt") for i in title)
    code, docq = ids("doc:guides* training")
    assert code == 0 and all(i.startswith("guides/") for i in docq)
    code, wild = ids("interven*")
    assert code == 0 and wild
    code, notq = ids("bystander NOT closing")
    code2, minus = ids("bystander -distract")
    assert notq and minus and len(minus) < len(ids("bystander")[1])
    code, dates = ids("harassment date:[2021-01-01 to 2021-12-31]")
    assert code == 0 and all(i.startswith("peer-support") for i in dates)


def test_help_documents_query_syntax():
    r = run("search", "--help")
    assert r.exit_code == 0
    for example in ('"bystander intervention"', "interven*", "harrasment~", "title:", "-word",
                    "date:", "doc:"):
        assert example in r.stdout


def test_version():
    r = run("--version")
    assert r.exit_code == 0 and "kb" in r.stdout


# -- index, export, show, status, docs ----------------------------------------


def test_index_prints_summary_and_rebuild(tiny_corpus):
    r = run("index", *loc(tiny_corpus))
    assert r.exit_code == 0
    assert r.stdout.startswith("Built index in")
    assert "added 3, updated 0, removed 0, unchanged 0, skipped 0 files" in r.stdout
    (tiny_corpus / "extra.md").write_text("# Extra\n\nA new report on mediation.\n")
    r = run("search", "mediation", "--no-update", *loc(tiny_corpus))
    assert "1 file changed since the index was updated (1 new, 0 changed, 0 deleted)" in r.stderr
    assert "kb index" in r.stderr
    r = run("index", *loc(tiny_corpus))
    assert "added 1, updated 0, removed 0, unchanged 3" in r.stdout
    r = run("index", "--rebuild", *loc(tiny_corpus))
    assert r.stdout.startswith("Rebuilt index") and "updated 4" in r.stdout


def test_export_html_annex_and_refusal(sample_corpus, tmp_path):
    out = tmp_path / "annex.html"
    r = run("export", "bystander intervention", "-o", str(out), *loc(sample_corpus))
    assert r.exit_code == 0, r.stderr
    html = out.read_text()
    assert "<h1>bystander intervention</h1>" in html
    assert "2 passages from 1 document" in html
    assert f"corpus/{SAMPLE_ID}:72" in html or f"{SAMPLE_ID}:72" in html
    r = run("export", "harassment", "-o", str(out), *loc(sample_corpus))
    assert r.exit_code == 2 and "already exists" in r.stderr and "--force" in r.stderr
    assert out.read_text() == html
    r = run("export", "harassment", "-o", str(out), "--force", *loc(sample_corpus))
    assert r.exit_code == 0 and out.read_text() != html


def test_export_all_passages_in_document_order(tiny_corpus):
    run("index", *loc(tiny_corpus))
    r = run("export", "--format", "jsonl", "-o", "-", *loc(tiny_corpus))
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    keys = [(h["doc"], int(h["id"].rsplit("#", 1)[1])) for h in rows]
    assert keys == sorted(keys) and len(rows) > 26


def test_export_every_match_not_only_first_page(sample_corpus):
    r = run("export", "harassment", "--format", "json", "-o", "-", *loc(sample_corpus))
    data = json.loads(r.stdout)
    assert len(data["results"]) == data["total"] > 10


def test_export_format_from_extension_and_missing_folder(sample_corpus, tmp_path):
    r = run("export", "bystander", "-o", str(tmp_path / "x.csv"), *loc(sample_corpus))
    assert (tmp_path / "x.csv").read_text(encoding="utf-8-sig").startswith("rank,score")
    r = run("export", "bystander", "-o", str(tmp_path / "no" / "x.csv"), *loc(sample_corpus))
    assert r.exit_code == 2 and "does not exist" in r.stderr


def test_show_with_context(sample_corpus):
    run("index", *loc(sample_corpus))
    r = run("show", f"{SAMPLE_ID}#21", "--context", "1", *loc(sample_corpus))
    assert r.exit_code == 0
    assert f"{SAMPLE_ID}#20" in r.stdout and f"{SAMPLE_ID}#22" in r.stdout
    assert f"▶ {SAMPLE_ID}#21" in r.stdout and f"{SAMPLE_ID}:72" in r.stdout
    r = run("show", "nope.md#3", *loc(sample_corpus))
    assert r.exit_code == 2 and "no passage" in r.stderr
    r = run("show", f"{SAMPLE_ID}#21", "--format", "json", *loc(sample_corpus))
    assert json.loads(r.stdout)["passages"][0]["line_start"] == 72


def test_status_and_docs(tiny_corpus):
    r = run("status", *loc(tiny_corpus))
    assert r.exit_code == 0 and "no index yet" in r.stdout
    run("index", *loc(tiny_corpus))
    (tiny_corpus / "peer-support.txt").write_text("changed\n\nNew text about things.\n")
    (tiny_corpus / "x.pptx").write_bytes(b"zz")
    r = run("status", "--format", "json", *loc(tiny_corpus))
    st = json.loads(r.stdout)
    assert st["documents"] == 3 and st["passages"] > 0 and st["schema"] == kbstore.SCHEMA_VERSION
    assert st["changed"] == ["peer-support.txt"] and st["new"] == [] and st["deleted"] == []
    r = run("status", *loc(tiny_corpus))
    assert "1 changed" in r.stdout and "schema:" in r.stdout
    r = run("docs", "--format", "json", *loc(tiny_corpus))
    docs = json.loads(r.stdout)
    assert {d["id"] for d in docs} == {"guides/safe-workplaces.md", SAMPLE_ID, "peer-support.txt"}
    assert all({"title", "date", "path", "passages"} <= set(d) for d in docs)
    r = run("docs", *loc(tiny_corpus))
    assert "Guidelines on safe workplaces" in r.stdout


def test_config_from_env_and_kb_toml(sample_corpus, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kb.toml").write_text('corpus = "corpus"\nindex = "myindex"\n')
    r = run("search", "bystander", "--format", "json")
    assert r.exit_code == 0 and (tmp_path / "myindex" / "kb-index.json").exists()
    monkeypatch.setenv("KB_INDEX", str(tmp_path / "envindex"))
    r = run("index")
    assert (tmp_path / "envindex" / "kb-index.json").exists()
