# Airflow 3.3 with the pinned requirements and the core package.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential libgomp1 \
 && rm -rf /var/lib/apt/lists/*
USER airflow
# Mount point of the named volume `shared` (Data Docs, reports): a new volume copies
# its owner and mode, so the services (any UID, group 0) can write there.
RUN mkdir -p -m 775 /opt/airflow/shared

COPY --chown=airflow:root requirements.txt pyproject.toml /opt/replenishment/
RUN pip install --no-cache-dir -r /opt/replenishment/requirements.txt
COPY --chown=airflow:root replenishment /opt/replenishment/replenishment
COPY --chown=airflow:root include /opt/airflow/include
RUN pip install --no-cache-dir --no-deps -e /opt/replenishment
ENV REPLENISHMENT_INCLUDE_DIR=/opt/airflow/include
