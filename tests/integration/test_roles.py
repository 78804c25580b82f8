"""Least privilege on PostgreSQL: the pipeline role and the BI role of create_roles.sql."""

from __future__ import annotations

import base64
import hashlib
import hmac

import psycopg2.errors
import pytest
import sqlalchemy as sa

from replenishment.cli import main as cli_main
from replenishment.config import Settings
from replenishment.db import make_engine, run_script
from replenishment.load import OUTPUT_TABLES, ensure_reporting_tables
from replenishment.pipeline import run_pipeline
from replenishment.reporting import view_statements
from replenishment.roles import (
    BI_ROLE,
    PIPELINE_ROLE,
    apply_roles,
    main,
    roles_statements,
    scram_sha256_verifier,
    split_script,
)
from tests.support import RUN_DATE, check_contract

SOURCE_TABLES = (
    "sku_master",
    "order_lines",
    "promotions",
    "inventory_snapshots",
    "purchase_orders",
)


def _as_role(url: str, role: str) -> str:
    """The URL of the same database, logged in as ``role`` (the test server trusts local roles)."""
    return sa.make_url(url).set(username=role, password=None).render_as_string(hide_password=False)


def _denied(url: str, *statements: str) -> None:
    """Every statement fails with PostgreSQL's insufficient_privilege (42501)."""
    engine = make_engine(url)
    try:
        for statement in statements:
            with (
                pytest.raises(sa.exc.ProgrammingError) as info,
                engine.begin() as conn,
            ):
                conn.exec_driver_sql(statement)
                pytest.fail(f"{statement!r} was allowed")
            assert isinstance(info.value.orig, psycopg2.errors.InsufficientPrivilege), (
                f"{statement!r} failed, but not for lack of privilege: {info.value.orig}"
            )
    finally:
        engine.dispose()


def _counts(url: str, tables: tuple[str, ...], schema: str = "public") -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.exec_driver_sql(f"SELECT COUNT(*) FROM {schema}.{t}").scalar_one()
                for t in tables
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- pure functions


def test_split_script_keeps_dollar_bodies_and_quotes_whole():
    script = """
    -- a comment; with a semicolon
    DO $$ BEGIN PERFORM 1; PERFORM 2; END $$;
    SELECT 'a;b', "odd;name" FROM t;  -- trailing; comment
    DO $body$ BEGIN RAISE NOTICE 'x;y'; END $body$;
    SELECT 'it''s; fine'
    """
    assert split_script(script) == [
        "DO $$ BEGIN PERFORM 1; PERFORM 2; END $$",
        "SELECT 'a;b', \"odd;name\" FROM t",
        "DO $body$ BEGIN RAISE NOTICE 'x;y'; END $body$",
        "SELECT 'it''s; fine'",
    ]


def test_roles_script_templates_identifiers_only():
    statements = roles_statements("bi_out", "wh")
    text = "\n".join(statements)
    assert "{{" not in text and "bi_out" in text and "wh.order_lines" in text
    assert not any("PASSWORD" in s.upper() for s in statements), "no passwords in the script"
    for bad in ("reporting; DROP TABLE x", "rep-orting", 'a"b'):
        with pytest.raises(ValueError, match="not a plain SQL identifier"):
            roles_statements(reporting_schema=bad)
        with pytest.raises(ValueError, match="not a plain SQL identifier"):
            roles_statements(source_schema=bad)


