#!/usr/bin/env bash
# The docker-compose `superset` service: Apache Superset 6.1 from requirements-bi.txt in a
# virtualenv of its own (kept in the superset-home volume, reinstalled when the
# requirements change), its metadata database migrated, an admin user, and the bundle
# that airflow-init wrote (python -m replenishment.bi_bundle) imported, so the first
# login shows the Replenishment dashboard on the reporting schema, as the BI role.
set -euo pipefail
home=/app/superset_home
venv="$home/venv"
requirements=/opt/bi-requirements/requirements-bi.txt
bundle=/opt/airflow/shared/bi/replenishment_superset.zip
sha="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ "$(cat "$venv/.requirements.sha" 2>/dev/null)" != "$sha" ]]; then
  python -m venv "$venv"
  "$venv/bin/pip" install -q -r "$requirements"
  echo "$sha" > "$venv/.requirements.sha"
fi
export SUPERSET_CONFIG_PATH=/opt/bi/superset_config.py
"$venv/bin/superset" db upgrade
if ! "$venv/bin/superset" fab list-users | grep -q 'username:admin'; then
  "$venv/bin/superset" fab create-admin --username admin --firstname Admin --lastname BI \
    --email admin@example.com --password "$SUPERSET_ADMIN_PASSWORD"
fi
"$venv/bin/superset" init
"$venv/bin/superset" import-dashboards -p "$bundle" -u admin
exec "$venv/bin/gunicorn" --workers 2 --timeout 120 --bind 0.0.0.0:8088 "superset.app:create_app()"
