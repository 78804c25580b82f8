"""Command line: the same pipeline as the DAG, without Airflow.

replenishment demo-warehouse [--url URL] [--skus N] [--years Y] [--seed S]
replenishment run --date 2026-07-01 [--url URL] [--horizon-days 28] [--holiday-country US]
replenishment summary --date 2026-07-01 [--url URL]
replenishment reporting [--write-readme | --check | --create-views --url URL]
replenishment backtest ... / replenishment simulate ... (see their --help)
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from replenishment.config import DQ_MODES, PROJECT_ROOT, Settings

#: The README whose data dictionary ``replenishment reporting`` writes and checks.
README = PROJECT_ROOT / "README.md"

#: Help of each setting's option (every field of Settings has one: a test checks it).
SETTING_HELP = {
    "reporting_schema": "schema of the output tables (ignored on SQLite)",
    "horizon_days": "days forecast from the run date D: D .. D+N-1",
    "holiday_country": "ISO 3166 country code whose public holidays enter the model, e.g. US",
    "interval_width": "central probability of the forecast interval, in (0, 1)",
    "policy": "replenishment policy where the SKU master does not say",
    "service_target": "what the safety stock is sized for: cycle service (alpha) or fill rate (beta)",
    "forecast_batches": "number of forecast batches",
    "forecast_workers": "worker processes in one forecast batch (0 = one per core)",
    "backtest_days": "days of history held out to measure forecast error (0 = no backtest)",
    "backtest_every_days": "each SKU is backtested (its model chosen) on one run date in this many",
    "global_model": "fit the global LightGBM model across each forecast batch's SKUs",
    "min_history_days": "days of history a SKU needs before Prophet is tried on it",
    "staging_dir": "directory or object-store URL (s3://bucket/prefix) of the runs' intermediate files",
    "staging_conn_id": "Airflow connection of an object-store staging_dir (the DAG only)",
    "staging_retention_days": "days a failed run's staging files are kept (0 = keep)",
    "data_docs_dir": "directory of the Great Expectations Data Docs",
    "report_dir": "directory of the per-run HTML reports",
    "publish_views": "create or replace the BI views on every load",
    "currency": "ISO 4217 code of unit costs and order values, e.g. USD",
    "dq_mode": "a critical data-quality failure blocks the run, or quarantines the SKUs "
    "whose rows it is confined to (table-level failures block in both modes)",
}
#: Allowed values of the settings that have a short list of them.
SETTING_CHOICES = {
    "policy": ("periodic", "continuous"),
    "service_target": ("cycle", "fill_rate"),
    "publish_views": ("true", "false"),
    "global_model": ("true", "false"),
    "dq_mode": DQ_MODES,
}


def run_date_arg(text: str) -> dt.date:
    """``--date``: a calendar date written YYYY-MM-DD; anything else is a usage error."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date written YYYY-MM-DD (for example 2026-07-01)"
        ) from None


def country_arg(text: str) -> str:
    """``--holiday-country``: a country code the ``holidays`` library knows."""
    import holidays

    code = text.strip().upper()
    if code not in holidays.list_supported_countries():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a country code the holidays library knows (for example US, DE, GB)"
        )
    return code


def warehouse_arg(url: str) -> str:
    """The warehouse URL (``--url`` or the setting): a SQLite file that does not exist is an error (SQLite
    would create an empty database and every table would then be missing)."""
    import sqlalchemy as sa

    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        raise argparse.ArgumentTypeError(f"{url!r} is not a SQLAlchemy URL") from None
    path = parsed.database or ""
    if (
        parsed.get_backend_name() == "sqlite"
        and path not in ("", ":memory:")
        and not Path(path).is_file()
    ):
        raise argparse.ArgumentTypeError(
            f"no SQLite warehouse at {path} (create the demo one with "
            f"'replenishment demo-warehouse --url {url}')"
        )
    return url


