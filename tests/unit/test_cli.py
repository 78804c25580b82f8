"""The command line as a person meets it: help, choices and usage errors, not tracebacks."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from replenishment.cli import SETTING_CHOICES, SETTING_HELP, build_parser, main
from replenishment.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _options(command: str) -> dict[str, object]:
    """The options of a subcommand: option string -> argparse action."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return {
        opt: action
        for action in sub.choices[command]._actions  # type: ignore[union-attr]
        for opt in action.option_strings
    }


@pytest.mark.parametrize("command", ["run", "summary"])
def test_every_option_has_help(command):
    for opt, action in _options(command).items():
        assert action.help and len(action.help) > 10, opt


def test_every_setting_has_help_and_the_short_lists_are_choices():
    fields = {f.name for f in dataclasses.fields(Settings)} - {"warehouse_url"}
    assert set(SETTING_HELP) == fields
    run = _options("run")
    assert run["--policy"].choices == ("periodic", "continuous")
    assert run["--service-target"].choices == ("cycle", "fill_rate")
    assert run["--dq-mode"].choices == ("block", "quarantine")
    assert set(SETTING_CHOICES) <= fields


def test_summary_takes_only_what_it_uses():
    assert set(_options("summary")) == {"-h", "--help", "--date", "--json", "--url",
                                        "--reporting-schema"}  # fmt: skip


def _usage_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "usage:" in err
    return err


def test_a_date_in_another_format_is_a_usage_error(capsys, tmp_path):
    err = _usage_error(capsys, ["run", "--date", "07/01/2026"])
    assert "'07/01/2026' is not a date written YYYY-MM-DD (for example 2026-07-01)" in err


def test_a_sqlite_file_that_does_not_exist_is_an_error(capsys, tmp_path):
    missing = tmp_path / "nowhere.db"
    err = _usage_error(capsys, ["summary", "--date", "2026-07-01", "--url", f"sqlite:///{missing}"])
    assert f"no SQLite warehouse at {missing}" in err
    assert not missing.exists(), "SQLite created an empty database"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["run", "--date", "2026-07-01", "--policy", "weekly"], "invalid choice: 'weekly'"),
        (["run", "--date", "2026-07-01", "--horizon-days", "four"], "invalid int value: 'four'"),
        (["run", "--date", "2026-07-01", "--holiday-country", "XX"], "'XX' is not a country"),
        (["summary", "--date", "2026-07-01", "--horizon-days", "5"], "unrecognized arguments"),
    ],
)
def test_bad_values_are_usage_errors(capsys, argv, says):
    assert says in _usage_error(capsys, argv)


@pytest.mark.parametrize("args", [[], ["help"]])
def test_dev_prints_its_usage(args):
    out = subprocess.run(["bash", str(ROOT / "dev"), *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "./dev demo" in out.stdout and "./dev test" in out.stdout


def test_dev_says_a_command_is_unknown():
    out = subprocess.run(["bash", str(ROOT / "dev"), "deploy"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "unknown command 'deploy'" in out.stderr and "./dev demo" in out.stderr


def test_summary_of_a_blocked_run_says_blocked_with_the_failures(capsys, tmp_path):
    """A blocked run is stored: summary says so, with the failures (it said "no run stored")."""
    import datetime as dt

    from replenishment.db import make_engine
    from replenishment.load import ensure_reporting_tables, load_outputs
    from replenishment.run_status import status_row

    url = f"sqlite:///{tmp_path / 'w.db'}"
    settings = Settings.load({"warehouse_url": url})
    engine = make_engine(url)
    ensure_reporting_tables(engine, "reporting")
    reason = "Data quality for run date 2026-07-01: 1 critical failure(s)\n  - order_lines: 3 rows"
    started = dt.datetime(2026, 7, 1, 6)
    row = status_row(settings, dt.date(2026, 7, 1), "blocked", reason, started_at=started)
    load_outputs(engine, "reporting", dt.date(2026, 7, 1), {"pipeline_runs": row})
    engine.dispose()
    assert main(["summary", "--date", "2026-07-01", "--url", url]) == 2
    out = capsys.readouterr().out
    assert "run date 2026-07-01: blocked by the data-quality gate" in out, out
    assert "order_lines: 3 rows" in out


def test_dev_ui_fits_the_machine_and_ctrl_c_stops_everything(tmp_path):
    """`./dev ui` with a stand-in `airflow` that starts children: parallelism = the cores
    (not Airflow's 32), and SIGINT (Ctrl-C) stops every process it started."""
    import os
    import signal
    import time

    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    want = subprocess.run(
        f"cat {ROOT / 'requirements.txt'} {ROOT / 'pyproject.toml'} | sha256sum | cut -d' ' -f1",
        shell=True, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (venv / ".requirements.sha").write_text(want + "\n")
    pids = tmp_path / "pids"
    fake = venv / "bin" / "airflow"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f'echo "parallelism=$AIRFLOW__CORE__PARALLELISM" > {tmp_path / "env"}\n'
        # children that ignore SIGINT, as daemons started by airflow standalone may
        f"for i in 1 2 3; do (trap '' INT; exec sleep 120) & echo $! >> {pids}; done\n"
        "wait\n"
    )
    fake.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir()
    (data / "warehouse.db").write_text("")
    env = {**os.environ, "REPLENISHMENT_VENV": str(venv), "REPLENISHMENT_DATA_DIR": str(data),
           "AIRFLOW_HOME": str(tmp_path / "home")}  # fmt: skip
    env.pop("AIRFLOW__CORE__PARALLELISM", None)
    # its output to a file: a pipe nobody reads could fill and block it. Ctrl-C as in a
    # terminal: SIGINT at its default, whatever an earlier test left in this process (an
    # ignored SIGINT is inherited, and bash cannot trap a signal ignored on entry)
    out = (tmp_path / "out.txt").open("w")
    proc = subprocess.Popen(
        ["bash", str(ROOT / "dev"), "ui"],
        env=env,
        stdout=out,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (
        pids.exists() and len(pids.read_text().split()) == 3
    ):
        time.sleep(0.2)
    children = [int(p) for p in pids.read_text().split()]
    assert (tmp_path / "env").read_text().strip() == f"parallelism={max(2, os.cpu_count() or 2)}"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    time.sleep(0.5)
    alive = []
    for pid in children:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    for pid in alive:  # do not leave them behind when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"./dev ui left {alive} running"


def test_summary_names_the_quarantined_skus():
    from replenishment.cli import summary_text

    summary = {
        "run_date": "2026-07-01",
        "skus_total": 22,
        "skus_prophet": 20,
        "skus_intermittent": 2,
        "skus_fallback": 0,
        "skus_failed": 0,
        "orders_placed": 3,
        "order_value": 120.0,
        "wape": None,
        "baseline_wape": None,
    }
    settings = Settings.load(env={})
    assert "quarantined" not in summary_text(summary, settings)
    held = {**summary, "skus_quarantined": 2, "reason": "2 SKU(s) quarantined by data quality: A"}
    assert "2 SKU(s) quarantined by data quality: A (no order)" in summary_text(held, settings)
