"""Composition root: builds the Starlette app and mounts the GraphQL layer at /graphql (HTTP and WebSocket)."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from app.auth import build_token_services, load_key_material, prepare_passwords
from app.clock import Clock, SystemClock
from app.config import Environment, Settings, data_folder_database, load_settings
from app.db import connect, ensure_indexes
from app.embedded import terminate_with_parent
from app.logs import RequestIdMiddleware
from app.long_lived import LongLivedObjects
from app.members import upgrade_database
from app.messaging import sms_callback_endpoint, unsubscribe_endpoint
from app.notifications import NotificationHub
from app.runtime import Runtime
from app.sandbox_clock import SandboxClock
from app.security_headers import SecurityHeaders
from app.shutdown import close_within
from graphql_schema.engine.ide import graphiql_policy, local_graphiql_html
from graphql_schema.engine.safety import MAX_BODY_BYTES
from graphql_schema.engine.view import PREFLIGHT_HEADERS, JifenGraphQL
from graphql_schema.schema import build_schema

log = logging.getLogger(__name__)

# The server's WebSocket frame limit (uvicorn's ws_max_size under `jifen serve`): no frame may be
# bigger than an HTTP body may be. The GraphQL view checks it again under any other server.
MAX_FRAME_BYTES = MAX_BODY_BYTES
# Whether `jifen serve` compresses WebSocket messages when a client offers it (browsers and the
# `websockets` client do). It does not: a subscription's messages are a few hundred bytes, and each
# socket's zlib streams held 50 KiB of the API's memory, half of what a live subscriber cost.
WS_PER_MESSAGE_DEFLATE = False

# Static browser files (plain ES modules, no build step): the member page and vendored libraries.
WEB_DIR = Path(__file__).resolve().parent.parent / "web"


def web_routes() -> list[BaseRoute]:
    """/m (the member page), /console (the operators'), /lib (modules both use) and /vendor
    (pinned third-party modules), when web/ is shipped."""
    mounts = [
        ("/vendor", WEB_DIR / "vendor", False),
        ("/lib", WEB_DIR / "lib", False),
        ("/m", WEB_DIR / "m", True),
        ("/console", WEB_DIR / "console", True),
    ]
    return [
        Mount(prefix, app=StaticFiles(directory=folder, html=html))
        for prefix, folder, html in mounts
        if folder.is_dir()
    ]


async def healthz(request: Request) -> JSONResponse:
    """The process is alive (no dependency checked)."""
    return JSONResponse({"status": "ok"})


# /readyz answers within a second, whatever the database does.
READY_PING_SECONDS = 0.8


async def readyz(request: Request) -> JSONResponse:
    """The process can serve: the database answers. `subscriptions` counts this process's live
    subscriptions (what a restart of it would disconnect)."""
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None or not await runtime.mongo.ping(within=READY_PING_SECONDS):
        return JSONResponse({"status": "unavailable"}, status_code=503)
    answer: dict[str, object] = {"status": "ok", "subscriptions": runtime.hub.subscriber_count}
    if runtime.sandbox is not None:
        await runtime.sandbox.refresh(runtime.mongo)  # exact the moment `jifen clock` returns
        answer["sandbox_clock"] = {
            "now": runtime.sandbox.now().isoformat(timespec="milliseconds"),
            "offset_seconds": runtime.sandbox.offset.total_seconds(),
        }
    return JSONResponse(answer)


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    """Build the ASGI app; the database is opened in the lifespan and closed after it."""
    settings = settings or load_settings()
    # Tokens are minted and checked on the real clock, or the one a test gives; the program's
    # time on the sandbox clock in development (app/sandbox_clock.py).
    token_clock = clock or SystemClock()
    sandbox = (
        SandboxClock(token_clock) if clock is None and settings.env is Environment.DEV else None
    )
    clock = sandbox or token_clock
    if multiprocessing.parent_process() is not None:
        # A worker process of `serve --workers N`: it must not keep serving after serve is killed.
        terminate_with_parent()
    production = settings.env is Environment.PRODUCTION

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            url = settings.mongodb_url
            if url is None:
                # `uvicorn app.main:app` without a URL: run the embedded server for this process.
                embedded = data_folder_database(settings)
                url = embedded.start()
                stack.callback(embedded.stop)
                embedded.supervise()
            mongo = connect(url, settings.db_name, max_txn_attempts=settings.txn_max_attempts)
            stack.push_async_callback(close_within, mongo.close)
            await ensure_indexes(mongo)
            if sandbox is not None:
                await sandbox.follow(mongo)
                stack.push_async_callback(close_within, sandbox.stop)
            await upgrade_database(mongo, clock.now())
            keys = load_key_material(settings)
            await prepare_passwords(light=settings.env is Environment.TEST)
            issuer, verifier = build_token_services(settings, keys, token_clock)
            hub = NotificationHub(mongo)
            await hub.start()
            stack.push_async_callback(close_within, hub.stop)
            runtime = Runtime(settings, mongo, clock, verifier, issuer, hub, sandbox=sandbox)
            await runtime.revocations.load(mongo, clock.now())
            stack.callback(hub.listen(runtime.revocations.on_event))
            app.state.runtime = runtime
            # Everything built so far (modules, the schema, the program) lives as long as the
            # process, and so do live sockets: out of the collector's full walks (app/long_lived.py).
            long_lived = LongLivedObjects(SystemClock())
            long_lived.start()
            stack.push_async_callback(long_lived.stop)
            log.info("jifen ready (env=%s, db=%s)", settings.env.value, settings.db_name)
            yield

    graphiql_html = (
        local_graphiql_html(WEB_DIR / "vendor") if settings.env is Environment.DEV else None
    )
    graphql = JifenGraphQL(
        build_schema(introspection=not production),
        graphiql_html=graphiql_html,
        allowed_origins=settings.cors_origins,
    )
    routes = [  # the busiest first: the router tries them in order
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/unsubscribe/{token}", unsubscribe_endpoint, methods=["GET", "POST"]),
        # the SMS providers' delivery reports and members' replies (app/messaging/callbacks.py)
        Route("/hooks/sms/{provider}/{kind}", sms_callback_endpoint, methods=["POST"]),
        *web_routes(),
    ]
    page_policies = {"/graphql": graphiql_policy(graphiql_html)} if graphiql_html else {}
    middleware = [
        Middleware(RequestIdMiddleware),
        Middleware(SecurityHeaders, page_policies=page_policies),
    ]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                # the preflight headers a multipart upload needs (graphql_schema/engine/view.py)
                allow_headers=["authorization", "content-type", "x-request-id", *PREFLIGHT_HEADERS],
                expose_headers=["x-request-id"],
                max_age=600,
            )
        )
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
