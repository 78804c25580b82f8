"""Lead times learned from receipts: shrinkage to the planned value, recency, late evidence."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from replenishment.lead_time import (
    LeadTimeRule,
    describe,
    estimate_lead_times,
    lead_time_evidence,
)
from replenishment.order_reasons import OrderFacts, reasons

D = dt.date(2026, 7, 1)


def _orders(sku: str, order_days_ago: list[int], leads: list[float | None], promised: int):
    ordered = [pd.Timestamp(D) - pd.Timedelta(days=a) for a in order_days_ago]
    return pd.DataFrame(
        {
            "sku_id": sku,
            "order_date": ordered,
            "expected_date": [o + pd.Timedelta(days=promised) for o in ordered],
            "received_date": [
                (o + pd.Timedelta(days=x)) if x is not None else pd.NaT
                for o, x in zip(ordered, leads, strict=True)
            ],
        }
    )


def _planned(**leads: float) -> pd.DataFrame:
    return pd.DataFrame({"sku_id": list(leads), "lead_time_days": list(leads.values())})


def test_without_receipts_the_planned_lead_time_is_used() -> None:
    est = estimate_lead_times(_planned(A=7.0), _orders("B", [30], [9], 7), D).iloc[0]
    assert est["lead_time_source"] == "planned"
    assert est["lead_time_used_days"] == 7.0
    assert est["lead_time_receipts"] == 0
    assert np.isnan(est["lead_time_bias_days"])


def test_a_supplier_three_days_late_is_learned_from_24_receipts() -> None:
    ages = list(range(200, 8, -8))  # 24 orders, one every 8 days
    po = _orders("A", ages, [10.0] * len(ages), 7)
    est = estimate_lead_times(_planned(A=7.0), po, D).iloc[0]
    assert est["lead_time_source"] == "measured"
    assert est["lead_time_receipts"] == 24
    # 24 receipts 3 days late contradict the plan: it no longer pulls the mean
    assert est["lead_time_used_days"] == pytest.approx(10.0)
    assert est["lead_time_bias_days"] == pytest.approx(3.0)
    assert est["lead_time_used_days"] > 7.0 + 0.75 * 3.0


def test_few_receipts_are_blended_with_the_plan() -> None:
    po = _orders("A", [40, 20], [12.0, 12.0], 8)
    est = estimate_lead_times(_planned(A=8.0), po, D).iloc[0]
    assert est["lead_time_source"] == "blended"
    assert 8.0 < est["lead_time_used_days"] < 12.0


def test_recent_receipts_weigh_more_than_old_ones() -> None:
    old = _orders("A", list(range(700, 300, -20)), [7.0] * 20, 7)
    new = _orders("A", list(range(60, 0, -10)), [12.0] * 6, 7)
    po = pd.concat([old, new], ignore_index=True)
    no_shift = LeadTimeRule(shift_t=float("inf"))  # the weighting alone
    est = estimate_lead_times(_planned(A=7.0), po, D, no_shift).iloc[0]
    plain_mean = (20 * 7 + 6 * 12) / 26  # 8.15
    assert est["lead_time_used_days"] > plain_mean + 1.0
    flat = LeadTimeRule(half_life_days=10_000, shift_t=float("inf"))
    assert estimate_lead_times(_planned(A=7.0), po, D, flat).iloc[0][
        "lead_time_used_days"
    ] == pytest.approx((3 * 7 + 20 * 7 + 6 * 12) / 29, rel=0.01)


def test_a_supplier_that_turned_late_is_planned_from_its_receipts_since() -> None:
    """20 on-time receipts over two years, then 6 that took 12 days instead of 7."""
    old = _orders("A", list(range(700, 300, -20)), [7.0] * 20, 7)
    new = _orders("A", list(range(65, 5, -10)), [12.0] * 6, 7)
    po = pd.concat([old, new], ignore_index=True)
    est = estimate_lead_times(_planned(A=7.0), po, D).iloc[0]
    assert est["lead_time_shift_receipts"] == 6
    assert est["lead_time_source"] == "measured"
    assert est["lead_time_used_days"] == pytest.approx(12.0)
    assert est["lead_time_bias_days"] == pytest.approx(5.0)
    assert "the 6 receipts since its lead time changed" in describe(est.to_dict())
    # one late receipt is not yet a level: the history still counts
    early = estimate_lead_times(_planned(A=7.0), pd.concat([old, new.tail(1)]), D).iloc[0]
    assert early["lead_time_shift_receipts"] == 0
    assert early["lead_time_used_days"] < 10.0


@pytest.mark.parametrize("heavy_tail", [False, True])
def test_a_steady_supplier_is_almost_never_split(heavy_tail: bool) -> None:
    """1,000 SKUs x 150 receipts of one steady lead time (noise as the demo's suppliers:
    10 % of 10 days, whole days; with ``heavy_tail`` also the late suppliers' exponential
    delays on half the orders): fewer than 1 % get a level shift."""
    rng = np.random.default_rng(7)
    skus, receipts = 1_000, 150
    ages = np.tile(np.arange(receipts * 7, 0, -7), skus)
    lead = np.round(10.0 + rng.normal(0.0, 1.0, skus * receipts))
    if heavy_tail:
        late = rng.random(skus * receipts) < 0.5
        lead += 2.0 + np.where(late, np.ceil(rng.exponential(4.0, skus * receipts)), 0.0)
    ordered = pd.Timestamp(D) - pd.to_timedelta(ages + lead, unit="D")
    po = pd.DataFrame(
        {
            "sku_id": np.repeat([f"S{i}" for i in range(skus)], receipts),
            "order_date": ordered,
            "received_date": ordered + pd.to_timedelta(lead, unit="D"),
        }
    )
    planned = pd.DataFrame({"sku_id": [f"S{i}" for i in range(skus)], "lead_time_days": 10.0})
    est = estimate_lead_times(planned, po, D)
    assert (est["lead_time_shift_receipts"] > 0).mean() < 0.01


@pytest.mark.parametrize("seed", [0, 1])
def test_steady_groups_are_not_split(seed: int) -> None:
    """400 steady suppliers ordering weekly for 60 weeks (30 % of them late ones: 2 days
    plus an exponential delay on half the orders), in groups of 5, 20 and 100 SKUs, with
    the orders still open at the run date: no group's lateness is split."""
    rng = np.random.default_rng(seed)
    skus, orders = 400, 60
    size = skus * orders
    ages = np.tile(np.arange(orders * 7, 0, -7), skus) + np.repeat(rng.integers(0, 7, skus), orders)
    lead = np.round(10.0 + rng.normal(0.0, 1.0, size))
    late_supplier = np.repeat(rng.random(skus) < 0.3, orders)
    delay = 2.0 + np.where(rng.random(size) < 0.5, np.ceil(rng.exponential(4.0, size)), 0.0)
    lead += np.where(late_supplier, delay, 0.0)
    ordered = pd.Timestamp(D) - pd.to_timedelta(ages, unit="D")
    received = ordered + pd.to_timedelta(lead, unit="D")
    po = pd.DataFrame(
        {
            "sku_id": np.repeat([f"S{i}" for i in range(skus)], orders),
            "order_date": ordered,
            "expected_date": ordered + pd.Timedelta(days=10),
            "received_date": received.where(received < pd.Timestamp(D)),
        }
    )
    for group_size in (5, 20, 100):
        planned = pd.DataFrame(
            {
                "sku_id": [f"S{i}" for i in range(skus)],
                "lead_time_days": 10.0,
                "lead_time_group": [f"G{i // group_size}" for i in range(skus)],
            }
        )
        est = estimate_lead_times(planned, po, D)
        assert (est["lead_time_group_shift_days"] == 0).all(), group_size


