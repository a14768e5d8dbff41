"""The ``kb`` command: a thin Click shell over :class:`kb.api.KnowledgeBase`.

Results go to stdout; messages, warnings and progress bars to stderr.
Exit codes: 0 results found (or command succeeded), 1 the search ran and
found nothing, 2 an error (one line on stderr, no traceback; ``--debug``
shows it), 130 interrupted.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import KbError

EXIT_OK, EXIT_NO_RESULTS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130

QUERY_HELP = """
\b
Query syntax:
  bystander intervention        as a phrase first, then both words, then either
  "bystander intervention"      exact phrase (quote it for the shell: '"..."')
  harassment OR abuse           either word
  harassment AND NOT online     AND, OR, NOT (capitals), brackets to group
  harassment -online            -word excludes a word
  interven*                     wildcard (* any letters, ? one letter)
  harrasment~                   fuzzy: close spellings (edit distance 2 for
                                words of 5+ letters, else 1; ~1 to narrow)
  title:tolerance               search only titles; also section: and doc:
  section:"closing remarks"     a phrase in section headings
  doc:making*                   documents whose path matches a pattern
  symbol:S/RES/2771             UN documents with this symbol (PDFs)
  date:2022                     dates: date:2022-05, date:[2021 to 2022],
                                date:>2021
  ST/SGB/2003/13                UN document symbols, as written

\b
Examples:
  kb search bystander intervention
  kb search '"zero tolerance"' --since 2022 --format json
  kb search harassment --doc 'reports/2022*' --group
