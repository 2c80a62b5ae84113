"""The Spark engine: the same stages, SQL models and tag catalogue as DuckDB, run on Apache Spark.

`pipeline.spark.run.run_pipeline_spark` is the entry point (`portrait run --engine spark`). Models and
tag rules are written in DuckDB SQL and translated by `pipeline.spark.transpile`; nothing here is a
second hand-written copy of a model.
"""