def _scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    """StoredKey and ServerKey of RFC 5802 section 3, the test's own reference."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key


def _verifier(stored_key: bytes, server_key: bytes, salt: bytes, iterations: int) -> str:
    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def test_scram_reference_matches_rfc7677_example():
    # RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==.
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = _verifier(*_scram_keys("pencil", salt, 4096), salt, 4096)
    head, keys = verifier.rsplit("$", 1)
    assert head == "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    auth_message = (
        "n=user,r=rOprNGfwEbeRWgbNEkqO,"
        f"r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
        f"c=biws,r={nonce}"
    ).encode()
    server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    assert base64.b64encode(server_signature).decode() == (
        "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    )
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


@pytest.mark.postgres
def test_driver_scram_verifier_matches_the_rfc_reference(pg_url):
    """The verifier libpq makes (through psycopg2) is RFC 5802's for its own salt."""
    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            verifier = scram_sha256_verifier(conn, PIPELINE_ROLE, "pencil")
            again = scram_sha256_verifier(conn, PIPELINE_ROLE, "pencil")
            scram_sha256_verifier(conn, PIPELINE_ROLE, "pässword")  # libpq applies SASLprep
            with pytest.raises(ValueError):
                scram_sha256_verifier(conn, PIPELINE_ROLE, "")
    finally:
        engine.dispose()
    head, _ = verifier.rsplit("$", 1)
    iterations, salt_b64 = head.removeprefix("SCRAM-SHA-256$").split(":")
    salt = base64.b64decode(salt_b64)
    assert int(iterations) == 4096 and len(salt) == 16
    assert verifier == _verifier(*_scram_keys("pencil", salt, 4096), salt, 4096)
    assert again != verifier, "a fresh random salt for every verifier"


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
@pytest.mark.slow
def test_pipeline_role_runs_the_pipeline_and_bi_role_only_reads_reporting(pg_warehouse, tmp_path):
    admin = make_engine(pg_warehouse)
    apply_roles(admin)
    apply_roles(admin)  # idempotent
    admin.dispose()
    sources_before = _counts(pg_warehouse, SOURCE_TABLES)

    pipeline_url = _as_role(pg_warehouse, PIPELINE_ROLE)
    settings = Settings.load(
        {
            "warehouse_url": pipeline_url,
            "staging_dir": str(tmp_path / "staging"),
            "data_docs_dir": str(tmp_path / "docs"),
            "forecast_batches": 2,
        }
    )
    summary = run_pipeline(settings, RUN_DATE)
    assert summary["skus_total"] > 0
    check_contract(pg_warehouse, RUN_DATE)
    assert _counts(pg_warehouse, SOURCE_TABLES) == sources_before

    engine = make_engine(pg_warehouse)
    with engine.connect() as conn:
        owners = dict(
            conn.exec_driver_sql(
                "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'reporting'"
            ).all()
        )
        attrs = conn.execute(
            sa.text(
                "SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolbypassrls, rolcanlogin"
                " FROM pg_roles WHERE rolname IN (:a, :b)"
            ),
            {"a": PIPELINE_ROLE, "b": BI_ROLE},
        ).all()
    engine.dispose()
    assert {owners[t] for t in OUTPUT_TABLES} == {PIPELINE_ROLE}
    assert sorted(a[0] for a in attrs) == sorted([PIPELINE_ROLE, BI_ROLE])
    assert all(a[1:] == (False, False, False, False, True) for a in attrs)

    # The pipeline role reads the sources but cannot change them, nor create outside reporting.
    _denied(
        pipeline_url,
        "INSERT INTO sku_master SELECT * FROM sku_master LIMIT 1",
        "UPDATE order_lines SET quantity = quantity + 1",
        "DELETE FROM promotions",
        "TRUNCATE inventory_snapshots",
        "DROP TABLE purchase_orders",
        "ALTER TABLE sku_master ADD COLUMN hacked INTEGER",
        "CREATE TABLE public.pipeline_scratch (a INTEGER)",
        "CREATE SCHEMA pipeline_scratch",
    )
    # Nor can it pass its read access on (PostgreSQL only warns "no privileges were granted").
    pipeline = make_engine(pipeline_url)
    with pipeline.begin() as conn:
        conn.exec_driver_sql("GRANT SELECT ON order_lines TO replenishment_bi")

    # The BI role reads every reporting table, and nothing else.
    bi_url = _as_role(pg_warehouse, BI_ROLE)
    bi_counts = _counts(bi_url, OUTPUT_TABLES, schema="reporting")
    assert all(bi_counts[t] > 0 for t in OUTPUT_TABLES), bi_counts
    # ... and the BI views the pipeline's load created, though they read source tables
    # (a view runs with its owner's rights: the pipeline role's read access, no more)
    views = tuple(name for name, _ in view_statements())
    view_counts = _counts(bi_url, views, schema="reporting")
    assert view_counts["v_latest_orders"] == bi_counts["replenishment_orders"], view_counts
    assert view_counts["v_forecast_vs_actual"] == bi_counts["demand_forecast"], view_counts
    _denied(bi_url, *(f"SELECT * FROM public.{t} LIMIT 1" for t in SOURCE_TABLES))
    _denied(
        bi_url,
        "INSERT INTO reporting.pipeline_runs SELECT * FROM reporting.pipeline_runs",
        "UPDATE reporting.replenishment_orders SET order_qty = 0",
        "DELETE FROM reporting.demand_forecast",
        "TRUNCATE reporting.forecast_accuracy",
        "DROP TABLE reporting.data_quality_results",
        "CREATE TABLE reporting.bi_scratch (a INTEGER)",
        "CREATE VIEW reporting.bi_view AS SELECT 1 AS a",
    )

    # Tables and views the pipeline creates later are readable by BI too (default privileges).
    with pipeline.begin() as conn:
        conn.exec_driver_sql(
            "CREATE VIEW reporting.orders_to_place AS "
            "SELECT run_date, sku_id, order_qty FROM reporting.replenishment_orders "
            "WHERE order_qty > 0"
        )
        conn.exec_driver_sql("CREATE TABLE reporting.later_table (a INTEGER)")
    pipeline.dispose()
    _counts(bi_url, ("orders_to_place", "later_table"), schema="reporting")
    _denied(bi_url, "INSERT INTO reporting.later_table VALUES (1)")