"""


def _debug(args: list[str] | None) -> bool:
    argv = sys.argv[1:] if args is None else args
    return "--debug" in argv or bool(os.environ.get("KB_DEBUG"))


def _err(msg: str) -> None:
    """A message on stderr; control characters from file names or queries in it are
    shown visibly (see kb.render.safe)."""
    from .render import safe

    click.echo(safe(msg), err=True)


def _fail(msg: str) -> None:
    """A one-line error on stderr: also a newline from a name or query shows as ␊."""
    from .render import safe_line

    click.echo(safe_line(msg), err=True)


def _forget_unhandled_keyboard_interrupt() -> None:
    """Let ``sys.exit(130)`` decide the exit status after a caught Ctrl-C.

    CPython marks a KeyboardInterrupt that ends a *string* ``exec``/``eval`` as
    unhandled even when it is caught later (``dataclasses`` and ``namedtuple``
    build their methods that way, during kb's lazy imports); under ``python -m
    kb`` ``Py_RunMain`` then kills the process with SIGINT (exit -2) instead of
    exiting 130.  Each string ``exec`` clears the mark when it starts.
    """
    exec("pass", {})  # noqa: S102 - a constant string, for the side effect above


class KbGroup(click.Group):
    """Maps every error to one line on stderr and the documented exit codes."""

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(args) if args is not None else None
        try:
            rv = super().main(argv, prog_name or "kb", complete_var,
                              standalone_mode=False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt):
            _forget_unhandled_keyboard_interrupt()
            _err("Interrupted.")
            sys.exit(EXIT_INTERRUPTED)
        except click.UsageError as e:
            if type(e).__name__ == "NoArgsIsHelpError":  # bare `kb`: the help is the answer
                e.show()
                sys.exit(EXIT_ERROR)
            # one line, like every other error (Click would add the usage and a hint)
            cmd = e.ctx.command_path if e.ctx is not None else "kb"
            msg = e.format_message()
            _fail(f"Error: {msg}" + ("" if "--help" in msg else f" (see `{cmd} --help`)"))
            sys.exit(EXIT_ERROR)
        except click.ClickException as e:
            _fail(f"Error: {e.format_message()}")
            sys.exit(EXIT_ERROR)
        except KbError as e:
            if _debug(argv):
                raise
            _fail(f"Error: {e}")
            sys.exit(EXIT_ERROR)
        except BrokenPipeError:
            # the reader went away (`kb search ... | head`): not an error
            try:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            except OSError:
                pass
            sys.exit(EXIT_OK)
        except OSError as e:
            if _debug(argv):
                raise
            _fail(f"Error: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
            sys.exit(EXIT_ERROR)
        except Exception as e:  # noqa: BLE001 - a bug: still one line, never a traceback
            if _debug(argv):
                raise
            msg = str(e).splitlines()[0][:300] if str(e) else ""
            _fail(f"Error: unexpected {type(e).__name__}" + (f": {msg}" if msg else "")
                 + "; this is a bug in kb: please report it with the output of `kb --debug ...`")
            sys.exit(EXIT_ERROR)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


class DateParam(click.ParamType):
    """YYYY, YYYY-MM or YYYY-MM-DD; ``end=True`` takes the last day of the period."""

    name = "DATE"

    def __init__(self, end: bool = False) -> None:
        self.end = end

    def convert(self, value: Any, param: Any, ctx: Any) -> dt.date:
        if isinstance(value, dt.date):
            return value
        s = str(value).strip()
        try:
            if re.fullmatch(r"\d{4}", s):
                return dt.date(int(s), 12, 31) if self.end else dt.date(int(s), 1, 1)
            if re.fullmatch(r"\d{4}-\d{1,2}", s):
                y, m = map(int, s.split("-"))
                if self.end:
                    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
                    return nxt - dt.timedelta(days=1)
                return dt.date(y, m, 1)
            return dt.date.fromisoformat(s)
        except ValueError:
            pass
        self.fail(f"{value!r} is not a date; use YYYY, YYYY-MM or YYYY-MM-DD", param, ctx)


def location_options(f: Any) -> Any:
    f = click.option("--index", "index_", metavar="DIR",
                     help="Index folder (default: $KB_INDEX, kb.toml, ./index).")(f)
    f = click.option("--corpus", metavar="DIR",
                     help="Folder of reports (default: $KB_CORPUS, kb.toml, ./corpus).")(f)
    return f


def filter_options(f: Any) -> Any:
    f = click.option("--until", type=DateParam(end=True),
                     help="Only documents dated on or before this (YYYY[-MM[-DD]]).")(f)
    f = click.option("--since", type=DateParam(),
                     help="Only documents dated on or after this (YYYY[-MM[-DD]]).")(f)
    f = click.option("--section", metavar="TEXT",
                     help="Only passages whose section heading has these words.")(f)
    f = click.option("--doc", metavar="PATTERN",
                     help="Only documents whose path matches (glob, or a part of the path).")(f)
    return f


def _kb(corpus: str | None, index: str | None) -> Any:
    from .api import KnowledgeBase
    from .config import resolve

    s = resolve(corpus, index)
    kb = KnowledgeBase(corpus=s.corpus, index=s.index)
    ctx = click.get_current_context(silent=True)
    return ctx.with_resource(kb) if ctx is not None else kb


def _use_color(no_color: bool) -> bool:
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _progress_bar() -> tuple[Any, Any]:
    """A Rich progress bar on stderr when it is a terminal, else nothing."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .render import safe_line

    # markup=False: a file name is shown as written ("[b]" is no style, "[/x]" no error)
    prog = Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.description}", markup=False),
                    console=Console(stderr=True), transient=True)
    task = prog.add_task("", total=None)

    def callback(done: int, total: int, current: str) -> None:
        prog.update(task, completed=done, total=total, description=safe_line(current[-40:]))

    return prog, callback


def _run_update(kb: Any, rebuild: bool) -> Any:
    from .render import report_text, skipped_text

    prog, callback = _progress_bar()
    if prog is not None:
        with prog:
            report = kb.update(rebuild=rebuild, progress=callback)
    else:
        report = kb.update(rebuild=rebuild)
    return report, report_text(report), skipped_text(report)


def _ensure_index(kb: Any) -> None:
    """Build the index on first use; warn on stderr when files changed since."""
    if not kb.has_index():
        if not kb.corpus.is_dir():
            from .errors import CorpusNotFound

            raise CorpusNotFound(f"corpus folder {kb.corpus} does not exist; "
                                 "point --corpus at your reports folder")
        _err(f"No index yet: building it from {kb.corpus} …")
        _, summary, skipped = _run_update(kb, rebuild=False)
        _err(summary)
        if skipped:
            _err(skipped)
        return
    if not kb.corpus.is_dir():
        return
    stale = kb.quick_staleness()
    if stale.folders:
        n = len(stale.folders)
        _err(f"Note: files were added, removed or renamed in {n} folder{'s' * (n != 1)} since "
             "the index was updated; run `kb index` to update it.")
    elif stale.count:
        _err(f"Note: {stale.count} file{'s' * (stale.count != 1)} changed since the index was "
             f"updated ({len(stale.new)} new, {len(stale.changed)} changed, "
             f"{len(stale.deleted)} deleted); run `kb index` to update it.")


