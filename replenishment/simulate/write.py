"""Write: the simulation's reporting tables in the warehouse.

Lives here: the table names and :func:`write_results`. May import ``kpis``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from replenishment.simulate.kpis import SimulationResult

log = logging.getLogger(__name__)

SKU_TABLE = "inventory_simulation"
SUMMARY_TABLE = "inventory_simulation_summary"

# --------------------------------------------------------------------------- reporting tables


def write_results(engine: Engine, schema: str, result: SimulationResult) -> dict[str, int]:
    """Replace the run's rows of both reporting tables in one transaction.

    Creates the schema (where the database has schemas and it is missing: the
    least-privilege pipeline role may not create one) and the tables of
    ``include/sql/create_simulation_tables.sql`` when missing; deletes the rows of
    ``run_id`` and inserts the new ones (:mod:`replenishment.warehouse`).
    """
    from replenishment.warehouse import replace_rows, reporting_transaction

    run_id = result.config.key
    written: dict[str, int] = {}
    with reporting_transaction(engine, schema, "create_simulation_tables.sql") as (conn, prefix):
        for table, frame in ((SKU_TABLE, result.per_sku), (SUMMARY_TABLE, result.summary)):
            key = {"run_id": run_id}
            written[table] = replace_rows(conn, f"{prefix}{table}", key, _sql_ready(frame))
    log.info("simulate: wrote run %s: %s", run_id, written)
    return written


def _sql_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with non-finite floats (NaN, inf) as None, stored as SQL NULL."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].astype(object).where(np.isfinite(out[col].to_numpy()), None)
    return out
