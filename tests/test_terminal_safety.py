"""No byte of a document, a file name or a query reaches the terminal as a control
sequence (issue 10, item 10): every command, through CliRunner, and `kb search` and
`kb index` on a real terminal (a pty), where Rich styles the output."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import select
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.api import KnowledgeBase
from kb.cli import cli

from .killloop import ROOT, kb_cmd, kb_env

#: clear the screen, set the window title, ring the bell
ATTACK = "\x1b[2J\x1b]0;PWNED\x07"
SHOWN = "␛[2J␛]0;PWNED␇"
TEXT = (f"Harassment training {ATTACK} covers bystanders and \x9b31mred\x9b0m text, "
        "back\x08\x08\x08\x08space tricks, a del \x7f char, a bidi \u202eesrever\u202c "
        "override and a zero\u200bwidth space.")
EVIL_TXT = f"# Harassment report \x1b]0;TITLE\x07 overview\n\n{TEXT}\n"
#: a file name with an OSC, SGR and a bidi override; a skipped file with CSI and BEL
EVIL_NAME = "name\x1b]0;FILE\x07\x1b[31m\u202e.md"
JUNK_NAME = "junk\x1b[2J\x07.pptx"
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def unsafe(text: str) -> list[str]:
    """Characters that would act on a terminal (or reorder its line)."""
    return sorted({c for c in text
                   if unicodedata.category(c) == "Cc" and c not in "\n\t" or c in BIDI})


@pytest.fixture()
def hostile(tmp_path: Path) -> tuple[Path, Path]:
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    (corpus / "evil.txt").write_text(EVIL_TXT, encoding="utf-8")
    (corpus / EVIL_NAME).write_text("# Name\n\nHarassment policy in a file with a hostile "
                                    "name.\n", encoding="utf-8")
    (corpus / JUNK_NAME).write_text("x", encoding="utf-8")
    KnowledgeBase(corpus, index).update()
    # a file added after the update: `kb status` lists it as new
    (corpus / "new\x1b]0;NEW\x07\u202e.md").write_text("# New\n\nNew text.\n", encoding="utf-8")
    return corpus, index


def kb(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def loc(hostile: tuple[Path, Path]) -> list[str]:
    return ["--corpus", str(hostile[0]), "--index", str(hostile[1])]


# --------------------------------------------------------------------------- the helpers


def test_safe_and_safe_line_leave_no_control_character_of_any_code_point():
    from kb.render import safe, safe_line

    every = "".join(chr(c) for c in range(0x110000))
    assert unsafe(safe(every)) == []
    assert [c for c in safe_line(every)
            if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs")] == []
    # lone surrogates (undecodable bytes in a file name) are shown too: UTF-8 holds the rest
    safe(every).encode("utf-8")
    safe_line(every).encode("utf-8")
    # ordinary text, tabs and newlines (and CRLF pairs) are kept as they are
    prose = "Peer-to-peer \u00e9t\u00e9 \u0645\u0631\u062d\u0628\u0627 \u200d\u200c\ttab\nline\r\n"
    assert safe(prose) == prose
    assert safe(ATTACK + "\x9b\r \u202e") == SHOWN + "\\u009b␍ \\u202e"
    assert safe_line("a\nb\tc\u200bd") == "a␊b␉c\\u200bd"


def test_json_text_keeps_the_text_and_escapes_what_a_terminal_would_run():
    from kb.render import json_text

    data = {"text": TEXT + "\u2028" + ATTACK, "doc": "caf\udce9.md"}
    out = json_text(data)
    assert unsafe(out) == [] and "\u2028" not in out
    out.encode("utf-8")
    assert json.loads(out) == data


# --------------------------------------------------------------------------- every command


def test_search_text_shows_control_characters_visibly(hostile):
    r = kb("search", "harassment", "--no-color", *loc(hostile))
    assert r.exit_code == 0, r.stderr
    assert unsafe(r.stdout) == [] and unsafe(r.stderr) == []
    out = " ".join(r.stdout.split())  # the snippet is wrapped
    assert SHOWN in out
    assert "Harassment report ␛]0;TITLE␇ overview" in out
    assert "\\u009b31mred\\u009b0m" in out and "back␈␈␈␈space" in out and "del ␡" in out
    assert "\\u202eesrever\\u202c" in out
    assert "zero\u200bwidth" in out  # part of the writing, kept in passage text
    assert "name␛]0;FILE␇␛[31m\\u202e.md:3" in out  # a citation


def test_search_query_echo_is_one_safe_line(hostile):
    r = kb("search", f"harassment{ATTACK}\nFAKE", *loc(hostile))
    assert unsafe(r.stdout) == [] and unsafe(r.stderr) == []
    first = r.stdout.splitlines()[0]  # the newline does not start a line of its own
    assert "match “harassment␛[2J␛]0;PWNED␇" in first and "FAKE” (" in first


@pytest.mark.parametrize("fmt", ["md", "csv"])
def test_search_text_formats_on_stdout_are_safe(hostile, fmt):
    r = kb("search", "harassment", "--format", fmt, *loc(hostile))
    assert r.exit_code == 0, r.stderr
    out = r.stdout.replace("\r\n", "\n") if fmt == "csv" else r.stdout
    assert unsafe(out) == []
    assert SHOWN in out
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(r.stdout)))
        cited = "/name␛]0;FILE␇␛[31m\\u202e.md:3"
        assert any(row["citation"].endswith(cited) for row in rows)


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_search_json_keeps_the_text_escaped(hostile, fmt):
    r = kb("search", "harassment", "--format", fmt, *loc(hostile))
    assert r.exit_code == 0, r.stderr
    assert unsafe(r.stdout) == []
    hits = (json.loads(r.stdout)["results"] if fmt == "json"
            else [json.loads(line) for line in r.stdout.splitlines()])
    assert any(h["text"] == TEXT for h in hits)
    assert any(h["doc"] == EVIL_NAME for h in hits)


@pytest.mark.parametrize("fmt", ["md", "csv", "html", "json", "jsonl"])
def test_export_to_stdout_is_safe(hostile, fmt):
    r = kb("export", "--format", fmt, "-o", "-", *loc(hostile))
    assert r.exit_code == 0, r.stderr
    out = r.stdout.replace("\r\n", "\n") if fmt == "csv" else r.stdout
    assert unsafe(out) == []
    if fmt.startswith("json"):
        hits = (json.loads(r.stdout)["results"] if fmt == "json"
                else [json.loads(line) for line in r.stdout.splitlines()])
        assert any(h["text"] == TEXT for h in hits)
    else:
        assert SHOWN in out


def test_export_to_a_file_keeps_the_text(hostile, tmp_path):
    """Files are not the terminal: a Markdown annex holds the document's text as it is."""
    out = tmp_path / f"annex{ATTACK}.md"
    r = kb("export", "harassment", "-o", str(out), *loc(hostile))
    assert r.exit_code == 0, r.stderr
    assert TEXT in out.read_text(encoding="utf-8").replace("**", "")  # matched words in bold
    assert unsafe(r.stderr) == [] and f"annex{SHOWN}.md" in r.stderr  # "Wrote … to …"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_show_is_safe(hostile, fmt):
    r = kb("show", f"{EVIL_NAME}#1", "--format", fmt, *loc(hostile))
    assert r.exit_code == 0, r.stderr
    assert unsafe(r.stdout) == []
    if fmt == "json":
        assert json.loads(r.stdout)["passages"][0]["doc"] == EVIL_NAME
    else:
        assert r.stdout.startswith("▶ name␛]0;FILE␇␛[31m\\u202e.md#1  —  ")
    r = kb("show", "evil.txt#1", "--format", fmt, *loc(hostile))
    assert unsafe(r.stdout) == []
    assert (TEXT in json.loads(r.stdout)["passages"][0]["text"]) if fmt == "json" \
        else (SHOWN in r.stdout)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_status_is_safe(hostile, fmt):
    r = kb("status", "--format", fmt, *loc(hostile))
    assert r.exit_code == 0, r.stderr
    assert unsafe(r.stdout) == []
    if fmt == "json":
        st = json.loads(r.stdout)
        assert st["new"] == ["new\x1b]0;NEW\x07\u202e.md"]
        assert [s["id"] for s in st["skipped"]] == [JUNK_NAME]
    else:
        assert "  new      new␛]0;NEW␇\\u202e.md" in r.stdout.splitlines()
        assert "  junk␛[2J␇.pptx: unsupported format '.pptx'" in r.stdout.splitlines()


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_docs_is_safe(hostile, fmt):
    r = kb("docs", "--format", fmt, *loc(hostile))
    assert r.exit_code == 0, r.stderr
    assert unsafe(r.stdout) == []
    if fmt == "json":
        assert {d["id"] for d in json.loads(r.stdout)} == {"evil.txt", EVIL_NAME}
    else:
        assert "Harassment report ␛]0;TITLE␇ overview" in r.stdout
        assert "corpus/name␛]0;FILE␇␛[31m\\u202e.md" in r.stdout


