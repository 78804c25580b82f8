"""Per-SKU demand forecasting and replenishment planning.

The package knows nothing of Airflow: every stage is a plain function over
DataFrames, used alike by the DAG in ``dags/``, the ``replenishment`` command
line and the tests.
"""

__version__ = "0.1.0"
