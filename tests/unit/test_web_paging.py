"""The event log's paging links: keyset cursors only go older, so the links carry the cursors of the pages passed
through (`back`) and "Newer events" returns through them."""

from __future__ import annotations

from urllib.parse import parse_qs

from verihook.web.routes.events import TRAIL, paging_links


def query(link: str | None) -> dict[str, list[str]]:
    assert link is not None
    return parse_qs(link.removeprefix("?"))


def test_the_first_page_links_older_only() -> None:
    older, newer = paging_links({"type": "a"}, "", [], "c1")
    assert (query(older), newer) == ({"type": ["a"], "cursor": ["c1"]}, None)


def test_the_second_page_links_back_to_the_first() -> None:
    older, newer = paging_links({"type": "a"}, "c1", [], "c2")
    assert query(older) == {"type": ["a"], "cursor": ["c2"], "back": ["c1"]}
    assert newer == "?type=a"
    assert paging_links({}, "c1", [], None) == (None, "")


def test_a_deeper_page_links_back_through_the_trail() -> None:
    older, newer = paging_links({}, "c3", ["c1", "c2"], "c4")
    assert query(older) == {"cursor": ["c4"], "back": ["c1", "c2", "c3"]}
    assert query(newer) == {"cursor": ["c2"], "back": ["c1"]}


def test_the_trail_keeps_the_latest_pages_only() -> None:
    back = [f"c{n}" for n in range(TRAIL + 5)]
    older, _ = paging_links({}, "now", back, "next")
    assert query(older)["back"] == [*back, "now"][-TRAIL:]
