"""The documentation holds together: the README stays a front door, every page under docs/ is in its
index, every relative link (and heading anchor) points at something that exists, and no page names
the tools' old flat package. Pure file reading."""

import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 150

# [text](target) and [text](target "title"); images too. Autolinks (<https://...>) are never relative.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")


def pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def documents() -> list[Path]:
    return [README, *pages()]


def prose_lines(path: Path) -> list[str]:
    """The lines outside fenced code blocks (a `# comment` in a bash block is no heading)."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def without_code_spans(line: str) -> str:
    return re.sub(r"`[^`]*`", "", line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: inline markup dropped, lowercased, punctuation removed,
    spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text
    text = text.replace("`", "").replace("*", "")
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = "".join(char for char in text if char.isalnum() or char in " -_")
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a markdown file, repeated headings numbered as GitHub does."""
    seen: dict[str, int] = {}
    found = set()
    for line in prose_lines(path):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def relative_links(path: Path) -> list[str]:
    links = []
    for line in prose_lines(path):
        links += LINK.findall(without_code_spans(line))
    return [link for link in links if not re.match(r"^[a-z][a-z0-9+.-]*:", link, re.IGNORECASE)]


def test_the_readme_is_a_front_door() -> None:
    # Given the README, When its lines are counted, Then it stays short enough to read at once
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


def test_every_docs_page_is_in_the_readme_index() -> None:
    # Given the pages under docs/ and the README's links
    linked = {(README.parent / link.split("#")[0]).resolve() for link in relative_links(README)}
    # Then each page is reachable from the README
    missing = [page.name for page in pages() if page.resolve() not in linked]
    assert pages(), "docs/ has no pages"
    assert not missing, f"docs pages missing from the README's index: {missing}"


@pytest.mark.parametrize("document", documents(), ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    # Given every relative link of the document
    broken = []
    for link in relative_links(document):
        target, _, anchor = link.partition("#")
        resolved = (document.parent / target).resolve() if target else document
        # Then its file exists, and a heading anchor into markdown names a heading there
        if not resolved.exists():
            broken.append(f"{link}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor.lower() not in anchors(resolved):
            broken.append(f"{link}: no heading with that anchor")
    assert not broken, f"{document.relative_to(ROOT)}: {broken}"


@pytest.mark.parametrize("document", [*documents(), ROOT / "BENCHMARKS.md"], ids=lambda path: path.name)
def test_no_doc_names_the_old_tools_package(document: Path) -> None:
    # The tools are packages by role now (local_stack, fake_crms, credentials_admin, smoke, generators)
    assert "credentials_tools" not in document.read_text(encoding="utf-8")


def test_the_anchor_rules_match_githubs() -> None:
    # Given headings with punctuation, code and repeats, Then the anchors are GitHub's
    assert slug("Dependency failures, in three classes") == "dependency-failures-in-three-classes"
    assert slug("Keeping OAuth tokens fresh: `make run`") == "keeping-oauth-tokens-fresh-make-run"
    assert slug("What the return page must check, and why") == "what-the-return-page-must-check-and-why"
    assert slug("Bearer tokens (JWT)") == "bearer-tokens-jwt"
