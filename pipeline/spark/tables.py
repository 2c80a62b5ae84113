"""Spark work tables: each stage's outputs are written as Parquet in the run's work folder and read back
as temp views, so a long run never carries a stage's whole lineage into the next one."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

from pipeline.errors import PortraitError


class WorkTables:
    """Named tables of one Spark run, materialised under `root` and registered as temp views."""

    def __init__(self, spark, root: Path):
        self.spark = spark
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []

    def path(self, name: str) -> Path:
        """Return the Parquet folder of table `name`."""
        return self.root / name

    def save(self, name: str, df, partitions: int | None = None) -> int:
        """Write `df` as table `name`, register it as a view and return its row count."""
        target = self.path(name)
        if target.exists():
            shutil.rmtree(target)
        if partitions:
            df = df.coalesce(partitions)
        df.write.mode("overwrite").parquet(str(target))
        view = self.spark.read.parquet(str(target))
        view.createOrReplaceTempView(_q(name))
        if name not in self.names:
            self.names.append(name)
        return view.count()

    def sql(self, name: str, query: str, partitions: int | None = None) -> int:
        """Run `query` (Spark SQL) into table `name`; return its row count."""
        try:
            df = self.spark.sql(query)
        except Exception as err:  # name the table: Spark's message only gives a position in the SQL
            raise SparkSQLError(name, query, err) from None
        return self.save(name, df, partitions)

    def view(self, name: str, query: str) -> None:
        """Register `query` as a view without materialising it."""
        self.spark.sql(query).createOrReplaceTempView(_q(name))

    def exists(self, name: str) -> bool:
        """Return True when a table or view of that name is registered."""
        return self.spark.catalog.tableExists(name)

    def columns(self, name: str) -> list[str]:
        """Return the column names of table or view `name`."""
        return self.spark.table(_q(name)).columns

    def double_columns(self, name: str) -> list[str]:
        """Return the names of the DOUBLE columns of table or view `name`."""
        return [f.name for f in self.spark.table(_q(name)).schema.fields if f.dataType.typeName() == "double"]

    def count(self, name: str) -> int:
        """Return the row count of table or view `name`."""
        return self.spark.table(_q(name)).count()


class SparkSQLError(PortraitError):
    """A translated statement that Spark rejected, with the table it was building."""

    def __init__(self, name: str, query: str, err: Exception):
        text = str(err).strip().splitlines()
        first = next((line for line in text if line.strip()), "")
        pos = re.search(r"pos (\d+)", str(err))
        near = query[max(0, int(pos.group(1)) - 120): int(pos.group(1)) + 80] if pos else ""
        super().__init__(f"Spark cannot run the SQL for `{name}`: {first}" + (f"\n  near: …{near}…" if near else ""),
                         hint="a DuckDB construct without a rule in pipeline/spark/transpile.py; "
                              "run `python -m pipeline.spark.transpile FILE.sql` to see the translation")
        self.query = query


def _q(name: str) -> str:
    return name
