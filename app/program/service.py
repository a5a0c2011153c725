"""Reading and storing the program configuration (one current document, older versions kept)."""

from __future__ import annotations

from pymongo.asynchronous.client_session import AsyncClientSession

from app.clock import Clock
from app.db import Mongo
from app.program.models import Program

CURRENT_ID = "current"


class ProgramNotConfigured(Exception):
    """No program has been stored yet."""


async def get_program(mongo: Mongo) -> Program:
    document = await mongo["program"].find_one({"_id": CURRENT_ID})
    if document is None:
        raise ProgramNotConfigured("no program is configured")
    document.pop("_id")
    return Program.model_validate(document)


async def save_program(mongo: Mongo, clock: Clock, program: Program) -> Program:
    """Store a new version of the program; the previous one is kept under its version number."""

    async def work(session: AsyncClientSession) -> Program:
        current = await mongo["program"].find_one({"_id": CURRENT_ID}, session=session)
        version = 1 if current is None else int(current["version"]) + 1
        stored = program.model_copy(update={"version": version, "updated_at": clock.now()})
        body = stored.model_dump(mode="json")
        body["updated_at"] = stored.updated_at
        if current is not None:
            previous = dict(current)
            previous["_id"] = f"v{current['version']}"
            await mongo["program"].insert_one(previous, session=session)
        await mongo["program"].replace_one({"_id": CURRENT_ID}, body, upsert=True, session=session)
        return stored

    return await mongo.transaction(work)
