"""The ``kb`` command: a thin Click shell over :class:`kb.api.KnowledgeBase`.

Results go to stdout; messages, warnings and progress bars to stderr.
Exit codes: 0 results found (or command succeeded), 1 the search ran and
found nothing, 2 an error (one line on stderr, no traceback; ``--debug``
shows it), 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import signal
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
  harassment -online            -word excludes a word (anywhere on the line)
  interven*   harass?ent        wildcards (* any letters, ? one letter) on the
                                words as written in the documents
  harrasment~                   fuzzy: close spellings (edit distance 2 for
                                words of 5+ letters, else 1; ~1 to narrow)
  title:tolerance               search only titles; also section: and doc:
  section:"closing remarks"     a phrase in section headings
  doc:making*                   documents whose path matches a pattern
                                (doc:UNW* matches a file name in any folder)
  symbol:unw/2025/1             the UN document with this symbol (any case)
  date:2022                     dates: date:2022-05, date:[2021 to 2022],
                                date:>2021 (2022 on), date:>=2021 (2021 on)
  E/ICEF/2025/26                a UN symbol alone: that document first,
                                then the passages that mention it

\b
Examples:
  kb search bystander intervention
  kb search '"zero tolerance"' --since 2022 --format json
  kb search harassment --doc 'reports/2022*' --group
"""


def _debug() -> bool:
    """``kb --debug`` (set by the group's callback) or ``KB_DEBUG`` in the environment."""
    return _Invocation.debug or bool(os.environ.get("KB_DEBUG"))


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


#: ``ctx.meta`` key: the exit code a command has earned before it writes its output
#: (0 found, 1 nothing), kept when the reader goes away mid-output (``kb search | head``)
_EXIT_KEY = "kb.exit_code"


