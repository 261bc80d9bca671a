#!/usr/bin/env python3
"""Fails on a cycle among the crate's top-level modules (src/X.rs, src/X/).

Every path through `crate::` in code counts, not only `use` lines:
`crate::a::B`, `crate::{a::B, c}`, and names re-exported at the crate root
(`crate::Error` is src/error.rs's, by the `pub use` lines of src/lib.rs and
its inline modules). A top-level module's `super::` is the crate root and
counts the same. Comments (doc comments included), string literals,
`#[cfg(doc)]` imports and test modules do not count.

Usage: scripts/check-modules.py [--graph] [--why A B]
Prints the cycles (one path each) and exits 1 if there is any; --graph
also prints every module's dependencies, --why A B the files and paths
that make A depend on B.
"""
import os
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def strip(code):
    """Code without comments, string/char literals and cfg(test) modules."""
    out, i, n = [], 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            j = code.find("\n", i)
            i = n if j < 0 else j
        elif code.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if code.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif code.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', code[i:i + 8]) and not re.match(r"\w", code[i - 1:i] or " "):
            hashes = re.match(r'r(#*)"', code[i:]).group(1)
            end = code.find('"' + hashes, i + 2 + len(hashes))
            i = n if end < 0 else end + 1 + len(hashes)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and code[i] != '"':
                i += 2 if code[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", code[i:i + 4] + "   "):
            m = re.match(r"'(\\[^']*|[^\\'])'", code[i:])
            i += len(m.group(0)) if m else 1
        else:
            out.append(c)
            i += 1
    text = "".join(out)
    # Items that exist for rustdoc only: `#[cfg(doc)] use …;`.
    text = re.sub(r"#\[cfg\(doc\)\]\s*use[^;]*;", "", text)
    # Test modules (`#[cfg(test)]`, `#[cfg(all(test, …))]`): drop through
    # the matching brace.
    while True:
        m = re.search(r"#\[cfg\((test|all\(test\b[^\]]*)\)\]\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{", text)
        if not m:
            return text
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        text = text[:m.start()] + text[j:]


def group_heads(body):
    """The first segments of a `{a::b, c, d::{e, f}}` group's items."""
    items, depth, cur = [], 0, []
    for ch in body:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            items.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    items.append("".join(cur))
    heads = []
    for item in items:
        m = re.match(r"\s*(self|[A-Za-z_]\w*)", item)
        if m and m.group(1) != "self":
            heads.append(m.group(1))
    return heads


def brace_body(text, start):
    """The text inside the braces opening at `start`."""
    depth, j = 0, start
    while j < len(text):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
        if depth == 0:
            break
    return text[start + 1:j - 1]


def paths(text, prefix):
    """First segments after `prefix::` (e.g. `crate`), groups expanded."""
    heads = []
    for m in re.finditer(r"\b" + prefix + r"\s*::\s*(\{|[A-Za-z_]\w*)", text):
        if m.group(1) == "{":
            heads += group_heads(brace_body(text, m.start(1)))
        else:
            heads.append(m.group(1))
    return heads


def root_reexports(lib):
    """Names the crate root (and its inline `pub mod x { pub use … }`
    modules) re-export, mapped to the top-level module defining them."""
    names = {}
    for m in re.finditer(r"pub\s+use\s+crate::([a-z_0-9]+)(::\s*(\{[^;]*\}|[A-Za-z_]\w*(\s+as\s+\w+)?))?\s*;", lib):
        module, rest = m.group(1), m.group(3) or ""
        if rest.startswith("{"):
            for item in re.split(r",", rest.strip("{} \n")):
                item = item.strip()
                if not item:
                    continue
                alias = re.search(r"as\s+(\w+)$", item)
                last = alias.group(1) if alias else re.split(r"::", item)[-1].strip("{} ")
                names[last] = module
        elif rest:
            alias = re.search(r"as\s+(\w+)$", rest)
            names[alias.group(1) if alias else rest.split("::")[-1]] = module
    # Inline modules of lib.rs: `pub mod http { pub use crate::a::B; ... }`.
    inline = {}
    for m in re.finditer(r"pub\s+mod\s+(\w+)\s*\{", lib):
        body = brace_body(lib, m.end() - 1)
        inline[m.group(1)] = sorted({h for h in paths(body, "crate")})
    return names, inline


def main(argv):
    lib = strip((SRC / "lib.rs").read_text(encoding="utf-8"))
    names, inline = root_reexports(lib)
    mods = sorted({p.relative_to(SRC).parts[0].removesuffix(".rs")
                   for p in SRC.rglob("*.rs")} - {"lib"})
    deps = {m: set() for m in mods}
    why = {}

    def resolve(head):
        if head in deps:
            return [head]
        if head in inline:
            return [t for h in inline[head] for t in resolve(h)]
        if head in names:
            return [names[head]]
        return []

    for path in SRC.rglob("*.rs"):
        rel = path.relative_to(SRC)
        top = rel.parts[0].removesuffix(".rs")
        if top == "lib":
            continue
        text = strip(path.read_text(encoding="utf-8"))
        heads = paths(text, "crate")
        # super:: of a top-level module's own file is the crate root.
        if len(rel.parts) == 1 or (len(rel.parts) == 2 and rel.parts[1] == "mod.rs"):
            heads += paths(text, "super")
        for head in heads:
            for target in resolve(head):
                if target != top:
                    deps[top].add(target)
                    why.setdefault((top, target), set()).add(f"{rel}: {head}")

    if "--why" in argv:
        a, b = argv[argv.index("--why") + 1:argv.index("--why") + 3]
        for line in sorted(why.get((a, b), ())):
            print(line)
        return 0
    if "--graph" in argv:
        for m in mods:
            print(f"{m} -> {', '.join(sorted(deps[m])) or '(nothing)'}")

    # Strongly connected components (Tarjan), then one cycle per component.
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(deps[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for m in mods:
        if m not in index:
            visit(m)
    if not comps:
        print(f"check-modules: {len(mods)} top-level modules, "
              f"{sum(len(d) for d in deps.values())} dependencies, no cycle")
        return 0
    for comp in comps:
        # A shortest cycle through the component's first module.
        start, prev, queue = comp[0], {comp[0]: None}, [comp[0]]
        cycle = None
        while queue and cycle is None:
            v = queue.pop(0)
            for w in sorted(deps[v]):
                if w == start:
                    cycle, node = [start], v
                    while node is not None and node != start:
                        cycle.insert(1, node)
                        node = prev[node]
                    break
                if w in comp and w not in prev:
                    prev[w] = v
                    queue.append(w)
        print(f"cycle among {{{', '.join(comp)}}}: " + " -> ".join((cycle or comp) + [start]))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
