"""``date:`` clauses as ranges of instants (:func:`date_range`).

ISO forms (``2022``, ``2022-05``, ``2022-05-26``, ``>2024``, ``[2021 to 2022-06]``)
are read here; other words (``yesterday``, ``may 2022``) by Whoosh's English date
parser, which is why this lives in the engine package.
"""

from __future__ import annotations

import datetime as dt
import re

from ..errors import QueryError
from ..query import _unquote

DATE_HELP = ("write date:2022, date:2022-05, date:2022-05-26, date:>2021, date:<=2022-06 "
             "or date:[2021-01 to 2022-06]")
_DATE_OP = re.compile(r"^(>=|=>|<=|=<|>|<)?(.*)$", re.S)
_DATE_RANGE = re.compile(r"^([\[{])\s*(.*?)\s*\bto\b\s*(.*?)\s*([\]}])$", re.S | re.I)
_ISO_PERIOD = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_TICK = dt.timedelta(microseconds=1)


def date_period(text: str) -> tuple[dt.datetime, dt.datetime]:
    """The first and last instant of the period a date names: ``2022`` is all of
    2022, ``2022-05`` all of May 2022, ``2022-05-26`` that day; other forms Whoosh's
    English date parser reads (``yesterday``, ``may 2022``) likewise.

    :raises QueryError: not a date.
    """
    value = _unquote(text.strip()).strip()
    m = _ISO_PERIOD.match(value)
    try:
        if m:
            y, mo, d = int(m.group(1)), m.group(2), m.group(3)
            if mo is None:
                first, last = dt.date(y, 1, 1), dt.date(y, 12, 31)
            elif d is None:
                first = dt.date(y, int(mo), 1)
                last = dt.date(y + (first.month == 12), first.month % 12 + 1, 1) - \
                    dt.timedelta(days=1)
            else:
                first = last = dt.date(y, int(mo), int(d))
            return (dt.datetime.combine(first, dt.time.min),
                    dt.datetime.combine(last, dt.time.max))
        if value and not value.isdigit():
            from whoosh.qparser.dateparse import English  # rare: only for words

            now = dt.datetime.now(tz=dt.timezone.utc)
            got = English().date_from(value, now)
            if isinstance(got, dt.datetime):
                got = got.replace(tzinfo=None)
                return got, got
            if got is not None and got.start is not None and got.end is not None:
                return got.start.replace(tzinfo=None), got.end.replace(tzinfo=None)
    except (ValueError, OverflowError, TypeError, AttributeError):
        pass
    except Exception:  # noqa: BLE001 - Whoosh's date grammar fails in odd ways
        pass
    raise QueryError(f"cannot read the date {value!r}; {DATE_HELP}")


def date_range(value: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    """A ``date:`` clause as the (inclusive) range of instants it admits.  ``>`` and
    ``<`` exclude the whole period named (``date:>2024`` is 2025-01-01 onwards,
    ``date:<2022-05`` before 2022-05-01); ``>=``, ``<=``, a bare date and ``[a to b]``
    include it; in a range, ``{`` or ``}`` exclude the period at that end.

    :raises QueryError: not a date or range.
    """
    v = value.strip()
    m = _DATE_RANGE.match(v)
    if m:
        lo_text, hi_text = m.group(2).strip(), m.group(3).strip()
        if not lo_text and not hi_text:
            raise QueryError(f"cannot read date:{value}; {DATE_HELP}")
        start = end = None
        if lo_text:
            first, last = date_period(lo_text)
            start = first if m.group(1) == "[" else last + _TICK
        if hi_text:
            first, last = date_period(hi_text)
            end = last if m.group(4) == "]" else first - _TICK
        if start is not None and end is not None and start > end:
            raise QueryError(f"date:{value} is an empty range: its start is after its end")
        return start, end
    m = _DATE_OP.match(v)
    op, rest = (m.group(1) or "", m.group(2)) if m else ("", v)
    if not rest.strip():
        raise QueryError(f"cannot read date:{value}; {DATE_HELP}")
    first, last = date_period(rest)
    if op == ">":
        return last + _TICK, None
    if op in (">=", "=>"):
        return first, None
    if op == "<":
        return None, first - _TICK
    if op in ("<=", "=<"):
        return None, last
    return first, last