def test_index_lists_skipped_files_safely(hostile):
    r = kb("index", "--rebuild", *loc(hostile))
    assert r.exit_code == 0, r.stderr
    assert unsafe(r.stdout) == [] and unsafe(r.stderr) == []
    assert r.stderr.startswith("skipped 1 file (1 unsupported format): see `kb status")
    st = kb("status", *loc(hostile))  # where the skipped files are named
    assert unsafe(st.stdout) == [] and unsafe(st.stderr) == []
    assert "  junk␛[2J␇.pptx: unsupported format '.pptx'" in st.stdout.splitlines()


def test_errors_echo_names_as_one_safe_line(hostile, tmp_path):
    # a missing corpus folder named in the error
    r = kb("search", "x", "--corpus", str(tmp_path / f"no{ATTACK}\nError: fake"),
           "--index", str(tmp_path / "idx"))
    assert r.exit_code == 2
    assert unsafe(r.stderr) == [] and len(r.stderr.splitlines()) == 1
    assert f"no{SHOWN}␊Error: fake" in r.stderr
    # an export target that exists
    target = tmp_path / f"out{ATTACK}.md"
    target.write_text("mine", encoding="utf-8")
    r = kb("export", "harassment", "-o", str(target), *loc(hostile))
    assert r.exit_code == 2
    assert unsafe(r.stderr) == [] and f"out{SHOWN}.md already exists" in r.stderr