def _group_turned_late(skus: int = 10) -> pd.DataFrame:
    """Ten SKUs of one group, 20 on-time receipts each over two years; then the group's
    suppliers turned 3 days late: SKUs 0-8 have one late receipt each since (too few for
    a shift of their own), SKU 9 none."""
    frames = []
    for i in range(skus):
        frames.append(_orders(f"S{i}", list(range(700 + i, 300 + i, -20)), [7.0] * 20, 7))
        if i < skus - 1:
            frames.append(_orders(f"S{i}", [40 - 2 * i], [10.0], 7))
    return pd.concat(frames, ignore_index=True)


def test_a_group_that_turned_late_moves_the_skus_that_order_rarely() -> None:
    po = _group_turned_late()
    planned = _planned(**{f"S{i}": 7.0 for i in range(10)})
    alone = estimate_lead_times(planned, po, D).set_index("sku_id")
    pooled = estimate_lead_times(planned.assign(lead_time_group="G"), po, D).set_index("sku_id")
    assert (alone["lead_time_shift_receipts"] == 0).all()  # no SKU shifted on its own
    assert alone["lead_time_group_shift_days"].eq(0).all()
    assert pooled["lead_time_group_shift_days"].tolist() == pytest.approx([3.0] * 10)
    # S9 has no receipt since the change: alone it stays on time, pooled it plans +3 days
    assert alone.loc["S9", "lead_time_used_days"] == pytest.approx(7.0)
    assert pooled.loc["S9", "lead_time_used_days"] == pytest.approx(10.0)
    # S0 saw one late receipt: alone it is outweighed by 20 on-time ones
    assert alone.loc["S0", "lead_time_used_days"] < 8.5
    assert pooled.loc["S0", "lead_time_used_days"] == pytest.approx(10.0)
    text = describe(pooled.loc["S9"].to_dict())
    assert "the suppliers of its group 3.0 days later than before" in text
    # another group's SKUs are not moved
    other = pd.concat([po, _orders("X", list(range(700, 0, -20)), [7.0] * 35, 7)])
    planned_x = pd.concat(
        [planned.assign(lead_time_group="G"), _planned(X=7.0).assign(lead_time_group="H")]
    )
    est = estimate_lead_times(planned_x, other, D).set_index("sku_id")
    assert est.loc["X", "lead_time_group_shift_days"] == 0
    assert est.loc["X", "lead_time_used_days"] == pytest.approx(7.0)


