"""The Replenishment page's number formatting and row picking (static/format.js), run under
the Node.js that the playwright package ships, as the page runs them in the browser."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

FORMAT_JS = (
    Path(__file__).resolve().parents[2] / "plugins" / "replenishment_ui" / "static" / "format.js"
)


def _node() -> str:
    import playwright

    node = Path(playwright.__file__).parent / "driver" / "node"
    assert node.is_file(), f"the playwright package ships Node.js at {node}"
    return str(node)


def js(expression: str) -> object:
    """The JSON value of ``expression``, evaluated with ``Fmt`` (format.js) in scope."""
    script = (
        f"const Fmt = require({str(FORMAT_JS)!r});\n"
        f"process.stdout.write(JSON.stringify({expression}));\n"
    )
    out = subprocess.run(
        [_node(), "-e", script],
        capture_output=True,
        text=True,
        check=True,
        env={"LANG": "en_US.UTF-8", "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout)


def test_reason_numbers_read_like_the_cards():
    text = "position 1046 below reorder point 12046.2; pack rounding +4.8; MOQ applied (+1200)"
    assert js(f"Fmt.reason({json.dumps(text)})") == (
        "position 1,046 below reorder point 12,046.2; pack rounding +4.8; MOQ applied (+1,200)"
    )
    # the card writes the same figures the same way
    assert js("[Fmt.units(1046), Fmt.units(12046.2), Fmt.units(4.8), Fmt.units(1200)]") == [
        "1,046",
        "12,046.2",
        "4.8",
        "1,200",
    ]


def test_reason_dates_and_identifiers_are_left_alone():
    text = "not a review day (reviewed every 7 days, next 2026-07-08); SKU-10001 1000.5"
    assert js(f"Fmt.reason({json.dumps(text)})") == (
        "not a review day (reviewed every 7 days, next 2026-07-08); SKU-10001 1,000.5"
    )


def test_units_follow_the_reason_texts_rounding():
    # whole numbers without decimals, others with one (policy._fmt)
    assert js("[Fmt.units(3.02), Fmt.units(3.3), Fmt.units(-0.01), Fmt.units(null)]") == [
        "3",
        "3.3",
        "0",
        "–",
    ]


def test_money_in_the_configured_currency():
    assert js("Fmt.money(39226.375, 'USD')") == "$39,226.38"
    assert js("Fmt.money(1234.5, 'EUR')") == "€1,234.50"
    assert js("Fmt.money(1234.5, 'not a code')") == "1,234.50 not a code"


def test_unknown_lead_time_spread_is_said():
    assert js("Fmt.leadTime(9, 0, false)") == "9 days ± unknown"
    assert js("Fmt.leadTime(9, 1.26, true)") == "9 days ± 1.3 days"
    assert js("[Fmt.days(1), Fmt.days(1.02), Fmt.days(7)]") == ["1 day", "1 day", "7 days"]


def test_interval_clipped_at_zero_is_not_a_band():
    forecast = [
        {"forecast_date": "2026-07-01", "yhat_lower": 0.5, "yhat_upper": 3},
        {"forecast_date": "2026-07-02", "yhat_lower": 0, "yhat_upper": 2},
        {"forecast_date": "2026-07-03", "yhat_lower": 0, "yhat_upper": 2},
        {"forecast_date": "2026-07-04", "yhat_lower": 0.2, "yhat_upper": 2},
    ]
    runs = js(f"Fmt.bandRuns({json.dumps(forecast)}).map((r) => [r.kind, r.days.length])")
    assert runs == [["band", 1], ["clipped", 2], ["band", 1]]


ORDERS = [
    {"sku_id": "A1", "description": "Hammer", "category": "tools", "order_value": 50,
     "order_qty": 5, "expected_receipt_date": "2026-07-09", "exceptions": []},
    {"sku_id": "B2", "description": "Nails", "category": "parts", "order_value": 900,
     "order_qty": 1, "expected_receipt_date": "2026-07-03", "exceptions": []},
    {"sku_id": "C3", "description": "Saw", "category": "tools", "order_value": 20,
     "order_qty": 9, "expected_receipt_date": "2026-07-05", "exceptions": ["out of stock"]},
]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "want"),
    [
        ({}, ["B2", "A1", "C3"]),  # by value, highest first
        ({"sort": "exceptions"}, ["C3", "B2", "A1"]),
        ({"sort": "qty"}, ["C3", "A1", "B2"]),
        ({"sort": "receipt"}, ["B2", "C3", "A1"]),
        ({"sort": "sku"}, ["A1", "B2", "C3"]),
        ({"category": "tools"}, ["A1", "C3"]),
        ({"query": "saw"}, ["C3"]),
        ({"query": "b2"}, ["B2"]),
        ({"query": "x", "category": "tools"}, []),
    ],
)
def test_orders_table_filters_and_sorts(options, want):
    expression = f"Fmt.pickOrders({json.dumps(ORDERS)}, {json.dumps(options)}).map((r) => r.sku_id)"
    assert js(expression) == want


def test_the_run_report_writes_numbers_as_the_page_does():
    """replenishment.order_file's formatters (used by the run report) against format.js."""
    from replenishment.order_file import format_number, format_reason, format_units

    values = [0, -0.01, 0.04, 0.06, 0.25, 2.5, 4.8, 9.95, 1046, 1046.2, 12046.25, 1_200_000, -3.5]
    assert [format_units(v) for v in values] == js(f"{json.dumps(values)}.map(Fmt.units)")
    assert [format_number(v, 2) for v in values] == js(
        f"{json.dumps(values)}.map((v) => Fmt.num(v, 2))"
    )
    assert [format_units(None), format_number(float("nan"))] == js(
        "[Fmt.units(null), Fmt.num(NaN)]"
    )
    text = (
        "position 1046 below reorder point 12046.2; pack rounding +4.8; MOQ applied (+1200); "
        "not a review day (reviewed every 7 days, next 2026-07-08); SKU-10001 1000.5"
    )
    assert format_reason(text) == js(f"Fmt.reason({json.dumps(text)})")


def test_model_choice_says_what_won_and_by_how_much():
    row = {
        "model": "prophet+lightgbm",
        "selection": "backtest",
        "incumbent": "prophet",
        "wape": 0.2,
        "incumbent_wape": 0.25,
        "baseline_wape": 0.4,
        "fva": 0.5,
        "candidate_wapes": "prophet+lightgbm 0.200; lightgbm 0.230; prophet 0.250",
    }
    assert js(f"Fmt.modelChoice({json.dumps(row)})") == (
        "prophet+lightgbm: chosen by backtest over the default prophet. Holdout WAPE 20.0 %"
        " (prophet 25.0 %), seasonal naive 40.0 %; value added 50.0 %."
        " Candidates: prophet+lightgbm 0.200; lightgbm 0.230; prophet 0.250."
    )
    quiet = {**row, "model": "sba", "selection": "not_backtested", "wape": None}
    assert js(f"Fmt.modelChoice({json.dumps(quiet)})") == (
        "sba: not backtested on this run date (first candidate)."
    )
    assert js("Fmt.modelChoice(null)") == "No accuracy row for this SKU and run."
    kept = {**row, "selection": "default", "incumbent": "prophet+lightgbm"}
    assert js(f"Fmt.modelChoice({json.dumps(kept)})").startswith(
        "prophet+lightgbm: the default (class model and global model averaged); no candidate"
        " beat it by 20 %. Holdout WAPE 20.0 %, seasonal naive 40.0 %"
    )