def test_debug_traceback_shows_names_safely(tmp_path):
    """`kb --debug` prints the traceback (which the one-line errors ask users to send)."""
    r = subprocess.run(kb_cmd("--debug", "search", "x", "--corpus", str(tmp_path / f"no{ATTACK}"),
                              "--index", str(tmp_path / "idx")),
                       cwd=ROOT, env=kb_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "Traceback" in r.stderr
    assert unsafe(r.stderr) == [] and f"no{SHOWN} does not exist" in r.stderr


# --------------------------------------------------------------------------- a real terminal


def run_in_pty(*args: str, timeout: float = 120) -> tuple[int, str]:
    """``kb ARGS`` with stdin, stdout and stderr on a pseudo-terminal (Rich styles it)."""
    import fcntl
    import pty
    import struct
    import termios

    env = {k: v for k, v in kb_env().items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(TERM="xterm-256color", COLUMNS="200", LINES="50")
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    p = subprocess.Popen(kb_cmd(*args), stdin=slave, stdout=slave, stderr=slave, cwd=ROOT,
                         env=env, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([master], [], [], timeout)
            if not ready:
                p.kill()
                raise AssertionError(f"kb {args} did not finish in {timeout} s")
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the terminal's other side closed
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return p.wait(timeout), b"".join(chunks).decode("utf-8", "replace")


#: Rich's own sequences: SGR styles; the progress bar also hides the cursor and redraws lines
SGR = re.compile(r"\x1b\[[0-9;]*m")
RICH_PROGRESS = re.compile(r"\x1b\[(?:\?25[lh]|[0-9;]*[mKA])")


def foreign_sequences(out: str, allowed: re.Pattern[str]) -> list[str]:
    """What is left after Rich's own sequences: must hold no control character."""
    rest = allowed.sub("", out).replace("\r\n", "\n")
    return unsafe(rest.replace("\r", "")) if allowed is RICH_PROGRESS else unsafe(rest)


@pytest.mark.parametrize("color", [True, False])
def test_search_on_a_terminal_prints_only_rich_styling(hostile, color):
    code, out = run_in_pty("search", "harassment", *loc(hostile),
                           *(() if color else ("--no-color",)))
    assert code == 0, out
    assert foreign_sequences(out, SGR) == []
    plain = SGR.sub("", out)
    assert SHOWN in plain and "\\u009b31mred" in plain
    assert "name␛]0;FILE␇␛[31m\\u202e.md:3" in plain
    if color:  # styled by Rich, highlights still on the matched word
        assert "\x1b[1;33mHarassment\x1b[0m training ␛[2J" in out
    else:
        assert "\x1b" not in out


def test_progress_bar_shows_file_names_safely(tmp_path):
    """The progress bar names the file being read: markup-like and control characters
    in it are shown as written (a folder `a[` with a file `b]….md` made Rich fail)."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    (corpus / "a[").mkdir(parents=True)
    for i in range(30):
        (corpus / "a[" / f"b]{i}{ATTACK}.md").write_text(
            f"# Doc {i}\n\nHarassment text number {i}.\n", encoding="utf-8")
    code, out = run_in_pty("index", "--corpus", str(corpus), "--index", str(index))
    assert code == 0, out
    assert "Built index" in out
    assert foreign_sequences(out, RICH_PROGRESS) == []
    assert "\x1b]" not in out and "\x1b[2J" not in out
    assert re.search(r"a\[/b\]\d+␛\[2J␛\]0;PWNED␇\.md", out), out[-500:]

