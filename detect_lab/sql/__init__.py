"""The tuner as SQL over the window history: Athena for a fleet of millions, DuckDB on local files.

print(tuning_sql('"defender"."window_history"', profiles, target_false_alarms=1.0, dialect="athena"))
rows = run_athena(boto3.client("athena"), sql, workgroup="...", database="...")
rows = run_duckdb("history/", profiles, target_false_alarms=1.0)
"""

from detect_lab.sql.runners import parquet_source, run_athena, run_duckdb
from detect_lab.sql.tuning import COLUMNS, Attack, Dialect, SqlTuningError, chosen_rows, tunable, tuning_sql

__all__ = [
    "COLUMNS",
    "Attack",
    "Dialect",
    "SqlTuningError",
    "chosen_rows",
    "parquet_source",
    "run_athena",
    "run_duckdb",
    "tunable",
    "tuning_sql",
]
