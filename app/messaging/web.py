"""The unsubscribe link of a marketing e-mail: `/unsubscribe/<token>`, no sign-in.

GET shows a page with one button (mail scanners and link previews follow GETs, so a GET alone
unsubscribes no one); POST records the opt-out the signed token names: the button's form, or a
mail client's RFC 8058 one-click POST (`List-Unsubscribe=One-Click`), which needs no page.
"""

from __future__ import annotations

import html
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from app.messaging.errors import BadUnsubscribeToken
from app.messaging.preferences import read_unsubscribe_token, unsubscribe, unsubscribe_key

_PAGE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title></head>
<body><main><h1>{title}</h1><p>{text}</p>{form}</main></body></html>"""


def _page(title: str, text: str, form: str = "", status: int = 200) -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text), form=form)
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})


async def unsubscribe_endpoint(request: Request) -> HTMLResponse:
    runtime: Any = request.app.state.runtime
    key = await unsubscribe_key(runtime.mongo, runtime.settings)
    token = str(request.path_params["token"])
    try:
        if request.method == "GET":
            _, item = read_unsubscribe_token(key, token)
            form = (
                '<form method="post"><button type="submit" name="List-Unsubscribe" '
                'value="One-Click">退订 / Unsubscribe</button></form>'
            )
            return _page(
                "退订 / Unsubscribe",
                f"不再通过 {item.channel.value} 接收 {item.kind.value} 消息？"
                f" / Stop {item.kind.value} messages by {item.channel.value}?",
                form,
            )
        await unsubscribe(runtime.mongo, runtime.clock, key, token)
    except BadUnsubscribeToken:
        return _page("链接无效 / Invalid link", "This unsubscribe link is not valid.", status=404)
    return _page("已退订 / Unsubscribed", "您已退订。 / You are unsubscribed.")
