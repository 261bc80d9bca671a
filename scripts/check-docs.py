#!/usr/bin/env python3
"""Cheap checks of the shipped text (part of scripts/test.sh).

1. Links: every relative link in README.md, CHANGELOG.md, docs/*.md and the
   examples' and test servers' READMEs resolves — the file exists, and a
   `#anchor` names a heading of that Markdown file (GitHub's anchors).
2. No references to the project's internal tracker (the word issue with a
   number, a hash sign with a one- to three-digit number, review findings)
   in README.md, CHANGELOG.md, docs/, src/, tests/, examples/, scripts/,
   fuzz/ and bench/: shipped text says what a thing is.
3. README.md stays a front page: at most 15 KiB.

Usage: scripts/check-docs.py   (exit 1 on any finding, each on one line)
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP_DIRS = {"target", "node_modules", ".git", "work", "corpus", "artifacts"}
README_MAX = 15 * 1024

LINK = re.compile(r"\]\(([^()\s]+(?:\([^()\s]*\))?[^()\s]*)\)")
REFDEF = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)

TRACKER = re.compile(
    r"\bissues? ?#?\d+"            # the word issue(s), a number
    r"|(?<![\w&/])#\d{1,3}\b"      # hash, number; not in PKCS#1, HTML entities, URLs
    r"|\bthe review'?s?\b|\bhostile review\b|\bthe brief\b|\bdesign card\b"
    r"|\bseed story\b|\bnon-negotiables\b|\bthe issue'?s\b|\bthis issue\b",
    re.I,
)
TRACKER_EXT = {".rs", ".md", ".sh", ".py", ".toml"}
TRACKER_ROOTS = ["README.md", "CHANGELOG.md", "Cargo.toml", "docs", "src", "tests",
                 "examples", "scripts", "fuzz", "bench"]


def walk(path):
    if path.is_file():
        yield path
        return
    for p in sorted(path.iterdir()):
        if p.is_dir():
            if p.name not in SKIP_DIRS:
                yield from walk(p)
        else:
            yield p


def slug(heading):
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(md):
    text = FENCE.sub("", md.read_text())
    seen, out = {}, set()
    for m in HEADING.finditer(text):
        s = slug(m.group(2))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def markdown_files():
    files = [ROOT / "README.md", ROOT / "CHANGELOG.md"]
    files += sorted((ROOT / "docs").glob("*.md"))
    for base in ("examples", "tests"):
        files += [p for p in walk(ROOT / base) if p.name == "README.md"]
    return [f for f in files if f.exists()]


def check_links(problems):
    cache, checked = {}, 0
    for md in markdown_files():
        text = CODE_SPAN.sub("", FENCE.sub("", md.read_text()))
        targets = LINK.findall(text) + REFDEF.findall(text)
        for target in targets:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:
                continue
            path, _, frag = target.partition("#")
            dest = (md.parent / path).resolve() if path else md
            where = f"{md.relative_to(ROOT)}: link {target}"
            checked += 1
            if not dest.exists():
                problems.append(f"{where}: no such file")
                continue
            if frag and dest.suffix == ".md":
                if dest not in cache:
                    cache[dest] = anchors(dest)
                if frag not in cache[dest]:
                    problems.append(f"{where}: no heading with anchor #{frag}")
    return checked


def check_tracker(problems):
    for root in TRACKER_ROOTS:
        for f in walk(ROOT / root):
            if f.suffix not in TRACKER_EXT:
                continue
            try:
                lines = f.read_text().splitlines()
            except UnicodeDecodeError:
                continue
            for n, line in enumerate(lines, 1):
                m = TRACKER.search(line)
                if m:
                    problems.append(f"{f.relative_to(ROOT)}:{n}: tracker reference "
                                    f"{m.group(0)!r}: say what it is instead")


def main():
    problems = []
    links = check_links(problems)
    check_tracker(problems)
    size = (ROOT / "README.md").stat().st_size
    if size > README_MAX:
        problems.append(f"README.md: {size} bytes, more than {README_MAX}: move material to docs/")
    for p in problems:
        print(p)
    n = len(markdown_files())
    print(f"check-docs: {n} Markdown files, {links} relative links, README {size} bytes, "
          f"{len(problems)} problem(s)",
          file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
