#!/usr/bin/env python3
"""Boots the firmware under QEMU with UART0 on a unix socket, listens on
that socket, and checks that the first HDLC frame the firmware sends is an
LCP Configure-Request (protocol 0xC021, code 1): PPP starts. Answers
nothing, so the firmware keeps repeating it.

Usage: tools/lcp_probe.py [path/to/elf]   (exit 0: an LCP Configure-Request
arrived; the firmware's semihosting log is printed)
"""
import os
import socket
import subprocess
import sys
import tempfile
import time

ELF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..",
    "target/thumbv7m-none-eabi/release/qemu-embassy")

FCS_TABLE = []
for b in range(256):
    v = b
    for _ in range(8):
        v = (v >> 1) ^ 0x8408 if v & 1 else v >> 1
    FCS_TABLE.append(v)


def fcs16(data):
    fcs = 0xFFFF
    for b in data:
        fcs = (fcs >> 8) ^ FCS_TABLE[(fcs ^ b) & 0xFF]
    return fcs


def frames(raw):
    """HDLC frames (0x7E-delimited, 0x7D escapes removed)."""
    for chunk in raw.split(b"\x7e"):
        if not chunk:
            continue
        out, esc = bytearray(), False
        for b in chunk:
            if esc:
                out.append(b ^ 0x20)
                esc = False
            elif b == 0x7D:
                esc = True
            else:
                out.append(b)
        yield bytes(out)


def main():
    tmp = tempfile.mkdtemp()
    path = os.path.join(tmp, "uart0.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    qemu = subprocess.Popen(
        ["qemu-system-arm", "-machine", "mps2-an385", "-cpu", "cortex-m3",
         "-display", "none", "-monitor", "none",
         "-serial", f"unix:{path},server=off",
         "-semihosting-config", "enable=on,target=native", "-kernel", ELF],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ok = False
    try:
        listener.settimeout(10)
        conn, _ = listener.accept()
        conn.settimeout(1)
        raw = b""
        deadline = time.time() + 10
        while time.time() < deadline and raw.count(b"\x7e") < 4:
            try:
                got = conn.recv(4096)
            except socket.timeout:
                continue
            if not got:
                break
            raw += got
        print(f"serial: {len(raw)} bytes: {raw[:64].hex()}")
        for f in frames(raw):
            good = len(f) >= 4 and fcs16(f) == 0xF0B8
            body = f[:-2]
            # Address/control 0xFF 0x03 may be compressed away.
            if body[:2] == b"\xff\x03":
                body = body[2:]
            proto = int.from_bytes(body[:2], "big") if len(body) >= 2 else None
            code = body[2] if len(body) > 2 else None
            print(f"frame: {f.hex()} fcs={'ok' if good else 'BAD'} "
                  f"protocol={proto:#06x} code={code}")
            ok = good and proto == 0xC021 and code == 1
            break
        conn.close()
    finally:
        qemu.kill()
        out, _ = qemu.communicate()
        listener.close()
        os.unlink(path)
        os.rmdir(tmp)
    print("--- firmware log ---")
    print(out.decode(errors="replace"))
    print("LCP Configure-Request: " + ("yes" if ok else "NO"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
