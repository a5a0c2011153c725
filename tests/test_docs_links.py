"""The docs point at what exists: every relative link in README.md and docs/ opens a file of the
repository (and the heading its #anchor names), and every module path or dotted module name the
docs write in backticks is one in the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.DOTALL)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# `app/ledger/unit.py`, `graphql_schema/partner/`, `tests/web`: a path into the repository
# (`bench/NAME.py` is a placeholder, not a path).
CODE_PATH = re.compile(
    r"^(?:app|graphql_schema|tests|bench|scripts|web|examples|docs)(?:/[\w.-]+)*/?$"
)
PLACEHOLDER = re.compile(r"/[A-Z]+(?:\.\w+)?(?:/|$)")
# A document named in the code: `docs/operations.md`.
DOC_IN_CODE = re.compile(r"\bdocs/[\w./-]+\.md\b")
# `app.ledger`, `app.notifications.outbox.verify_signature`, `app.main:create_app`.
DOTTED = re.compile(r"^(?:app|graphql_schema)(?:\.\w+)+(?::\w+)?$")


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def prose(text: str) -> str:
    """The text without fenced code blocks, where brackets and parentheses are not links."""
    return FENCE.sub("", text)


def links(text: str) -> list[str]:
    """Every link target of the Markdown text, inline or by reference, outside code."""
    text = CODE_SPAN.sub("", prose(text))
    return [*LINK.findall(text), *REFERENCE.findall(text)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings; a repeated one gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(prose(path.read_text())):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(document: Path, root: Path = ROOT) -> list[str]:
    broken = []
    for target in links(document.read_text()):
        if not target or SCHEME.match(target) or target.startswith("//"):
            continue  # a URL is not the repository's to check
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif not resolved.is_relative_to(root):
            broken.append(f"{target}: outside the repository")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: {resolved.name} has no heading #{anchor}")
    return broken


def defines(module: Path, name: str) -> bool:
    """Whether the module's source defines or imports `name` at any level."""
    source = module.read_text()
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b", source, re.M) is not None or (
        re.search(rf"^\s*{name}\s*[:=]|\bimport\b.*\b{name}\b", source, re.M) is not None
    )


def missing_code(document: Path) -> list[str]:
    missing = []
    for _, span in CODE_SPAN.findall(prose(document.read_text())):
        span = span.strip().rstrip(".,;")
        if CODE_PATH.match(span) and not PLACEHOLDER.search(span):
            if not (ROOT / span.rstrip("/")).exists():
                missing.append(f"{span}: no such path")
        elif DOTTED.match(span):
            name, _, attribute = span.partition(":")
            parts = name.split(".")
            # The longest prefix that is a module or package; what follows names one thing in it.
            for cut in range(len(parts), 0, -1):
                base = ROOT.joinpath(*parts[:cut])
                module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
                if module.exists():
                    rest = parts[cut:] + ([attribute] if attribute else [])
                    if len(rest) > 1 or (rest and not defines(module, rest[0])):
                        missing.append(f"{span}: {module.relative_to(ROOT)} has no {rest[0]}")
                    break
            else:
                missing.append(f"{span}: no such module")
    return missing


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    broken = broken_links(document)
    assert not broken, "\n".join(broken)


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_module_the_docs_name_exists(document: Path) -> None:
    missing = missing_code(document)
    assert not missing, "\n".join(missing)


def test_every_document_the_code_names_exists() -> None:
    named = {
        f"{source.relative_to(ROOT)}: {doc}"
        for folder in ("app", "graphql_schema", "tests", "bench", "scripts")
        for source in (ROOT / folder).rglob("*.py")
        for doc in DOC_IN_CODE.findall(source.read_text())
        if not (ROOT / doc).exists()
    }
    assert not named, "\n".join(sorted(named))


def test_the_checks_see_a_broken_link_and_a_moved_module(tmp_path: Path) -> None:
    """The checks fail where they should: a missing file, a missing heading, a module gone."""
    (tmp_path / "there.md").write_text("# A heading, with `code`\n\n## A heading, with `code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#a-heading-with-code) [ok](there.md#a-heading-with-code-1)\n"
        "[gone](nowhere.md) [no heading](there.md#nothing) [web](https://example.com/x.md)\n"
        "```\n[in code](not-a-link.md)\n```\n"
        "`app/ledger/unit.py` `app/jobs/` `app.ledger.unit.run_in_ledger` `app.points.earn`\n"
        "`app.ledger.unit.no_such_function`\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "nowhere.md: no such file",
        "there.md#nothing: there.md has no heading #nothing",
    ]
    assert missing_code(page) == [
        "app/jobs/: no such path",
        "app.points.earn: app/__init__.py has no points",
        "app.ledger.unit.no_such_function: app/ledger/unit.py has no no_such_function",
    ]
