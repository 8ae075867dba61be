#!/usr/bin/env python3
"""The floating-IP bench's observer (scripts/bench-vip.sh): an ICMP echo to ADDRESS every
INTERVAL_MS (default 2), sent on a fixed schedule whether answers come back or not, and one line
per answer in the form of `ping -D` ("[UNIX_TIME] 64 bytes from ADDRESS: icmp_seq=N"), until
SIGTERM.

Why not iputils ping: with `-i 0.002` it waits for an answer while one is outstanding, for up
to MIN_INTERVAL_MS (10 ms at the kernel's USER_HZ of 100) before the next probe. During a
failover nothing answers, so it probes every 10 ms and rounds every failover up to its next
10 ms step: the figures of both keepalived and the agent came out bimodal, 10 ms apart.

Needs root (a raw ICMP socket). Limits: the answer buffer is one packet (2048 bytes), errors
of sendto (no route while the address moves) are counted, not fatal.
"""
import os
import signal
import socket
import struct
import sys
import threading
import time

MAX_PACKET_BYTES = 2048


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print("usage: vip-observer.py ADDRESS [INTERVAL_MS]", file=sys.stderr)
        return 2
    address = sys.argv[1]
    interval_s = float(sys.argv[2]) / 1000 if len(sys.argv) == 3 else 0.002
    target = socket.inet_aton(address)
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    out = sys.stdout
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def receive() -> None:
        while True:
            try:
                data = sock.recv(MAX_PACKET_BYTES)
            except OSError:
                return
            at = time.time()
            header = (data[0] & 0x0F) * 4
            if len(data) < header + 8 or data[12:16] != target:
                continue
            kind, _, _, got_ident, seq = struct.unpack("!BBHHH", data[header : header + 8])
            if kind == 0 and got_ident == ident:
                out.write("[%.6f] %d bytes from %s: icmp_seq=%d\n" % (at, len(data) - header, address, seq))
                out.flush()

    threading.Thread(target=receive, daemon=True).start()
    payload = b"\0" * 56
    seq = 0
    send_errors = 0
    next_at = time.monotonic()
    while not stop.is_set():
        seq = (seq + 1) & 0xFFFF
        head = struct.pack("!BBHHH", 8, 0, 0, ident, seq)
        packet = struct.pack("!BBHHH", 8, 0, checksum(head + payload), ident, seq) + payload
        try:
            sock.sendto(packet, (address, 0))
        except OSError:
            send_errors += 1
        next_at += interval_s
        delay = next_at - time.monotonic()
        if delay < -interval_s:
            # Late by more than a probe (this process stalled): keep the rhythm from now on
            # instead of sending the missed probes in a burst.
            next_at = time.monotonic()
        elif delay > 0:
            time.sleep(delay)
    print("observer: %d probes, %d send errors" % (seq, send_errors), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
