"""Glue: the lake's catalog and the raw -> conformed -> curated jobs (their code in glue_jobs/)."""
