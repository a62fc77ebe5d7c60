"""Glue entry script: conformed Iceberg table -> curated Iceberg tables (tag aggregates, OEE per shift,
downtime events).

Arguments: --catalog --conformed_database --curated_database --site_config --state_path
--retention_days, optional --lookback_days and --event_bus (see ``dmc_etl.jobs``). The Iceberg catalog
named by --catalog is configured by the job's own ``--conf`` (the Glue Data Catalog) and
``--datalake-formats iceberg``. The transforms come from the ``--extra-py-files`` zip that holds
``dmc_etl/`` and ``envelope/``. It keeps the last conformed snapshot it processed under --state_path,
so no job bookmark is needed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from dmc_etl.jobs import CONFORMED_TO_CURATED_ARGUMENTS, CONFORMED_TO_CURATED_OPTIONAL, conformed_to_curated


def main() -> None:
    # awsglue exists only inside the Glue runtime, so it is imported here and not at module level.
    from awsglue.context import GlueContext
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    # getResolvedOptions fails on an absent name, so optional ones are asked for only when passed.
    optional = [name for name in CONFORMED_TO_CURATED_OPTIONAL if f"--{name}" in sys.argv]
    args = getResolvedOptions(sys.argv, [*CONFORMED_TO_CURATED_ARGUMENTS, *optional])
    spark = GlueContext(SparkContext.getOrCreate()).spark_session
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    summary = conformed_to_curated(spark, args, datetime.now(UTC).replace(microsecond=0))
    print(json.dumps({"job": "conformed_to_curated", **asdict(summary)}, default=str))


if __name__ == "__main__":
    main()
