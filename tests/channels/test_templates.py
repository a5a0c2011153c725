"""Message templates: what an operator writes renders for a member in zh-CN and en, dates in the
program's time zone, HTML escaped; what cannot be bounded or reaches into the process is refused
when the template is saved, with its line; and a hostile template stays within its bounds."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from app.channels import (
    MEMBER_VARIABLES,
    ConstructNotAllowed,
    OutputTooLong,
    RenderRefused,
    TemplateDoesNotParse,
    TemplateFormat,
    TemplateTooLong,
    UndeclaredVariable,
    UnknownTimeZone,
    VariableKind,
    VariableRefused,
    check_template,
    render,
)

ZH_EXPIRY = """\
{{ name }}，您好：
您在{{ program_name }}的 {{ points|digits }} 积分将于 {{ expires_on|date('%Y年%m月%d日') }} 过期，\
当前余额 {{ balance|digits }} 积分。
退订：{{ unsubscribe_url }}
"""
EN_EXPIRY = """\
Hi {{ name|title }},
{{ points|digits }} of your {{ program_name }} points expire on {{ expires_on|date('%d %b %Y') }}.
Balance: {{ balance|digits }} points. Unsubscribe: {{ unsubscribe_url }}
"""
MEMBER = {
    "name": "张三",
    "program_name": "星享会",
    "points": 1234,
    "balance": 1234567,
    "expires_on": datetime(2026, 12, 31, 16, 0, tzinfo=UTC),  # midnight of Jan 1 in Shanghai
    "reward": "咖啡券",
    "unsubscribe_url": "https://jifen.example.cn/u/abc123",
}


@contextmanager
def peak_memory(limit: int) -> Iterator[None]:
    """Fails the test if the block ever held more than `limit` bytes of new Python objects."""
    tracemalloc.start()
    try:
        yield
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < limit, f"peak {peak} bytes"


def test_an_expiry_notice_renders_in_chinese() -> None:
    check_template(ZH_EXPIRY, MEMBER_VARIABLES)

    assert render(ZH_EXPIRY, MEMBER, "Asia/Shanghai") == (
        "张三，您好：\n"
        "您在星享会的 1,234 积分将于 2027年01月01日 过期，当前余额 1,234,567 积分。\n"
        "退订：https://jifen.example.cn/u/abc123\n"
    )


def test_an_expiry_notice_renders_in_english() -> None:
    check_template(EN_EXPIRY, MEMBER_VARIABLES)

    member = MEMBER | {"name": "li lei", "program_name": "Star Club"}
    assert render(EN_EXPIRY, member, "Asia/Shanghai") == (
        "Hi Li Lei,\n"
        "1,234 of your Star Club points expire on 01 Jan 2027.\n"
        "Balance: 1,234,567 points. Unsubscribe: https://jifen.example.cn/u/abc123\n"
    )


@pytest.mark.parametrize(
    ("instant", "shanghai", "utc"),
    [
        (datetime(2026, 12, 7, 15, 59, tzinfo=UTC), "2026-12-07 23:59", "2026-12-07 15:59"),
        (datetime(2026, 12, 7, 16, 0, tzinfo=UTC), "2026-12-08 00:00", "2026-12-07 16:00"),
        (datetime(2026, 12, 7, 23, 59, tzinfo=UTC), "2026-12-08 07:59", "2026-12-07 23:59"),
        (datetime(2026, 12, 8, 0, 0, tzinfo=UTC), "2026-12-08 08:00", "2026-12-08 00:00"),
    ],
)
def test_the_date_filter_shows_the_instant_in_the_time_zone_given(
    instant: datetime, shanghai: str, utc: str
) -> None:
    source = "{{ expires_on|date('%Y-%m-%d %H:%M') }}"

    assert render(source, {"expires_on": instant}, "Asia/Shanghai") == shanghai
    assert render(source, {"expires_on": instant}, "UTC") == utc


def test_a_calendar_date_is_shown_as_it_is_in_any_time_zone() -> None:
    assert render("{{ d|date }}", {"d": date(2026, 12, 8)}, "America/Los_Angeles") == "2026-12-08"


def test_digits_are_grouped_by_thousands() -> None:
    source = "{{ points|digits }} {{ balance|digits(' ') }} {{ price|digits }}"
    values = {"points": -1234, "balance": 1234567, "price": Decimal("12345.50")}

    assert render(source, values, "UTC") == "-1,234 1 234 567 12,345.50"


def test_html_escapes_every_value_and_text_and_sms_do_not() -> None:
    values = {"name": '<script>alert("积分")</script> & Co'}

    html = render("<p>{{ name }}</p>", values, "UTC", TemplateFormat.HTML)
    text = render("{{ name }}", values, "UTC", TemplateFormat.TEXT)
    sms = render("【星享会】{{ name }}", values, "UTC", TemplateFormat.SMS)

    assert html == "<p>&lt;script&gt;alert(&#34;积分&#34;)&lt;/script&gt; &amp; Co</p>"
    assert text == '<script>alert("积分")</script> & Co'
    assert sms == '【星享会】<script>alert("积分")</script> & Co'


def test_a_loop_walks_a_declared_list() -> None:
    source = "{% for reward in rewards %}{{ loop.index }}. {{ reward }}\n{% endfor %}"
    check_template(source, {"rewards": VariableKind.LIST})

    assert render(source, {"rewards": ["咖啡券", "电影票"]}, "UTC") == "1. 咖啡券\n2. 电影票\n"


def test_an_undeclared_variable_is_refused_at_save_time_with_its_line() -> None:
    source = "{{ name }}，您好：\n您的积分：{{ points }}\n等级：{{ tier }}\n"

    with pytest.raises(UndeclaredVariable) as refused:
        check_template(source, MEMBER_VARIABLES)

    assert refused.value.name == "tier"
    assert refused.value.line == 3
    assert str(refused.value).startswith("line 3:")


def test_a_template_that_does_not_parse_is_refused_with_its_line() -> None:
    source = "{{ name }}，您好：\n{% if points > 100 %}\n您有很多积分\n"

    with pytest.raises(TemplateDoesNotParse) as refused:
        check_template(source, MEMBER_VARIABLES)

    assert refused.value.line == 2  # the `if` left open
    with pytest.raises(TemplateDoesNotParse) as unclosed:
        check_template("你好\n{{ name ", MEMBER_VARIABLES)
    assert unclosed.value.line == 2


def test_a_template_that_fails_on_sample_values_is_refused_at_save_time() -> None:
    with pytest.raises(RenderRefused) as refused:
        check_template("你好 {{ name }}\n{{ points|date }}", MEMBER_VARIABLES)

    assert refused.value.line == 2


@pytest.mark.parametrize(
    "source",
    [
        "你好\n{{ ''.__class__ }}",
        "你好\n{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "你好\n{{ name['__class__'] }}",
        "你好\n{{ name|attr('__class__') }}",
    ],
)
def test_internals_are_refused_at_save_time(source: str) -> None:
    with pytest.raises(ConstructNotAllowed) as refused:
        check_template(source, MEMBER_VARIABLES)

    assert refused.value.line == 2


def test_the_sandbox_refuses_internals_a_value_names() -> None:
    source = "{{ reward[key] }}"  # no internal name to see at save time: the key is a value

    assert render(source, {"reward": "咖啡券", "key": "upper"}, "UTC") != ""  # a bound method
    with pytest.raises(RenderRefused, match="unsafe"):
        render(source, {"reward": "咖啡券", "key": "__class__"}, "UTC")


@pytest.mark.parametrize(
    ("source", "refusal"),
    [
        ("{% for i in range(10**9) %}x{% endfor %}", "declared list"),
        ("{% for r in rewards %}\n{% for s in rewards %}x{% endfor %}{% endfor %}", "nest"),
        ("{% for c in name %}x{% endfor %}", "declared list"),
        ("{% for r in rewards recursive %}{{ loop(rewards) }}{% endfor %}", "recursive"),
        ("{{ name.ljust(1000000000) }}", "calls"),
        ("{{ name|center(1000000000) }}", "center"),
        ("{{ name|indent(1000000000) }}", "indent"),
        ("{{ '%1000000000s'|format(name) }}", "format"),
        ("{{ name|replace('', name)|replace('', name) }}", "replace"),
        ("{% set a = name ~ name %}{% set a = a ~ a %}{{ a }}", "set"),
        ("{% with a = name ~ name %}{{ a }}{% endwith %}", "with"),
        ("{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "macro"),
        ("{% include 'x' %}", "include"),
        ("{{ name|safe }}", "safe"),
        ("{% autoescape false %}{{ name }}{% endautoescape %}", "autoescape"),
    ],
)
def test_what_cannot_be_bounded_is_refused_at_save_time(source: str, refusal: str) -> None:
    declared = MEMBER_VARIABLES | {"rewards": VariableKind.LIST}

    with pytest.raises(ConstructNotAllowed, match=refusal):
        check_template(source, declared)


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 10**9 }}",
        "{{ name * 1000000000 }}",
        "{{ [name] * 1000000000 }}",
        "{{ (10 ** 1000) ** 1000 }}",
        "{{ '%1000000000s' % name }}",
        "{{ (10 ** 1000) * (10 ** 1000) }}",
    ],
)
def test_a_huge_repeat_is_refused_while_rendering_without_being_made(source: str) -> None:
    with peak_memory(5_000_000), pytest.raises(RenderRefused) as refused:
        check_template(source, MEMBER_VARIABLES)

    assert refused.value.line == 1
    with peak_memory(5_000_000), pytest.raises(RenderRefused):
        render(source, MEMBER, "UTC")


def test_output_past_its_bound_is_cut_before_it_is_all_made() -> None:
    source = "{% for r in rewards %}{{ r * 10 }}{{ r * 10 }}{% endfor %}"
    rewards = ["x" * 100] * 100  # 100 rows of 2,000 characters: 200,000 past the 50,000 of text

    with peak_memory(1_000_000), pytest.raises(OutputTooLong, match="50000"):
        render(source, {"rewards": rewards}, "UTC")
    with pytest.raises(OutputTooLong, match="2000"):
        render("{{ name * 500 }}" * 3, {"name": "积分"}, "UTC", TemplateFormat.SMS)


def test_a_template_past_its_length_is_refused() -> None:
    with pytest.raises(TemplateTooLong):
        check_template("积" * 1001, MEMBER_VARIABLES, TemplateFormat.SMS)
    check_template("积" * 1000, MEMBER_VARIABLES, TemplateFormat.SMS)


def test_a_template_nested_past_the_parser_is_refused_not_crashed() -> None:
    with pytest.raises(TemplateDoesNotParse):
        check_template("{{ " + "(" * 4000 + "1" + ")" * 4000 + " }}", MEMBER_VARIABLES)
    with pytest.raises(TemplateDoesNotParse):
        check_template("{{ 1" + "0" * 5000 + " }}", MEMBER_VARIABLES)


@pytest.mark.parametrize(
    "values",
    [
        {"name": object()},
        {"name": "x" * 1001},
        {"rewards": ["x"] * 101},
        {"rewards": [{"name": "咖啡券"}]},
        {"_private": "x"},
        {"flag": True},
        {"expires_on": datetime(2026, 12, 8, 0, 0)},
    ],
)
def test_values_render_does_not_take_are_refused(values: dict[str, object]) -> None:
    with pytest.raises(VariableRefused):
        render("x", values, "UTC")  # type: ignore[arg-type]


def test_a_time_zone_must_be_an_iana_name() -> None:
    with pytest.raises(UnknownTimeZone):
        render("x", {}, "Beijing")


def test_a_missing_value_is_an_error_not_an_empty_hole() -> None:
    with pytest.raises(RenderRefused, match="no attribute"):
        render("{{ name.nickname }}", {"name": "张三"}, "UTC")
