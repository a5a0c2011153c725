"""A worker process for the kill test: runs expire_due in small batches and reports each one.

Usage: python -m tests.ledger.expire_worker URL DB_NAME AS_OF_ISO BATCH_SIZE
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from app.clock import FrozenClock
from app.db import connect
from app.ledger import expire_due


async def main(url: str, db_name: str, as_of: str, batch_size: int) -> None:
    mongo = connect(url, db_name)
    clock = FrozenClock(datetime.fromisoformat(as_of))
    batches = 0
    while True:
        run = await expire_due(mongo, clock, batch_size=batch_size, max_batches=1)
        batches += run.batches
        print(f"batch {batches} lots {run.lots}", flush=True)
        if run.done:
            break
    print("done", flush=True)
    await mongo.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
