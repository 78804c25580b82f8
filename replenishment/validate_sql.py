"""SQL checks of the data-quality gate: the files of ``include/sql`` that suites call.

A suite expectation of type ``unexpected_rows_expectation`` may name an SQL file
instead of carrying its query (``"meta": {"sql_file": "check_daily_volume.sql",
"params": {...}}``). The file is plain SQL with bind parameters (``:run_date``,
``:reference_days``, the suite's ``params``), so a user can read and run it as is.

Great Expectations' query expectations take no bind parameters, so for GX the
values are rendered as SQL literals by :func:`render_literals`: only dates formatted
here from a ``datetime.date``, finite numbers, 0/1 flags and lower-case words are
ever inlined, never text from the data. Occurrences of the suite's own table after
``FROM``/``JOIN`` become GX's ``{batch}`` (the table as known for the run date).

The run-date values every file may use (:func:`run_date_params`):

- ``run_date`` (D) and ``day_before`` (D - 1, the last complete day);
- ``reference_days``: D - 1 - 7, D - 1 - 14, ... (``weeks`` of them, default 8),
  the same weekday as D - 1 in the trailing weeks, public holidays of the holiday
  country skipped (a holiday is not an ordinary weekday); ``window_start`` is the
  earliest of them; ``n_reference_days`` their number;
- ``day_is_holiday``: 1 when D - 1 is a public holiday, else 0;
- ``history_start``: D - ``history_days`` (default 182), ``recent_start``: D -
  ``recent_days`` (default 28); ``year_ago``: D - 365.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from replenishment.db import sql_text, strip_comments

log = logging.getLogger(__name__)

#: Same-weekday reference days of the volume rules, when a suite does not say.
DEFAULT_WEEKS = 8
#: Days of SKU history the outlier rule measures each SKU on, when a suite does not say.
DEFAULT_HISTORY_DAYS = 182
#: Days back from D whose outliers the gate reports as warnings, when a suite does not say.
DEFAULT_RECENT_DAYS = 28

_BIND = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_WORD = re.compile(r"^[a-z_]{1,32}$")
_JOIN = re.compile(r"\bJOIN\b", re.IGNORECASE)


@cache
def _holiday_calendar(country: str, years: tuple[int, ...]) -> frozenset[dt.date]:
    import holidays

    try:
        found = holidays.country_holidays(country, years=list(years))
    except NotImplementedError as exc:
        raise ValueError(f"holiday_country {country!r} is not known to holidays: {exc}") from exc
    return frozenset(found)


def public_holidays(country: str, first: dt.date, last: dt.date) -> frozenset[dt.date]:
    """Public holidays of ``country`` (ISO code, the ``holidays`` package) in [first, last]."""
    years = tuple(range(first.year, last.year + 1))
    return frozenset(d for d in _holiday_calendar(country, years) if first <= d <= last)


def reference_days(
    run_date: dt.date, weeks: int = DEFAULT_WEEKS, holiday_country: str = "US"
) -> tuple[dt.date, ...]:
    """The same weekday as D - 1 in the trailing weeks, public holidays skipped, newest first.

    At most ``2 * weeks`` weeks back are looked at (a country with many holidays on one
    weekday gives fewer days, never older ones).

    >>> reference_days(dt.date(2024, 5, 1), weeks=3)
    (datetime.date(2024, 4, 23), datetime.date(2024, 4, 16), datetime.date(2024, 4, 9))
    >>> dt.date(2023, 12, 25) in reference_days(dt.date(2024, 1, 2), weeks=3)
    False
    """
    if weeks < 1:
        raise ValueError(f"weeks must be >= 1, got {weeks}")
    last = run_date - dt.timedelta(days=1)
    candidates = [last - dt.timedelta(days=7 * k) for k in range(1, 2 * weeks + 1)]
    off = public_holidays(holiday_country, candidates[-1], candidates[0])
    return tuple(d for d in candidates if d not in off)[:weeks]


def run_date_params(
    run_date: dt.date, holiday_country: str = "US", params: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The values an SQL check may bind for run date D (see the module docstring), and ``params``."""
    extra = dict(params or {})
    weeks = int(extra.get("weeks", DEFAULT_WEEKS))
    history_days = int(extra.get("history_days", DEFAULT_HISTORY_DAYS))
    recent_days = int(extra.get("recent_days", DEFAULT_RECENT_DAYS))
    last = run_date - dt.timedelta(days=1)
    days = reference_days(run_date, weeks, holiday_country)
    values: dict[str, Any] = {
        "run_date": run_date,
        "day_before": last,
        "reference_days": days,
        "n_reference_days": len(days),
        "window_start": min(days),
        "day_is_holiday": int(last in public_holidays(holiday_country, last, last)),
        "history_start": run_date - dt.timedelta(days=history_days),
        "recent_start": run_date - dt.timedelta(days=recent_days),
        "year_ago": run_date - dt.timedelta(days=365),
    }
    values.update(extra)
    return values


