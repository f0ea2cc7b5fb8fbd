#!/usr/bin/env python3
"""Checks the tracked files of the repository: run from its root, `python3 scripts/check_docs.py`.

1. No file points at a past sitting of work as a "session" followed by its number, or with a
   word such as "this" or "same" before it (the patterns are `SESSION_PATTERNS` below). A
   reference to a past measurement names its commit and date instead. The word stays where it is a real concept: a trading session, the `remote`
   crate's `session` module, pytest's `scope="session"`, Ray's session directory.
2. Every relative Markdown link `[text](target)` in a tracked `*.md` file resolves: the file or
   directory exists, and a `#anchor` names a heading of the page it points at (GitHub's rules:
   lower case, punctuation other than `-` and `_` dropped, spaces to `-`, a repeated heading
   suffixed `-1`, `-2`, ...). Links in fenced code blocks and in code spans are not links.

Prints one `file:line: problem` a line and exits 1 when anything is found; otherwise prints a
one-line summary and exits 0. Python 3.11 standard library only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import unicodedata
from urllib.parse import unquote

SELF = "scripts/check_docs.py"

NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
    "fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|"
    "eighty|ninety"
)
SESSION_PATTERNS = [
    re.compile(rf"\bsessions?\s+({NUMBER_WORDS}|\d+)\b", re.IGNORECASE),
    re.compile(
        r"\b(this|that|the same|an earlier|earlier|a later|later|the next|next|the previous|"
        r"previous|the last|last|every|each) session\b",
        re.IGNORECASE,
    ),
    re.compile(r"\bsession's\b", re.IGNORECASE),
]
COMPOUND = re.compile(r"-[a-z]+", re.IGNORECASE)

# A link or image: `[text](target)` or `[text](target "title")`, the target optionally in
# angle brackets. The text may hold one level of brackets (`[see [this]](x)`).
INLINE_LINK = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'))?\s*\)"
)
# A link reference definition: `[label]: target`.
REFERENCE_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?[ \t]*$")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
HTML_ANCHOR = re.compile(r"<a\s+[^>]*?\b(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], check=True, capture_output=True
    ).stdout.decode("utf-8", "surrogateescape")
    return [p for p in out.split("\0") if p]


def read_text(path: str) -> str | None:
    """The file's text, or None for a binary file or one missing from the work tree."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, IsADirectoryError):
        return None
    if b"\0" in data:
        return None
    return data.decode("utf-8", "replace")


Problem = tuple[str, int, str]


def check_sessions(files: list[str], problems: list[Problem]) -> int:
    searched = 0
    for path in files:
        if path == SELF:
            continue
        text = read_text(path)
        if text is None:
            continue
        searched += 1
        for number, line in enumerate(text.splitlines(), 1):
            for pattern in SESSION_PATTERNS:
                for m in pattern.finditer(line):
                    # Shown with the rest of a compound number ("twenty-one").
                    tail = COMPOUND.match(line, m.end())
                    shown = m.group(0) + (tail.group(0) if tail else "")
                    problems.append(
                        (path, number, f"a session reference, {shown!r}: name the commit and "
                         "date, a section title, or nothing")
                    )
    return searched


def outside_fences(text: str):
    """(line number, line) of every line that is not inside a fenced code block."""
    fence: tuple[str, int] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if fence is None:
            m = FENCE.match(line)
            if m:
                fence = (m.group(1)[0], len(m.group(1)))
                continue
            yield number, line
        else:
            closing = line.strip()
            if closing and set(closing) == {fence[0]} and len(closing) >= fence[1]:
                fence = None


def without_code_spans(line: str) -> str:
    return CODE_SPAN.sub(lambda m: " " * len(m.group(0)), line)


def heading_text(raw: str) -> str:
    """The text GitHub renders for a heading's Markdown (the part its anchor is made from)."""
    text = CODE_SPAN.sub(lambda m: m.group(2).strip(), raw)
    text = re.sub(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\([^)]*\)", r"\1", text)  # links, images
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    return text


def slug_base(text: str) -> str:
    kept = []
    for ch in heading_text(text).strip().lower():
        if ch in "-_ " or ch.isalnum() or unicodedata.category(ch).startswith("M"):
            kept.append(ch)
    return "".join(kept).replace(" ", "-")


def anchors_of(path: str, cache: dict[str, set[str]]) -> set[str]:
    if path in cache:
        return cache[path]
    anchors: set[str] = set()
    seen: dict[str, int] = {}

    def add(title: str) -> None:
        base = slug_base(title)
        slug = base
        while slug in seen:
            seen[base] += 1
            slug = f"{base}-{seen[base]}"
        seen[slug] = 0
        anchors.add(slug)

    text = read_text(path) or ""
    previous: str | None = None
    for _, line in outside_fences(text):
        for m in HTML_ANCHOR.finditer(line):
            anchors.add(m.group(1))
        atx = ATX_HEADING.match(line)
        if atx:
            add(re.sub(r"(^|[ \t]+)#+$", "", atx.group(2) or ""))
            previous = None
            continue
        if (
            SETEXT_UNDERLINE.match(line)
            and previous is not None
            and previous.strip()
            and not previous.lstrip().startswith(("|", ">", "-", "*", "+"))
        ):
            add(previous.strip())
            previous = None
            continue
        previous = line
    cache[path] = anchors
    return anchors


def link_targets(line: str):
    plain = without_code_spans(line)
    for m in INLINE_LINK.finditer(plain):
        yield m.group(1)
    m = REFERENCE_DEF.match(plain)
    if m:
        yield m.group(1)


def check_links(files: list[str], problems: list[Problem]) -> tuple[int, int]:
    pages = [p for p in files if p.endswith(".md") and os.path.isfile(p)]
    cache: dict[str, set[str]] = {}
    checked = 0
    for page in pages:
        text = read_text(page)
        if text is None:
            continue
        here = os.path.dirname(page)
        for number, line in outside_fences(text):
            for target in link_targets(line):
                target = target.strip("<>")
                if not target or SCHEME.match(target):
                    continue
                checked += 1
                where, _, anchor = target.partition("#")
                where = unquote(where)
                if where:
                    if where.startswith("/"):
                        resolved = os.path.normpath(where.lstrip("/"))
                    else:
                        resolved = os.path.normpath(os.path.join(here, where))
                    if not os.path.exists(resolved):
                        problems.append((page, number, f"link to {target!r}: {resolved} does not exist"))
                        continue
                else:
                    resolved = page
                if anchor and resolved.endswith(".md") and os.path.isfile(resolved):
                    if unquote(anchor) not in anchors_of(resolved, cache):
                        problems.append(
                            (page, number, f"link to {target!r}: no heading of {resolved} has "
                             f"the anchor #{anchor}")
                        )
    return len(pages), checked


def main() -> int:
    if not os.path.isdir(".git") and not os.path.isfile(".git"):
        print("check_docs: run from the repository's root", file=sys.stderr)
        return 2
    files = tracked_files()
    problems: list[Problem] = []
    searched = check_sessions(files, problems)
    pages, links = check_links(files, problems)
    if problems:
        problems.sort(key=lambda p: (p[0], p[1]))
        for path, line, what in problems:
            print(f"{path}:{line}: {what}")
        files_with = len({p[0] for p in problems})
        print(f"check_docs: {len(problems)} problem(s) in {files_with} file(s)")
        return 1
    print(
        f"check_docs: no session references in {searched} tracked text files; "
        f"{links} relative links in {pages} Markdown pages resolve"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
