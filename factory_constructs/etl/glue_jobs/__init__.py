"""Glue ETL of the data lake: raw -> conformed -> curated.

Layout, chosen so the same code runs in the repo's tests and inside Glue:

* ``dmc_etl/``: the transforms, plain PySpark functions. The construct zips this folder together with
  the repo's ``envelope/`` package and passes the zip as ``--extra-py-files``, so inside Glue both are
  top-level packages (``import dmc_etl``, ``import envelope``). ``dmc_etl`` imports itself only
  relatively, so it also works as ``factory_constructs.etl.glue_jobs.dmc_etl``.
* ``raw_to_conformed.py`` and ``conformed_to_curated.py``: the Glue entry scripts (``--scriptLocation``).
  They parse arguments, build the session from a GlueContext and call ``dmc_etl``; ``awsglue`` is
  imported inside ``main()`` only, because it exists only in the Glue runtime.
* ``schemas.py``: the output tables' columns and partition keys, free of pyspark, for the catalog.

This file imports nothing: the CDK app imports ``schemas`` through this package.
"""
