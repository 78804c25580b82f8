"""The Superset bundle generated from the data dictionary (replenishment.bi_bundle)."""

from __future__ import annotations

import json
import zipfile

import yaml

from replenishment import bi_bundle, reporting

URI = "postgresql+psycopg2://replenishment_bi@db:5432/warehouse"


def _configs() -> dict[str, dict]:
    return bi_bundle.bundle_configs(URI)


def test_every_view_is_a_dataset_with_its_grain_time_column_and_descriptions():
    configs = _configs()
    views = {n: r for n, r in reporting.dictionary().items() if r.kind == "view"}
    datasets = {c["table_name"]: c for p, c in configs.items() if p.startswith("datasets/")}
    assert set(datasets) == set(views)
    database = configs["databases/replenishment_warehouse.yaml"]
    assert database["sqlalchemy_uri"] == URI
    for name, rel in views.items():
        ds = datasets[name]
        assert ds["description"] == rel.description and ds["description"].startswith("Grain: ")
        assert ds["schema"] == "reporting" and ds["database_uuid"] == database["uuid"]
        columns = {c["column_name"]: c for c in ds["columns"]}
        assert list(columns) == list(rel.columns)
        assert all(c["description"] == rel.columns[n] for n, c in columns.items())
        assert ds["main_dttm_col"] in columns and columns[ds["main_dttm_col"]]["is_dttm"]
        assert ds["currency_code_column"] == ("currency" if "currency" in columns else None)


def test_saved_metrics_carry_formats_and_the_pooled_wape():
    datasets = {c["table_name"]: c for p, c in _configs().items() if p.startswith("datasets/")}
    lag7 = {m["metric_name"]: m for m in datasets["v_forecast_vs_actual_lag7"]["metrics"]}
    assert lag7["pooled_wape"]["expression"].startswith("SUM(abs_error) / NULLIF(SUM(")
    assert lag7["pooled_wape"]["d3format"] == ".1%"
    kpis = {m["metric_name"]: m for m in datasets["v_inventory_kpis"]["metrics"]}
    assert (
        kpis["fill_rate"]["expression"] == "1.0 - SUM(short_units) / NULLIF(SUM(demand_units), 0)"
    )
    assert kpis["total_cost"]["currency"] == {"symbol": "AUTO", "symbolPosition": "prefix"}
    assert kpis["fill_rate"]["currency"] is None
    orders = {m["metric_name"]: m for m in datasets["v_latest_orders"]["metrics"]}
    assert orders["order_value"]["currency"]["symbol"] == "AUTO"


def test_charts_query_their_datasets_and_sit_on_the_dashboard():
    configs = _configs()
    datasets = {c["uuid"]: c for p, c in configs.items() if p.startswith("datasets/")}
    charts = {p: c for p, c in configs.items() if p.startswith("charts/")}
    assert len(charts) == len(bi_bundle.dashboard_spec()["charts"]) == 6
    for chart in charts.values():
        dataset = datasets[chart["dataset_uuid"]]
        metrics = {m["metric_name"] for m in dataset["metrics"]}
        (query,) = json.loads(chart["query_context"])["queries"]
        assert set(query["metrics"]) <= metrics, chart["slice_name"]
        assert set(query["columns"]) <= {c["column_name"] for c in dataset["columns"]}
    dashboard = configs["dashboards/replenishment.yaml"]
    placed = {
        v["meta"]["uuid"]
        for v in dashboard["position"].values()
        if isinstance(v, dict) and v.get("type") == "CHART"
    }
    assert placed == {c["uuid"] for c in charts.values()}


def test_the_bundle_is_the_same_every_time_and_zips_under_one_folder(tmp_path):
    assert bi_bundle.bundle_files(URI) == bi_bundle.bundle_files(URI)  # stable UUIDs
    path = bi_bundle.write_bundle(tmp_path / "b.zip", URI)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        meta = yaml.safe_load(archive.read("replenishment_bundle/metadata.yaml"))
    assert all(n.startswith("replenishment_bundle/") for n in names)
    assert meta["type"] == "Dashboard" and meta["version"] == "1.0.0"
    assert bi_bundle.main(["--uri", URI, "--out", str(tmp_path / "c.zip")]) == 0
    assert (tmp_path / "c.zip").read_bytes() == path.read_bytes()
