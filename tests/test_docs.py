"""The README and the docs/ pages: short enough to read, and every link into the repository
resolves (the file exists and, for a #fragment, the page has that heading)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")


def prose(text: str) -> str:
    """The page without its code blocks (a link-like text in code is not a link)."""
    keep, inside = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            keep.append(line)
    return "\n".join(keep)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {
        slug(line.lstrip("#"))
        for line in prose(page.read_text(encoding="utf-8")).splitlines()
        if line.startswith("#")
    }


def local_links(page: Path) -> list[str]:
    links = LINK.findall(prose(page.read_text(encoding="utf-8")))
    return [link for link in links if not re.match(r"[a-z]+:", link)]


def broken_links(page: Path) -> list[str]:
    broken = []
    for link in local_links(page):
        path, _, fragment = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif fragment and target.suffix == ".md" and fragment not in anchors(target):
            broken.append(f"{link}: no heading #{fragment}")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_link_check_catches_a_missing_page_and_heading(tmp_path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-section) [gone](missing.md) [bad](other.md#nope) [own](#top)\n"
        "```\n[in code](ignored.md)\n```\n# Top\n"
    )
    assert broken_links(page) == ["missing.md: no such file", "other.md#nope: no heading #nope"]


def test_readme_is_short_and_points_into_docs() -> None:
    readme = REPO / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 300
    linked = {link.partition("#")[0] for link in local_links(readme)}
    pages = {f"docs/{p.name}" for p in PAGES[1:]}
    assert pages <= linked, f"docs pages the README does not link: {sorted(pages - linked)}"
