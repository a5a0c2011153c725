"""Every log line carries the request id; production logs are one JSON object a line."""

from __future__ import annotations

import json
import logging

import httpx

from app.logs import JsonFormatter, RequestIdFilter, request_id_var


def test_json_lines_carry_the_request_id() -> None:
    token = request_id_var.set("req-42")
    try:
        record = logging.LogRecord(
            "jifen.test", logging.INFO, __file__, 1, "earned %d", (100,), None
        )
        RequestIdFilter().filter(record)
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["request_id"] == "req-42"
    assert line["message"] == "earned 100"
    assert line["level"] == "INFO"
    assert line["ts"].endswith("+00:00")


async def test_log_lines_inside_a_request_carry_its_id(client: httpx.AsyncClient, caplog) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level("INFO"):
        await client.post(
            "/graphql",
            json={"query": "{ me { name } }"},
            headers={"x-request-id": "trace-abc", "authorization": "Bearer forged"},
        )
    ids = {
        getattr(r, "request_id", None) for r in caplog.records if r.name == "graphql_schema.context"
    }
    assert ids == {"trace-abc"}