def _literal(name: str, value: Any) -> str:
    """``value`` as an SQL literal; only dates, finite numbers, flags and plain words."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, dt.datetime):
        raise TypeError(f":{name}: a timestamp is not rendered, pass a date")
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f":{name}: {value} is not a finite number")
        return repr(value)
    if isinstance(value, str) and _WORD.match(value):
        return f"'{value}'"
    if isinstance(value, tuple) and value:
        return "(" + ", ".join(_literal(name, v) for v in value) + ")"
    raise ValueError(f":{name}: {value!r} cannot be rendered into SQL (dates, numbers, words)")


def _names(sql: str) -> set[str]:
    return set(_BIND.findall(sql))


def render_literals(sql: str, params: Mapping[str, Any], source: str = "query") -> str:
    """``sql`` with every ``:name`` replaced by the literal of ``params[name]``.

    >>> render_literals("x >= :d AND k IN :ks", {"d": dt.date(2024, 5, 1), "ks": (1, 2.5)})
    "x >= '2024-05-01' AND k IN (1, 2.5)"
    """
    missing = sorted(_names(sql) - set(params))
    if missing:
        raise ValueError(f"{source}: no value for {', '.join(':' + m for m in missing)}")
    return _BIND.sub(lambda m: _literal(m.group(1), params[m.group(1)]), sql)


def check_sql(name: str) -> str:
    """The SQL of ``include/sql/<name>`` without comments (a ``:name`` in a comment is no bind)."""
    return strip_comments(sql_text(name))


def suite_query(name: str, table: str, params: Mapping[str, Any]) -> str:
    """The query of SQL check ``name`` for a GX suite on ``table``: literals in, ``{batch}`` for
    ``table``. The query must join (GX then leaves the batch's alias to the query)."""
    sql = render_literals(check_sql(name), params, source=name)
    own_table = re.compile(r"\b(from|join)\s+" + re.escape(table) + r"\b", re.IGNORECASE)
    sql = own_table.sub(r"\1 {batch}", sql)
    if "{batch}" not in sql or not _JOIN.search(sql):
        raise ValueError(f"{name}: a suite on {table} must read {table} and join another table")
    return sql


def run_check(engine: Engine, name: str, params: Mapping[str, Any]) -> pd.DataFrame:
    """Run SQL check ``name`` with bind parameters (dates bound as ISO text, as rendered for GX)."""
    sql = check_sql(name)
    binds: dict[str, Any] = {}
    expanding: list[str] = []
    for key in _names(sql):
        value = params[key]
        if isinstance(value, tuple):
            expanding.append(key)
            value = [v.isoformat() if isinstance(v, dt.date) else v for v in value]
        elif isinstance(value, dt.date):
            value = value.isoformat()
        binds[key] = value
    statement = sa.text(sql).bindparams(*(sa.bindparam(k, expanding=True) for k in expanding))
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(statement, binds).mappings().all())
    log.debug("%s: %d row(s)", name, len(frame))
    return frame