@pytest.mark.postgres
def test_pipeline_role_writes_a_simulation(pg_warehouse, capsys):
    """``replenishment simulate --write`` as the pipeline role, which has no CREATE on the
    database: the write must not ask for CREATE SCHEMA when the schema exists."""
    admin = make_engine(pg_warehouse)
    apply_roles(admin)
    admin.dispose()
    pipeline_url = _as_role(pg_warehouse, PIPELINE_ROLE)
    _denied(pipeline_url, "CREATE SCHEMA IF NOT EXISTS reporting")
    argv = ["simulate", "--url", pipeline_url, "--start", "2026-06-01", "--days", "5"]
    assert cli_main([*argv, "--skus", "3", "--workers", "1", "--write"]) == 0
    assert "written: 9 rows to inventory_simulation" in capsys.readouterr().out
    counts = _counts(
        _as_role(pg_warehouse, BI_ROLE),
        ("inventory_simulation", "inventory_simulation_summary"),
        schema="reporting",
    )
    assert counts["inventory_simulation"] == 9 and counts["inventory_simulation_summary"] > 0


@pytest.mark.postgres
def test_roles_take_over_an_existing_reporting_schema_and_set_passwords(
    pg_url, monkeypatch, capsys
):
    """A warehouse whose reporting tables were made by an admin; passwords from the environment."""
    engine = make_engine(pg_url)
    with engine.begin() as conn:
        run_script(conn, "create_source_tables.sql")
    ensure_reporting_tables(engine, "reporting")  # owned by the admin, as before roles existed
    engine.dispose()

    monkeypatch.setenv("TEST_PIPELINE_DB_SECRET", "pipeline-secret-for-tests")
    argv = ["--url", pg_url, "--pipeline-password-env", "TEST_PIPELINE_DB_SECRET"]
    assert main(argv) == 0
    assert "replenishment_pipeline and replenishment_bi applied" in capsys.readouterr().out
    assert main(["--url", pg_url]) == 0  # again: nothing changes, nothing fails

    engine = make_engine(pg_url)
    with engine.connect() as conn:
        schema_owner = conn.exec_driver_sql(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'reporting'"
        ).scalar_one()
        owners = set(
            conn.exec_driver_sql(
                "SELECT tableowner FROM pg_tables WHERE schemaname = 'reporting'"
            ).scalars()
        )
        stored = conn.execute(
            sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": PIPELINE_ROLE}
        ).scalar_one()
    engine.dispose()
    assert schema_owner == PIPELINE_ROLE and owners == {PIPELINE_ROLE}
    # Stored exactly as sent: the server took it as a SCRAM verifier, never saw the password.
    assert stored.startswith("SCRAM-SHA-256$4096:") and "pipeline-secret" not in stored

    _counts(_as_role(pg_url, BI_ROLE), OUTPUT_TABLES, schema="reporting")
    _denied(_as_role(pg_url, BI_ROLE), "SELECT * FROM public.order_lines")
    pipeline_url = _as_role(pg_url, PIPELINE_ROLE)
    pipeline = make_engine(pipeline_url)
    ensure_reporting_tables(pipeline, "reporting")  # it owns its tables: it can add columns
    pipeline.dispose()

    monkeypatch.delenv("TEST_PIPELINE_DB_SECRET")
    with pytest.raises(SystemExit):
        main(argv)


def test_apply_roles_refuses_sqlite(tmp_path):
    with pytest.raises(ValueError, match="PostgreSQL"):
        apply_roles(make_engine(f"sqlite:///{tmp_path / 'w.db'}"))
