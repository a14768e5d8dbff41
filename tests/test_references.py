"""What you hand over stays true (issue 18): references carry what they name, chosen
passages keep "also in", and ``kb verify`` checks an annex against the folder."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.models import fingerprint

DOC = """\
# Doc

## Alpha

ALPHA text about apples and oranges.

## Beta

BETA text about bananas and berries.

## Gamma

GAMMA text about grapes.
"""
BETA = "BETA text about bananas and berries."


def run(*args: str, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


@pytest.fixture()
def folder(tmp_path: Path):
    c = tmp_path / "corpus"
    c.mkdir()
    (c / "doc.md").write_text(DOC, encoding="utf-8")
    loc = ["--corpus", str(c), "--index", str(tmp_path / "index")]
    assert run("index", *loc).exit_code == 0
    return c, loc


def beta_hit(loc: list[str]) -> dict:
    r = run("search", "BETA", "--format", "json", *loc)
    return json.loads(r.stdout)["results"][0]


def insert_above(c: Path) -> None:
    (c / "doc.md").write_text(DOC.replace("## Alpha", "## Intro\n\nA new first paragraph.\n\n"
                                          "## Alpha"), encoding="utf-8")


def edit_beta(c: Path) -> None:
    text = (c / "doc.md").read_text(encoding="utf-8")
    (c / "doc.md").write_text(text.replace(BETA, "BETA text about bananas, berries and plums."),
                              encoding="utf-8")


# -- 1. a saved reference never names other text silently ---------------------------


def test_a_ref_names_its_text_wherever_it_moved(folder):
    c, loc = folder
    h = beta_hit(loc)
    assert h["id"] == "doc.md#2" and h["ref"] == fingerprint(BETA)[:6]
    assert h["fingerprint"] == fingerprint(BETA)
    insert_above(c)
    r = run("show", h["ref"], "--format", "json", *loc)
    assert r.exit_code == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["ids"] == ["doc.md#3"] and shown["passages"][0]["text"] == BETA


def test_a_pinned_id_follows_its_text_and_says_so(folder):
    c, loc = folder
    h = beta_hit(loc)
    insert_above(c)
    r = run("export", "--ids", f"doc.md#2@{h['ref']}", "--format", "json", "-o", "-", *loc)
    assert r.exit_code == 0, r.stderr
    assert [x["text"] for x in json.loads(r.stdout)["results"]] == [BETA]
    assert "Moved: doc.md#2: its text is now at doc.md#3" in r.stderr


def test_from_saved_results_checks_the_saved_text(folder, tmp_path):
    c, loc = folder
    saved = tmp_path / "saved.json"
    saved.write_text(run("search", "BETA", "--format", "json", *loc).stdout)
    insert_above(c)
    r = run("export", "--from", str(saved), "--format", "json", "-o", "-", *loc)
    assert r.exit_code == 0, r.stderr
    assert [x["text"] for x in json.loads(r.stdout)["results"]] == [BETA]
    # a file saved by an older kb (no fingerprint): its text says what was picked
    data = json.loads(saved.read_text())
    for x in data["results"]:
        x.pop("fingerprint")
    saved.write_text(json.dumps(data))
    r = run("export", "--from", str(saved), "--format", "json", "-o", "-", *loc)
    assert [x["text"] for x in json.loads(r.stdout)["results"]] == [BETA]


def test_a_changed_passage_stops_with_what_was_picked_and_what_is_there(folder, tmp_path):
    c, loc = folder
    h = beta_hit(loc)
    saved = tmp_path / "saved.json"
    saved.write_text(run("search", "BETA", "--format", "json", *loc).stdout)
    edit_beta(c)
    out = tmp_path / "annex.md"
    r = run("export", "--from", str(saved), "-o", str(out), *loc)
    assert r.exit_code == 2 and not out.exists()
    lines = [x for x in r.stderr.strip().splitlines() if not x.startswith("Updated")]
    assert lines[0].startswith("Error: 1 chosen passage changed since picked")
    assert lines[1].startswith("doc.md#2: picked “BETA text about bananas and berries.”, now "
                               "“BETA text about bananas, berries and plums.”")
    for refs in ([f"doc.md#2@{h['ref']}"], [f"doc.md#2@{h['fingerprint']}"]):
        r = run("export", "--ids", *refs, "-o", str(out), *loc)
        assert r.exit_code == 2 and "changed since picked" in r.stderr and not out.exists()
        r = run("show", *refs, *loc)
        assert r.exit_code == 2
    # --allow-changed: the text as it is now, marked in every format
    r = run("export", "--from", str(saved), "--allow-changed", "-o", str(out), *loc)
    assert r.exit_code == 0, r.stderr
    md = out.read_text(encoding="utf-8")
    assert "plums" in md and "Changed since picked" in md
    r = run("export", "--from", str(saved), "--allow-changed", "--format", "json", "-o", "-",
            *loc)
    assert json.loads(r.stdout)["results"][0]["changed"] == BETA
    r = run("show", f"doc.md#2@{h['ref']}", "--allow-changed", *loc)
    assert r.exit_code == 0 and "CHANGED SINCE PICKED" in r.stdout
    # a ref names its text: gone now
    r = run("show", h["ref"], *loc)
    assert r.exit_code == 2 and "changed or is gone" in r.stderr


def test_allow_changed_is_for_chosen_passages_only(folder):
    _, loc = folder
    r = run("export", "BETA", "--allow-changed", "-o", "-", *loc)
    assert r.exit_code == 2 and "--allow-changed" in r.stderr


# -- 2. chosen passages keep "also in" ---------------------------------------------


def test_chosen_passages_keep_also_in(folder):
    c, loc = folder
    shutil.copy(c / "doc.md", c / "copy.md")
    assert run("index", *loc).exit_code == 0
    h = beta_hit(loc)
    assert h["also_in"], h
    r = run("export", "--ids", h["ref"], "--format", "json", "-o", "-", *loc)
    assert json.loads(r.stdout)["results"][0]["also_in"] == h["also_in"]
    r = run("show", h["ref"], "--format", "json", *loc)
    p = json.loads(r.stdout)["passages"][0]
    assert p["also_in"] and p["id"] in ("copy.md#2", "doc.md#2")


# -- kb verify ------------------------------------------------------------------------


FORMATS = ["docx", "md", "html", "json", "jsonl", "csv"]


def export_annex(loc: list[str], tmp_path: Path, fmt: str, query: str = "text") -> Path:
    out = tmp_path / f"annex.{fmt}"
    r = run("export", query, "-o", str(out), "--force", *loc)
    assert r.exit_code == 0, r.stderr
    return out


def verify(loc: list[str], annex: Path) -> tuple[int, dict]:
    r = run("verify", str(annex), "--format", "json", *loc)
    assert r.exit_code in (0, 1), r.stderr
    return r.exit_code, json.loads(r.stdout)


@pytest.mark.parametrize("fmt", FORMATS)
def test_verify_unchanged_moved_changed_gone(folder, tmp_path, fmt):
    c, loc = folder
    annex = export_annex(loc, tmp_path, fmt)
    code, rep = verify(loc, annex)
    assert code == 0 and rep["ok"] and rep["counts"]["unchanged"] == 3
    insert_above(c)
    code, rep = verify(loc, annex)
    assert code == 1 and rep["counts"]["moved"] == 3
    assert {p["now"].rsplit(":", 1)[-1] for p in rep["passages"]} == {"9", "13", "17"}
    edit_beta(c)
    (c / "doc.md").write_text((c / "doc.md").read_text().replace("GAMMA text about grapes.\n",
                                                                 ""))
    code, rep = verify(loc, annex)
    by = {p["status"] for p in rep["passages"]}
    assert code == 1 and by == {"moved", "changed", "gone"}, rep
    changed = next(p for p in rep["passages"] if p["status"] == "changed")
    assert "{+bananas, berries+}" in changed["detail"] and "plums" in changed["detail"]
    r = run("verify", str(annex), *loc)
    assert r.exit_code == 1 and r.stdout.splitlines()[-1] == \
        "3 passages: 0 unchanged, 1 moved, 1 changed, 1 gone"


def test_verify_an_annex_edited_by_hand(folder, tmp_path):
    _, loc = folder
    md = export_annex(loc, tmp_path, "md")
    text = md.read_text(encoding="utf-8")
    # edit a quote: the source is unchanged, the annex says what differs
    md.write_text(text.replace("bananas and berries", "bananas and cherries"), encoding="utf-8")
    code, rep = verify(loc, md)
    assert code == 1 and rep["counts"]["edited"] == 1 and rep["counts"]["unchanged"] == 2
    assert "[-berries.-] {+cherries.+}" in next(p["detail"] for p in rep["passages"]
                                                if p["status"] == "edited")
    # the provenance comments deleted: the printed citations still find the passages
    md.write_text("\n".join(line for line in text.splitlines() if "<!-- kb:" not in line),
                  encoding="utf-8")
    code, rep = verify(loc, md)
    assert code == 0 and rep["counts"]["unchanged"] == 3


def test_verify_bad_input_is_one_line_exit_2(folder, tmp_path):
    c, loc = folder
    cases = {}
    (tmp_path / "notes.md").write_text("# My notes\n\nNothing kb wrote.\n")
    cases["notes.md"] = "holds no passage kb can check"
    (tmp_path / "broken.docx").write_bytes(b"PK\x03\x04 not really a zip")
    cases["broken.docx"] = "damaged"
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    cases["data.csv"] = "no \"text\" column"
    (tmp_path / "x.pdf").write_text("x")
    cases["x.pdf"] = "cannot tell the annex's format"
    for name, msg in cases.items():
        r = run("verify", str(tmp_path / name), *loc)
        assert r.exit_code == 2 and msg in r.stderr, (name, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1
    # an annex of another folder
    other = tmp_path / "other"
    other.mkdir()
    (other / "else.md").write_text("# Else\n\n## One\n\nSomething text else entirely.\n")
    oloc = ["--corpus", str(other), "--index", str(tmp_path / "oindex")]
    annex = export_annex(oloc, tmp_path, "md")
    r = run("verify", str(annex), *loc)
    assert r.exit_code == 2 and "another corpus" in r.stderr


def test_docx_annex_carries_its_provenance_in_custom_properties(folder, tmp_path):
    _, loc = folder
    annex = export_annex(loc, tmp_path, "docx")
    with zipfile.ZipFile(annex) as z:
        custom = z.read("docProps/custom.xml").decode()
    assert 'name="kb.annex"' in custom and 'name="kb.passages.1"' in custom
    assert fingerprint(BETA) in custom


def test_the_web_annex_refuses_a_changed_passage(folder):
    from kb import KnowledgeBase
    from kb.web import create_app

    from .test_web import TestClient

    c, loc = folder
    h = beta_hit(loc)
    kb = KnowledgeBase(c, Path(loc[3]))
    client = TestClient(create_app(kb), base_url="http://127.0.0.1:8765")
    url = f"/api/export?ids=doc.md%232@{h['ref']}&format=md"
    assert client.get(url).status_code == 200
    edit_beta(c)
    kb.update()
    r = client.get(url)
    assert r.status_code == 409 and "changed since picked" in r.text
    r = client.get(url + "&allow_changed=1")
    assert r.status_code == 200 and "Changed since picked" in r.text
    kb.close()
