#!/usr/bin/env python3
"""The complete device, measured: regenerates the tables in docs/measurements.md.

Builds examples/qemu-device (client + TLS connector + crypto, Cortex-M3,
opt-level "z", LTO) for 16 KiB, 4 KiB and 1 KiB TLS records and reports,
per image:

  * flash by crate: this crate / embedded-tls with the X.509 checks (webpki) /
    crypto (P-256, AES-GCM, SHA-2, HKDF/HMAC, the ChaCha RNG) / the rest
    (core, compiler builtins, the firmware itself), from the DWARF inline
    info (code core inlines into a crate counts for that crate);
  * static RAM (.data + .bss + .uninit) and the painted peak stack of a real run;
  * guest instructions of one token fetch under `qemu-system-arm -icount
    shift=0` (1 instruction = 1 ns of virtual time; SysTick reads it):
    the handshake (TCP open through the bridge + TLS 1.3 handshake), the
    TLS record layer, and this crate's own work (request, response,
    parsing, cache: the same fetch over plain HTTP, after its TCP open);
  * the bytes on the wire and the deepest stack path of the handshake;
  * what RSA and P-384 add (features `rsa`, `p384` of the device): flash,
    and the peak stack and handshake of a fetch over a chain that needs them;
  * waking with the token kept in RAM (16 KiB image, --cache-in-ram
    --reset-after-fetch): the first boot fetches and calls the receipt
    service, resets, and the second boot restores the token from .uninit
    RAM and calls: bytes on the wire and instructions of "restore + use"
    against "fetch + use" (docs/persistence.md, docs/measurements.md).

Usage: scripts/device-report.py [--update-docs] [--runs N]
(--update-docs writes the tables between the device-report markers of
docs/measurements.md; --update-readme is its old name.)
Needs what scripts/device-test.py needs (scripts/test.sh installs it) and
arm-none-eabi-objdump/addr2line (binutils-arm-none-eabi). Starts and stops
its own authorization server on loopback. Deterministic figures (flash,
RAM, stack) do not vary between runs; instruction counts vary by ~1 % (the
server's ECDSA signatures differ), so the median of --runs (default 3) is
shown.
"""
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True

ROOT = Path(__file__).resolve().parent.parent
DEVICE = ROOT / "examples" / "qemu-device"
ELF = DEVICE / "target" / "thumbv7m-none-eabi" / "release" / "device"
ELFCHECK = ROOT / "examples" / "firmware" / "tools" / "elfcheck.py"
QFT = ROOT / "scripts" / "qemu-fetch-token"
REPORT = ROOT / "docs" / "measurements.md"
BEGIN = "<!-- device-report:begin -->"
END = "<!-- device-report:end -->"
PERSIST_BEGIN = "<!-- device-report-persist:begin -->"
PERSIST_END = "<!-- device-report-persist:end -->"
RECORDS = ["16384", "4096", "1024"]
# How long the bridge holds the server's first answer in the runs that
# measure the cost of waiting.
DELAY_MS = 1000

GROUPS = {
    "embedded-oauth2": {"embedded_oauth2", "httparse", "serde_json_core", "base64ct",
                        "percent_encoding"},
    "embedded-tls + X.509": {"embedded_tls", "rustls_webpki", "rustls_pki_types", "untrusted", "der",
                             "const_oid", "heapless"},
    "crypto": {"p256", "primeorder", "elliptic_curve", "crypto_bigint", "ecdsa", "rfc6979", "sec1",
               "ff", "group", "sha2", "digest", "block_buffer", "hmac", "hkdf", "aes", "aes_gcm",
               "ghash", "polyval", "ctr", "cipher", "inout", "universal_hash", "aead", "subtle",
               "generic_array", "zeroize", "signature", "rand_chacha", "ppv_lite86", "rand_core",
               "typenum", "cpufeatures", "opaque_debug"},
}


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, file)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw).stdout


def build(records, features=None):
    extra = ["--features", features] if features else []
    subprocess.run(["cargo", "build", "--release", "--quiet", *extra], cwd=DEVICE, check=True,
                   env={**os.environ, "QEMU_DEVICE_RECORDS": records})