def test_a_sku_that_shifted_on_its_own_keeps_its_own_level() -> None:
    po = pd.concat(
        [
            _group_turned_late(),
            _orders("S9", list(range(75, 15, -10)), [15.0] * 6, 7),  # S9 now 8 days late
        ],
        ignore_index=True,
    )
    planned = _planned(**{f"S{i}": 7.0 for i in range(10)}).assign(lead_time_group="G")
    est = estimate_lead_times(planned, po, D).set_index("sku_id")
    assert est.loc["S9", "lead_time_shift_receipts"] == 6
    assert est.loc["S9", "lead_time_group_shift_days"] == 0
    assert est.loc["S9", "lead_time_used_days"] == pytest.approx(15.0)


def test_open_orders_past_their_expected_date_are_late_evidence() -> None:
    po = _orders("A", [20, 3], [None, None], 7)  # one overdue by 13 days, one not yet due
    evidence = lead_time_evidence(po, D)
    assert evidence["late_open"].tolist() == [True]
    assert evidence["lead_days"].tolist() == [20.0]
    est = estimate_lead_times(_planned(A=7.0), po, D).iloc[0]
    assert est["lead_time_late_open"] == 1 and est["lead_time_receipts"] == 0
    assert est["lead_time_used_days"] > 7.0


def test_receipts_on_or_after_the_run_date_are_not_known_yet() -> None:
    po = _orders("A", [5], [5.0], 3)  # received on D itself
    evidence = lead_time_evidence(po, D)
    # not received before D and past its expected date (D - 2): late evidence of 5 days
    assert evidence["late_open"].tolist() == [True]
    assert evidence["lead_days"].tolist() == [5.0]