@click.group(cls=KbGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="kb")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Search a folder of reports and get ranked, cited passages.

    \b
    Start with:
      kb search bystander intervention    (builds the index on first use)
      kb index                            (bring the index up to date)
    """


@cli.command(epilog=QUERY_HELP,
             context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=10, show_default=True,
              help="How many hits to show.")
@click.option("--offset", type=click.IntRange(min=0), default=0,
              help="Skip this many hits (for paging).")
@filter_options
@click.option("--group", is_flag=True, help="One line per document: its best passage.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "jsonl", "csv", "md"]),
              default="text", show_default=True, help="Output format.")
@click.option("--no-color", is_flag=True, help="Plain output even on a terminal.")
@location_options
def search(query: tuple[str, ...], limit: int, offset: int, doc: str | None,
           section: str | None, since: dt.date | None, until: dt.date | None, group: bool,
           fmt: str, no_color: bool, corpus: str | None, index_: str | None) -> int:
    """Search the reports: ranked passages with their sources.

    Words are matched in any form (harass, harassed, harassment), in British
    or American spelling.  Exit code 0 when something matched, 1 when
    nothing did, 2 on errors.
    """
    text = " ".join(query)
    if any(q.startswith("-") and len(q) > 1 and q[1] == "-" for q in query):
        raise click.UsageError(f"unknown option in {text!r}; see `kb search --help`")
    kb = _kb(corpus, index_)
    _ensure_index(kb)
    result = kb.search(text, limit=limit, offset=offset, doc=doc, section=section,
                       since=since, until=until, group=group)
    out = sys.stdout
    if fmt == "text":
        if _use_color(no_color):
            from rich.console import Console

            from .render import rich_results

            rich_results(result, Console(highlight=False))
        else:
            from .render import plain_results

            plain_results(result, out)
    elif fmt == "md":
        from . import export
        from .render import SafeWriter

        export.write_md_list(result, SafeWriter(out))
    else:
        from . import export
        from .render import SafeWriter

        # JSON escapes control characters itself; CSV is text on stdout
        export.WRITERS[fmt](result, out if fmt.startswith("json") else SafeWriter(out))
    out.flush()
    if result.suggestion:
        _err(f"Did you mean: {result.suggestion}?  Run: kb search {_shell_quote(result.suggestion)}")
    return EXIT_OK if result.hits else EXIT_NO_RESULTS


def _shell_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


@cli.command("index")
@click.option("--rebuild", is_flag=True, help="Build from scratch instead of updating.")
@location_options
def index_cmd(rebuild: bool, corpus: str | None, index_: str | None) -> None:
    """Bring the index up to date with the corpus folder.

    Adds new files, re-indexes changed ones (by content hash) and removes
    deleted ones; unchanged files are not read again.  Safe to interrupt:
    the previous index stays searchable until the new state is complete.
    """
    kb = _kb(corpus, index_)
    _, summary, skipped = _run_update(kb, rebuild)
    click.echo(summary)
    if skipped:
        _err(skipped)


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "json", "jsonl", "html"]),
              default=None, help="Output format (default: from the -o extension, else md).")
@click.option("-o", "--output", default="-", metavar="FILE", show_default=True,
              help="File to write; - for stdout.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None,
              help="At most this many passages (default: all).")
@filter_options
@location_options
def export(query: tuple[str, ...], fmt: str | None, output: str, force: bool,
           limit: int | None, doc: str | None, section: str | None, since: dt.date | None,
           until: dt.date | None, corpus: str | None, index_: str | None) -> int:
    """Export matched passages (all of them) as a briefing annex or data.

    With no QUERY, every passage is exported in document order.  The file is
    written atomically and never overwrites an existing file without --force.

    \b
    Examples:
      kb export "bystander intervention" -o annex.html
      kb export harassment --format csv -o hits.csv
      kb export --format jsonl -o - | head
    """
    from . import export as ex
    from .models import SearchResult

    if fmt is None:
        ext = Path(output).suffix.lower().lstrip(".")
        fmt = ext if ext in ex.FORMATS else "md"
    out_path = None if output == "-" else Path(output)
    if out_path is not None:  # refuse early, before any work
        if out_path.exists() and not force and not out_path.is_dir():
            raise KbError(f"{out_path} already exists; use --force to overwrite it")
    kb = _kb(corpus, index_)
    _ensure_index(kb)
    text = " ".join(query).strip()
    if text:
        result = kb.search(text, limit=limit, doc=doc, section=section, since=since,
                           until=until)
    else:
        import fnmatch
        import time

        t0 = time.perf_counter()
        passages = kb.passages()
        if doc:
            pat = doc if any(c in doc for c in "*?[") else f"*{doc}*"
            passages = [p for p in passages if fnmatch.fnmatchcase(p.doc, pat)]
        if section:
            passages = [p for p in passages if section.lower() in p.section.lower()]
        if since or until:
            lo = (since or dt.date.min).isoformat()
            hi = (until or dt.date.max).isoformat()
            passages = [p for p in passages if p.date and lo <= p.date <= hi]
        if limit:
            passages = passages[:limit]
        hits = tuple(kb.hit_for(p) for p in passages)
        result = SearchResult(query="", total=len(hits), hits=hits,
                              elapsed=time.perf_counter() - t0)
    writer = ex.WRITERS[fmt]
    if out_path is None:
        from .render import SafeWriter

        # stdout: JSON escapes control characters itself, the text formats show them
        writer(result, sys.stdout if fmt.startswith("json") else SafeWriter(sys.stdout))
        sys.stdout.flush()
    else:
        ex.write_file(out_path, lambda f: writer(result, f), force=force)
        _err(f"Wrote {len(result.hits):,} passage{'s' * (len(result.hits) != 1)} to {out_path}")
    return EXIT_OK if result.hits else EXIT_NO_RESULTS


@cli.command()
@click.argument("passage_id", metavar="ID")
@click.option("--context", "-C", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also show N passages before and after.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@location_options
def show(passage_id: str, context: int, fmt: str, corpus: str | None,
         index_: str | None) -> None:
    """Show a passage in full, with its citation (ID as in search results)."""
    kb = _kb(corpus, index_)
    passages = kb.context(passage_id, context)
    hits = [kb.hit_for(p) for p in passages]
    if fmt == "json":
        from .render import json_text

        click.echo(json_text({"id": passage_id, "passages": [h.to_dict() for h in hits]},
                             indent=2))
        return
    from .render import passages_text

    click.echo(passages_text(hits, focus=passage_id), nl=False)


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@location_options
def status(fmt: str, corpus: str | None, index_: str | None) -> None:
    """Where the corpus and index are, what is indexed, what changed or was skipped."""
    kb = _kb(corpus, index_)
    st = kb.status().to_dict()
    if fmt == "json":
        from .render import json_text

        click.echo(json_text(st, indent=2))
        return
    from .render import status_text

    click.echo(status_text(st))


@cli.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@location_options
def docs(fmt: str, corpus: str | None, index_: str | None) -> None:
    """List the indexed documents: title, date, passages, path."""
    kb = _kb(corpus, index_)
    documents = kb.documents()
    if fmt == "json":
        from .render import json_text

        click.echo(json_text([d.to_dict() for d in documents], indent=2))
        return
    from .render import docs_text

    click.echo(docs_text(documents))


def _safe_excepthook(etype: Any, value: Any, tb: Any) -> None:
    """``kb --debug`` tracebacks name files too: print them through kb.render.safe."""
    import traceback

    from .render import safe

    sys.stderr.write(safe("".join(traceback.format_exception(etype, value, tb))))


def main() -> None:
    sys.excepthook = _safe_excepthook
    cli.main(prog_name="kb")