def flash_by_crate(elf, work, groups=None):
    """Flash bytes of `elf` per group of crates ({group: {crate, ...}}, GROUPS
    by default; every other crate counts for "the rest"), from
    `elfcheck.py attribute` over `objdump -dC` and addr2line (code inlined
    into a crate counts for that crate). Returns ({group: bytes}, the
    disassembly's path). Also used by scripts/embassy-device-test.py."""
    groups = GROUPS if groups is None else groups
    dis = work / f"{Path(elf).name}.dis"
    dis.write_text(sh(["arm-none-eabi-objdump", "-dC", "--no-show-raw-insn", str(elf)]))
    out = sh(["python3", str(ELFCHECK), "attribute", str(dis), str(elf), "arm-none-eabi-addr2line"])
    section = out.split("charged to the crate that inlined it:", 1)[1].split("largest source", 1)[0]
    sizes = {g: 0 for g in groups}
    sizes["the rest"] = 0
    for line in section.strip().splitlines():
        size, crate = line.split()
        for g, crates in groups.items():
            if crate in crates:
                sizes[g] += int(size)
                break
        else:
            sizes["the rest"] += int(size)
    return sizes, dis


def flash_by_group(work):
    groups, dis = flash_by_crate(ELF, work)
    frames = sh(["python3", str(ELFCHECK), "frames", str(dis), "__cortex_m_rt_main$"])
    path = frames.split("deepest path", 1)[1].splitlines()[1:8]
    return groups, [p.strip() for p in path]


def sections():
    out = sh(["arm-none-eabi-size", "-A", str(ELF)])
    sizes = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].startswith("."):
            sizes[parts[0]] = int(parts[1])
    return sizes


def run_device(args, report, delay_ms=0):
    subprocess.run([str(QFT), "--no-build", "--icount", "--timeout", "120", "--report-file", str(report),
                    "--bridge-delay-ms", str(delay_ms), *args], check=True, capture_output=True, text=True)
    values = {}
    for line in report.read_text().splitlines():
        k, _, v = line.partition("=")
        values[k] = v
    return values


def replace_block(text, begin, end, body):
    if begin not in text or end not in text:
        sys.exit(f"device-report: {REPORT.relative_to(ROOT)} has no {begin} ... {end} section")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def wake_table(runs, per_poll):
    """Fetch + use (the first boot) against restore + use (the second)."""
    def insns(x, phases):
        return sum(int(x[f"insn_{p}_total"]) - per_poll * int(x[f"polls_{p}_total"]) for p in phases)

    def med(f):
        return int(statistics.median(f(x) for x in runs))

    fetch_use = {
        "up": med(lambda x: int(x["boot1_fw_bytes_to_server"])),
        "down": med(lambda x: int(x["boot1_fw_bytes_from_server"])),
        "conns": med(lambda x: int(x["boot1_fw_connections"])),
        "token": med(lambda x: insns({k[6:]: v for k, v in x.items() if k.startswith("boot1_")}, ["fetch"])),
        "use": med(lambda x: insns({k[6:]: v for k, v in x.items() if k.startswith("boot1_")}, ["call"])),
    }
    restore_use = {
        "up": med(lambda x: int(x["fw_bytes_to_server"])),
        "down": med(lambda x: int(x["fw_bytes_from_server"])),
        "conns": med(lambda x: int(x["fw_connections"])),
        "token": med(lambda x: insns(x, ["restore"])),
        "use": med(lambda x: insns(x, ["call"])),
    }
    mi = lambda n: f"{n / 1e6:.2f} M"  # noqa: E731
    lines = [
        "| after a reset (16 KiB image) | connections | bytes up | bytes down | the token: instructions "
        "| the receipt call | total |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in (("fetch + use (first boot)", fetch_use),
                      ("restore + use (token from .uninit RAM)", restore_use)):
        lines.append(
            f"| {name} | {row['conns']} | {row['up']:,} | {row['down']:,} | {row['token']:,} "
            f"| {mi(row['use'])} | {mi(row['token'] + row['use'])} |"
        )
    total = lambda r: r["token"] + r["use"]  # noqa: E731
    lines += [
        "",
        f"Restoring takes {restore_use['token']:,} instructions against {mi(fetch_use['token'])} for the "
        f"fetch (TLS 1.3 handshake included): the wake-up costs "
        f"{total(restore_use) / total(fetch_use):.0%} of the instructions and "
        f"{(restore_use['up'] + restore_use['down']) / (fetch_use['up'] + fetch_use['down']):.0%} of the "
        f"bytes (TCP payload as the firmware counts it) of fetch + use; what is left is the receipt "
        f"call's own handshake. Median of {len(runs)} run(s) of `scripts/qemu-fetch-token --icount "
        f"--cache-in-ram --reset-after-fetch --call …`, waiting for the UART subtracted as above.",
    ]
    return "\n".join(lines)