def test_the_reason_names_the_late_supplier() -> None:
    ages = list(range(200, 8, -8))
    est = estimate_lead_times(_planned(A=7.0), _orders("A", ages, [10.0] * 24, 7), D)
    one = np.array([1.0])
    facts = OrderFacts(
        skus=np.array(["A"], dtype=object),
        run_date=D,
        periodic=np.array([True]),
        reviewed=np.array([True]),
        review=one * 7,
        pack=one,
        position=one * 5,
        reorder_point=one * 50,
        raw_need=one * 45,
        packed_need=one * 45.8,
        order_qty=one * 46,
        lots=one * 0,
        lot=one,
        lot_from_eoq=one,
        eoq_units=one,
        moq=one * 0,
        lead_std_unknown=np.array([False]),
        on_hand_missing=np.array([True]),
        lead_times=est,
    )
    text = reasons(facts)[0]
    assert "supplier 3.0 days late on average over 24 receipts" in text
    assert "pack rounding" not in text  # a pack of one: rounding to units is no news
    assert "no inventory snapshot before 2026-07-01" in text


def test_cancelled_and_stale_open_orders_are_not_evidence() -> None:
    po = _orders("A", [300, 20, 15], [None, None, None], 7)
    po["status"] = ["open", "cancelled", "open"]
    evidence = lead_time_evidence(po, D)
    # 300 days overdue on a 7-day promise: stale; the cancelled one: no delivery to wait for
    assert evidence["lead_days"].tolist() == [15.0]
    est = estimate_lead_times(_planned(A=7.0), po, D).iloc[0]
    assert est["lead_time_late_open"] == 1
    assert est["lead_time_used_days"] < 10.0


def test_a_group_turning_late_is_seen_in_its_overdue_orders_before_any_late_receipt() -> None:
    """Ten SKUs with 20 on-time receipts each; each has one order placed 10 days ago,
    promised in 7, not received: 3 days overdue across the group, no late receipt yet."""
    frames = [_orders(f"S{i}", list(range(400 + i, i, -20)), [7.0] * 20, 7) for i in range(10)]
    frames += [_orders(f"S{i}", [10], [None], 7) for i in range(10)]
    po = pd.concat(frames, ignore_index=True)
    planned = _planned(**{f"S{i}": 7.0 for i in range(10)}).assign(lead_time_group="G")
    est = estimate_lead_times(planned, po, D).set_index("sku_id")
    assert (est["lead_time_receipts"] == 20).all() and (est["lead_time_late_open"] == 1).all()
    assert est["lead_time_group_shift_days"].tolist() == pytest.approx([3.0] * 10)
    assert (est["lead_time_used_days"] > 9.5).all()
    alone = estimate_lead_times(planned.drop(columns="lead_time_group"), po, D)
    assert (alone["lead_time_used_days"] < 8.0).all()


def test_a_category_turned_earlier_or_one_lost_shipment_moves_no_sku() -> None:
    """Ten SKUs, 20 receipts each at 7 days; then one shipment 40 days late and every
    SKU's next order 3 days early: the category does not move its SKUs (a category
    turned early is left to each SKU's receipts), and no lead time falls below a day."""
    frames = [_orders(f"S{i}", list(range(400 + i, 60 + i, -20)), [7.0] * 17, 7) for i in range(10)]
    frames.append(_orders("S0", [300], [47.0], 7))
    frames += [_orders(f"S{i}", [40 - i], [4.0], 7) for i in range(10)]
    po = pd.concat(frames, ignore_index=True)
    planned = _planned(**{f"S{i}": 7.0 for i in range(10)}).assign(lead_time_group="G")
    est = estimate_lead_times(planned, po, D)
    assert (est["lead_time_group_shift_days"] == 0).all()
    assert (est["lead_time_used_days"] >= 1.0).all()
