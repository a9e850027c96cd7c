"""Count the SQL a piece of code runs, on every engine of the process (the pages make their
own), and how many model evaluations (the registry's largest column) those queries read."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.engine import Engine

EVALUATION = re.compile(r"\bmodel_versions\.evaluation\b")
BY_VERSION = re.compile(r"WHERE model_versions\.version = ")


@dataclass
class Queries:
    """What ran inside `counting_queries()`: every statement, and those reading evaluations
    of all versions (`listed`) or of one version by key (`keyed`)."""

    statements: list[str] = field(default_factory=list)

    @property
    def evaluation_reads(self) -> list[str]:
        return [s for s in self.statements if EVALUATION.search(s)]

    @property
    def listed(self) -> int:
        """Queries that read the evaluation of every version."""
        return sum(1 for s in self.evaluation_reads if not BY_VERSION.search(s))

    @property
    def keyed(self) -> int:
        """Queries that read the evaluation of one version, fetched by its key."""
        return sum(1 for s in self.evaluation_reads if BY_VERSION.search(s))


@contextmanager
def counting_queries():
    """Yield a Queries that collects the SQL of every engine until the block ends."""
    queries = Queries()

    def record(conn, cursor, statement, parameters, context, executemany):
        queries.statements.append(statement)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield queries
    finally:
        event.remove(Engine, "before_cursor_execute", record)
