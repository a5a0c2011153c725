"""Headers every response carries, so a browser holds our pages and answers to what they are.

The console and the member page carry token and password forms: no page of another origin may
frame them (clickjacking: `frame-ancestors 'none'`, and X-Frame-Options for browsers older than
CSP 2), and they run scripts, styles and connections from our own origin only, so an injected
`<script>` or a copy of the page elsewhere runs nothing. Answers that are not pages (JSON, our
scripts, stylesheets) get a policy that allows nothing at all. No response is sniffed as another
type (`nosniff`), and no page tells the next site where the user came from (the console's
one-time sign-in link carries its code in the address).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Our pages: everything from this origin (a data: icon aside), nothing inline.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'"
)
# Anything else: nothing may load from it or frame it.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"

_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class SecurityHeaders:
    """Adds the headers to every HTTP response. `page_policies` gives a page of its own path (the
    dev-mode GraphiQL page at /graphql) the policy it needs instead of PAGE_POLICY."""

    def __init__(self, app: ASGIApp, page_policies: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.page_policies = {
            path: policy.encode() for path, policy in (page_policies or {}).items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        page_policy = self.page_policies.get(scope["path"], PAGE_POLICY.encode())

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                html = any(
                    name == b"content-type" and value.startswith(b"text/html")
                    for name, value in headers
                )
                policy = page_policy if html else OTHER_POLICY.encode()
                if message["status"] != 304:
                    headers.append((b"content-security-policy", policy))
                # A 304 has no content type to tell a page by, and the browser keeps the headers
                # it sends for the copy it holds: a policy here would replace the page's own with
                # the one that allows nothing (a reloaded member page ran no script at all).
                headers += _COMMON
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
