"""Spark session: local[N] by default or a cluster URL, quiet, Arrow on, no downloads, DuckDB-like semantics."""
from __future__ import annotations

import os
from dataclasses import dataclass

from pipeline.errors import PortraitError


@dataclass(frozen=True)
class SparkOptions:
    """How to start Spark; defaults fit one machine with a few GB to spare."""

    master: str | None = None  # None = local[<cpus>]; e.g. spark://host:7077, yarn, k8s://…
    driver_memory: str = "4g"
    shuffle_partitions: int = 0  # 0 = 2 × the local cores (local) or Spark's default (cluster)
    fit_sample_rows: int = 50_000  # ML steps fit on at most this many customers, sampled on the executors
    app_name: str = "grid-portrait"


def _local_master() -> str:
    return f"local[{os.cpu_count() or 2}]"


def spark_session(options: SparkOptions):
    """Return a SparkSession configured for the pipeline (reusing a running one with its settings applied)."""
    import warnings

    # pyspark 4.x warns on import that pandas >= 3 is not fully supported; the pipeline never converts
    # through pandas (Arrow batches only: toArrow, mapInArrow), so the warning does not apply.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise PortraitError("engine = \"spark\" needs pyspark, which is not installed",
                            hint='pip install -e ".[spark]" (Java 17 or 21 must be on the PATH)') from None
    master = options.master or _local_master()
    local = master.startswith("local")
    partitions = options.shuffle_partitions or (2 * (os.cpu_count() or 2) if local else 200)
    # Timestamps are wall-clock times without a zone, as in DuckDB and the exports: NTZ everywhere and a
    # UTC session, so nothing shifts between engines or when Parquet is read back.
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    builder = (SparkSession.builder.master(master).appName(options.app_name)
               .config("spark.driver.memory", options.driver_memory)
               .config("spark.sql.shuffle.partitions", str(partitions))
               .config("spark.sql.adaptive.enabled", "true")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
               .config("spark.sql.ansi.enabled", "false")  # TRY_CAST-like casts, as the models expect
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
               .config("spark.sql.execution.pythonUDF.arrow.enabled", "true")
               .config("spark.sql.parquet.compression.codec", "zstd")
               .config("spark.sql.legacy.javaCharsets", "true")  # GBK / GB18030 exports, read by the CSV reader
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC -Dlog4j2.level=ERROR")
               .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC"))
    if local:
        builder = builder.config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("FATAL")  # errors reach the caller as exceptions
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    return spark
