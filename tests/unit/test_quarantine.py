"""dq_mode = quarantine: which rules are row-level, and every SKU of a row fault."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest

from replenishment.load import reporting_columns
from replenishment.quarantine import (
    QUARANTINED,
    blocking_failures,
    confine,
    quarantine_frame,
    quarantined_orders,
    summary_reason,
)
from replenishment.validate import MAX_EXAMPLES, SOURCE_SUITES, validate_outputs, validate_sources
from replenishment.validate_suites import (
    EXPECTATIONS_DIR,
    SKU_SCOPE,
    SKU_SCOPED,
    TABLE_SCOPE,
    load_suite,
)
from tests.unit.test_validate import Build, D, base_frames, build  # noqa: F401 (fixture)


@pytest.mark.parametrize("name", SOURCE_SUITES)
def test_each_expectation_is_row_level_or_table_level(name: str) -> None:
    """SKU_SCOPED names existing rules only; a row-level rule is critical, on a table with
    a sku_id, never on a missing sku_id, a key without the sku_id, a uniqueness or table
    rule or an SQL check against history."""
    raw = json.loads((EXPECTATIONS_DIR / f"{name}.json").read_text())
    by_description = {e["description"]: e for e in raw["expectations"]}
    assert SKU_SCOPED[name] <= set(by_description), SKU_SCOPED[name] - set(by_description)
    keys = set(raw["meta"]["key_columns"])
    keys = set() if "sku_id" in keys else keys  # a key with the sku_id names whose row it is
    suite = load_suite(name, D)
    assert "sku_id" in suite.required_columns
    for exp in suite.expectations:
        scope = exp["meta"]["scope"]
        assert scope in (SKU_SCOPE, TABLE_SCOPE)
        if scope == TABLE_SCOPE:
            continue
        assert exp["severity"] == "critical", exp["description"]
        assert "sql_file" not in by_description[exp["description"]].get("meta", {})
        column = exp["kwargs"].get("column")
        assert column not in keys | {"sku_id"} or "unexpected_rows_query" in exp["kwargs"]
        assert not exp["type"].startswith("expect_table") and "unique" not in exp["type"]


def _many_skus(n: int) -> dict[str, pd.DataFrame]:
    """The clean base with ``n`` SKUs, each with one order line on D - 3."""
    frames = base_frames()
    master = frames["sku_master"]
    extra = [master.iloc[0].to_dict() | {"sku_id": f"S{i}"} for i in range(3, n + 1)]
    frames["sku_master"] = pd.concat([master, pd.DataFrame(extra)], ignore_index=True)
    lines = frames["order_lines"]
    more = [
        lines.iloc[0].to_dict() | {"order_id": f"B-{i}", "sku_id": f"S{i}"} for i in range(3, n + 1)
    ]
    frames["order_lines"] = pd.concat([lines, pd.DataFrame(more)], ignore_index=True)
    return frames


def test_every_sku_of_the_failing_rows_not_only_the_examples(build: Build) -> None:  # noqa: F811
    frames = _many_skus(8)
    lines = frames["order_lines"]
    bad = lines["order_id"].str.startswith("B-") | (lines["order_id"] == "A-2")
    frames["order_lines"].loc[bad, "quantity"] = -1.0  # S1 and S3 .. S8: 7 SKUs
    engine = build(frames)

    report = validate_sources(engine, D, quarantine=True)

    (failure,) = report.critical_failures
    assert failure.scope == SKU_SCOPE and len(failure.examples) == MAX_EXAMPLES
    assert failure.sku_ids == ("S1", "S3", "S4", "S5", "S6", "S7", "S8")
    assert blocking_failures(report) == []
    held = confine(engine, report)
    assert held is not None and held["sku_id"].tolist() == list(failure.sku_ids)
    assert held["reason"].eq("quarantined: order_lines.quantity 0 < quantity < 100000").all()
    assert held["listed"].all()
    # block mode fetches nothing and keeps today's failure
    plain = validate_sources(engine, D).critical_failures[0]
    assert plain.sku_ids is None and plain.message == failure.message


def _status_shipped(f: dict[str, pd.DataFrame]) -> None:
    f["order_lines"].loc[1, "status"] = "shipped"


def _promo_backwards(f: dict[str, pd.DataFrame]) -> None:
    f["promotions"].loc[1, "end_date"] = dt.date(2024, 5, 9)


def _order_ts_missing(f: dict[str, pd.DataFrame]) -> None:
    f["order_lines"].loc[1, "order_ts"] = None


def _quantity_text(f: dict[str, pd.DataFrame]) -> None:
    f["order_lines"]["quantity"] = f["order_lines"]["quantity"].astype(object)
    f["order_lines"].loc[0, "quantity"] = "abc"


def _unknown_sku(f: dict[str, pd.DataFrame]) -> None:
    f["purchase_orders"].loc[1, "sku_id"] = "S-GONE"


def _inactive_pack_size_0(f: dict[str, pd.DataFrame]) -> None:
    f["sku_master"].loc[1, ["pack_size", "active"]] = [0, False]


ROW_FAULTS = {
    "in set": (_status_shipped, {"S2": True}),
    "pair of columns": (_promo_backwards, {"S2": True}),
    "not null": (_order_ts_missing, {"S2": True}),
    "unexpected rows joined on the key": (_quantity_text, {"S1": True}),
    "unknown key, not listed": (_unknown_sku, {"S-GONE": False}),
    "inactive SKU, not listed": (_inactive_pack_size_0, {"S2": False}),
}


@pytest.mark.parametrize(("change", "want"), ROW_FAULTS.values(), ids=ROW_FAULTS.keys())
def test_each_kind_of_row_fault_is_confined_to_its_skus(
    build: Build,  # noqa: F811
    change: object,
    want: dict[str, bool],
) -> None:
    frames = base_frames()
    change(frames)  # type: ignore[operator]
    engine = build(frames, relaxed=True)
    report = validate_sources(engine, D, quarantine=True)
    assert not report.ok and blocking_failures(report) == [], report.message()
    held = confine(engine, report)
    assert held is not None
    assert dict(zip(held["sku_id"], held["listed"], strict=True)) == want
    assert held["reason"].str.startswith("quarantined: ").all()


def test_a_table_level_fault_blocks_even_beside_a_row_fault(build: Build) -> None:  # noqa: F811
    frames = base_frames()
    _status_shipped(frames)
    lines = frames["order_lines"]
    frames["order_lines"] = pd.concat([lines, lines.iloc[[2]]], ignore_index=True)
    engine = build(frames, relaxed=True)
    report = validate_sources(engine, D, quarantine=True)
    (blocking,) = blocking_failures(report)
    assert blocking.expectation == "expect_compound_columns_to_be_unique"
    assert blocking.scope == TABLE_SCOPE and blocking.sku_ids is None
    assert confine(engine, report) is None


def test_a_row_fault_without_sku_id_blocks(build: Build) -> None:  # noqa: F811
    frames = base_frames()
    frames["order_lines"].loc[2, ["sku_id", "quantity"]] = [None, -2.0]
    engine = build(frames, relaxed=True)
    report = validate_sources(engine, D, quarantine=True)
    quantity = next(f for f in report.critical_failures if f.column == "quantity")
    assert quantity.scope == SKU_SCOPE and quantity.sku_ids is None
    assert confine(engine, report) is None


def test_quarantined_order_rows_meet_the_output_checks() -> None:
    columns = list(reporting_columns()["replenishment_orders"])
    held = pd.DataFrame(
        {"sku_id": ["S3", "S4"], "reason": ["quarantined: x.y rule", "r"], "listed": [True, False]}
    )
    rows = quarantined_orders(held, columns, D)
    assert rows["sku_id"].tolist() == ["S3"] and list(rows.columns) == columns[1:]
    row = rows.iloc[0]
    assert row["order_qty"] == 0 and row["pack_size"] == 1 and row["model"] == QUARANTINED
    assert row["reason"] == "quarantined: x.y rule" and row["expected_receipt_date"] == D
    assert quarantined_orders(None, columns, D).empty

    days = pd.date_range(pd.Timestamp(D), periods=3, freq="D")
    forecast = pd.DataFrame(
        [("S1", d, 2.0, 1.0, 3.0) for d in days],
        columns=["sku_id", "forecast_date", "yhat", "yhat_lower", "yhat_upper"],
    )
    orders = pd.concat(
        [pd.DataFrame([{"sku_id": "S1", "order_qty": 12.0, "pack_size": 6, "moq": 12}]), rows],
        ignore_index=True,
    )
    check = validate_outputs(forecast, orders, ["S1", "S3"], D, 3, quarantined=["S3"])
    assert check.success, [f.message for f in check.failures]
    assert not validate_outputs(forecast, orders, ["S1", "S3"], D, 3).success  # S3 unforecast
    orders.loc[1, "order_qty"] = 6.0
    check = validate_outputs(forecast, orders, ["S1", "S3"], D, 3, quarantined=["S3"])
    assert [f.expectation for f in check.failures] == ["quarantined_sku_not_ordered"]

    assert summary_reason(orders.assign(order_qty=0.0)) == (
        "1 SKU(s) quarantined by data quality: S3 (quarantined: x.y rule)"
    )
    assert summary_reason(orders.iloc[:1]) is None


def test_quarantine_frame_joins_the_reasons_of_a_sku() -> None:
    from replenishment.validate_results import Failure, SuiteResult, ValidationReport

    def failure(column: str, rule: str, skus: tuple[str, ...]) -> Failure:
        return Failure("order_lines", "e", column, "critical", 1, (), "m", SKU_SCOPE, rule, skus)

    report = ValidationReport(
        D,
        (
            SuiteResult(
                "order_lines",
                False,
                2,
                (failure("quantity", "q > 0", ("S1", "S2")), failure("status", "s ok", ("S1",))),
            ),
        ),
    )
    master = pd.DataFrame({"sku_id": ["S1", "S2"], "active": [1, None]})
    frame = quarantine_frame(report, master)
    assert frame.to_dict("list") == {
        "sku_id": ["S1", "S2"],
        "reason": [
            "quarantined: order_lines.quantity q > 0; quarantined: order_lines.status s ok",
            "quarantined: order_lines.quantity q > 0",
        ],
        "listed": [True, True],  # active unknown (NULL): listed
    }
