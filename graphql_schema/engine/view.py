"""The ASGI GraphQL endpoint: HTTP POST and graphql-transport-ws, context built once per request."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from datetime import timedelta
from typing import Any

import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from app.auth import PrincipalKind
from app.deadlines import time_budget
from app.importer import MAX_FILE_BYTES
from app.proxies import client_address
from app.runtime import Runtime
from graphql_schema.client_text import unicode_problem
from graphql_schema.context import Context, authenticate, build_context
from graphql_schema.engine.connections import ExpiringConnection
from graphql_schema.engine.fast_query import FastQuery, encode_json
from graphql_schema.engine.frames import CheckedWebSocket
from graphql_schema.engine.safety import MAX_BODY_BYTES
from graphql_schema.errors import UNAVAILABLE_MESSAGE, Unavailable
from graphql_schema.operator.import_admin import SCOPE as UPLOAD_SCOPE

log = logging.getLogger(__name__)

# Past its budget a request is cut off even if something ignores pymongo's timeout.
HARD_STOP_MARGIN_SECONDS = 1.0
# A multipart body (startImport's files) from an admin with import:write: two files and the form.
MAX_UPLOAD_BYTES = 2 * MAX_FILE_BYTES + 1024 * 1024
# A multipart request needs one of these, not empty: a header a page's form cannot set makes a
# browser ask the API first (a CORS preflight), as Apollo's CSRF prevention does.
PREFLIGHT_HEADERS = ("graphql-preflight", "apollo-require-preflight")
NOT_PREFLIGHTED = (
    "A multipart request needs a GraphQL-Preflight header (any value): it protects against"
    " requests made by pages on other sites."
)
# The media types of a POSTed body other than an upload.
JSON_MEDIA_TYPES = frozenset({"application/json", "application/graphql-response+json"})
NOT_JSON = "A POST body is application/json (or a multipart upload)."
# This request's multipart body was allowed (and its declared length checked) before parsing.
_upload_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar("upload", default=False)


class JifenGraphQL(GraphQL[Context, None]):
    websocket_adapter_class = CheckedWebSocket
    graphql_transport_ws_handler_class = ExpiringConnection

    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        graphiql_html: str | None,
        allowed_origins: list[str],
    ) -> None:
        """`graphiql_html` is the dev-mode IDE page (ide.py), None to serve none."""
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql_html else None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=10,
            allowed_origins=allowed_origins,
            multipart_uploads_enabled=True,  # startImport; authorised in run before parsing
        )
        self.fast_query = FastQuery(schema)
        self._graphiql_html = graphiql_html or ""

    @property
    def graphql_ide_html(self) -> str:
        return self._graphiql_html

    async def run(  # type: ignore[override]  # strawberry's overloads only split the return type
        self,
        request: Request | WebSocket,
        context: Context | UnsetType = UNSET,
        root_value: None | UnsetType = UNSET,
    ) -> Response | WebSocket:
        """A clean POSTed query takes the lean path (fast_query.py); the rest strawberry's.

        A POST is JSON, or a multipart upload by an operator who may upload with a preflight
        header: a page on another site can make a browser send a form's body (multipart,
        urlencoded, text/plain) without asking first, and it must run nothing, not even the
        mutations anyone may call.
        """
        if isinstance(request, Request) and request.method == "POST" and context is UNSET:
            media_type = _media_type(request.headers.get("content-type"))
            if media_type == "multipart/form-data":
                if not any(request.headers.get(name) for name in PREFLIGHT_HEADERS):
                    return PlainTextResponse(NOT_PREFLIGHTED, status_code=400)
                context = await self.get_context(request, None)
                refusal = _upload_refusal(context)
                if refusal is not None:
                    return Response(encode_json(refusal), media_type="application/json")
                _upload_allowed.set(_check_upload_length(request))
            elif media_type not in JSON_MEDIA_TYPES:
                return PlainTextResponse(NOT_JSON, status_code=415)
            else:
                if media_type != "application/json":  # the same JSON under the response's name
                    request = _as_json(request)
                answer = await self.fast_query.answer(
                    request, lambda: self.get_context(request, None)
                )
                if answer is not None:
                    return answer
        return await super().run(request, context, root_value)  # type: ignore[arg-type]

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        runtime: Runtime = request.app.state.runtime
        peer = request.client.host if request.client else None
        proxies = runtime.settings.trusted_proxies
        address = peer  # X-Forwarded-For counts only from a trusted proxy (app/proxies.py)
        if proxies:
            address = client_address(peer, request.headers.getlist("x-forwarded-for"), proxies)
        context = await build_context(runtime, request.headers.get("authorization"), address)
        return context

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Refuse a body over MAX_BODY_BYTES (413) before parsing it; no real query comes near it."""
        if _is_multipart(request.content_type) and _upload_allowed.get():
            return await super().parse_http_body(request)  # its declared length was checked
        declared = request.headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > MAX_BODY_BYTES
        if too_big or (request.method == "POST" and len(await request.get_body()) > MAX_BODY_BYTES):
            raise HTTPException(413, f"request body over {MAX_BODY_BYTES} bytes")
        return await super().parse_http_body(request)

    async def parse_multipart(self, request: AsyncHTTPRequestAdapter) -> dict[str, str]:
        """A GraphQL multipart request (startImport): `operations` and `map` must be JSON text
        fields, the map {part: ["variables.path", ...]}, each path leading into the operations;
        anything else is a 400, never an error of ours."""
        try:
            form = await request.get_form_data()
        except ValueError:
            raise HTTPException(400, "Unable to parse the multipart body") from None
        operations, files_map = form.form.get("operations"), form.form.get("map", "{}")
        if not isinstance(operations, str) or not isinstance(files_map, str):
            raise HTTPException(400, "`operations` and `map` must be text fields of JSON")
        parsed, mapping = self.parse_json(operations), self.parse_json(files_map)
        if not isinstance(parsed, dict):
            raise HTTPException(400, "`operations` must be one operation, a JSON object")
        if not isinstance(mapping, dict) or not all(
            isinstance(paths, list) and all(isinstance(path, str) for path in paths)
            for paths in mapping.values()
        ):
            raise HTTPException(400, "`map` must map each file part to a list of paths")
        try:
            result: dict[str, str] = replace_placeholders_with_files(parsed, mapping, form.files)
        except KeyError:
            raise HTTPException(400, "File(s) missing in form data") from None
        except (IndexError, TypeError, ValueError):
            raise HTTPException(400, "a path of `map` leads nowhere in `operations`") from None
        return result

    def encode_json(self, data: object) -> str:
        """The lean path's encoding, so both answer byte for byte alike; text, since strawberry
        sends bytes over a WebSocket as binary frames, which graphql-transport-ws does not use."""
        return encode_json(data).decode()

    def parse_json(self, data: str | bytes) -> object:
        """A request body is UTF-8 JSON holding an object (a list is a batch, refused as such)."""
        try:
            value = json.loads(data.decode() if isinstance(data, bytes) else data)
        except (ValueError, RecursionError):  # also UnicodeDecodeError; arrays nested too deep
            raise HTTPException(400, "Unable to parse request body as UTF-8 JSON") from None
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def execute_operation(
        self, request: Request, request_adapter: AsyncHTTPRequestAdapter, *args: Any, **kwargs: Any
    ) -> Any:
        """Run one HTTP operation inside the request's time budget (JIFEN_REQUEST_TIMEOUT_SECONDS).

        Database operations share the budget (app.deadlines), so a dead database answers
        UNAVAILABLE in time instead of hanging; the hard stop covers anything else that waits.
        """
        budget = request.app.state.runtime.settings.request_timeout_seconds
        try:
            async with asyncio.timeout(budget + HARD_STOP_MARGIN_SECONDS):
                with time_budget(budget):
                    return await super().execute_operation(
                        request, request_adapter, *args, **kwargs
                    )
        except TimeoutError:
            log.warning("request cut off after its %.1f s budget", budget)
            return ExecutionResult(data=None, errors=[Unavailable(UNAVAILABLE_MESSAGE)])

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A WebSocket authenticates with `Authorization` in its connection_init payload.

        A missing or bad token closes it with 4403 before any subscription starts; when the
        token expires the server closes it with 4401 (see connections.py), and the client
        reconnects with a fresh one.
        """
        params = context.connection_params or {}
        if unicode_problem(params) is not None:  # a token with a lone surrogate is no token
            log.info("websocket refused: connection_init is not valid Unicode")
            raise ConnectionRejectionError()
        authorization = params.get("Authorization", params.get("authorization"))
        principal, failure = await authenticate(
            context.runtime, authorization if isinstance(authorization, str) else None
        )
        if principal is None:
            log.info("websocket refused: %s", failure)
            raise ConnectionRejectionError()
        context.principal, context.auth_failure = principal, None
        # Read once: the payload and its token need not live as long as the socket.
        context.connection_params = None
        return UNSET  # type: ignore[no-any-return]


def _is_multipart(content_type: str | None) -> bool:
    return _media_type(content_type) == "multipart/form-data"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def _as_json(request: Request) -> Request:
    """The request, its body declared application/json (as strawberry reads JSON bodies)."""
    headers = [(k, v) for k, v in request.scope["headers"] if k.lower() != b"content-type"]
    scope = {**request.scope, "headers": [*headers, (b"content-type", b"application/json")]}
    return Request(scope, request.receive)


def _upload_refusal(context: Context) -> dict[str, object] | None:
    """The error startImport would give a caller who may not upload, answered at once with the
    body unread (an expired token, say, in a console mid-upload), or None for an uploader."""
    principal = context.principal
    if principal is None:
        code, message = "UNAUTHENTICATED", context.auth_failure or "sign in to upload files"
    elif principal.kind is not PrincipalKind.ADMIN or not principal.has_scope(UPLOAD_SCOPE):
        code, message = "FORBIDDEN", f"uploading files needs an admin token with {UPLOAD_SCOPE}"
    else:
        return None
    return {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}


def _check_upload_length(request: Request) -> bool:
    """An uploader's multipart body may be parsed at its size: its declared length is within
    MAX_UPLOAD_BYTES (which the server holds the body to)."""
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise HTTPException(411, "a file upload needs a Content-Length")
    if int(declared) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"request body over {MAX_UPLOAD_BYTES} bytes")
    return True