def _promise_exit(code: int) -> int:
    """Record the exit code of what was found before writing it out."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_EXIT_KEY] = code
    return code


def _drop_stdout() -> None:
    """The reader closed the pipe: send what is still buffered to /dev/null.

    Pointing file descriptor 1 at /dev/null (rather than replacing sys.stdout)
    also keeps the interpreter's final flush of the old stream quiet.
    """
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(fd, sys.stdout.fileno())
        finally:
            os.close(fd)
    except (OSError, ValueError):  # no real file descriptor (e.g. CliRunner)
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115


class KbCommand(click.Command):
    """A kb subcommand: its usage errors name it (`kb export --help`, not `kb --help`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as e:
            if e.ctx is None:  # Click's parser raises some errors without a context
                e.ctx = ctx
            raise


class QueryCommand(KbCommand):
    """A command whose QUERY words may start with ``-`` (``-online`` excludes a word).

    Click alone would read ``-online`` as ``-o nline``, ``-health`` as ``-h``
    (help) and ``-n3x`` as ``-n 3x``.  So the arguments are sorted before Click
    parses them: the command's own options, written exactly (``-n 3``,
    ``--limit=3``, ``-n3``), keep their values; an unknown ``--name`` is a usage
    error naming the closest option; every other argument, ``-word`` included,
    is a query word, in the order given.  After ``--`` everything is a query word.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self.sort_args(ctx, args))

    def sort_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        kinds: dict[str, str] = {}  # option name -> "flag" | "int" | "value"
        for p in self.get_params(ctx):
            if isinstance(p, click.Option):
                kind = ("flag" if p.is_flag or p.count else
                        "int" if isinstance(p.type, click.types.IntParamType) else "value")
                for name in (*p.opts, *p.secondary_opts):
                    kinds[name] = kind
        options: list[str] = []
        words: list[str] = []
        rest = list(args)
        while rest:
            arg = rest.pop(0)
            name = arg.split("=", 1)[0] if arg.startswith("--") else arg
            if arg == "--":
                words += rest
                break
            if name in kinds:
                options.append(arg)
                if kinds[name] != "flag" and "=" not in arg:
                    if not rest:
                        raise click.BadOptionUsage(
                            name, f"Option {name!r} requires an argument.", ctx)
                    options.append(rest.pop(0))  # its value, even if it starts with "-"
            elif arg.startswith("--"):
                raise click.NoSuchOption(name, ctx=ctx,
                                         possibilities=[k for k in kinds if k[:2] == "--"])
            elif kinds.get(arg[:2]) == "int" and arg[2:].isdigit():
                options.append(arg)  # -n3
            else:
                words.append(arg)
                if arg[:1] == "-" and kinds.get("-" + arg) is not None:
                    _err(f"Note: {arg} is searched as a word to exclude; "
                         f"for the option write -{arg}")
        return options + (["--", *words] if words else [])


class _Invocation:
    """What this run of ``kb`` was told, for advice and the auto-update (set by ``_kb``)."""

    location: list[str] = []  # the --corpus/--index options the user gave
    auto_update = True  # kb.toml ``auto_update``
    debug = False  # ``kb --debug``: tracebacks instead of one-line errors


def _advise(msg: str) -> str:
    """Every `kb COMMAND` advised in ``msg`` gets the --corpus/--index the user gave,
    so the advice works as printed (``kb index --rebuild --index ix``)."""
    if not _Invocation.location:
        return msg
    extra = " ".join(_shell_quote(a) for a in _Invocation.location)

    def add(m: re.Match[str]) -> str:
        cmd = m.group(1)
        if cmd.startswith("kb -") or "--help" in cmd or "--index" in cmd or "--corpus" in cmd:
            return m.group(0)
        return f"`{cmd} {extra}`"

    return re.sub(r"`(kb(?: [^`]*)?)`", add, msg)


class KbGroup(click.Group):
    """Maps every error to one line on stderr and the documented exit codes."""

    command_class = KbCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            rv = super().invoke(ctx)
            sys.stdout.flush()
            return rv
        except BrokenPipeError:
            # the reader went away (`kb search ... | head -1`): not an error; the
            # exit code is still that of what was found
            _drop_stdout()
            return ctx.meta.get(_EXIT_KEY, EXIT_OK)

    def main(self, args: Any = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        argv = list(args) if args is not None else None
        _Invocation.location, _Invocation.auto_update, _Invocation.debug = [], True, False
        try:
            try:
                rv = super().main(argv, prog_name or "kb", complete_var,
                                  standalone_mode=False, **extra)
            except Exception:
                if _Interrupt.seen:
                    # Ctrl-C landed inside a C extension's import, which turned it
                    # into another error (numpy: "ImportError: _multiarray_umath
                    # failed to import"): it is still the user's Ctrl-C
                    raise KeyboardInterrupt from None
                raise
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
            if _debug():
                raise
            lines = getattr(e, "lines", None)
            if lines:  # one line per item (changed references): each made safe
                for line in [f"Error: {lines[0]}", *lines[1:]]:
                    _fail(line)
            else:
                _fail(_advise(f"Error: {e}"))
            sys.exit(EXIT_ERROR)
        except BrokenPipeError:
            # the reader went away (`kb search ... | head`): not an error
            try:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115
            except OSError:
                pass
            sys.exit(EXIT_OK)
        except OSError as e:
            if _debug():
                raise
            _fail(f"Error: {e.strerror or e}" + (f": {e.filename}" if e.filename else ""))
            sys.exit(EXIT_ERROR)
        except Exception as e:  # noqa: BLE001 - a bug: still one line, never a traceback
            if _debug():
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
        from .search import parse_date

        try:
            return parse_date(str(value), self.end)
        except ValueError as e:
            self.fail(str(e), param, ctx)


def location_options(f: Any) -> Any:
    f = click.option("--index", "index_", metavar="DIR",
                     help="Index folder (default: $KB_INDEX, kb.toml, ./index).")(f)
    f = click.option("--corpus", metavar="DIR",
                     help="Folder of reports (default: $KB_CORPUS, kb.toml, ./corpus).")(f)
    return f


def no_update_option(f: Any) -> Any:
    return click.option(
        "--no-update", is_flag=True,
        help="Search the index as it is, without indexing a few changed files first "
             "(kb.toml: auto_update = false).")(f)


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
    for warning in s.warnings:
        _err(f"Warning: {warning}")
    _Invocation.location = [a for opt, v in (("--corpus", corpus), ("--index", index)) if v
                            for a in (opt, v)]
    _Invocation.auto_update = s.auto_update
    kb = KnowledgeBase(corpus=s.corpus, index=s.index, corpus_prefix=s.corpus_prefix)
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


def _ensure_index(kb: Any, no_update: bool = False) -> None:
    """``KnowledgeBase.prepare`` (build the index on first use, else update it when
    cheap), saying on stderr what it did or what changed."""
    bar: list[Any] = []

    def before_build() -> None:
        # called before the build: the marker still says why ("the index was built
        # by an older kb (schema 7, now 8)"), "" when there was no index
        why = kb.outdated()
        if why:
            _err(f"{why[0].upper()}{why[1:]}: rebuilding it from {kb.corpus} …")
        else:
            _err(f"No index yet: building it from {kb.corpus} …")
        prog, callback = _progress_bar()
        if prog is not None:
            prog.start()
            bar[:] = [prog, callback]

    def progress(done: int, total: int, current: str) -> None:
        if bar:
            bar[1](done, total, current)

    try:
        r = kb.prepare(update=_Invocation.auto_update and not no_update, progress=progress,
                       before_build=before_build)
    finally:
        if bar:
            bar[0].stop()
    if r.action == "built":
        from .render import report_text, skipped_text

        _err(report_text(r.report))
        skipped = skipped_text(r.report)
        if skipped:
            _err(_advise(skipped))
        return
    note = _refresh_note(r)
    if note:
        _err(_advise(note))


def _refresh_note(r: Any) -> str:
    """One line on what ``KnowledgeBase.refresh`` did ("" when nothing changed)."""
    from .api import AUTO_UPDATE_MAX_BYTES, AUTO_UPDATE_MAX_FILES

    def files(n: int) -> str:
        return f"{n} file{'s' * (n != 1)}"

    st = r.stale
    if r.action == "current":
        return ""
    if r.action == "updated":
        rep = r.report
        failed = r.files - len(rep.added) - len(rep.updated)
        return (f"Updated the index first: added {len(rep.added)}, updated {len(rep.updated)}, "
                f"removed {len(rep.removed)} ({rep.elapsed:.2f} s)"
                + (f"; {files(failed)} could not be read (see `kb status`)" if failed > 0
                   else "") + ".")
    if st.folders:
        n = len(st.folders)
        what = (f"files were added, removed or renamed in {n} folder{'s' * (n != 1)} since "
                "the index was updated")
    else:
        what = (f"{files(st.count)} changed since the index was updated ({len(st.new)} new, "
                f"{len(st.changed)} changed, {len(st.deleted)} deleted)")
    if r.action == "off":
        return f"Note: {what}; run `kb index` to update it."
    why = {
        "too-large": f", more than a search updates by itself ({AUTO_UPDATE_MAX_FILES} files "
                     f"or {AUTO_UPDATE_MAX_BYTES >> 20} MB)",
        "locked": f"; {r.reason}",
        "read-only": f"; the index folder cannot be written ({r.reason})",
    }.get(r.action, "")
    return f"Note: {what}{why}; searching the index as it is: run `kb index` to update it."


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
    _Invocation.debug = debug


@cli.command(cls=QueryCommand, epilog=QUERY_HELP,
             short_help="Search the reports: ranked passages with their sources.")
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
@click.option("--no-correct", is_flag=True,
              help="Do not replace a misspelled word by the word clearly meant "
                   "(it is only suggested).")
@no_update_option
@location_options
def search(query: tuple[str, ...], limit: int, offset: int, doc: str | None,
           section: str | None, since: dt.date | None, until: dt.date | None, group: bool,
           fmt: str, no_color: bool, no_correct: bool, no_update: bool, corpus: str | None,
           index_: str | None) -> int:
    """Search the reports: ranked passages with their sources.

    Words are matched in any form (harass, harassed, harassment), in British
    or American spelling.  A word starting with - anywhere on the line is
    excluded (-h alone is help).  Exit code 0 when something is shown, 1 when
    nothing matched (or --offset is past the last match), 2 on errors.
    """
    text = " ".join(query)
    kb = _kb(corpus, index_)
    _ensure_index(kb, no_update)
    result = kb.search(text, limit=limit, offset=offset, doc=doc, section=section,
                       since=since, until=until, group=group, correct=not no_correct)
    out = sys.stdout
    _promise_exit(EXIT_OK if result.hits else EXIT_NO_RESULTS)
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
    for note in result.notes:
        _err(f"Note: {note}")
    if result.suggestion:
        _err(f"Did you mean: {result.suggestion}?  Run: kb search {_shell_quote(result.suggestion)}")
    return EXIT_OK if result.hits else EXIT_NO_RESULTS


def _shell_quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


@cli.command("index", short_help="Bring the index up to date with the corpus folder.")
@click.option("--rebuild", is_flag=True, help="Build from scratch instead of updating.")
@location_options
def index_cmd(rebuild: bool, corpus: str | None, index_: str | None) -> None:
    """Bring the index up to date with the corpus folder.

    Adds new files, re-indexes changed ones (by content hash) and removes
    deleted ones; unchanged files are not read again.  Safe to interrupt:
    the previous index stays searchable until the new state is complete.

    \b
    Examples:
      kb index
      kb index --rebuild
      kb index --corpus ~/reports --index ~/reports-index
    """
    kb = _kb(corpus, index_)
    why = "" if rebuild else kb.outdated()
    if why:  # "the index was built by an older kb (schema 7, now 8)"
        _err(f"{why[0].upper()}{why[1:]}: rebuilding it.")
    _, summary, skipped = _run_update(kb, rebuild)
    click.echo(summary)
    if skipped:
        _err(_advise(skipped))


@cli.command(cls=QueryCommand,
             short_help="Export every matched passage as a briefing annex or data.")
@click.argument("query", nargs=-1)
@click.option("--format", "fmt",
              type=click.Choice(["md", "html", "docx", "csv", "json", "jsonl"]),
              default=None, help="Output format (default: from the -o extension; md for -).")
@click.option("--order", type=click.Choice(["reading", "rank"]), default=None,
              help="Annexes (md, html, docx): each document's passages in reading order "
                   "(default) or by rank.  json, jsonl and csv are always by rank.")
@click.option("--title", metavar="TEXT",
              help="The annex's title (md, html, docx; json: a \"title\" field).  "
                   "Default: the query, or \"Chosen passages\" / \"All passages\".")
@click.option("-o", "--output", default="-", metavar="FILE", show_default=True,
              help="File to write; - for stdout.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=None,
              help="At most this many passages (default: all).")
@click.option("--offset", type=click.IntRange(min=0), default=0,
              help="Skip this many passages (with --limit: export in parts).")
@click.option("--group", is_flag=True, hidden=True)  # refused with a reason, see below
@click.option("--ids", is_flag=True,
              help="The words are REFs: export only the passages they name, in that order "
                   "(refs, ids or citations as kb prints them).")
@click.option("--from", "from_file", metavar="FILE",
              help="Export the hits of a saved `kb search --format json` (perhaps edited: "
                   "hits deleted or reordered); - reads it from stdin.")
@click.option("--allow-changed", is_flag=True,
              help="--ids/--from: export the current text of passages changed since they "
                   "were picked (marked \"changed since picked\"), instead of stopping.")
@filter_options
@click.option("--partial", is_flag=True,
              help="Also export the passages that hold only some of the query's words "
                   "(after those that hold them all; marked as partial matches).")
@click.option("--no-correct", is_flag=True,
              help="Do not replace a misspelled word by the word clearly meant.")
@no_update_option
@location_options
def export(query: tuple[str, ...], fmt: str | None, order: str | None, title: str | None,
           output: str, force: bool, limit: int | None, offset: int, group: bool, ids: bool,
           from_file: str | None, allow_changed: bool, doc: str | None,
           section: str | None, since: dt.date | None, until: dt.date | None,
           partial: bool, no_correct: bool, no_update: bool, corpus: str | None,
           index_: str | None) -> int:
    """Export matched passages (all of them) as a briefing annex or data.

    An annex (md, html, docx) holds each document once, documents by their
    best passage, its passages in reading order (--order rank: by rank), with
    citations and the matched words in bold, under a title: the query, or
    --title.  With no QUERY, every passage is exported in document order.
    The format comes from the -o extension (.md .markdown .html .htm .docx
    .csv .json .jsonl .ndjson; any other is an error) or from --format.  The
    file is written atomically and never overwrites an existing file without
    --force.

    With --ids the words are references to passages (the [9aqqcf] refs of
    text results, passage ids, citations as printed; quote those with spaces)
    and only those passages are exported, in the order given.  With --from
    FILE the hits of a saved `kb search --format json` are exported, in the
    file's order, under its query.

    \b
    Examples:
      kb export "sexual exploitation and abuse" -o annex.docx
      kb export "bystander intervention" --title "Annex II: Bystanders" -o annex.html
      kb export harassment -online --format csv -o hits.csv
      kb export --format jsonl -o - | head
      kb export --ids 9aqqcf 4493ey 'S/RES/2771 (2025) ¶ 20' -o annex.md
      kb search retaliation -n 30 --format json > hits.json   # edit, then:
      kb export --from hits.json -o annex.html
    """
    from . import export as ex

    if group:
        raise click.UsageError(
            "kb export has no --group: an export holds every matching passage (md and html "
            "already group them by document); for one line per document use "
            "`kb search QUERY --group --limit 1000 --format csv`")
    _check_selection(query, ids, from_file, limit=limit, offset=offset, doc=doc,
                     section=section, since=since, until=until, partial=partial,
                     no_correct=no_correct)
    if fmt is None:
        fmt = "md" if output == "-" else ex.format_for(output)
    if order is not None and fmt not in ex.ANNEX_FORMATS:
        raise click.UsageError(
            f"--order sorts the passages of an annex ({', '.join(ex.ANNEX_FORMATS)}); "
            f"{fmt} is one hit per row in rank order")
    if title is not None:
        from .annex import clean_title

        if fmt not in ex.TITLE_FORMATS:
            raise click.UsageError(
                f"--title names an annex ({', '.join(ex.ANNEX_FORMATS)}) or a json export; "
                f"{fmt} is one hit per row, with no place for a title")
        try:
            title = clean_title(title)
        except ValueError as e:
            raise click.UsageError(str(e)) from None
    binary = ex.FORMAT[fmt].binary
    if binary and output == "-" and sys.stdout.isatty():
        raise click.UsageError(f"a {fmt} file is not for the terminal: give a file with "
                               f"-o annex.{fmt}, or pipe the output")
    out_path = None if output == "-" else Path(output)
    if out_path is not None:  # refuse early, before any work
        if out_path.exists() and not force and not out_path.is_dir():
            raise KbError(f"{out_path} already exists; use --force to overwrite it")
    kb = _kb(corpus, index_)
    _ensure_index(kb, no_update)
    text = " ".join(query).strip()
    if allow_changed and not (ids or from_file is not None):
        raise click.UsageError("--allow-changed is for chosen passages (--ids, --from)")
    if ids:
        result = kb.chosen(query, allow_changed=allow_changed)
    elif from_file is not None:
        if from_file == "-":
            result = kb.from_results("stdin", sys.stdin.read(), allow_changed=allow_changed)
        else:
            result = kb.from_results(from_file, allow_changed=allow_changed)
        saved_query = result.corrected_query or result.query
        if saved_query.strip():  # its matched words in bold, as in the annex of the search
            result = dataclasses.replace(result, terms=kb.query_terms(saved_query))
    elif text:
        result = kb.search(text, limit=limit, offset=offset, doc=doc, section=section,
                           since=since, until=until, correct=not no_correct,
                           partial=partial)
        if result.corrected_query:
            _err(f"No passages match “{result.query}”; exporting those that match "
                 f"“{result.corrected_query}” (--no-correct turns this off)")
        if not result.hits and result.partial and not partial:
            _err(f"No passage holds every word of “{result.corrected_query or result.query}”"
                 f"; {result.partial:,} hold some of them: add --partial to export those")
        elif result.suggestion and not result.hits:
            _err(f"Did you mean: {result.suggestion}?")
    else:
        result = kb.export_passages(limit, offset, doc=doc, section=section, since=since,
                                    until=until)
    for note in result.notes:
        _err(f"Moved: {note}")
    code = _promise_exit(EXIT_OK if result.hits else EXIT_NO_RESULTS)
    if out_path is None:
        from .render import SafeWriter

        if binary:  # a pipe: the bytes as they are
            sys.stdout.flush()
            sys.stdout.buffer.write(ex.render_bytes(result, fmt, order=order, chosen=ids,
                                                    title=title))
            sys.stdout.buffer.flush()
        else:
            # stdout: JSON escapes control characters itself, the text formats show them
            ex.write(result, fmt, sys.stdout if fmt.startswith("json") else
                     SafeWriter(sys.stdout), order=order, chosen=ids, title=title)
            sys.stdout.flush()
    else:
        ex.export_file(result, fmt, out_path, force=force, order=order, chosen=ids,
                       title=title)
        _err(f"Wrote {len(result.hits):,} passage{'s' * (len(result.hits) != 1)} to {out_path}")
    return code


def _check_selection(query: tuple[str, ...], ids: bool, from_file: str | None,
                     **options: Any) -> None:
    """``kb export --ids`` / ``--from``: the usage errors, before any work."""
    if not ids and from_file is None:
        return
    if ids and from_file is not None:
        raise click.UsageError("--ids and --from cannot be combined: give the refs, "
                               "or a saved result")
    if ids and not query:
        raise click.UsageError("--ids needs at least one REF, e.g. "
                               "`kb export --ids 9aqqcf 4493ey -o annex.md`")
    if from_file is not None and query:
        raise click.UsageError(f"--from exports the hits saved in {from_file}; it cannot be "
                               f"combined with a query ({' '.join(query)})")
    given = [f"--{k.replace('_', '-')}" for k, v in options.items() if v]
    if given:
        what = "--ids" if ids else "--from"
        raise click.UsageError(f"{what} exports the passages named; {', '.join(given)} "
                               f"cannot be combined with it")


@cli.command(short_help="Show passages in full (by ref, id or citation), with context.")
@click.argument("refs", metavar="REF...", nargs=-1, required=True)
@click.option("--context", "-C", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also show N passages before and after.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--allow-changed", is_flag=True,
              help="Show what stands now where a pinned REF's text changed (marked), "
                   "instead of stopping.")
@location_options
def show(refs: tuple[str, ...], context: int, fmt: str, allow_changed: bool,
         corpus: str | None, index_: str | None) -> None:
    """Show passages in full, with their citations.

    REF is anything kb prints for a passage: the short reference of text
    results (9aqqcf, which names that text wherever it now stands), a passage
    id (report.txt#21), or a citation as printed (corpus/report.txt:72,
    report.pdf p. 7 ¶ 20, S/RES/2771 (2025) ¶ 20).  Pin an id or citation to
    the text it named with @ and the passage's ref or fingerprint
    (report.txt#21@9aqqcf): if that text moved, kb shows it where it is now and
    says so; if it changed, kb stops and says what was picked and what is
    there now.  Quote a citation that holds spaces or brackets.

    \b
    Examples:
      kb show 9aqqcf
      kb show making-zero-tolerance-a-reality-2022.txt#21 --context 2
      kb show 'corpus/making-zero-tolerance-a-reality-2022.txt:72' --format json
      kb show 'S/RES/2771 (2025), ¶ 20' 'UNW/2025/1, ¶ 9, p. 18'
    """
    kb = _kb(corpus, index_)
    _ensure_index(kb)  # references name what the folder says now
    shown = kb.show(refs, context, allow_changed=allow_changed)
    for note in shown.notes:
        _err(f"Moved: {note}")
    hits = [dataclasses.replace(h, changed=shown.changed.get(h.id, ""))
            for h in (kb.hit_for(p) for p in shown.passages)]
    named = [p.id for p in shown.named]
    if fmt == "json":
        from .render import json_text

        click.echo(json_text({"id": named[0], "ids": named,
                              "passages": [h.to_dict() for h in hits]}, indent=2))
        return
    from .render import passages_text

    click.echo(passages_text(hits, focus=set(named)), nl=False)


@cli.command(short_help="Check an annex against the folder: unchanged, moved, changed, gone.")
@click.argument("annex", metavar="ANNEX")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--annex-format", type=click.Choice(["docx", "md", "html", "json", "jsonl", "csv"]),
              default=None, help="The annex's format (default: from its extension).")
@location_options
def verify(annex: str, fmt: str, annex_format: str | None, corpus: str | None,
           index_: str | None) -> int:
    """Check that what an annex quotes is still what the folder says.

    Reads an annex kb wrote (docx, md, html, json, jsonl, csv) and checks every
    passage it cites against the folder as it is now: unchanged; moved (the
    same text elsewhere: its new citation); changed (the place cited holds
    other text: a word-level diff, [-as quoted-] {+as now+}); gone; or edited
    (the source is as exported, but the annex's own text was changed by hand).
    One line per passage and a summary.  Exit code 0 only when every passage
    is unchanged, 1 otherwise, 2 when the file is no annex of this folder.

    \b
    Examples:
      kb verify annex.docx
      kb verify hits.csv --format json
    """
    kb = _kb(corpus, index_)
    _ensure_index(kb)  # the folder as it is now (a few changes: updated first)
    report = kb.verify(annex, annex_format)
    if fmt == "json":
        from .render import json_text

        click.echo(json_text(report.to_dict(), indent=2))
    else:
        from .render import safe_line

        width = max(len(v.status) for v in report.verdicts)
        for v in report.verdicts:
            detail = f"  {v.detail}" if v.detail else ""
            if v.status == "changed" and v.now:
                detail = f"  now {v.now}:{detail}"
            click.echo(safe_line(f"{v.status:<{width}}  {v.cited}{detail}"))
        click.echo(safe_line(report.summary()))
    return EXIT_OK if report.ok else EXIT_NO_RESULTS


@cli.command(short_help="Where things are, what is indexed, changed or skipped.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--check", is_flag=True,
              help="Read every index file and verify the checksums recorded when it "
                   "was written: one line per damaged file; exit 2 when damaged.")
@location_options
def status(fmt: str, check: bool, corpus: str | None, index_: str | None) -> int:
    """Where the corpus and index are, what is indexed, what changed or was skipped.

    With --check, instead: read every file of the index and compare it with the
    checksums kb recorded when it wrote it; one line per problem (a file missing,
    truncated or changed), exit 2 when the index is damaged (`kb index --rebuild`
    repairs it), 0 when it is sound.

    \b
    Examples:
      kb status
      kb status --format json
      kb status --check
    """
    kb = _kb(corpus, index_)
    if check:
        return _check(kb, fmt)
    status = kb.status()
    st = status.to_dict()
    if fmt == "json":
        from .render import json_text

        click.echo(json_text(st, indent=2))
    else:
        from .render import status_text

        click.echo(_advise(status_text(st)))
    if status.problem:  # the report is printed; the problem is an error all the same
        _err(_advise(f"Error: {status.problem}"))
        return EXIT_ERROR
    return EXIT_OK


def _check(kb: Any, fmt: str) -> int:
    """``kb status --check``: the problems on stdout (one line each, or JSON), then the
    verdict; a damaged index is the one-line error on stderr, exit 2."""
    report = kb.check()
    if fmt == "json":
        from .render import json_text

        click.echo(json_text(report.to_dict(), indent=2))
    else:
        from .render import safe_line

        for problem in report.problems:
            click.echo(safe_line(f"damaged: {problem}"))
        if report.sound:
            click.echo(safe_line(_advise(report.summary())))
    if not report.sound:
        _fail(_advise(f"Error: {report.summary()}"))
        return EXIT_ERROR
    return EXIT_OK


@cli.command(short_help="Serve the search as a web page and HTTP API.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; any but loopback requires an access token.")
@click.option("--token", metavar="TOKEN",
              help="Access token every request must carry (16+ letters, digits, - _ . ~); "
                   "generated and printed when --host is not loopback.")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another host name colleagues use to reach this server (repeatable).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a web browser.")
@click.option("--no-watch", is_flag=True,
              help="Do not watch the corpus folder (the index is updated only by `kb index`).")
@location_options
def serve(port: int, host: str, token: str | None, allow_hosts: tuple[str, ...],
          open_browser: bool, no_watch: bool, corpus: str | None, index_: str | None) -> int:
    """Serve the search as a web page (and an HTTP API for scripts).

    The page takes kb's query language, shows results as `kb search` does,
    opens passages in context and their source files, and builds an annex
    (.docx, .html, .md, .csv) of chosen passages.  While serving, kb watches the
    corpus folder and updates the index by itself.  Ctrl-C stops the server
    (exit code 0).

    It listens on 127.0.0.1 (this computer only) unless --host says otherwise;
    then every request needs the access token: open the printed link once
    (a cookie keeps it) or send `Authorization: Bearer TOKEN`.

    \b
    Examples:
      kb serve --open
      kb serve --port 9000
      kb serve --host 0.0.0.0 --token "$KB_TOKEN"     (for a team)
      curl 'http://127.0.0.1:8765/api/search?q=retaliation&limit=3'
    """
    import secrets

    from . import serve as srv
    from .web import TOKEN_RE

    if token is not None and not TOKEN_RE.fullmatch(token):
        raise click.UsageError("--token must be 16 to 200 letters, digits or - _ . ~ "
                               "(leave it out to have one generated)")
    local = srv.is_loopback(host)
    if token is None and not local:
        token = secrets.token_urlsafe(24)
    kb = _kb(corpus, index_)
    _ensure_index(kb)
    sock = srv.bind(host, port)  # KbError (port in use, ...) before anything is printed
    try:
        port = sock.getsockname()[1]
        url = srv.url_for(host, port)
        prefix = kb.corpus_prefix if kb.corpus_prefix is not None else srv.display_prefix(kb.corpus)
        from .render import safe_line

        click.echo(f"serving {safe_line(prefix)} at {url} — Ctrl-C to stop")
        if token is not None:
            click.echo(f"access token in use: open {url}/?token={token}"
                       + ("" if local else " (colleagues too; keep it to your team)"))
        sys.stdout.flush()
        hosts = srv.allowed_hosts(host, list(allow_hosts))
        return srv.run(kb, sock, token=token, hosts=hosts, watch=not no_watch,
                       open_url=(f"{url}/?token={token}" if token else url + "/")
                       if open_browser else None)
    finally:
        sock.close()


@cli.command(short_help="List the indexed documents: title, date, passages, path.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@click.option("--undated", is_flag=True,
              help="Only the documents without a date, each with why it has none.")
@location_options
def docs(fmt: str, undated: bool, corpus: str | None, index_: str | None) -> None:
    """List the indexed documents: title, UN symbol, date, passages, path.

    With --undated, only the documents kb found no date in, each with a
    one-line reason ("no date written in the text", or where the first date
    written stands); JSON adds it as "undated_reason".

    \b
    Examples:
      kb docs
      kb docs --format json
      kb docs --undated
    """
    kb = _kb(corpus, index_)
    if undated:
        found = kb.undated()
        if fmt == "json":
            from .render import json_text

            click.echo(json_text([{**d.to_dict(), "undated_reason": why} for d, why in found],
                                 indent=2))
            return
        from .render import undated_text

        click.echo(undated_text(found, len(kb.documents())))
        return
    documents = kb.documents()
    if fmt == "json":
        from .render import json_text

        click.echo(json_text([d.to_dict() for d in documents], indent=2))
        return
    from .render import docs_text

    click.echo(docs_text(documents))


@cli.command(short_help="Keep the index up to date as files change (Ctrl-C to stop).")
@click.option("--debounce", type=click.FloatRange(0, 3600), default=1.0, show_default=True,
              metavar="SECONDS",
              help="Update once the folder has been quiet this long after a change.")
@location_options
def watch(debounce: float, corpus: str | None, index_: str | None) -> int:
    """Watch the corpus folder and update the index whenever files change.

    Prints one line per update (time, files added +, changed ~ and removed -,
    how long it took), so that `kb search` in another terminal never waits for
    an update.  Several changes close together are one update (--debounce).
    Hidden files, editor and system junk (~$report.docx, report.md~, .~lock
    files) and files kb does not read start no update.  When another `kb index`
    holds the index, the update is tried again a moment later.  Ctrl-C (or
    SIGTERM) stops it cleanly, exit code 0; an update in progress is abandoned
    and the index stays as it was.

    \b
    Examples:
      kb watch
      kb watch --corpus ~/reports --debounce 5
    """
    import logging
    import threading

    from .api import display_prefix
    from .render import safe_line, watch_line
    from .watch import Watcher

    kb = _kb(corpus, index_)
    if not kb.has_index() or kb.outdated():  # a build shows its progress (changes: the
        _ensure_index(kb, no_update=True)  # watcher's)

    def now() -> str:
        return dt.datetime.now().strftime("%H:%M:%S")

    # the files not indexed so far: an update's line names those it could not index
    known = {(s.id, s.reason) for s in kb.status().skipped}

    done = threading.Event()  # set when the reader of stdout went away

    def updated(report: Any) -> None:
        new = [s for s in report.skipped if (s.id, s.reason) not in known]
        known.clear()
        known.update((s.id, s.reason) for s in report.skipped)
        try:
            click.echo(_advise(watch_line(report, now(), new)))
        except BrokenPipeError:  # `kb watch | head -3`: done, not an error
            _drop_stdout()
            done.set()

    def failed(line: str) -> None:
        _fail(_advise(f"{now()} error: {line}"))

    # the lines above say it all; the watcher's log (with tracebacks) with --debug only
    log = logging.getLogger("kb.watch")
    log.propagate = _debug()
    if _debug():
        logging.basicConfig(level=logging.DEBUG, format="%(asctime)s %(name)s %(message)s")
    elif not log.handlers:
        log.addHandler(logging.NullHandler())

    w = Watcher(kb, debounce=debounce, on_update=updated, on_error=failed)
    shown = kb.corpus_prefix if kb.corpus_prefix is not None else display_prefix(kb.corpus)

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, terminate)
    try:  # from here a Ctrl-C or SIGTERM stops watching (exit 0), even one at once
        w.start()
        click.echo(f"watching {safe_line(shown or './')} — Ctrl-C to stop")
        # a short wait, again and again: the kernel may hand Ctrl-C to another thread
        # (the watcher's), and Python acts on it only when the main thread runs
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        _forget_unhandled_keyboard_interrupt()
        _Interrupt.seen = False  # the way to stop: a later error is not a Ctrl-C
    finally:
        signal.signal(signal.SIGTERM, old)
        w.stop()
    _err("stopped watching")
    return EXIT_OK


def _safe_excepthook(etype: Any, value: Any, tb: Any) -> None:
    """``kb --debug`` tracebacks name files too: print them through kb.render.safe."""
    import traceback

    from .render import safe

    sys.stderr.write(safe("".join(traceback.format_exception(etype, value, tb))))


class _Interrupt:
    """Whether a Ctrl-C (SIGINT) has reached this process."""

    seen = False

    @staticmethod
    def handler(signum: int, frame: Any) -> None:
        _Interrupt.seen = True
        raise KeyboardInterrupt


def main() -> None:
    sys.excepthook = _safe_excepthook
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _Interrupt.handler)
    cli.main(prog_name="kb")
