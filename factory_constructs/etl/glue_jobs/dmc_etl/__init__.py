"""Transforms of the Glue ETL (shipped to Glue as a top-level package; see ``glue_jobs/__init__.py``).

Plain modules (no pyspark at import): ``schemas``, ``config``, ``units``, ``shifts``, ``events``.
PySpark modules: ``conform`` (raw -> conformed), ``curate`` (conformed -> curated) and their helpers.
"""
