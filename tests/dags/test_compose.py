"""docker-compose.yml and Dockerfile: valid, runnable with the pinned Airflow, free of secrets.

No Docker is needed: the compose file is checked against the rules of the Compose
specification it relies on, every command it runs is checked against the CLI of the
installed (pinned) Airflow and of this package, and its environment against what the
tests run. The repository is scanned for committed secrets.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
BIN = Path(sys.executable).parent

TOP_LEVEL_KEYS = {
    "version",
    "name",
    "services",
    "networks",
    "volumes",
    "configs",
    "secrets",
    "include",
}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTART = re.compile(r"^(no|always|unless-stopped|on-failure(:\d+)?)$")
DURATION = re.compile(r"^(\d+(\.\d+)?(us|ms|s|m|h))+$")
#: Variables a container has without anyone defining them.
CONTAINER_VARIABLES = {"HOSTNAME", "HOME", "PATH", "USER"}
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|FERNET|PRIVATE|(^|_)KEY$", re.I)
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(?::?[-?+])[^}]*)?\}")
BARE_INTERPOLATION = re.compile(r"(?<!\$)\$([A-Za-z_][A-Za-z0-9_]*)")
CONTAINER_INTERPOLATION = re.compile(r"\$\$\{?([A-Za-z_][A-Za-z0-9_]*)")
URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:([^@\s/'\"]+)@")


@cache
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict), "docker-compose.yml is not a mapping"
    return loaded


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def airflow_services() -> dict[str, dict[str, Any]]:
    """Services built from this project's Dockerfile (the Airflow image)."""
    return {n: s for n, s in services().items() if "build" in s}


