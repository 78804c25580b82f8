"""The per-run HTML report: totals, biggest orders, charts, accuracy, data quality."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from replenishment.db import make_engine
from replenishment.report import write_report
from replenishment.report_changes import PreviousRun, read_previous_run, run_changes
from replenishment.report_chart import COLOURS, daily_actuals

ROOT = Path(__file__).resolve().parents[2]

D = dt.date(2026, 7, 1)


def test_report_has_totals_orders_charts_and_quality(tmp_path):
    days = pd.date_range(D, periods=3, freq="D")
    forecast = pd.DataFrame(
        {
            "sku_id": ["A"] * 3 + ["B"] * 3,
            "forecast_date": list(days) * 2,
            "yhat": [5.0, 6, 7, 1, 1, 1],
            "yhat_lower": [4.0, 5, 6, 0, 0, 0],
            "yhat_upper": [6.0, 7, 8, 2, 2, 2],
        }
    )
    orders = pd.DataFrame(
        {
            "sku_id": ["A", "B"],
            "order_qty": [24.0, 0.0],
            "order_packs": [2, 0],
            "order_value": [48.0, 0.0],
            "inventory_position": [3.0, 50.0],
            "reorder_point": [20.0, 5.0],
            "order_up_to": [20.0, 5.0],
            "expected_receipt_date": [D + dt.timedelta(days=5)] * 2,
            "reason": [
                "position 3 below reorder point 20; <pack> rounding +4",
                "position 50 at or above",
            ],
        }
    )
    accuracy = pd.DataFrame(
        {"demand_class": ["smooth"], "wape": [0.2], "baseline_wape": [0.3], "actual_units": [100.0]}
    )
    quality = pd.DataFrame(
        {
            "suite": ["order_lines"],
            "success": [1],
            "evaluated_expectations": [19],
            "failed_critical": [0],
            "failed_warning": [0],
            "failures": [None],
        }
    )
    history = pd.DataFrame(
        {"sku_id": "A", "ds": pd.date_range(end=D - dt.timedelta(days=1), periods=30), "y": 5.0}
    )
    summary = {
        "skus_total": 2,
        "orders_placed": 1,
        "order_value": 48.0,
        "wape": 0.2,
        "baseline_wape": 0.3,
    }
    path = write_report(tmp_path, D, summary, forecast, orders, accuracy, quality, history)
    text = path.read_text()
    assert path.name == "2026-07-01.html"
    assert "Replenishment run 2026-07-01" in text
    assert (
        text.count("<svg") == 1 and 'aria-label="demand and forecast of A"' in text
    )  # B ordered nothing
    assert "&lt;pack&gt; rounding" in text  # escaped
    assert "order_lines" in text and "smooth" in text
    assert "http" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no network


def test_report_reads_like_a_report(tmp_path):
    """Headers in words, numbers right-aligned, the cut said, the Data Docs linked."""
    n = 23
    skus = [f"S{i:02d}" for i in range(n)]
    orders = pd.DataFrame(
        {
            "sku_id": skus,
            "order_qty": [10.0 + i for i in range(n)],
            "order_packs": [1] * n,
            "order_value": [100.0 + i for i in range(n)],
            "inventory_position": [1.0] * n,
            "reorder_point": [5.0] * n,
            "order_up_to": [20.0] * n,
            "expected_receipt_date": [D] * n,
            "reason": ["below reorder point"] * n,
        }
    )
    forecast = pd.DataFrame(
        {"sku_id": skus, "forecast_date": [D] * n, "yhat": 1.0, "yhat_lower": 0.0,
         "yhat_upper": 2.0}
    )  # fmt: skip
    quality = pd.DataFrame(
        {"suite": ["order_lines"], "success": [1], "evaluated_expectations": [19],
         "failed_critical": [0], "failed_warning": [0], "failures": [None],
         "data_docs_path": [str(tmp_path / "docs" / "2026-07-01" / "index.html")]}
    )  # fmt: skip
    accuracy = pd.DataFrame(columns=["demand_class", "wape", "baseline_wape", "actual_units"])
    history = pd.DataFrame({"sku_id": [], "ds": [], "y": []})
    summary = {"skus_total": n, "orders_placed": n, "order_value": 2553.0}
    text = write_report(
        tmp_path, D, summary, forecast, orders, accuracy, quality, history
    ).read_text()
    assert "top 20 of 23 orders" in text
    assert '<th class="num">Order qty</th>' in text and "order_qty" not in text
    assert "<th>Expected receipt</th>" in text and "<th>SKU</th>" in text
    assert '<td class="num">122.00</td>' in text  # the largest value, right-aligned
    assert (tmp_path / "docs" / "2026-07-01" / "index.html").as_uri() in text
    assert "Data Docs" in text


# --------------------------------------------------------------------------- how it reads


def _order_frame(**over: object) -> pd.DataFrame:
    row = {
        "sku_id": "A",
        "order_qty": 1046.2,
        "order_packs": 1200,
        "order_value": 12345.5,
        "inventory_position": 3.0,
        "reorder_point": 1046.2,
        "order_up_to": 12000.0,
        "expected_receipt_date": D + dt.timedelta(days=5),
        "reason": "position 3 below reorder point 1046.2; pack rounding +0.8",
        "pack_size": 1,
    }
    row.update(over)
    return pd.DataFrame([row])


def _write(tmp_path, orders=None, **kw):
    forecast = kw.pop("forecast", None)
    if forecast is None:
        forecast = pd.DataFrame(
            {"sku_id": "A", "forecast_date": [D], "yhat": 1.0, "yhat_lower": 0.5, "yhat_upper": 2}
        )
    accuracy = pd.DataFrame(
        {"demand_class": ["smooth"], "wape": [0.234], "baseline_wape": [0.3], "actual_units": [9.0]}
    )
    quality = pd.DataFrame(
        {"suite": ["order_lines"], "success": [1], "evaluated_expectations": [1900],
         "failed_critical": [0], "failed_warning": [0], "failures": [None]}
    )  # fmt: skip
    history = kw.pop("history", pd.DataFrame({"sku_id": [], "ds": [], "y": []}))
    summary = {"skus_total": 1200, "orders_placed": 1, "order_value": 12345.5, "wape": 0.234}
    orders = _order_frame() if orders is None else orders
    path = write_report(tmp_path, D, summary, forecast, orders, accuracy, quality, history, **kw)
    return path.read_text()


def _headers(text: str) -> list[str]:
    return [h.split(">", 1)[1] for h in re.findall(r"<th[^>]*>[^<]*", text)]


def test_headers_are_words_with_the_currency(tmp_path):
    text = _write(tmp_path, currency="EUR")
    heads = _headers(text)
    for want in ["SKU", "Order qty", "Packs", "Order value (EUR)", "Inventory position",
                 "Reorder point", "Order-up-to", "Expected receipt", "Reason", "Demand class",
                 "WAPE", "Seasonal-naive WAPE", "Suite", "Passed", "Expectations"]:  # fmt: skip
        assert want in heads, (want, heads)
    assert not [h for h in heads if "_" in h], heads
    assert "Order value at unit cost (EUR)" in text


def test_numbers_are_written_as_the_page_writes_them(tmp_path):
    text = _write(tmp_path)
    orders = text.split("by value</h2>")[1].split("</table>")[0]
    cells = re.findall(r'<td class="num">([^<]*)</td>', orders)
    # units as Fmt.units (1 decimal unless whole), packs whole, value to the cent
    assert cells == ["1,046.2", "1,200", "12,345.50", "3", "1,046.2", "12,000"]
    assert '<th class="num">Order qty</th>' in text  # the header over a number is right-aligned too
    assert "23.4 %" in text and "1,900" in text  # WAPE, counts
    assert '<td>SKUs forecast</td><td class="num">1,200</td>' in text  # totals
    # the reason as the page shows it: numbers with separators, no pack noise with a pack of 1
    assert "position 3 below reorder point 1,046.2</td>" in text
    assert "pack rounding" not in text


# --------------------------------------------------------------------------- charts


def _chart_inputs():
    days = pd.date_range(D - dt.timedelta(days=40), D - dt.timedelta(days=1))
    history = pd.DataFrame({"sku_id": "A", "ds": days, "y": 4.0})
    gone = [pd.Timestamp(2026, 6, 10), pd.Timestamp(2026, 6, 11), pd.Timestamp(2026, 6, 12)]
    history = history[~history["ds"].isin(gone)]
    stockouts = pd.DataFrame({"sku_id": "A", "ds": gone})
    forecast = pd.DataFrame(
        {"sku_id": "A", "forecast_date": [D + dt.timedelta(days=i) for i in range(4)],
         "yhat": 4.0, "yhat_lower": [1.0, 1.0, 0.0, 0.0], "yhat_upper": 6.0}
    )  # fmt: skip
    return history, stockouts, forecast


def test_chart_has_dates_and_a_gap_on_stock_out_days(tmp_path):
    history, stockouts, forecast = _chart_inputs()
    text = _write(tmp_path, history=history, stockouts=stockouts, forecast=forecast)
    svg = text[text.index("<svg") : text.index("</svg>")]
    assert svg.count('class="actual"') == 2  # the line stops over the three stock-out days
    assert "stock-out 2026-06-10 – 2026-06-12" in svg and svg.count('class="stockout"') == 1
    assert ">2026-06<" in svg and ">2026-07<" in svg  # month starts on the date axis
    assert "run date 2026-07-01" in svg and "units per day" in svg
    # the interval: a band over its first two days, the dashed upper bound where clipped at 0
    assert svg.count('class="band"') == 1 and svg.count('class="band-clipped"') == 1
    assert "3 stock-out days" in text


def test_chart_without_stock_outs_is_one_line_with_zero_days(tmp_path):
    history, _, forecast = _chart_inputs()  # the three days without sales are 0, not skipped
    actual = daily_actuals(
        history, pd.DataFrame({"ds": []}), pd.Timestamp(D) - pd.Timedelta(days=90),
        pd.Timestamp(D) - pd.Timedelta(days=1),
    )  # fmt: skip
    assert len(actual) == 40 and actual["y"].eq(0).sum() == 3 and not actual["stockout"].any()
    svg = _write(tmp_path, history=history, forecast=forecast)
    assert svg.count('class="actual"') == 1 and 'class="stockout"' not in svg


def test_chart_colours_are_the_pages():
    css = (ROOT / "plugins" / "replenishment_ui" / "static" / "page.css").read_text()
    page = dict(re.findall(r"--([\w-]+):\s*([^;]+);", css))
    for name in ("actual", "fc", "band", "stock"):
        assert COLOURS[name] == page[name], name
    assert COLOURS["muted"] == page["muted"] and COLOURS["line"] == page["line"]


# --------------------------------------------------------------------------- what changed

P = D - dt.timedelta(days=1)


def _fc(run: dt.date, days: int, per_day: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"sku_id": s, "forecast_date": run + dt.timedelta(days=i), "yhat": y}
            for s, y in per_day.items()
            for i in range(days)
        ]
    )


def _runs():
    now = pd.DataFrame(
        {"sku_id": ["A", "B", "C", "D"], "order_qty": [10.0, 8, 0, 4],
         "order_value": [10.0, 8, 0, 40]}
    )  # fmt: skip
    previous = PreviousRun(
        run_date=P,
        orders=pd.DataFrame({"sku_id": ["A", "B", "C"], "order_qty": [10.0, 5, 7]}),
        # the previous run forecast P .. P+2; this one D .. D+2: D and D+1 are common
        forecast=_fc(P, 3, {"A": 5.0, "B": 100.0, "C": 0.5, "E": 3.0}),
    )
    forecast = _fc(D, 3, {"A": 7.5, "B": 110.0, "C": 2.0})
    return now, forecast, previous


def test_run_changes_orders_added_removed_and_changed():
    c = run_changes(*_runs())
    assert c.added["sku_id"].tolist() == ["D"]  # ordered now, not then
    assert c.removed["sku_id"].tolist() == ["C"] and c.removed["previous_qty"].tolist() == [7]
    assert c.qty_changed[["sku_id", "qty_change"]].values.tolist() == [["B", 3.0]]
    assert c.forecast_days == [D, D + dt.timedelta(days=1)]


def test_run_changes_biggest_forecast_changes_over_the_common_days():
    c = run_changes(*_runs())
    fc = c.forecast.set_index("sku_id")
    assert fc.index.tolist() == ["B", "A", "C"]  # by absolute change: +20, +5, +3 units
    assert fc.loc["A", ["previous_units", "units"]].tolist() == [10.0, 15.0]  # 2 common days
    assert fc.loc["A", "change_pct"] == pytest.approx(0.5)
    # relative: A +50 % before B +10 %; C (1 unit before) is too small to rank
    assert c.relative["sku_id"].tolist() == ["A", "B"]


def test_report_says_what_changed(tmp_path):
    now, forecast, previous = _runs()
    now = pd.concat([_order_frame(sku_id=s, order_qty=q, order_value=v) for s, q, v in
                     now[["sku_id", "order_qty", "order_value"]].itertuples(index=False)])  # fmt: skip
    forecast = forecast.assign(yhat_lower=0.0, yhat_upper=200.0)
    text = _write(tmp_path, orders=now, forecast=forecast, previous=previous)
    assert "Compared with the run of 2026-06-30: 1 order added, 1 removed, 1 with another" in text
    assert "over the 2 days both runs forecast (2026-07-01 .. 2026-07-02)" in text
    assert "Orders added (ordered now, not then): the one SKU" in text
    assert "Biggest forecast changes, in units: all 3 SKUs" in text
    assert '<td class="num">+50.0 %</td>' in text and '<td class="num">+20</td>' in text


def test_report_of_a_first_run_and_of_an_unreadable_previous_run(tmp_path):
    assert "First run: nothing to compare" in _write(tmp_path)
    text = _write(tmp_path, previous=PreviousRun(error="OperationalError: disk I/O error"))
    assert "previous run could not be read" in text and "disk I/O error" in text


# --------------------------------------------------------------------------- reading it


def _reporting(url: str, runs: dict[dt.date, dict[str, float]]) -> str:
    """The two reporting tables the comparison reads, with a few runs, at ``url`` (in the
    schema ``reporting`` on PostgreSQL)."""
    engine = make_engine(url)
    prefix = "" if engine.dialect.name == "sqlite" else "reporting."
    with engine.begin() as conn:
        if prefix:
            conn.execute(sa.text("CREATE SCHEMA reporting"))
        conn.execute(
            sa.text(
                f"CREATE TABLE {prefix}replenishment_orders (run_date DATE, "
                "sku_id TEXT, order_qty REAL, PRIMARY KEY (run_date, sku_id))"
            )
        )
        conn.execute(sa.text(f"CREATE TABLE {prefix}demand_forecast (run_date DATE, "
                             "sku_id TEXT, forecast_date DATE, yhat REAL)"))  # fmt: skip
        for run, qty in runs.items():
            for sku, q in qty.items():
                conn.execute(
                    sa.text(f"INSERT INTO {prefix}replenishment_orders VALUES (:r, :s, :q)"),
                    {"r": run, "s": sku, "q": q},
                )
                for i in range(3):
                    conn.execute(
                        sa.text(f"INSERT INTO {prefix}demand_forecast VALUES (:r, :s, :f, 1.0)"),
                        {"r": run, "s": sku, "f": run + dt.timedelta(days=i)},
                    )
    engine.dispose()
    return url


def _assert_reads_the_latest_run_before(url: str) -> None:
    earlier, later = D - dt.timedelta(days=3), D + dt.timedelta(days=1)
    _reporting(url, {earlier: {"A": 1}, P: {"A": 2, "B": 0}, later: {"A": 9}})
    prev = read_previous_run(url, "reporting", D)
    assert prev.run_date == P and prev.error is None
    assert prev.orders.set_index("sku_id")["order_qty"].to_dict() == {"A": 2, "B": 0}
    # only the days from D on: P + 1 and P + 2 of each SKU
    days = sorted({str(d)[:10] for d in prev.forecast["forecast_date"]})
    assert days == [D.isoformat(), "2026-07-02"] and len(prev.forecast) == 4
    assert read_previous_run(url, "reporting", earlier).run_date is None  # nothing before it


def test_read_previous_run_takes_the_latest_run_before_the_date(tmp_path):
    _assert_reads_the_latest_run_before(f"sqlite:///{tmp_path / 'w.db'}")


@pytest.mark.postgres
def test_read_previous_run_on_postgres(pg_url):
    _assert_reads_the_latest_run_before(pg_url)


def test_read_previous_run_first_run_and_failure(tmp_path, caplog):
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    first = read_previous_run(empty, "reporting", D)  # no reporting tables yet
    assert first.run_date is None and first.error is None
    url = _reporting(f"sqlite:///{tmp_path / 'w.db'}", {P: {"A": 2}})
    engine = make_engine(url)
    with engine.begin() as conn:  # a reporting schema without the forecast table
        conn.execute(sa.text("DROP TABLE demand_forecast"))
    engine.dispose()
    with caplog.at_level(logging.WARNING, logger="replenishment.report_changes"):
        broken = read_previous_run(url, "reporting", D)
    assert broken.run_date is None and "demand_forecast" in (broken.error or "")
    assert "previous run could not be read" in caplog.text
