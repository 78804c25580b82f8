"""The direction of imports (README, "Project layout"): a module imports only its own layer
or lower ones, the core package never imports Airflow, and reporting never imports load."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Lowest first. A module of replenishment/ (or a package: forecast/, simulate/) is named by
#: its first component; dags/ and plugins/ sit above every layer.
LAYERS: list[set[str]] = [
    {"config", "frames"},
    {"db", "staging"},
    {"warehouse"},
    {
        "extract",
        "validate",
        "data_docs",
        "forecast",
        "stan_fast",
        "policy",
        "lead_time",
        "loss_functions",
    }
    | {"eoq", "demo", "roles", "empirical_loss", "forecast_error", "safety_stock"}
    | {"protection_demand", "order_inputs", "order_reasons", "fill_rate", "order_file"}
    | {"validate_outputs", "validate_results", "validate_sql", "validate_suites", "quarantine"}
    | {"validate_rows"},
    {"load", "report", "report_chart", "report_changes", "reporting", "bi_bundle", "run_status"},
    {"pipeline", "backtest", "simulate"},
    {"cli"},
]
LAYER = {name: level for level, names in enumerate(LAYERS) for name in names}
TOP = len(LAYERS)
FORBIDDEN_IN_CORE = ("airflow", "replenishment_airflow", "dags", "plugins")


def _imports(path: Path, package: list[str]) -> set[str]:
    """Absolute dotted names a module imports (inside functions too; relative resolved)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out |= {module} | {f"{module}.{a.name}" for a in node.names}
    return out


def _layer(dotted: str) -> int | None:
    """Layer of a module of the core package (-1: missing from LAYERS); None outside it."""
    parts = dotted.split(".")
    if parts[0] != "replenishment" or len(parts) == 1:
        return None
    return LAYER.get(parts[1], -1)


def test_imports_point_down_the_layers():
    problems: list[str] = []
    for path in sorted(
        p for d in ("replenishment", "dags", "plugins") for p in ROOT.glob(f"{d}/**/*.py")
    ):
        rel = path.relative_to(ROOT)
        core = rel.parts[0] == "replenishment"
        first = Path(rel.parts[1]).stem if core else ""
        level = TOP if not core else 0 if first == "__init__" else LAYER.get(first, -1)
        if level == -1:
            problems.append(f"{rel}: not in LAYERS")
            continue
        modules = {".".join(i.split(".")[:2]) for i in _imports(path, list(rel.parent.parts))}
        for imported in sorted(modules):
            target = _layer(imported)
            if core and imported.split(".")[0] in FORBIDDEN_IN_CORE:
                problems.append(f"{rel}: the core package imports {imported}")
            if target == -1:
                problems.append(f"{rel}: imports {imported}, which is in no layer")
            elif target is not None and target > level:
                problems.append(f"{rel}: imports {imported}, a higher layer")
            if first == "reporting" and imported.startswith("replenishment.load"):
                problems.append(f"{rel}: reporting imports load (load calls reporting)")
    assert not problems, "\n".join(problems)


#: Issue 13's bars for the core package.
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def test_no_module_over_600_lines_and_no_function_over_80():
    too_long: list[str] = []
    for path in sorted((ROOT / "replenishment").rglob("*.py")):
        source = path.read_text()
        name = path.relative_to(ROOT)
        if len(source.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    assert not too_long, too_long
