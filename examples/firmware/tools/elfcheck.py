#!/usr/bin/env python3
"""Static checks of a linked Arm (Thumb) firmware image, from the
disassembly of `llvm-objdump -d --demangle` (or arm-none-eabi-objdump -dC):

  frames DIS [ROOT-REGEX...]  per-function stack frames (from prologues) and
                              the deepest call path from each root
  panics DIS ELF ADDR2LINE     every call to core::panicking::* (and the
                              other panic entry points), with the function
                              symbol that contains it and, through DWARF
                              inline info, the source it came from
  attribute DIS ELF ADDR2LINE [ONLY-REGEX]
                              code bytes per source crate and per source
                              function, through the inlining (DWARF), for
                              the functions whose symbol matches ONLY-REGEX

Used by scripts/firmware-report.sh; standard library only.
"""
import re
import sys
from collections import defaultdict

FUNC = re.compile(r"^([0-9a-f]+) <(.*)>:$")
INSN = re.compile(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$")
TARGET = re.compile(r"^(?:0x)?([0-9a-f]+)\s+<(.*)>")
REGS = re.compile(r"\{([^}]*)\}")


def parse(path):
    """-> {name: dict(addr, insns=[(addr, op, args)])}, {addr: word}"""
    funcs, words, cur = {}, {}, None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = FUNC.match(line)
            if m:
                cur = {"addr": int(m.group(1), 16), "insns": [], "name": m.group(2)}
                # Local labels ($t, $d) are not functions.
                if m.group(2).startswith("$"):
                    continue
                funcs[m.group(2)] = cur
                continue
            m = INSN.match(line)
            if m and cur is not None:
                addr, op, args = int(m.group(1), 16), m.group(2), m.group(3)
                if op == ".word":
                    try:
                        words[addr] = int(args.split()[0], 0)
                    except ValueError:
                        pass
                    continue
                cur["insns"].append((addr, op, args))
    return funcs, words


def nregs(args):
    m = REGS.search(args)
    if not m:
        return 0
    n = 0
    for part in m.group(1).split(","):
        part = part.strip()
        if "-" in part:
            a, b = part.split("-")
            n += int(re.sub(r"\D", "", b)) - int(re.sub(r"\D", "", a)) + 1
        elif part:
            n += 1
    return n


def imm(args):
    m = re.search(r"#(-?(?:0x)?[0-9a-f]+)", args)
    return int(m.group(1), 0) if m else None


def frame_size(fn, words):
    """Bytes the function's prologue reserves (pushes, vpush, sub sp)."""
    size, regs = 0, {}
    for addr, op, args in fn["insns"][:24]:
        base = op.split(".")[0]
        if base == "push" or (base == "stmdb" and args.startswith("sp!")):
            size += 4 * nregs(args)
        elif base == "vpush":
            size += 8 * nregs(args)
        elif base in ("sub", "subw") and re.match(r"sp,\s*(sp,\s*)?#", args):
            size += imm(args) or 0
        elif base in ("movw", "mov", "movs") and "#" in args:
            regs[args.split(",")[0].strip()] = imm(args) or 0
        elif base == "movt" and "#" in args:
            r = args.split(",")[0].strip()
            regs[r] = (regs.get(r, 0) & 0xFFFF) | ((imm(args) or 0) << 16)
        elif base == "ldr" and "[pc" in args:
            m = re.search(r"@\s*0x([0-9a-f]+)", args)
            if m and int(m.group(1), 16) in words:
                regs[args.split(",")[0].strip()] = words[int(m.group(1), 16)]
        elif base in ("sub", "subs") and re.match(r"sp,\s*(sp,\s*)?(r\d+)$", args.strip()):
            r = args.strip().split(",")[-1].strip()
            size += regs.get(r, 0) & 0xFFFFFFFF
        elif base in ("add", "adds") and re.match(r"sp,\s*(sp,\s*)?(r\d+)$", args.strip()):
            r = args.strip().split(",")[-1].strip()
            v = regs.get(r, 0) & 0xFFFFFFFF
            if v >= 0x80000000:
                size += 0x100000000 - v
        elif base in ("bl", "blx", "bx", "pop", "b", "cbz", "cbnz") or base.startswith("b") and base[1:3] in ("eq", "ne", "hs", "lo", "hi", "ls", "ge", "lt", "gt", "le", "mi", "pl", "cs", "cc"):
            break
    return size


def calls(fn, starts):
    """(kind, target name) for direct calls and tail calls."""
    out = []
    for addr, op, args in fn["insns"]:
        base = op.split(".")[0]
        m = TARGET.match(args)
        if base == "bl" and m:
            out.append(("call", m.group(2)))
        elif base == "blx":
            out.append(("indirect", args))
        elif base == "b" and m and int(m.group(1), 16) in starts and int(m.group(1), 16) != fn["addr"]:
            out.append(("tail", m.group(2)))
    return out


def cmd_frames(path, roots):
    funcs, words = parse(path)
    starts = {f["addr"]: n for n, f in funcs.items()}
    frames = {n: frame_size(f, words) for n, f in funcs.items()}
    edges = {n: calls(f, starts) for n, f in funcs.items()}
    memo, onpath = {}, set()

    def depth(n):
        if n in memo:
            return memo[n]
        if n in onpath:
            return (0, [n + " (recursion)"], True)
        onpath.add(n)
        best_call, best_tail, indirect = (0, []), (0, []), False
        for kind, t in edges.get(n, []):
            if kind == "indirect":
                indirect = True
                continue
            if t not in funcs or PANIC_ENTRY.match(t) or "do_panic" in t:
                continue  # a panic never comes back: not the normal path
            d, p, ind = depth(t)
            indirect |= ind
            if kind == "call" and d > best_call[0]:
                best_call = (d, p)
            if kind == "tail" and d > best_tail[0]:
                best_tail = (d, p)
        onpath.discard(n)
        own = frames.get(n, 0)
        if own + best_call[0] >= best_tail[0]:
            r = (own + best_call[0], [n] + best_call[1], indirect)
        else:
            r = (best_tail[0], [n + " (tail call)"] + best_tail[1], indirect)
        memo[n] = r
        return r

    print("largest frames:")
    for n, s in sorted(frames.items(), key=lambda kv: -kv[1])[:15]:
        print(f"  {s:6d}  {n}")
    for root in roots:
        rx = re.compile(root)
        for n in sorted(x for x in funcs if rx.search(x)):
            d, p, ind = depth(n)
            print(f"deepest path from {n}: {d} bytes{' (+ indirect calls not followed)' if ind else ''}")
            for name in p:
                clean = name.replace(" (tail call)", "").replace(" (recursion)", "")
                print(f"  {frames.get(clean, 0):6d}  {name}")


# Functions that only exist to panic: core::panicking::* and the cold
# `*_fail` helpers of slicing, unwrap, expect, copy_from_slice, RefCell.
PANIC_ENTRY = re.compile(
    r"^(core::panicking::|core::slice::index::\w*fail|core::str::slice_error_fail|"
    r"core::str::\w+::slice_error_fail|core::option::unwrap_failed|core::option::expect_failed|"
    r"core::result::unwrap_failed|core::cell::panic_already|"
    r"core::slice::copy_from_slice_impl::len_mismatch_fail|core::slice::index::slice_\w+_fail|"
    r"core::\S*::do_panic)")
BRANCH = re.compile(r"^(b|bl|b\.w|b\.n|cbz|cbnz|b[a-z]{2}(\.[nw])?)$")
# What ends the instructions before a cold block (argument set-up only).
ENDS_BLOCK = re.compile(r"^(b|bl|blx|bx|cbz|cbnz|udf|b[a-z]{2})(\.[nw])?$")


def inline_chains(elf, addr2line, addrs):
    import subprocess
    if not addrs:
        return {}
    proc = subprocess.run([addr2line, "-a", "-f", "-i", "-C", "-e", elf],
                          input="\n".join(f"0x{a:x}" for a in addrs),
                          capture_output=True, text=True, check=True)
    out, cur, lines, i = {}, None, proc.stdout.splitlines(), 0
    while i < len(lines):
        if lines[i].startswith("0x"):
            cur = int(lines[i], 16)
            out[cur] = []
            i += 1
            continue
        loc = lines[i + 1] if i + 1 < len(lines) else "??:0"
        out[cur].append((re.sub(r"::h[0-9a-f]{16}$", "", lines[i]), loc))
        i += 2
    return out


def name_crate(fn):
    """The crate a function's path names (`<a::B as c::D>::f` -> a)."""
    m = re.match(r"^[<&\s]*(?:mut\s+)?([A-Za-z_][A-Za-z0-9_]*)::", fn)
    return m.group(1) if m else "?"


def origin(chain):
    """The innermost frame that is not core/compiler_builtins code (by its
    function's path; by its source file when the path says nothing)."""
    for fn, loc in chain:
        c = name_crate(fn)
        if c in ("core", "compiler_builtins", "?", "OUTLINED_FUNCTION"):
            c = crate_of(loc.rsplit(":", 1)[0])
        elif "/" not in loc or crate_of(loc.rsplit(":", 1)[0]) not in (c, "firmware", "embedded_oauth2"):
            # Inlined core code keeps its own file: the line is not this function's.
            loc = loc.split("/")[-1].split(":")[0] + ":?"
        if c not in ("core", "compiler_builtins", "?"):
            return c, fn, loc
    return "core", chain[0][0] if chain else "?", chain[0][1] if chain else "?"


def cmd_panics(path, elf, addr2line):
    """TSV: site, panic function, containing symbol, origin crate, origin
    function, origin location, the source chain (innermost first)."""
    funcs, _ = parse(path)
    starts = {f["addr"]: n for n, f in funcs.items()}
    sites = []  # (addr, target, symbol, [addresses to symbolize])
    for n, f in sorted(funcs.items(), key=lambda kv: kv[1]["addr"]):
        if PANIC_ENTRY.match(n):
            continue
        ins = f["insns"]
        for idx, (addr, op, args) in enumerate(ins):
            m = TARGET.match(args)
            if not m or op.split(".")[0] not in ("bl", "b"):
                continue
            taddr = int(m.group(1), 16)
            if taddr not in starts:
                continue
            t = starts[taddr]
            if not PANIC_ENTRY.match(t):
                continue
            # The cold block holding this call: back to the previous
            # unconditional branch; the branches into it carry the precise
            # inline chain (the call itself is often shared by several).
            j = idx
            while j > 0 and not ENDS_BLOCK.match(ins[j - 1][1]) and not ins[j - 1][1].startswith("pop"):
                j -= 1
            lo = ins[j][0]
            probes = [addr]
            for a2, op2, args2 in ins:
                m2 = TARGET.match(args2)
                if m2 and BRANCH.match(op2) and lo <= int(m2.group(1), 16) <= addr and not (lo <= a2 <= addr):
                    probes.append(a2)
            sites.append((addr, t, n, probes))
    # Core functions that contain a panic site (Duration::new, copy_within,
    # char::encode_utf8, …): a call to one of them from other code is an
    # indirect site.
    direct = {n for a, t, n, p in sites}
    maypanic = {n for n in direct if re.match(r"^<?core::", n)}
    changed = True
    while changed:
        changed = False
        for n, f in funcs.items():
            if n in maypanic or not re.match(r"^<?core::", n):
                continue
            for _, op, args in f["insns"]:
                m = TARGET.match(args)
                if m and op.split(".")[0] in ("bl", "b") and starts.get(int(m.group(1), 16)) in maypanic:
                    maypanic.add(n)
                    changed = True
                    break
    for n, f in sorted(funcs.items(), key=lambda kv: kv[1]["addr"]):
        if re.match(r"^<?core::", n) or PANIC_ENTRY.match(n):
            continue
        for addr, op, args in f["insns"]:
            m = TARGET.match(args)
            if m and op.split(".")[0] in ("bl", "b"):
                t = starts.get(int(m.group(1), 16))
                if t in maypanic:
                    sites.append((addr, "via " + re.sub(r"::h[0-9a-f]{16}$", "", t), n, [addr]))
    chains = inline_chains(elf, addr2line, sorted({a for s in sites for a in s[3]}))
    for addr, t, sym, probes in sorted(sites):
        # A cold block's call is often shared: its own line info is vague,
        # the branches into it are precise.
        use = probes[1:] or probes
        seen = set()
        for a in use:
            ch = chains.get(a, [])
            c, fn, loc = origin(ch)
            if c in seen:
                continue
            seen.add(c)
            via = " <- ".join(f"{f} ({l.split('/')[-1]})" for f, l in ch[:8])
            print(f"{addr:08x}\t{t}\t{re.sub(r'::h[0-9a-f]{16}$', '', sym)}\t{c}\t{fn}\t{loc}\t{via}")


def crate_of(path):
    """The crate a source file belongs to."""
    if "/library/core/" in path or "/library/core\\" in path:
        return "core"
    m = re.search(r"/registry/src/[^/]+/([A-Za-z0-9_\-]+?)-\d+\.\d+\.\d+[^/]*/", path)
    if m:
        return m.group(1).replace("-", "_")
    m = re.search(r"/compiler[-_]builtins", path)
    if m or "compiler-builtins" in path or "compiler_builtins" in path:
        return "compiler_builtins"
    if "/examples/firmware/" in path:
        return "firmware"
    if "/examples/qemu-device/" in path:
        return "device"
    if "/examples/board-common/" in path:
        return "board_common"
    if "/examples/qemu-embassy/" in path:
        return "qemu_embassy"
    if re.search(r"/src/[a-z_/]+\.rs$", path):
        return "embedded_oauth2"
    return "?"


def short(name):
    """A function name without hashes, generic arguments or closures."""
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    out, depth = [], 0
    for ch in name:
        if ch == "<":
            depth += 1
            if depth == 1 and out and out[-1] != ":" and not out[-1] == " ":
                continue
        if depth == 0 or (depth == 1 and ch in "<"):
            pass
        out.append(ch)
        if ch == ">":
            depth -= 1
    return name


def cmd_attribute(dis, elf, addr2line, only):
    import subprocess
    funcs, _ = parse(dis)
    rx = re.compile(only) if only else None
    sizes = []  # (addr, size, symbol)
    for n, f in funcs.items():
        if rx and not rx.search(n):
            continue
        ins = f["insns"]
        for i, (addr, op, args) in enumerate(ins):
            nxt = ins[i + 1][0] if i + 1 < len(ins) else addr + (4 if op.endswith(".w") or op in ("bl",) else 2)
            size = nxt - addr
            if 0 < size <= 4:
                sizes.append((addr, size, n))
    if not sizes:
        print("no code")
        return
    proc = subprocess.run([addr2line, "-a", "-f", "-i", "-C", "-e", elf],
                          input="\n".join(f"0x{a:x}" for a, _, _ in sizes),
                          capture_output=True, text=True, check=True)
    frames_of, cur = {}, None
    lines = proc.stdout.splitlines()
    i = 0
    while i < len(lines):
        l = lines[i]
        if l.startswith("0x"):
            cur = int(l, 16)
            frames_of[cur] = []
            i += 1
            continue
        fn = l
        loc = lines[i + 1] if i + 1 < len(lines) else "??:0"
        frames_of[cur].append((fn, loc.rsplit(":", 1)[0]))
        i += 2
    by_crate, by_fn, by_oauth = defaultdict(int), defaultdict(int), defaultdict(int)
    by_user = defaultdict(int)
    for addr, size, sym in sizes:
        fr = frames_of.get(addr) or [(sym, "?")]
        fn, loc = fr[0]
        c = crate_of(loc)
        by_crate[c] += size
        # core's (and the compiler's) code inlined into a crate counts for
        # that crate: the innermost frame from any other crate.
        user = next((crate_of(l) for _, l in fr if crate_of(l) not in ("core", "compiler_builtins", "?")), c)
        by_user[user] += size
        by_fn[(c, re.sub(r"::h[0-9a-f]{16}$", "", fn))] += size
        # The innermost embedded_oauth2 function on the inline stack: which
        # part of the crate pulled this code in.
        owner = next((f for f, l in fr if crate_of(l) == "embedded_oauth2"), None)
        if owner:
            by_oauth[re.sub(r"::h[0-9a-f]{16}$", "", owner)] += size
    total = sum(s for _, s, _ in sizes)
    print(f"code bytes attributed: {total}")
    print("by crate of the source (innermost inlined function):")
    for c, s in sorted(by_crate.items(), key=lambda kv: -kv[1]):
        print(f"  {s:7d}  {c}")
    print("by crate, with core's inlined code charged to the crate that inlined it:")
    for c, s in sorted(by_user.items(), key=lambda kv: -kv[1]):
        print(f"  {s:7d}  {c}")
    print("largest source functions (innermost inlined function):")
    for (c, f), s in sorted(by_fn.items(), key=lambda kv: -kv[1])[:40]:
        print(f"  {s:7d}  [{c}] {f[:150]}")
    print("by embedded_oauth2 function that pulled the code in (innermost crate frame):")
    for f, s in sorted(by_oauth.items(), key=lambda kv: -kv[1])[:40]:
        print(f"  {s:7d}  {f[:150]}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "frames":
        cmd_frames(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "attribute":
        cmd_attribute(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) == 6 else None)
    elif len(sys.argv) == 5 and sys.argv[1] == "panics":
        cmd_panics(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
