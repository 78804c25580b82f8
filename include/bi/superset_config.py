"""Superset configuration of the docker-compose `superset` service (include/bi/superset_start.sh).

The secret key comes from the environment (.env: SUPERSET_SECRET_KEY); the metadata
database is a SQLite file in the service's own volume.
"""

import os

SECRET_KEY = os.environ["SUPERSET_SECRET_KEY"]
SQLALCHEMY_DATABASE_URI = "sqlite:////app/superset_home/superset.db"