def _add_settings_options(parser: argparse.ArgumentParser, only: tuple[str, ...] = ()) -> None:
    """One option per field of Settings (or of ``only``), with its help, type and choices."""
    parser.add_argument(
        "--url",
        dest="warehouse_url",
        help="SQLAlchemy URL of the warehouse (default: env REPLENISHMENT_WAREHOUSE_URL, "
        "else the demo's SQLite file)",
    )
    types: dict[str, Any] = {"int": int, "float": float, "holiday_country": country_arg}
    for field in dataclasses.fields(Settings):
        if field.name == "warehouse_url" or (only and field.name not in only):
            continue
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            default=None,
            type=types.get(field.name, types.get(str(field.type), str)),
            choices=SETTING_CHOICES.get(field.name),
            help=f"{SETTING_HELP[field.name]} (default {field.default!r}; "
            f"env REPLENISHMENT_{field.name.upper()})",
        )


def _settings(args: argparse.Namespace) -> Settings:
    names = {f.name for f in dataclasses.fields(Settings)}
    return Settings.load({k: v for k, v in vars(args).items() if k in names})


def summary_text(summary: dict[str, Any], settings: Settings) -> str:
    """A short human summary of a finished run."""
    from replenishment.reporting import view_statements

    where = settings.warehouse_url.split("@")[-1]
    schema = (
        settings.reporting_schema if not settings.warehouse_url.startswith("sqlite") else "main"
    )
    held = [f"{summary['reason']} (no order)"] if summary.get("skus_quarantined") else []
    return "\n".join(
        [
            f"run date {summary['run_date']}: {summary['skus_total']} SKUs forecast "
            f"(using prophet {summary['skus_prophet']}, "
            f"an intermittent method {summary['skus_intermittent']}, "
            f"won on the backtest {summary.get('skus_challenger', 0)}, "
            f"fallback {summary['skus_fallback']}, failed {summary['skus_failed']})",
            *held,
            f"orders recommended: {summary['orders_placed']} "
            f"worth {summary['order_value']:,.2f} at unit cost",
            f"backtest WAPE {summary['wape'] if summary['wape'] is None else round(summary['wape'], 3)}"
            f" vs seasonal-naive {summary['baseline_wape'] if summary['baseline_wape'] is None else round(summary['baseline_wape'], 3)}",
            f"tables demand_forecast, replenishment_orders, forecast_accuracy, "
            f"data_quality_results, pipeline_runs in {where} (schema {schema})",
            "views for BI tools: " + ", ".join(name for name, _ in view_statements()),
            f"report: {summary.get('report_path') or '-'}",
        ]
    )


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("cmdstanpy", "prophet", "great_expectations"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _simulate(argv: list[str]) -> int:
    from replenishment.simulate import main as simulate_main

    _logging(False)
    return simulate_main(argv)


def _backtest(argv: list[str]) -> int:
    from replenishment.backtest import main as backtest_main

    _logging(False)
    return backtest_main(argv)


def _demo_warehouse(argv: list[str]) -> int:
    from replenishment.demo import main as demo_main

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return demo_main(argv)


#: Commands with a parser of their own: ``replenishment <command> --help``.
SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "simulate": _simulate,
    "backtest": _backtest,
    "demo-warehouse": _demo_warehouse,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``run`` and ``summary`` commands (the others parse their own options)."""
    parser = argparse.ArgumentParser(prog="replenishment", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages too")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the pipeline for one run date")
    run.add_argument("--date", required=True, type=run_date_arg, help="run date D (YYYY-MM-DD)")
    _add_settings_options(run)
    summ = sub.add_parser("summary", help="print the stored run summary of a date")
    summ.add_argument("--date", required=True, type=run_date_arg, help="run date (YYYY-MM-DD)")
    summ.add_argument("--json", action="store_true", help="the whole pipeline_runs row as JSON")
    _add_settings_options(summ, only=("reporting_schema",))
    sub.add_parser("demo-warehouse", help="create the demo warehouse (see demo-warehouse --help)")
    sub.add_parser("backtest", help="rolling-origin backtest (see backtest --help)")
    sub.add_parser("simulate", help="replay simulator of the policy (see simulate --help)")
    sub.add_parser("reporting", help="data dictionary and BI views (see reporting --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["reporting"]:
        return reporting_main(argv[1:])
    if argv[:1] and argv[0] in SUBCOMMANDS:
        return SUBCOMMANDS[argv[0]](argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    _logging(args.verbose)

    settings = _settings(args)
    try:
        warehouse_arg(settings.warehouse_url)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    run_date: dt.date = args.date
    if args.command == "run":
        return _run(settings, run_date)
    return _summary(settings, run_date, as_json=args.json)


def _run(settings: Settings, run_date: dt.date) -> int:
    from replenishment.db import unreachable
    from replenishment.pipeline import run_pipeline
    from replenishment.staging import StagingError
    from replenishment.validate import DataQualityError

    try:
        summary = run_pipeline(settings, run_date)
    except DataQualityError as exc:
        print(f"validation failed for {run_date}:\n{exc}", file=sys.stderr)
        return 2
    except StagingError as exc:
        print(f"run {run_date} failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        message = unreachable(exc, settings.warehouse_url)
        if message is None:
            raise
        print(f"run {run_date} failed: {message}", file=sys.stderr)
        return 1
    print(summary_text(summary, settings))
    return 0


def _summary(settings: Settings, run_date: dt.date, as_json: bool) -> int:
    from replenishment.db import make_engine
    from replenishment.load import read_output

    frame = read_output(
        make_engine(settings.warehouse_url), settings.reporting_schema, "pipeline_runs", run_date
    )
    if frame.empty:
        print(f"no run stored for {run_date}", file=sys.stderr)
        return 1
    row = {k: (None if v is None or v != v else v) for k, v in frame.iloc[0].to_dict().items()}
    if as_json:
        print(json.dumps(row, default=str, indent=2))
    elif row.get("status", "success") != "success":
        from replenishment.run_status import describe

        print(describe(row))
    else:
        print(summary_text(row, settings))
    return 0 if row.get("status", "success") == "success" else 2


# --------------------------------------------------------------------------- reporting


def reporting_main(argv: Sequence[str] | None = None) -> int:
    """``replenishment reporting [--write-readme | --check | --create-views --url URL]``.

    Without an option, prints the data dictionary (Markdown) of
    ``include/sql/reporting_columns.yaml``.
    """
    from replenishment.reporting import DICTIONARY_FILE, data_dictionary_markdown

    parser = argparse.ArgumentParser(
        prog="replenishment reporting",
        description="The data dictionary of the reporting tables and views "
        f"(include/sql/{DICTIONARY_FILE.name}).",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--write-readme", action="store_true", help="regenerate the README's data dictionary"
    )
    action.add_argument(
        "--check", action="store_true", help="exit 1 when the README's data dictionary is stale"
    )
    action.add_argument(
        "--create-views",
        action="store_true",
        help="create the reporting tables if missing, the views and the comments in --url "
        "(what every load does unless publish_views is off)",
    )
    parser.add_argument("--url", help="SQLAlchemy URL of the warehouse (--create-views)")
    parser.add_argument("--schema", default="reporting", help="reporting schema (--create-views)")
    parser.add_argument("--readme", type=Path, default=README, help="default: %(default)s")
    args = parser.parse_args(argv)
    if args.create_views:
        if not args.url:
            parser.error("--create-views needs --url")
        return _create_views(args.url, args.schema)
    if not (args.write_readme or args.check):
        sys.stdout.write(data_dictionary_markdown())
        return 0
    return _readme_dictionary(args.readme, check=args.check)


def _readme_dictionary(readme: Path, check: bool) -> int:
    """Check (``check``) or rewrite the data dictionary section of ``readme``; exit status."""
    from replenishment.reporting import readme_with_dictionary

    current = readme.read_text(encoding="utf-8")
    try:
        wanted = readme_with_dictionary(current)
    except ValueError as exc:
        print(f"{readme}: {exc}", file=sys.stderr)
        return 1
    if check:
        if wanted != current:
            print(
                f"{readme}: the data dictionary is out of date; run "
                "replenishment reporting --write-readme",
                file=sys.stderr,
            )
            return 1
        print(f"{readme}: data dictionary up to date")
        return 0
    if wanted != current:
        readme.write_text(wanted, encoding="utf-8")
        print(f"{readme}: data dictionary written")
    else:
        print(f"{readme}: data dictionary already up to date")
    return 0


def _create_views(url: str, schema: str) -> int:
    from replenishment.db import make_engine
    from replenishment.load import ensure_reporting_tables, publish_views

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    engine = make_engine(url)
    try:
        ensure_reporting_tables(engine, schema)
        created = publish_views(engine, schema)
    finally:
        engine.dispose()
    print(f"views: {', '.join(created) or 'none replaced (in use)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