@cache
def env_example() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not KEY=VALUE"
            out[key.strip()] = value.strip()
    return out


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def strings(node: Any) -> list[str]:
    """Every string in a YAML tree (keys excluded)."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


# --------------------------------------------------------------------------- compose rules


def test_compose_file_follows_the_compose_specification():
    spec = compose()
    unknown = {k for k in spec if k not in TOP_LEVEL_KEYS and not k.startswith("x-")}
    assert not unknown, f"unknown top-level keys {sorted(unknown)}"
    assert isinstance(spec.get("services"), dict) and spec["services"], "no services mapping"
    declared_volumes = set(spec.get("volumes") or {})
    for name, svc in services().items():
        assert isinstance(svc, dict), f"{name}: not a mapping"
        assert "image" in svc or "build" in svc, f"{name}: neither image nor build"
        depends = svc.get("depends_on") or {}
        targets = depends if isinstance(depends, list) else list(depends)
        for target in targets:
            assert target in services(), f"{name}: depends_on unknown service {target}"
            if isinstance(depends, dict):
                condition = (depends[target] or {}).get("condition", "service_started")
                assert condition in CONDITIONS, f"{name}: depends_on {target}: bad {condition!r}"
                if condition == "service_healthy":
                    assert "healthcheck" in services()[target], (
                        f"{name} waits for {target} to be healthy, but it has no healthcheck"
                    )
        check = svc.get("healthcheck")
        if check:
            test = check["test"]
            if isinstance(test, list):
                assert test and test[0] in ("NONE", "CMD", "CMD-SHELL"), f"{name}: {test!r}"
                assert test[0] == "NONE" or len(test) >= 2, f"{name}: empty healthcheck"
                if test[0] == "CMD-SHELL":
                    assert len(test) == 2, f"{name}: CMD-SHELL takes one command string"
            else:
                assert isinstance(test, str) and test.strip(), f"{name}: bad healthcheck test"
            for key in ("interval", "timeout", "start_period", "start_interval"):
                if key in check:
                    assert DURATION.match(str(check[key])), f"{name}: {key} {check[key]!r}"
            if "retries" in check:
                assert isinstance(check["retries"], int) and check["retries"] > 0
        if "restart" in svc:
            assert RESTART.match(str(svc["restart"])), f"{name}: restart {svc['restart']!r}"
        for mount in svc.get("volumes") or []:
            if isinstance(mount, dict):
                source = mount.get("source", "") if mount.get("type") == "volume" else ""
            else:
                source = str(mount).split(":", 1)[0]
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in declared_volumes, f"{name}: volume {source} is not declared"
        for port in svc.get("ports") or []:
            assert re.match(r"^(\d+(-\d+)?:)?\d+(-\d+)?(/(tcp|udp))?$", str(port)), port


def test_secrets_come_from_the_environment_and_env_example_defines_them():
    text = COMPOSE.read_text()
    defined = set(env_example())
    used = set(INTERPOLATION.findall(text)) | set(BARE_INTERPOLATION.findall(text))
    assert used <= defined, f"used in docker-compose.yml but not in .env.example: {used - defined}"
    in_container = set(CONTAINER_INTERPOLATION.findall(text))
    assert in_container <= defined | CONTAINER_VARIABLES, in_container - defined

    for name, svc in services().items():
        for key, value in environment(svc).items():
            if SECRET_NAME.search(key) and not key.endswith(("_FILE", "_CMD")):
                assert re.fullmatch(r"\$\{\w+\}", value), (
                    f"{name}: {key} must come from ${{VAR}} interpolation, not a literal"
                )
    for value in strings(compose()):
        for password in URL_PASSWORD.findall(value):
            assert re.fullmatch(r"\$?\$\{\w+\}", password), f"literal password in URL {value!r}"

    for key, value in env_example().items():
        if SECRET_NAME.search(key):
            assert value == "change-me" or value.startswith("generate-with:"), (
                f".env.example: {key} must hold a placeholder, not a real secret"
            )
    assert any(s.get("env_file") for s in airflow_services().values())


# --------------------------------------------------------------------------- commands


def _invocations(command: Any) -> list[list[str]]:
    """The command lines a compose command or healthcheck runs (bash -c scripts split)."""
    if command is None:
        return []
    words = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
    if words[:1] in (["CMD"], ["CMD-SHELL"], ["NONE"]):
        kind, words = words[0], words[1:]
        if kind == "NONE":
            return []
        if kind == "CMD-SHELL":
            return _script(" ".join(words))
    if words[:2] == ["bash", "-c"] or words[:2] == ["sh", "-c"]:
        return _script(words[2])
    return [words]


def _script(script: str) -> list[list[str]]:
    """The simple commands of a shell script, split at ``&&``, ``||``, ``;``, ``|`` (quote-aware)."""
    lexer = shlex.shlex(script.replace("$$", "$"), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set(";&|"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def _all_invocations() -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for name, svc in services().items():
        for words in _invocations(svc.get("command")):
            if (
                name in airflow_services()
                and words
                and words[0]
                not in (
                    "airflow",
                    "bash",
                    "python",
                    "replenishment",
                )
            ):
                words = ["airflow", *words]  # the image's entrypoint runs `airflow <command>`
            found.append((name, words))
        check = svc.get("healthcheck") or {}
        for words in _invocations(check.get("test")):
            found.append((f"{name} healthcheck", words))
    return found


def _help(argv: list[str], airflow_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIRFLOW_HOME": str(airflow_home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    return subprocess.run(
        [*argv, "--help"], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def _subcommand(words: list[str]) -> list[str]:
    sub = []
    for word in words[1:]:
        if word.startswith("-"):
            break
        sub.append(word)
    return sub


def test_every_command_exists_in_the_installed_clis(tmp_path):
    wanted: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for where, words in _all_invocations():
        if words[0] in ("airflow", "replenishment"):
            sub = _subcommand(words)
            assert sub, f"{where}: {words[0]} without a subcommand"
            wanted.setdefault((words[0], *sub), []).append((where, words))
    assert ("airflow", "scheduler") in wanted and ("airflow", "celery", "worker") in wanted
    assert ("airflow", "api-server") in wanted and ("airflow", "dag-processor") in wanted
    assert ("replenishment", "demo-warehouse") in wanted

    def run(key: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return _help([str(BIN / key[0]), *key[1:]], tmp_path)

    with ThreadPoolExecutor(max_workers=8) as pool:
        helps = dict(zip(wanted, pool.map(run, wanted), strict=True))
    for key, proc in helps.items():
        uses = wanted[key]
        assert proc.returncode == 0, (
            f"`{' '.join(key)}` is not a command ({uses[0][0]}): {proc.stderr[-500:]}"
        )
        for where, words in uses:
            for i, word in enumerate(words):
                if not word.startswith("--"):
                    continue
                option = word.split("=", 1)[0]
                assert re.search(rf"(^|[\s\[,]){re.escape(option)}\b", proc.stdout), (
                    f"{where}: `{' '.join(key)}` has no option {option}"
                )
                choices = re.search(rf"{re.escape(option)} \{{([^}}]+)\}}", proc.stdout)
                if choices and i + 1 < len(words) and "=" not in word:
                    assert words[i + 1] in choices.group(1).split(","), (
                        f"{where}: {option} {words[i + 1]} is not one of {{{choices.group(1)}}}"
                    )


def test_celery_app_of_the_worker_healthcheck_imports(tmp_path):
    """The worker's healthcheck (and the CeleryExecutor itself) loads this module's ``app``:
    the pinned celery and celery provider must work together."""
    apps = {
        w[w.index("--app") + 1]
        for _, w in _all_invocations()
        if w[:1] == ["celery"] and "--app" in w
    }
    assert apps, "no celery healthcheck found"
    for app in apps:
        module, _, attr = app.rpartition(".")
        proc = subprocess.run(
            [sys.executable, "-c", f"import {module} as m; getattr(m, {attr!r})"],
            capture_output=True,
            text=True,
            env={**os.environ, "AIRFLOW_HOME": str(tmp_path)},
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, f"cannot load celery app {app}: {proc.stderr[-600:]}"


# --------------------------------------------------------------------------- environment


def test_airflow_environment_matches_what_the_tests_run():
    names = set(services())
    airflow = airflow_services()
    assert {"airflow-apiserver", "airflow-scheduler", "airflow-worker"} <= set(airflow)
    for name, svc in airflow.items():
        env = environment(svc)
        assert env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor", name
        assert env.get("AIRFLOW__CORE__LOAD_EXAMPLES", "").lower() == "false", name
        dags = env.get("AIRFLOW__CORE__DAGS_FOLDER", "/opt/airflow/dags")
        mounts = [str(m) for m in svc.get("volumes") or []]
        assert f"./dags:{dags}" in mounts, f"{name}: ./dags is not mounted at {dags}"

        # the connection the DAG reads (replenishment_airflow.WAREHOUSE_CONN_ID = "warehouse")
        conn = urlsplit(env["AIRFLOW_CONN_WAREHOUSE"])
        assert conn.scheme in ("postgres", "postgresql") and conn.hostname in names, conn
        db = environment(services()[conn.hostname])
        assert conn.username == db["POSTGRES_USER"] and conn.path == f"/{db['POSTGRES_DB']}"

        meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
        assert meta.hostname in names, f"{name}: metadata database host {meta.hostname}"
        assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname in names
        assert urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).hostname in names

        # Celery workers on other hosts share no disk: the run's staging is in object storage
        _assert_staging_in_the_object_store(name, env, mounts)

    scheduler = airflow["airflow-scheduler"]
    if "8974" in " ".join(strings(scheduler.get("healthcheck"))):
        assert environment(scheduler).get(
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK", ""
        ).lower() == ("true"), (
            "the scheduler healthcheck polls :8974/health, which only runs with ENABLE_HEALTH_CHECK"
        )


def _assert_staging_in_the_object_store(name: str, env: dict[str, str], mounts: list[str]) -> None:
    """Staging is an s3:// URL whose connection (``staging_conn_id``) reaches a service of
    the stack on the port it serves S3 at, with keys from .env; no volume holds it."""
    staging = urlsplit(env["REPLENISHMENT_STAGING_DIR"])
    assert staging.scheme == "s3" and staging.netloc, f"{name}: staging {staging.geturl()}"
    conn_id = env.get("REPLENISHMENT_STAGING_CONN_ID", "aws_default")
    conn = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
    assert conn["conn_type"] == "aws", f"{name}: {conn_id} is not an aws connection"
    endpoint = urlsplit(conn["extra"]["endpoint_url"])
    assert endpoint.hostname in services(), f"{name}: S3 endpoint {endpoint.hostname}"
    store = services()[endpoint.hostname]
    assert f"-s3.port={endpoint.port}" in strings(store.get("command")), (
        f"{name}: {endpoint.hostname} does not serve S3 on port {endpoint.port}"
    )
    store_env = environment(store)
    assert (conn["login"], conn["password"]) == (
        store_env["AWS_ACCESS_KEY_ID"],
        store_env["AWS_SECRET_ACCESS_KEY"],
    ), f"{name}: the connection's keys are not the object store's"
    assert all(re.fullmatch(r"\$\{\w+\}", k) for k in (conn["login"], conn["password"]))
    depends = set(airflow_services()[name].get("depends_on") or {})
    assert endpoint.hostname in depends, f"{name} does not wait for {endpoint.hostname}"
    assert not any("staging" in m for m in mounts), f"{name}: a volume still holds staging"


def test_the_demo_warehouse_is_loaded_through_the_warehouse_connection():
    init = [w for where, w in _all_invocations() if w[:2] == ["replenishment", "demo-warehouse"]]
    assert init, "no service loads the demo warehouse"
    for words in init:
        url = urlsplit(words[words.index("--url") + 1])
        conn = urlsplit(environment(airflow_services()["airflow-worker"])["AIRFLOW_CONN_WAREHOUSE"])
        assert (url.username, url.hostname, url.port, url.path) == (
            conn.username,
            conn.hostname,
            conn.port,
            conn.path,
        )
        assert "--if-empty" in words, "a restart must not regenerate the warehouse"


def test_admin_login_is_configured_for_the_auth_manager():
    """Airflow 3's default SimpleAuthManager has no `users create`: the image entrypoint's
    _AIRFLOW_WWW_USER_CREATE only works with the FAB auth manager installed."""
    requirements = (ROOT / "requirements.txt").read_text()
    for name, svc in airflow_services().items():
        env = environment(svc)
        manager = env.get("AIRFLOW__CORE__AUTH_MANAGER", "SimpleAuthManager")
        if env.get("_AIRFLOW_WWW_USER_CREATE"):
            assert "FabAuthManager" in manager, f"{name}: users create needs the FAB auth manager"
            assert "apache-airflow-providers-fab" in requirements
            assert env.get("_AIRFLOW_DB_MIGRATE"), f"{name}: users are created before migrating"
        if "SimpleAuthManager" in manager:
            assert env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"), name
            password_file = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", "")
            mounts = [str(m).split(":")[1] for m in svc.get("volumes") or []]
            assert any(password_file.startswith(t + "/") for t in mounts), (
                f"{name}: the passwords file must be on a volume the init service writes"
            )
    init = " ".join(strings(services()["airflow-init"].get("command")))
    if "SimpleAuthManager" in environment(airflow_services()["airflow-apiserver"]).get(
        "AIRFLOW__CORE__AUTH_MANAGER", "SimpleAuthManager"
    ):
        assert "AIRFLOW_ADMIN_PASSWORD" in init, "airflow-init must write the admin password"


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_matches_the_pinned_airflow_and_python():
    text = DOCKERFILE.read_text()
    base = re.search(r"^FROM\s+apache/airflow:(\S+)-python(\d+\.\d+)\s*$", text, re.M)
    assert base, "Dockerfile must start FROM apache/airflow:<version>-python<x.y>"
    pinned = re.search(r"^apache-airflow==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned and base.group(1) == pinned.group(1), (base.group(1), pinned)
    assert base.group(2) == "3.11"
    assert '">=3.11,<3.12"' in (ROOT / "pyproject.toml").read_text()
    # A named volume is created root-owned unless the image has its mount point; the
    # services run as a non-root user, so the image must create it (group 0 writable).
    for name, svc in airflow_services().items():
        for mount in svc.get("volumes") or []:
            source, target = str(mount).split(":")[:2]
            if not source.startswith((".", "/")):
                assert re.search(rf"mkdir[^\n]*{re.escape(target)}\b", text), (
                    f"{name}: the image must create {target} (named volume {source})"
                )


# --------------------------------------------------------------------------- secrets


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def _tracked() -> list[str]:
    proc = _git("ls-files", "-z")
    if proc.returncode != 0:
        pytest.skip("not a git work tree")
    return [p for p in proc.stdout.split("\0") if p]


def test_env_file_is_ignored_and_never_committed():
    tracked = _tracked()
    assert ".env" not in tracked, ".env is committed: remove it and rotate its secrets"
    assert _git("check-ignore", "-q", ".env").returncode == 0, ".env is not in .gitignore"
    assert ".env.example" in tracked, "the documented template .env.example is not committed"


PLACEHOLDERS = {"change-me", "changeme", "secret", "password", "xxx", "***", "..."}
SECRET_PATTERNS = {
    "private key": re.compile("-----BEGIN [A-Z ]*PRIVATE" + " KEY-----"),
    "Fernet key": re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),
    "AWS access key": re.compile(r"\bAKIA[0-9A-Z]{16}\b"),
}
#: KEY=value / KEY: value with a secret-looking KEY, in configuration-like files.
SECRET_SETTING = re.compile(
    r"(?im)^\s*(?:export\s+)?([\w.-]*(?:password|passwd|secret|token|fernet_key)[\w.-]*)"
    r"\s*[:=]\s*['\"]?([^\s'\"#]+)"
)
#: password="literal" (or secret=, token=) in code.
SECRET_ARGUMENT = re.compile(
    r"(?i)\b\w*(?:password|passwd|secret|token)\w*\s*=\s*['\"]([^'\"]+)['\"]"
)


def _is_placeholder(value: str) -> bool:
    return (
        value.startswith(("$", "{", "<", "%"))
        or value.lower() in PLACEHOLDERS
        or value.startswith("generate-with")
    )


def test_no_secret_is_committed():
    problems: list[str] = []
    for rel in _tracked():
        path = ROOT / rel
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        raw = path.read_bytes()
        if b"\0" in raw[:4096]:
            continue
        text = raw.decode("utf-8", errors="replace")
        for what, pattern in SECRET_PATTERNS.items():
            for match in pattern.finditer(text):
                problems.append(f"{rel}: {what} {match.group(0)[:12]}…")
        if rel.startswith("tests/"):
            continue  # tests hold deliberately fake credentials (and this scanner's own cases)
        for password in URL_PASSWORD.findall(text):
            if not _is_placeholder(password):
                problems.append(f"{rel}: password in a URL ({password[:3]}…)")
        if path.suffix == ".py":
            values = SECRET_ARGUMENT.findall(text)
        elif rel != ".env.example":  # its placeholders are checked above
            values = [
                value
                for key, value in SECRET_SETTING.findall(text)
                if not key.upper().endswith(("_FILE", "_CMD"))  # a path or a command
            ]
        else:
            values = []
        for value in values:
            if not _is_placeholder(value):
                problems.append(
                    f"{rel}: secret-looking setting with a literal value ({value[:3]}…)"
                )
    assert not problems, "possible secrets in tracked files:\n  " + "\n  ".join(problems)


# --------------------------------------------------------------------------- Helm values


def test_helm_values_stage_in_object_storage_with_the_compose_settings():
    """deploy/helm-values.yaml (the official chart, KubernetesExecutor): the settings it
    sets are Settings fields, staging is in S3 through a connection given by a Secret,
    and the staging settings are the ones docker-compose.yml sets."""
    import dataclasses

    from replenishment.config import Settings

    values = yaml.safe_load((ROOT / "deploy" / "helm-values.yaml").read_text())
    assert values["executor"] == "KubernetesExecutor"
    env = {e["name"]: e["value"] for e in values["env"]}
    fields = {f"REPLENISHMENT_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    unknown = (
        {k for k in env if k.startswith("REPLENISHMENT_")} - fields - {"REPLENISHMENT_INCLUDE_DIR"}
    )
    assert not unknown, f"not settings: {unknown}"
    assert urlsplit(env["REPLENISHMENT_STAGING_DIR"]).scheme == "s3"
    secrets = {s["envName"] for s in values["secret"]}
    assert f"AIRFLOW_CONN_{env['REPLENISHMENT_STAGING_CONN_ID'].upper()}" in secrets
    assert "AIRFLOW_CONN_WAREHOUSE" in secrets
    compose_env = environment(airflow_services()["airflow-worker"])
    staging_keys = {k for k in compose_env if k.startswith("REPLENISHMENT_STAGING")}
    assert staging_keys <= set(env), f"compose sets {staging_keys - set(env)}, Helm does not"
