"""Glue entry script: raw zone -> the conformed Iceberg tables (tag values and rejects).

Arguments: --raw_path --catalog --conformed_database --site_config --watermark_path (see
``dmc_etl.jobs``). The Iceberg catalog named by --catalog is configured by the job's own ``--conf``
(the Glue Data Catalog) and ``--datalake-formats iceberg``. The transforms come from the
``--extra-py-files`` zip that holds ``dmc_etl/`` and ``envelope/``.
No Glue job bookmark is used: the job keeps its own high-water mark of raw object modification
times (``dmc_etl.watermark``), because bookmarks only work through Glue's DynamicFrame JSON reader.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime

from dmc_etl.jobs import RAW_TO_CONFORMED_ARGUMENTS, RAW_TO_CONFORMED_OPTIONAL, raw_to_conformed


def main() -> None:
    # awsglue exists only inside the Glue runtime, so it is imported here and not at module level.
    from awsglue.context import GlueContext
    from awsglue.utils import getResolvedOptions
    from pyspark.context import SparkContext

    # getResolvedOptions fails on an absent name, so optional ones are asked for only when passed.
    optional = [name for name in RAW_TO_CONFORMED_OPTIONAL if f"--{name}" in sys.argv]
    args = getResolvedOptions(sys.argv, [*RAW_TO_CONFORMED_ARGUMENTS, *optional])
    spark = GlueContext(SparkContext.getOrCreate()).spark_session
    spark.conf.set("spark.sql.session.timeZone", "UTC")
    summary = raw_to_conformed(spark, args, datetime.now(UTC).replace(microsecond=0))
    print(json.dumps({"job": "raw_to_conformed", **asdict(summary)}, default=str))


if __name__ == "__main__":
    main()
