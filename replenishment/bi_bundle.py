"""A Superset import bundle of the reporting views, generated from the data dictionary.

``include/sql/reporting_columns.yaml`` describes every view (grain, columns, main time
column, currency columns, saved metrics) and the first dashboard (its charts). From it
:func:`bundle_files` makes the YAML files of a Superset 6 "import dashboards" bundle:

* ``databases/``: the warehouse, as the BI role's SQLAlchemy URL;
* ``datasets/``: one per view, its description the view's grain and meaning, each
  column's description, the main time column, the currency code column and the saved
  metrics with their d3 formats (percentages ``.1%``, money in the row's currency);
* ``charts/``: each chart's form data and the query context Superset runs for
  ``GET /api/v1/chart/<id>/data``;
* ``dashboards/``: the dashboard, two charts a row.

:func:`write_bundle` zips them; ``superset import-dashboards -p <zip> -u admin`` imports
it (docker-compose's ``superset`` service does so at start). Identifiers are UUIDs
derived from the names, so importing again updates the same objects.

``python -m replenishment.bi_bundle --uri URL --out FILE`` writes the bundle.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import uuid
import zipfile
from functools import cache
from pathlib import Path
from typing import Any

from replenishment.reporting import DICTIONARY_FILE, Relation, dictionary

log = logging.getLogger(__name__)

VERSION = "1.0.0"
DATABASE_NAME = "Replenishment warehouse"
_NAMESPACE = uuid.UUID("5d1e3c1a-2b7f-4c4e-9a55-3f0d2f6f2b20")
#: d3 format of a metric whose column is money: the row's currency (Superset "AUTO").
_CURRENCY = {"symbol": "AUTO", "symbolPosition": "prefix"}


def stable_uuid(*parts: str) -> str:
    """A UUID that depends only on ``parts``: importing again updates the same object.

    >>> stable_uuid("dataset", "v_sku") == stable_uuid("dataset", "v_sku")
    True
    """
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@cache
def dashboard_spec() -> dict[str, Any]:
    """The ``dashboard`` section of the data dictionary: title and charts by name."""
    import yaml

    raw = yaml.safe_load(DICTIONARY_FILE.read_text(encoding="utf-8"))
    spec: dict[str, Any] = raw["dashboard"]
    views = dictionary()
    for name, chart in spec["charts"].items():
        rel = views.get(chart["view"])
        if rel is None or rel.kind != "view":
            raise ValueError(
                f"{DICTIONARY_FILE.name}: chart {name} reads unknown view {chart['view']}"
            )
        unknown = [m for m in chart["metrics"] if m not in rel.bi.get("metrics", {})]
        unknown += [c for c in chart["groupby"] if c not in rel.columns]
        unknown += [f[0] for f in chart.get("filters", []) if f[0] not in rel.columns]
        if unknown:
            raise ValueError(f"{DICTIONARY_FILE.name}: chart {name} names unknown {unknown}")
    return spec


def _column_type(rel: Relation, column: str) -> str | None:
    text = rel.columns[column]
    if column.endswith("_date"):
        return "DATE"
    if text.startswith("true when"):
        return "BOOLEAN"
    return None


def dataset_config(rel: Relation, schema: str, database_uuid: str) -> dict[str, Any]:
    """The Superset dataset of one view: description (grain first), columns, metrics."""
    bi = rel.bi
    money = set(bi.get("currency_columns", []))
    metrics = []
    for name, (expression, label, d3format, meaning) in bi.get("metrics", {}).items():
        on_money = any(c in expression for c in money) and d3format is None
        metrics.append(
            {
                "metric_name": name,
                "verbose_name": label,
                "metric_type": None,
                "expression": expression,
                "description": meaning,
                "d3format": d3format,
                "currency": _CURRENCY if on_money else None,
                "extra": {},
                "warning_text": None,
            }
        )
    columns: list[dict[str, Any]] = [
        {
            "column_name": column,
            "verbose_name": None,
            "is_dttm": _column_type(rel, column) == "DATE",
            "is_active": True,
            "type": _column_type(rel, column),
            "advanced_data_type": None,
            "groupby": True,
            "filterable": True,
            "expression": None,
            "description": text,
            "python_date_format": None,
            "extra": {},
        }
        for column, text in rel.columns.items()
    ]
    return {
        "table_name": rel.name,
        "main_dttm_col": bi.get("time_column"),
        "currency_code_column": "currency" if "currency" in rel.columns else None,
        "description": rel.description,
        "default_endpoint": None,
        "offset": 0,
        "cache_timeout": None,
        "schema": schema,
        "sql": None,
        "params": None,
        "template_params": None,
        "filter_select_enabled": True,
        "fetch_values_predicate": None,
        "extra": None,
        "normalize_columns": False,
        "always_filter_main_dttm": False,
        "uuid": stable_uuid("dataset", rel.name),
        "metrics": metrics,
        "columns": columns,
        "version": VERSION,
        "database_uuid": database_uuid,
    }


def chart_query(chart: dict[str, Any], rel: Relation) -> dict[str, Any]:
    """The one query of a chart (Superset's query-context ``queries`` entry)."""
    time_column = rel.bi.get("time_column")
    ordered = chart["groupby"][0] == time_column and chart["viz"] != "table"
    return {
        "columns": list(chart["groupby"]),
        "metrics": list(chart["metrics"]),
        "filters": [{"col": c, "op": op, "val": v} for c, op, v in chart.get("filters", [])],
        "extras": {"having": "", "where": ""},
        "orderby": [[chart["groupby"][0], True]] if ordered else [[chart["metrics"][0], False]],
        "row_limit": 10_000,
        "time_range": "No filter",
        "annotation_layers": [],
        "applied_time_extras": {},
        "url_params": {},
        "custom_params": {},
        "custom_form_data": {},
    }


def chart_config(name: str, chart: dict[str, Any], rel: Relation) -> dict[str, Any]:
    """The Superset chart: form data (params) and the query context it runs."""
    query = chart_query(chart, rel)
    params: dict[str, Any] = {
        "viz_type": chart["viz"],
        "metrics": query["metrics"],
        "adhoc_filters": [
            {
                "clause": "WHERE",
                "expressionType": "SIMPLE",
                "subject": f["col"],
                "operator": f["op"],
                "comparator": f["val"],
            }
            for f in query["filters"]
        ],
        "row_limit": query["row_limit"],
        "time_range": "No filter",
    }
    if chart["viz"].startswith("echarts_timeseries"):
        params.update(
            x_axis=chart["groupby"][0], groupby=chart["groupby"][1:], time_grain_sqla="P1D"
        )
    elif chart["viz"] == "table":
        params.update(query_mode="aggregate", groupby=chart["groupby"])
    else:
        params.update(groupby=chart["groupby"], metric=chart["metrics"][0])
    context = {
        "datasource": {"id": 0, "type": "table"},
        "force": False,
        "queries": [query],
        "form_data": params,
        "result_format": "json",
        "result_type": "full",
    }
    return {
        "slice_name": chart["title"],
        "description": f"{rel.name}: {rel.description}",
        "certified_by": None,
        "certification_details": None,
        "viz_type": chart["viz"],
        "params": params,
        "query_context": json.dumps(context),
        "cache_timeout": None,
        "uuid": stable_uuid("chart", name),
        "version": VERSION,
        "dataset_uuid": stable_uuid("dataset", rel.name),
    }


def dashboard_config(charts: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The dashboard: a header and the charts, two a row, in the dictionary's order."""
    position: dict[str, Any] = {
        "DASHBOARD_VERSION_KEY": "v2",
        "ROOT_ID": {"type": "ROOT", "id": "ROOT_ID", "children": ["GRID_ID"]},
        "GRID_ID": {"type": "GRID", "id": "GRID_ID", "children": [], "parents": ["ROOT_ID"]},
        "HEADER_ID": {
            "id": "HEADER_ID",
            "type": "HEADER",
            "meta": {"text": dashboard_spec()["title"]},
        },
    }
    names = list(charts)
    for row, start in enumerate(range(0, len(names), 2)):
        row_id = f"ROW-{row}"
        position["GRID_ID"]["children"].append(row_id)
        position[row_id] = {
            "type": "ROW",
            "id": row_id,
            "children": [],
            "parents": ["ROOT_ID", "GRID_ID"],
            "meta": {"background": "BACKGROUND_TRANSPARENT"},
        }
        for i, name in enumerate(names[start : start + 2]):
            chart_id = f"CHART-{name}"
            position[row_id]["children"].append(chart_id)
            position[chart_id] = {
                "type": "CHART",
                "id": chart_id,
                "children": [],
                "parents": ["ROOT_ID", "GRID_ID", row_id],
                "meta": {
                    "chartId": start + i + 1,
                    "uuid": charts[name]["uuid"],
                    "width": 6,
                    "height": 50,
                    "sliceName": charts[name]["slice_name"],
                },
            }
    return {
        "dashboard_title": dashboard_spec()["title"],
        "description": None,
        "css": "",
        "slug": "replenishment",
        "uuid": stable_uuid("dashboard", "replenishment"),
        "position": position,
        "metadata": {
            "color_scheme": "",
            "refresh_frequency": 0,
            "expanded_slices": {},
            "label_colors": {},
            "timed_refresh_immune_slices": [],
            "cross_filters_enabled": True,
            "default_filters": "{}",
            "chart_configuration": {},
            "native_filter_configuration": [],
        },
        "version": VERSION,
    }


def bundle_configs(sqlalchemy_uri: str, schema: str = "reporting") -> dict[str, dict[str, Any]]:
    """Path inside the bundle -> the object it holds (database, datasets, charts, dashboard)."""
    database_uuid = stable_uuid("database", DATABASE_NAME)
    out: dict[str, dict[str, Any]] = {
        "metadata.yaml": {
            "version": VERSION,
            "type": "Dashboard",
            "timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.UTC).isoformat(),
        },
        "databases/replenishment_warehouse.yaml": {
            "database_name": DATABASE_NAME,
            "sqlalchemy_uri": sqlalchemy_uri,
            "cache_timeout": None,
            "expose_in_sqllab": True,
            "allow_run_async": False,
            "allow_ctas": False,
            "allow_cvas": False,
            "allow_dml": False,
            "allow_csv_upload": False,
            "extra": {"allows_virtual_table_explore": True},
            "uuid": database_uuid,
            "version": VERSION,
        },
    }
    views = {n: r for n, r in dictionary().items() if r.kind == "view"}
    for name, rel in views.items():
        out[f"datasets/replenishment_warehouse/{name}.yaml"] = dataset_config(
            rel, schema, database_uuid
        )
    charts = {
        name: chart_config(name, chart, views[chart["view"]])
        for name, chart in dashboard_spec()["charts"].items()
    }
    for name, config in charts.items():
        out[f"charts/{name}.yaml"] = config
    out["dashboards/replenishment.yaml"] = dashboard_config(charts)
    return out


def bundle_files(sqlalchemy_uri: str, schema: str = "reporting") -> dict[str, str]:
    """Path inside the bundle -> its YAML text."""
    import yaml

    return {
        path: yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        for path, config in bundle_configs(sqlalchemy_uri, schema).items()
    }


def write_bundle(path: Path, sqlalchemy_uri: str, schema: str = "reporting") -> Path:
    """Write the bundle as a ZIP (every file under ``replenishment_bundle/``); its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    files = bundle_files(sqlalchemy_uri, schema)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            # a fixed timestamp: the same dictionary gives the same bytes
            info = zipfile.ZipInfo(f"replenishment_bundle/{name}", date_time=(2026, 1, 1, 0, 0, 0))
            archive.writestr(info, text, compress_type=zipfile.ZIP_DEFLATED)
    log.info("superset bundle: %d files written to %s", len(files), path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m replenishment.bi_bundle", description=__doc__)
    parser.add_argument(
        "--uri", required=True, help="SQLAlchemy URL Superset connects with (the BI role)"
    )
    parser.add_argument("--out", required=True, type=Path, help="ZIP file to write")
    parser.add_argument("--schema", default="reporting", help="schema of the reporting views")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_bundle(args.out, args.uri, args.schema)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