def main(argv):
    update = "--update-docs" in argv or "--update-readme" in argv
    runs = 3
    for a in argv:
        if a.startswith("--runs="):
            runs = int(a.split("=", 1)[1])
    dt = load("device_test", ROOT / "scripts" / "device-test.py")
    # The P-256 chain too, the baseline of the algorithm table.
    dt.CHAIN_SHAPES.append("good")
    work = Path(tempfile.mkdtemp(prefix="device-report-"))
    server = dt.Server(work)
    rows = []
    algs = []
    wake = None
    try:
        r = server.ready
        basic = server.client("basic")
        common = ["--client-id", basic["client_id"], "--client-secret", basic["client_secret"],
                  "--scope", r["receipts_scope"], "--resource", r["receipts_resource"]]
        https = ["--token-url", r["https"] + r["token_path"], "--ca-cert", str(server.certs / "ca.pem"),
                 *common, "--call", r["receipts_https"] + r["receipts_path_prefix"] + "2026-0042"]
        plain = ["--token-url", r["http"] + r["token_path"], "--allow-http", *common]
        for rec in RECORDS:
            build(rec)
            groups, path = flash_by_group(work)
            sec = sections()
            tls_runs = [run_device(https, work / "r.txt") for _ in range(runs)]
            plain_runs = [run_device(plain, work / "p.txt") for _ in range(runs)]
            # What one idle poll of the UART costs: the same plain fetch with
            # the server's answer held DELAY_MS longer differs only in waiting.
            held = [run_device(plain, work / "h.txt", DELAY_MS) for _ in range(runs)]
            per_poll = statistics.median(
                (int(h["insn_fetch_after_connect"]) - int(p["insn_fetch_after_connect"]))
                / (int(h["polls_fetch_after_connect"]) - int(p["polls_fetch_after_connect"]))
                for h, p in zip(held, plain_runs)
            )

            def work_of(rs, phase, part):
                """Instructions less waiting, the median over the runs."""
                return int(statistics.median(
                    int(x[f"insn_{phase}_{part}"]) - per_poll * int(x[f"polls_{phase}_{part}"])
                    for x in rs
                ))

            if rec == "16384":
                reset_runs = [run_device([*https, "--cache-in-ram", "--reset-after-fetch"], work / "w.txt")
                              for _ in range(runs)]
                wake = wake_table(reset_runs, per_poll)
            handshake = work_of(tls_runs, "fetch", "connect")
            after = work_of(tls_runs, "fetch", "after_connect")
            ours = work_of(plain_runs, "fetch", "after_connect")
            rows.append({
                "records": rec,
                "flash": sec.get(".vector_table", 0) + sec.get(".text", 0) + sec.get(".rodata", 0)
                + sec.get(".data", 0),
                "text": sec.get(".text", 0), "rodata": sec.get(".rodata", 0),
                "groups": groups,
                # .uninit: the work buffer, kept across a reset.
                "static": sec.get(".data", 0) + sec.get(".bss", 0) + sec.get(".uninit", 0),
                "stack": int(tls_runs[0]["stack_peak_bytes"]),
                "total": handshake + after, "handshake": handshake,
                "records_insn": max(after - ours, 0), "ours": ours, "per_poll": per_poll,
                "call_total": work_of(tls_runs, "call", "total"),
                "bytes_up": tls_runs[0].get("bridge_bytes_to_server"),
                "bytes_down": tls_runs[0].get("bridge_bytes_from_server"),
                "path": path,
            })
        # What each signature algorithm adds (16 KiB image): flash, and
        # the peak stack and handshake of a token fetch over a chain that
        # needs it (a three-certificate chain from gen-chains.sh).
        for features, shape, what in ((None, "good", "P-256 only (the default)"),
                                      ("rsa", "rsa", "+ RSA (`tls-rsa`)"),
                                      ("p384", "p384", "+ P-384 (`tls-p384`)"),
                                      ("rsa,p384", "rsa", "+ RSA and P-384")):
            build("16384", features)
            sec = sections()
            root = (server.chains / f"{shape}.root").read_text().strip().removesuffix(".der")
            chain_args = ["--token-url", r["chains"][shape]["https"] + r["token_path"],
                          "--ca-cert", str(server.chains / f"{root}.pem"),
                          "--client-id", basic["client_id"], "--client-secret", basic["client_secret"]]
            chain_runs = [run_device(chain_args, work / "c.txt") for _ in range(runs)]
            algs.append({
                "what": what, "shape": shape,
                "flash": sec.get(".vector_table", 0) + sec.get(".text", 0) + sec.get(".rodata", 0)
                + sec.get(".data", 0),
                "stack": int(chain_runs[0]["stack_peak_bytes"]),
                # UART waits subtracted, as in the table above.
                "handshake": int(statistics.median(
                    int(x["insn_fetch_connect"]) - per_poll * int(x["polls_fetch_connect"])
                    for x in chain_runs)),
            })
    finally:
        server.stop()

    kib = lambda n: f"{n / 1024:.1f} KiB"  # noqa: E731
    mi = lambda n: f"{n / 1e6:.2f} M"  # noqa: E731
    lines = [
        "| TLS records | flash | this crate | embedded-tls + X.509 | crypto | the rest | .rodata | static RAM | peak stack | RAM in all | token fetch: handshake | TLS records | client + HTTP (+ bridge framing) | total |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        g = row["groups"]
        rec = {"16384": "16 KiB (any server)", "4096": "4 KiB (max_fragment_length)",
               "1024": "1 KiB (max_fragment_length)"}[row["records"]]
        lines.append(
            f"| {rec} | {kib(row['flash'])} | {kib(g['embedded-oauth2'])} | {kib(g['embedded-tls + X.509'])} "
            f"| {kib(g['crypto'])} | {kib(g['the rest'])} | {kib(row['rodata'])} | {row['static']:,} B "
            f"| {row['stack']:,} B | {row['static'] + row['stack']:,} B of 65,536 "
            f"| {mi(row['handshake'])} | {row['records_insn']:,} | {row['ours']:,} | {mi(row['total'])} |"
        )
    first = rows[0]
    lines += [
        "",
        f"Bytes on the wire for the token fetch and the receipt call (two TLS connections): "
        f"{first['bytes_up']} up, {first['bytes_down']} down (16 KiB image). The call to the "
        f"receipt service (its own handshake) takes {mi(first['call_total'])} instructions. "
        f"Waiting for the UART is subtracted: one idle poll costs {first['per_poll']:.3f} "
        f"instructions (measured as the difference of two plain-HTTP fetches whose answer the "
        f"bridge holds {DELAY_MS} ms apart).",
        "",
        "Deepest stack path (16 KiB image, `elfcheck.py frames`, bytes per frame):",
        "",
        "```text",
        *first["path"],
        "```",
    ]
    base = algs[0]
    lines += [
        "",
        "Signature algorithms (16 KiB image; a token fetch over a root → intermediate → leaf "
        "chain that needs the algorithm, `tests/support/gen-chains.sh`: P-256 `good`, RSA-2048 "
        "`rsa` with an RSA-PSS CertificateVerify, Let's Encrypt-shaped `p384`):",
        "",
        "| image | chain | flash | added | peak stack | handshake (instructions) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for a in algs:
        added = "" if a is base else f"+{a['flash'] - base['flash']:,} B"
        lines.append(f"| {a['what']} | `{a['shape']}` | {kib(a['flash'])} | {added} | {a['stack']:,} B "
                     f"| {mi(a['handshake'])} |")
    table = "\n".join(lines)
    print(table)
    print()
    print(wake)
    if update:
        text = replace_block(REPORT.read_text(), BEGIN, END, table)
        text = replace_block(text, PERSIST_BEGIN, PERSIST_END, wake)
        REPORT.write_text(text)
        print(f"{REPORT.relative_to(ROOT)} updated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
