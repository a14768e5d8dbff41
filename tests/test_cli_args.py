"""Issue 10: arguments, options, export formats, paging, pipes and help of the kb command."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb import KnowledgeBase
from kb import export as ex
from kb.cli import cli
from kb.models import Hit

from .corpusgen import make_corpus

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(r) -> str:  # type: ignore[no-untyped-def]
    assert r.exit_code == 2, (r.exit_code, r.output)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.output
    return r.stderr


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    from .conftest import SAMPLE

    corpus = tmp_path_factory.mktemp("args") / "corpus"
    corpus.mkdir()
    (corpus / SAMPLE.name).write_bytes(SAMPLE.read_bytes())
    KnowledgeBase(corpus, corpus.parent / "index").update()
    return ["--corpus", str(corpus), "--index", str(corpus.parent / "index")]


def search_json(loc: list[str], *args: str) -> dict:
    r = run("search", *args, "--format", "json", *loc)
    assert r.exit_code in (0, 1), r.output
    return json.loads(r.stdout)


# -- 1. -word is a query word, wherever it stands ------------------------------------


def test_dash_words_are_exclusions_wherever_they_stand(built):
    whole = search_json(built, "harassment -online", "--limit", "100")
    assert whole["query"] == "harassment -online"
    base = search_json(built, "harassment", "--limit", "100")
    assert 0 < whole["total"] < base["total"]  # the exclusion does something here
    ids = [h["id"] for h in whole["results"]]
    # `kb search harassment -online`: was "Invalid value for '--limit'"
    assert [h["id"] for h in search_json(built, "harassment", "-online", "-n", "100")[
        "results"]] == ids
    # `kb search harassment -online -n 3`: was a silent search for "harassment -o"
    page = search_json(built, "harassment", "-online", "-n", "3")
    assert page["query"] == "harassment -online" and [h["id"] for h in page["results"]] == ids[:3]
    # before the other words, and options in any order; -n3 is still the limit
    page = search_json(built, "-online", "-n3", "harassment")
    assert page["query"] == "-online harassment" and len(page["results"]) == 3
    page = search_json(built, "--limit=2", "harassment", "-online")
    assert page["query"] == "harassment -online" and len(page["results"]) == 2


def test_dash_h_word_is_a_query_word_and_dash_h_alone_is_help(built):
    # `kb search harassment -health` printed the help and exited 0
    r = run("search", "harassment", "-health", *built)
    assert r.exit_code == 0 and r.stdout.startswith("25 passages match “harassment -health”")
    for flag in ("-h", "--help"):
        r = run("search", "harassment", flag, *built)
        assert r.exit_code == 0 and re.match(r"Usage: \S+ search \[OPTIONS\] QUERY", r.stdout)


def test_single_dash_option_name_is_a_word_with_a_note(built):
    r = run("search", "harassment", "-format", "json", *built)
    assert r.stdout.startswith("0 passages match “harassment -format json”, 25 partly")  # not silent:
    assert "Note: -format is searched as a word to exclude; for the option write --format" \
        in r.stderr


def test_double_dash_makes_everything_after_it_query_words(built):
    r = run("search", *built, "--", "harassment", "--limit", "-n")
    assert r.exit_code in (0, 1) and "“harassment --limit -n”" in r.stdout


def test_option_values_may_start_with_a_dash(built, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run("export", "harassment", "-online", "-o", "-online.md", *built)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "-online.md").read_text().startswith("# harassment -online\n")
    r = run("search", "harassment", "--limit", "-1", *built)
    assert "Invalid value for '--limit'" in one_line_error(r)


def test_export_keeps_the_exclusion(built, tmp_path):
    # `kb export harassment -online -o x.md` dropped the exclusion
    out = tmp_path / "x.md"
    r = run("export", "harassment", "-online", "-o", str(out), *built)
    assert r.exit_code == 0, r.output
    total = search_json(built, "harassment -online")["total"]
    text = out.read_text()
    assert text.startswith("# harassment -online\n\nQuery: harassment -online")
    assert f"\n{total} passages from 1 document\n" in text
    assert r.stderr.strip() == f"Wrote {total} passages to {out}"


# -- 2. export: misspelled options are errors; --offset; --group refused --------------


@pytest.mark.parametrize("cmd,bad,good", [
    ("export", "--formt", "--format"), ("export", "--offest", "--offset"),
    ("export", "--limt", "--limit"), ("search", "--limt", "--limit"),
    ("search", "--grup", "--group"),
])
def test_misspelled_option_names_the_closest(built, cmd, bad, good):
    extra = ["-o", "-"] if cmd == "export" else []
    r = run(cmd, "harassment", bad, "2", *extra, *built)
    err = one_line_error(r)
    assert f"No such option '{bad}'" in err and f"'{good}'" in err, err
    assert re.search(rf"\(see `\S+ {cmd} --help`\)", err), err
    assert r.stdout == ""


def test_export_offset_pages_like_search(built):
    full = json.loads(run("export", "harassment", "--format", "json", *built).stdout)
    r = run("export", "harassment", "--offset", "2", "-n", "3", "--format", "json", *built)
    page = json.loads(r.stdout)
    assert [h["id"] for h in page["results"]] == [h["id"] for h in full["results"][2:5]]
    assert page["total"] == full["total"] and page["offset"] == 2
    # every passage, in parts
    every = [json.loads(x)["id"] for x in
             run("export", "--format", "jsonl", *built).stdout.splitlines()]
    part = [json.loads(x)["id"] for x in
            run("export", "--format", "jsonl", "--offset", "5", "-n", "4", *built)
            .stdout.splitlines()]
    assert part == every[5:9]
    md = run("export", "harassment", "--offset", "2", "-n", "3", *built).stdout
    assert f"\nPassages 3-5 of {full['total']} from 1 document\n" in md


def test_export_group_is_refused_with_the_way_out(built):
    err = one_line_error(run("export", "harassment", "--group", "-o", "-", *built))
    assert "kb export has no --group" in err and "kb search QUERY --group" in err


def test_usage_errors_name_the_subcommand(built):
    # `kb export -o` said "(see `kb --help`)"
    err = one_line_error(run("export", "-o"))
    assert "Option '-o' requires an argument" in err
    assert re.search(r"\(see `\S+ export --help`\)", err)
    err = one_line_error(run("search", "harassment", "-n"))
    assert re.search(r"\(see `\S+ search --help`\)", err)
    err = one_line_error(run("show", "x#1", "-C"))
    assert re.search(r"\(see `\S+ show --help`\)", err)


# -- 7. export formats come from known extensions only -------------------------------


@pytest.mark.parametrize("name", ["annex.doc", "annex.pdf", "annex.xlsx", "annex.txt",
                                  "annex"])
def test_unknown_export_extension_is_an_error(built, tmp_path, name):
    target = tmp_path / name
    err = one_line_error(run("export", "harassment", "-o", str(target), *built))
    assert f"cannot tell the export format of {name}" in err
    assert ".md" in err and ".html" in err and ".docx" in err and ".csv" in err
    assert "--format" in err
    assert not target.exists() and os.listdir(tmp_path) == []


def test_htm_is_html_and_explicit_format_takes_any_name(built, tmp_path):
    r = run("export", "harassment", "-o", str(tmp_path / "annex.HTM"), *built)
    assert r.exit_code == 0
    assert (tmp_path / "annex.HTM").read_text().startswith("<!DOCTYPE html>")
    r = run("export", "harassment", "--format", "md", "-o", str(tmp_path / "annex.docx"),
            *built)
    assert r.exit_code == 0
    assert (tmp_path / "annex.docx").read_text().startswith("# harassment\n")
    assert run("export", "harassment", "-o", str(tmp_path / "h.ndjson"), *built).exit_code == 0
    assert json.loads((tmp_path / "h.ndjson").read_text().splitlines()[0])["rank"] == 1


def test_format_table_is_the_one_place_for_formats():
    assert ex.format_for("a/b/Annex.Markdown") == "md" and ex.format_for("x.htm") == "html"
    assert ex.FORMATS == tuple(f.name for f in ex.EXPORT_FORMATS)
    choice = next(p for p in cli.commands["export"].params if p.name == "fmt")
    assert set(choice.type.choices) == set(ex.FORMATS)  # type: ignore[attr-defined]


# -- 8. a closed pipe ends quietly with the exit code of what was found --------------


def _first_line_then_close(args: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    with subprocess.Popen([sys.executable, "-m", "kb", *args], cwd=cwd, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        assert p.stdout is not None and p.stderr is not None
        line = p.stdout.readline()
        p.stdout.close()  # as `head -1` does
        err = p.stderr.read()
        return p.wait(timeout=60), line, err


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """~1,200 passages that all hold "harassment": far more than a pipe buffers."""
    root = tmp_path_factory.mktemp("pipe")
    corpus = make_corpus(root / "corpus", files=25)
    KnowledgeBase(corpus, root / "index").update()
    return ["--corpus", str(corpus), "--index", str(root / "index")]


@pytest.mark.parametrize("args,expect", [
    (["search", "harassment"], "passages match"),
    (["search", "harassment", "-n", "1000"], "passages match"),  # 500 kB: the pipe breaks
    (["search", "harassment", "--format", "jsonl", "-n", "1000"], '{"rank": 1'),
    (["export", "--format", "jsonl", "-o", "-"], '{"rank": 1'),
    (["export", "harassment", "--format", "csv"], "rank,score"),
])
def test_closed_pipe_exits_with_what_was_found(big, tmp_path, args, expect):
    for _ in range(3):
        code, line, err = _first_line_then_close([*args, *big], tmp_path)
        assert expect in line.decode()
        assert (code, err.decode()) == (0, "")


def test_closed_pipe_with_nothing_found_still_exits_1(big, tmp_path):
    code, line, err = _first_line_then_close(["search", "xylophone", *big], tmp_path)
    assert line.startswith(b"No passages match") and (code, err) == (1, b"")


# -- 11. paging past the end ----------------------------------------------------------


def test_offset_past_the_end_says_so(built):
    r = run("search", "harassment", "--offset", "500", *built)
    first = r.stdout.splitlines()[0]
    assert first.startswith("25 passages match “harassment”, but none from 501 on: the last "
                            "is number 25; use a smaller --offset")
    assert "501-500" not in r.stdout
    assert r.exit_code == 1  # nothing shown: a paging loop stops here
    data = search_json(built, "harassment", "--offset", "500")
    assert (data["total"], data["offset"], data["results"]) == (25, 500, [])
    r = run("search", "harassment", "--group", "--offset", "1", *built)
    assert r.stdout.startswith("1 document matches “harassment”, but none from 2 on")
    r = run("search", "harassment", "--offset", "24", *built)
    assert r.exit_code == 0 and "showing 25-25" in r.stdout


def test_export_offset_past_the_end(built):
    r = run("export", "harassment", "--offset", "500", *built)
    assert r.exit_code == 1
    assert "\nNone of the 25 passages from 501 on\n" in r.stdout


# -- 12. small inaccuracies -----------------------------------------------------------


def test_foreign_index_folder_counts_files_in_the_singular(sample_corpus, tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.docx").write_text("precious")
    err = one_line_error(run("index", "--corpus", str(sample_corpus), "--index", str(foreign)))
    assert "(it holds 1 other file)" in err


def test_csv_has_every_json_hit_field(built):
    fields_ = [f.name for f in fields(Hit)]
    assert sorted(ex.CSV_FIELDS) == sorted(fields_)
    r = run("export", "bystander intervention", "--format", "csv", *built)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    data = json.loads(run("export", "bystander intervention", "--format", "json",
                          *built).stdout)["results"]
    assert rows and set(rows[0]) == set(data[0])
    for row, h in zip(rows, data):
        assert row["heading_path"] == " › ".join(h["heading_path"])
        assert row["highlights"] == "; ".join(f"{s}-{e}" for s, e in h["highlights"])
        assert row["highlights"] and row["more_in_doc"] == "0"
        for s, e in h["highlights"]:
            assert row["snippet"][s:e].lower().startswith(("bystander", "intervention"))
    grouped = run("search", "harassment", "--group", "--format", "csv", *built).stdout
    assert next(csv.DictReader(io.StringIO(grouped)))["more_in_doc"] == "24"


# -- friction: long queries, help ----------------------------------------------------


def test_header_shortens_a_long_query_but_json_keeps_it(built):
    q = " ".join(["harassment"] + [f"word{i}" for i in range(400)])
    r = run("search", q, *built)
    head = r.stdout.splitlines()[0]
    assert len(head) < 120 and "…”" in head
    assert head.startswith("0 passages match “harassment word0")
    assert search_json(built, q)["query"] == q
    r = run("search", "harassment", *built)
    assert "“harassment”" in r.stdout.splitlines()[0]


def test_every_command_help_has_an_example_and_every_option_a_text():
    for name, cmd in cli.commands.items():
        r = run(name, "--help")
        assert r.exit_code == 0
        assert re.search(rf"^Examples?:\n(\s+kb {name}\b.*\n)+", r.stdout.replace(
            "  Example", "Example"), re.M), f"kb {name} --help has no example"
        for p in cmd.params:
            if getattr(p, "hidden", False) or not p.param_type_name == "option":
                continue
            assert getattr(p, "help", None), f"kb {name} {p.opts} has no help text"


def test_main_help_does_not_truncate_descriptions():
    # Click shortens a command's help to fit `kb --help` ("Show a passage in full, with its
    # citation (ID as in search...") unless the command has a short_help that fits
    commands = " ".join(run("--help").stdout.split("Commands:", 1)[1].split())
    assert "..." not in commands
    for name, cmd in cli.commands.items():
        assert cmd.short_help and f"{name} {cmd.short_help}" in commands, name


def test_readme_documents_the_choices():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in ("`-h` alone", ".htm", "--offset", "no `--group`", "heading_path",
                 "past the last"):
        assert text in readme, text
