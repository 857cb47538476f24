"""Plain text out of mail bodies: HTML to text, quoted history and signature cut."""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: "On Tue, 3 Mar 2026 at 10:00, Ann <ann@example.com> wrote:" (one or two lines).
_ATTRIBUTION = re.compile(r"^\s*On\b.*\bwrote:\s*$", re.IGNORECASE | re.DOTALL)
#: Outlook's separator above the quoted original.
_ORIGINAL = re.compile(r"^\s*-{2,}\s*Original Message\s*-{2,}\s*$", re.IGNORECASE)
#: RFC 3676 signature delimiter "-- " (and "--", whose space editors often drop).
_SIGNATURE = ("-- ", "--")

_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_SKIPPED_TAGS = frozenset({"script", "style", "head", "title", "blockquote"})


def _history_starts(lines: list[str], index: int) -> bool:
    """Whether quoted history starts at `lines[index]`."""
    line = lines[index]
    if _ORIGINAL.match(line):
        return True
    if not line.lstrip().lower().startswith("on "):
        return False
    if _ATTRIBUTION.match(line):
        return True
    # Mail clients wrap long attributions: "On ..., Ann <ann@\nexample.com> wrote:"
    return index + 1 < len(lines) and bool(
        _ATTRIBUTION.match(line + " " + lines[index + 1])
    )


def strip_reply(text: str) -> str:
    """The new text of a reply: quoted history, `>` lines and the signature go."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if line in _SIGNATURE or _history_starts(lines, index):
            break
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


class _TextExtractor(HTMLParser):
    """Collects the visible text of an HTML document, one line per block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body; quoted `<blockquote>`s, scripts, styles dropped."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).split("\n"))
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()
