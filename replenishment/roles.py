"""Least-privilege PostgreSQL roles for the pipeline and for BI tools.

``include/sql/create_roles.sql`` creates two login roles in a PostgreSQL warehouse:

* ``replenishment_pipeline`` reads the five source tables and owns the reporting schema,
  where it creates and writes its tables; it cannot change a source table;
* ``replenishment_bi`` reads every table and view of the reporting schema (also those
  created later) and nothing else.

The script is idempotent. It holds no passwords: set them with psql's ``\\password``, or
with this module's command line, which reads each password from an environment variable
and sends only its SCRAM-SHA-256 verifier to the server (as ``\\password`` does: the
verifier is made by libpq itself, ``PQencryptPasswordConn``, through psycopg2)::

    python -m replenishment.roles --url postgresql+psycopg2://postgres@dbhost/warehouse \\
        --pipeline-password-env PIPELINE_DB_PASSWORD --bi-password-env BI_DB_PASSWORD
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection, Engine

from replenishment.db import check_identifier, make_engine, sql_text

log = logging.getLogger(__name__)

PIPELINE_ROLE = "replenishment_pipeline"
BI_ROLE = "replenishment_bi"
ROLES_SCRIPT = "create_roles.sql"
#: Password hashing asked of libpq (``password_encryption`` of PostgreSQL >= 14).
SCRAM_ALGORITHM = "scram-sha-256"

_DOLLAR_QUOTE = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")
_VERIFIER = re.compile(r"^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$")


def split_script(script: str) -> list[str]:
    """Statements of a PostgreSQL script, split at ``;`` outside quotes and ``$$`` bodies.

    ``--`` comments outside quotes are dropped; single-quoted strings, double-quoted
    identifiers and dollar-quoted bodies (``DO $$ ... $$``) are kept whole, so the
    semicolons inside them do not split.
    """
    statements: list[str] = []
    buf: list[str] = []
    i, n = 0, len(script)
    while i < n:
        if script.startswith("--", i):
            end = script.find("\n", i)
            i = n if end < 0 else end
            continue
        whole = _quoted_end(script, i)
        if whole > i:
            buf.append(script[i:whole])
            i = whole
            continue
        if script[i] == ";":
            statements.append("".join(buf).strip())
            buf = []
        else:
            buf.append(script[i])
        i += 1
    statements.append("".join(buf).strip())
    return [s for s in statements if s]


def _quoted_end(script: str, i: int) -> int:
    """End (exclusive) of the quoted string, identifier or dollar body starting at ``i``;
    ``i`` itself when none starts there."""
    char = script[i]
    if char in ("'", '"'):
        end = i + 1
        while True:
            end = script.find(char, end)
            if end < 0:
                raise ValueError(f"unterminated {char} quote at character {i}")
            if not script.startswith(char * 2, end):
                return end + 1
            end += 2
    dollar = _DOLLAR_QUOTE.match(script, i) if char == "$" else None
    if dollar is None:
        return i
    tag = dollar.group(0)
    end = script.find(tag, dollar.end())
    if end < 0:
        raise ValueError(f"unterminated {tag} body at character {i}")
    return end + len(tag)


def roles_statements(
    reporting_schema: str = "reporting", source_schema: str = "public"
) -> list[str]:
    """The statements of ``create_roles.sql`` for these schemas (plain identifiers only)."""
    check_identifier(reporting_schema, "reporting schema")
    check_identifier(source_schema, "source schema")
    script = (
        sql_text(ROLES_SCRIPT)
        .replace("{{ reporting_schema }}", reporting_schema)
        .replace("{{ source_schema }}", source_schema)
    )
    return split_script(script)


def apply_roles(
    engine: Engine, reporting_schema: str = "reporting", source_schema: str = "public"
) -> None:
    """Create or update the pipeline and BI roles and their grants, in one transaction.

    engine: a PostgreSQL engine connected as a superuser (or the database owner with
    CREATEROLE and membership in both roles). reporting_schema: schema of the output
    tables, created if missing and owned by the pipeline role. source_schema: schema
    holding the five source tables, which must exist.
    """
    if engine.dialect.name != "postgresql":
        raise ValueError(f"roles are a PostgreSQL feature; {engine.dialect.name} has none")
    statements = roles_statements(reporting_schema, source_schema)
    with engine.begin() as conn:
        raw = conn.execution_options(no_parameters=True)  # '%' in format() is not a placeholder
        for statement in statements:
            raw.exec_driver_sql(statement)
    log.info(
        "roles %s and %s applied (reporting schema %s, sources in %s): %d statements",
        PIPELINE_ROLE,
        BI_ROLE,
        reporting_schema,
        source_schema,
        len(statements),
    )


def scram_sha256_verifier(conn: Connection, role: str, password: str) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``role`` with ``password``.

    Made by the driver's libpq (``psycopg2.extensions.encrypt_password``, i.e.
    ``PQencryptPasswordConn``: RFC 5802 / 7677 with a random salt, 4096 iterations and
    SASLprep), on the connection's psycopg2 driver connection; the password itself
    never goes to the server.
    """
    if not password:
        raise ValueError(f"password of {role} is empty")
    from psycopg2.extensions import encrypt_password

    raw: Any = conn.connection.dbapi_connection
    return str(encrypt_password(password, role, raw, SCRAM_ALGORITHM))


def set_password(conn: Connection, role: str, password: str) -> None:
    """Give ``role`` a password; only its SCRAM verifier is sent to the server.

    ``ALTER ROLE`` takes no bind parameters; the verifier is inlined after checking that
    it consists of base64 characters only, and the role must be one of this module's.
    """
    if role not in (PIPELINE_ROLE, BI_ROLE):
        raise ValueError(f"not a replenishment role: {role!r}")
    verifier = scram_sha256_verifier(conn, role, password)
    if not _VERIFIER.match(verifier):
        raise ValueError(f"libpq returned no SCRAM-SHA-256 verifier for {role}")
    conn.execution_options(no_parameters=True).exec_driver_sql(
        f"ALTER ROLE {role} PASSWORD '{verifier}'"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m replenishment.roles --url URL [--reporting-schema S] [--*-password-env VAR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m replenishment.roles", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--url", required=True, help="SQLAlchemy URL of the warehouse, as a superuser"
    )
    parser.add_argument("--reporting-schema", default="reporting")
    parser.add_argument("--source-schema", default="public")
    parser.add_argument(
        "--pipeline-password-env",
        metavar="VAR",
        help=f"environment variable holding the password of {PIPELINE_ROLE}",
    )
    parser.add_argument(
        "--bi-password-env",
        metavar="VAR",
        help=f"environment variable holding the password of {BI_ROLE}",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    passwords: dict[str, str] = {}
    for role, var in ((PIPELINE_ROLE, args.pipeline_password_env), (BI_ROLE, args.bi_password_env)):
        if var:
            value = os.environ.get(var, "")
            if not value:
                parser.error(f"environment variable {var} (password of {role}) is empty or unset")
            passwords[role] = value
    engine = make_engine(args.url)
    try:
        apply_roles(engine, args.reporting_schema, args.source_schema)
        if passwords:
            with engine.begin() as conn:
                for role, password in passwords.items():
                    set_password(conn, role, password)
                    log.info("password of %s set", role)
    finally:
        engine.dispose()
    where = engine.url.render_as_string(hide_password=True)
    print(f"roles {PIPELINE_ROLE} and {BI_ROLE} applied to {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
