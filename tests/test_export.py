import csv
import io
import json
from pathlib import Path

import pytest

from kb import export
from kb.errors import OutputError, OutputExists
from kb.models import Hit, SearchResult


def hit(i=1, text="Plain text.", doc="a.md"):
    return Hit(rank=i, score=1.5, id=f"{doc}#{i}", doc=doc, title="A title", date="2022-05-26",
               section="Sec", heading_path=("Sec",), line_start=3, line_end=4, page=None,
               paragraph=None, text=text, snippet=text, highlights=(), missing_terms=("x",),
               citation=f"corpus/{doc}:3-4", path=f"corpus/{doc}")


def result(*hits):
    return SearchResult(query="q", total=len(hits), hits=tuple(hits), elapsed=0.01)


def test_json_and_jsonl_share_fields():
    r = result(hit(1), hit(2))
    data = json.loads(export.render(r, "json"))
    assert data["query"] == "q" and data["total"] == 2
    lines = [json.loads(x) for x in export.render(r, "jsonl").splitlines()]
    assert lines == data["results"]


def test_csv_header_and_formula_neutralised():
    r = result(hit(1, text="=HYPERLINK(\"http://evil\")"), hit(2, text="@SUM(A1)"),
               hit(3, text="-2+3"), hit(4, text="fine"))
    rows = list(csv.DictReader(io.StringIO(export.render(r, "csv"))))
    assert list(rows[0].keys()) == list(export.CSV_FIELDS)
    assert rows[0]["text"].startswith("'=") and rows[1]["text"].startswith("'@")
    assert rows[2]["text"].startswith("'-") and rows[3]["text"] == "fine"


def test_html_is_escaped_and_grouped():
    r = result(hit(1, text="<script>alert(1)</script></td>"), hit(2, doc="b.md"))
    out = export.render(r, "html")
    assert "<script>alert" not in out and "&lt;script&gt;" in out
    assert out.count("<h2>") == 2
    assert "2 passages from 2 documents" in out


def test_md_annex_groups_by_document():
    out = export.render(result(hit(1), hit(2), hit(3, doc="b.md")), "md")
    assert out.startswith("# q\n")
    assert out.count("\n## ") == 2 and "— a.md:3-4" in out and "corpus/" not in out


def test_write_file_refuses_existing(tmp_path: Path):
    target = tmp_path / "out.md"
    target.write_text("precious")
    with pytest.raises(OutputExists):
        export.write_file(target, lambda f: f.write("new"))
    assert target.read_text() == "precious"
    export.write_file(target, lambda f: f.write("new"), force=True)
    assert target.read_text() == "new"


def test_write_file_failure_leaves_nothing(tmp_path: Path):
    target = tmp_path / "out.md"

    def boom(f):
        f.write("partial")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        export.write_file(target, boom)
    assert list(tmp_path.iterdir()) == []
    target.write_text("old")
    with pytest.raises(RuntimeError):
        export.write_file(target, boom, force=True)
    assert target.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_write_file_missing_folder(tmp_path: Path):
    with pytest.raises(OutputError, match="does not exist"):
        export.write_file(tmp_path / "nope" / "x.md", lambda f: f.write("x"))
