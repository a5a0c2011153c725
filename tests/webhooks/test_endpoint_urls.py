"""Where a production endpoint may point: a public https host, never this machine or a private
network (the worker would POST signed bodies inside the brand's own network)."""

from __future__ import annotations

import pytest

from app.webhooks import InvalidEndpoint, check_url


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/jifen",
        "https://8.8.8.8:8443/hooks",
        "https://[2001:4860:4860::8888]/hooks",
        "https://crm.brand.cn/api/jifen?source=points",
    ],
)
def test_a_public_https_host_is_taken(url: str) -> None:
    assert check_url(url, allow_local_http=False) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://localhost/hooks",
        "https://api.localhost/hooks",
        "https://[::1]/hooks",
        "https://10.1.2.3/hooks",
        "https://172.16.0.9/hooks",
        "https://192.168.1.20/hooks",
        "https://169.254.169.254/latest/meta-data",  # a cloud's metadata service
        "https://[fd00::1]/hooks",
        "https://0.0.0.0/hooks",
        "https://billing/hooks",
        "https://crm.corp.internal/hooks",
        "https://printer.local/hooks",
        "http://localhost:8080/hooks",
        "http://hooks.example.com/jifen",
    ],
)
def test_this_machine_a_private_network_or_plain_http_is_refused_in_production(url: str) -> None:
    with pytest.raises(InvalidEndpoint):
        check_url(url, allow_local_http=False)


def test_plain_http_to_this_machine_is_allowed_where_local_http_is() -> None:
    assert check_url("http://127.0.0.1:9000/hooks", allow_local_http=True)
