"""What the benchmarks share: a throw-away migrated PostgreSQL database and nearest-rank percentiles.

(The free loopback port is ``finsent.stream.broker.free_port``, the one the embedded broker uses.)
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from finsent.db import create_database, drop_database
from finsent.settings import DatabaseSettings

__all__ = ["percentile", "temporary_database"]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


@contextmanager
def temporary_database(server_url: str, *, prefix: str = "finsent_bench", keep: bool = False) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database on the server of ``server_url``; dropped afterwards unless ``keep``."""
    from finsent import migrations

    server = DatabaseSettings(url=server_url).url.get_secret_value()  # postgresql:// -> the psycopg2 driver
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(server, name)
    try:
        migrations.upgrade(url)
        yield url
    finally:
        if not keep:
            drop_database(server, name)
