#!/usr/bin/env python3
"""Power-cut test of the durable journal in QEMU (issue 10). Needs `make image` (out/image).

The flashable disk (a copy of out/image/disk.img, booted through OVMF and GRUB) boots with the
seeded data partition (out/image/data.ext4 written into its data partition: ext4, the witness
of docs/examples), the disk in QEMU's cache=none mode (see below). The
image's supervisor runs the agent; its journal is /data/ha-agent/state/journal, as always.

The writer is the agent itself: at the console, a shell loop runs `ha-agent standby pc-R-N`
for N = 1, 2, ... The witness journals every operator command ("operator standby pc-R-N
from=... uid=0") with Journal::append (write, then fdatasync) *before* it looks the member name
up; the unknown name then makes it answer "no member named ...". So that answer proves that
the record's append returned, and only then does the loop print "ACK R N" on the serial
console: the host's list of acknowledged records. The agent's own records (startup, links,
relay health, ...) are interleaved in the same journal by the same writer.

Each round: the host waits for the first ACK, then a random 2..12 s (seeded; printed), and
powers the VM off with QMP `quit`: no shutdown, no sync. The next boot uses the same disk; the
agent opens the journal (repairing a torn tail, if any), and the host reads it back with
`ha-agent log` and checks:
  - every line is a whole record ("#SEQ SECONDS.mmm KIND ..."), nothing garbled or partial;
  - sequence numbers rise by exactly 1 from the first record to the last (none lost, none
    duplicated);
  - every acknowledged pc-R-N of every round so far is there exactly once, with exactly the
    text that was written; within a round they are N = 1..M in sequence order, M >= the
    last ACK (records durable but not yet acknowledged when the power went are allowed).
JOURNAL_VM_ROUNDS (default 3) power-offs, JOURNAL_VM_SEED for the delays.

Cache mode: QMP quit ends the QEMU process, but what QEMU already wrote to the image file is in
the host's page cache and survives, whatever the cache mode; what a power-off loses here is the
guest's page cache and everything not yet submitted to the virtual disk. cache=none (O_DIRECT
on the host, a write cache announced to the guest, so the guest kernel must send flushes) is
used so that no host-side caching is involved at all; QEMU does not emulate losing a disk's
volatile write cache, so this tests the agent's and the guest kernel's flush discipline, not a
drive that lies about flushes. Prints PASS/FAIL per check; exits 1 on any FAIL."""

import os
import random
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmconsole import Member, Timeout, check, copy_disk, results, seed_data  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE = os.path.join(ROOT, "out", "image")
WORK = os.path.join(ROOT, "out", "vm-journal")
ROUNDS = int(os.environ.get("JOURNAL_VM_ROUNDS", "3"))
SEED = int(os.environ.get("JOURNAL_VM_SEED", str(int(time.time()))))
# Bounds on each wait (TCG on a loaded 2-core machine).
BOOT_TIMEOUT_S = 120
FIRST_ACK_TIMEOUT_S = 60
READ_TIMEOUT_S = 180
# Bound on reading the console to its end after the power-off.
CONSOLE_EOF_TIMEOUT_S = 10
# The random power-off delay after the first acknowledgement.
DELAY_MIN_S, DELAY_MAX_S = 2.0, 12.0
# Bound on one writer loop (it is normally cut by the power-off long before).
MAX_WRITES = 100000

# `ha-agent log` lines: #SEQ YYYY-MM-DD HH:MM:SS.mmmZ KIND ... (UTC).
STAMP = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z"
RECORD = re.compile(r"^#(\d+) (" + STAMP + r") ([a-z_-]+)( .*)?$")
MINE = re.compile(r"^#(\d+) " + STAMP + r" operator standby pc-(\d+)-(\d+) from=(\S+( \S+)?) uid=0$")

def vm_args(vm_dir):
    # The seeded configuration's serial links (ttyS1, ttyS2) get a port each, nobody at the
    # other end; its UDP links get a NIC each on a segment of their own.
    return ["--cache", "none",
            "--serial", "listen:" + os.path.join(vm_dir, "ttyS1.sock"),
            "--serial", "listen:" + os.path.join(vm_dir, "ttyS2.sock"),
            "--nic", "mcast:230.0.0.1:42301", "--nic", "mcast:230.0.0.1:42302"]


def read_journal(c):
    """The journal as `ha-agent log` prints it, one line per record."""
    rc, out = c.run("ha-agent log > /tmp/journal.txt; echo log-exit=$?; wc -l < /tmp/journal.txt", 120)
    m = re.search(r"log-exit=(\d+)", out)
    if not check(m is not None and m.group(1) == "0", "`ha-agent log` read the journal (%s)"
                 % " ".join(out.split())):
        return []
    _, text = c.run("cat /tmp/journal.txt", READ_TIMEOUT_S)
    return [line for line in text.splitlines() if line.strip()]


def verify(lines, acked, boot):
    """Check the journal read at `boot` against the acknowledgements of all rounds so far."""
    garbled = [line for line in lines if not RECORD.match(line)]
    check(lines and not garbled, "boot %d: %d records, every line a whole record%s"
          % (boot, len(lines), "" if not garbled else "; garbled: %r" % garbled[:3]))
    seqs = [int(RECORD.match(line).group(1)) for line in lines if RECORD.match(line)]
    gaps = [(a, b) for a, b in zip(seqs, seqs[1:]) if b != a + 1]
    check(seqs and not gaps, "boot %d: sequence numbers %s..%s rise by 1 (breaks: %s)"
          % (boot, seqs[0] if seqs else "-", seqs[-1] if seqs else "-", gaps[:5]))
    found = {}
    froms = set()
    bad, twice = [], []
    for line in lines:
        if " standby pc-" not in line:
            continue
        m = MINE.match(line)
        if m is None:
            bad.append(line)
            continue
        key = (int(m.group(2)), int(m.group(3)))
        if key in found:
            twice.append(key)
        found[key] = int(m.group(1))
        froms.add(m.group(4))
    check(not bad and not twice and len(froms) == 1,
          "boot %d: %d writer records, each exactly as written (from=%s), none twice%s"
          % (boot, len(found), "/".join(sorted(froms)), "" if not bad and not twice else
             "; damaged %r, twice %r" % (bad[:3], twice[:3])))
    unacked_durable = 0
    for r, acks in sorted(acked.items()):
        present = sorted(n for (rr, n) in found if rr == r)
        last_ack = max(acks) if acks else 0
        missing = [n for n in acks if (r, n) not in found]
        check(not missing, "boot %d: round %d: all %d acknowledged records present (last ACK %d; missing %s)"
              % (boot, r, len(acks), last_ack, missing[:10]))
        top = present[-1] if present else 0
        contiguous = present == list(range(1, top + 1))
        in_order = all(found[(r, a)] < found[(r, b)] for a, b in zip(present, present[1:]))
        check(contiguous and in_order and top >= last_ack,
              "boot %d: round %d: pc-%d-1..%d in sequence order, no hole" % (boot, r, r, top))
        unacked_durable += top - last_ack
    return unacked_durable


def main():
    if not all(os.path.exists(os.path.join(IMAGE, f)) for f in ("data.ext4", "disk.img")):
        sys.exit("journal-poweroff-test: no test image: run 'make image'")
    rng = random.Random(SEED)
    print("journal-poweroff-test: %d power-offs, seed %d (JOURNAL_VM_SEED)" % (ROUNDS, SEED), flush=True)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    disk = copy_disk(os.path.join(IMAGE, "disk.img"), os.path.join(WORK, "disk.img"))
    seed_data(disk, os.path.join(IMAGE, "data.ext4"))
    acked = {}  # round -> acknowledged N, in order
    totals = {"acked": 0, "unacked_durable": 0, "torn": 0}
    started = time.monotonic()
    for boot in range(1, ROUNDS + 2):
        vm_dir = os.path.join(WORK, "boot%d" % boot)
        os.makedirs(vm_dir)
        log = open(os.path.join(vm_dir, "qemu.out"), "wb")
        m = Member(vm_dir, None, "journal-test", vm_args(vm_dir), log=log, disk=disk)
        c = m.console
        try:
            c.expect(r"ha-agent: ready after", BOOT_TIMEOUT_S)
            c.login()
            print("journal-poweroff-test: boot %d: logged in after %.0f s" % (boot, m.elapsed_s()), flush=True)
            _, out = c.run("logread | grep -E 'torn tail|corrupt' || true")
            if "torn tail" in out:
                totals["torn"] += 1
                print("    agent: " + out.strip().splitlines()[-1].split("ha-agent:", 1)[-1].strip(), flush=True)
            if boot > 1:
                t = time.monotonic()
                lines = read_journal(c)
                totals["unacked_durable"] = verify(lines, acked, boot)
                print("journal-poweroff-test: boot %d: journal read and checked in %.0f s"
                      % (boot, time.monotonic() - t), flush=True)
            if boot == ROUNDS + 1:
                break
            r = boot
            acked[r] = []
            mark = c.position()
            c.send("n=0; while [ $n -lt %d ]; do n=$((n+1)); ha-agent standby pc-%d-$n 2>&1"
                   " | grep -q 'no member named' && echo \"ACK %d $n\"; done\r" % (MAX_WRITES, r, r))
            c.mark = mark
            c.expect(r"ACK %d 1\n" % r, FIRST_ACK_TIMEOUT_S)
            delay = rng.uniform(DELAY_MIN_S, DELAY_MAX_S)
            time.sleep(delay)
            m.qmp.command("quit")
            m.proc.wait(30)
            # The console's last bytes (the last ACKs) may still be on their way to the reader
            # thread: read on until QEMU's end of the stream.
            drained = c.wait_closed(CONSOLE_EOF_TIMEOUT_S)
            with c.lock:
                text = c.text[mark:]
            acks = [int(n) for n in re.findall(r"^ACK %d (\d+)$" % r, text, re.M)]
            check(acks == list(range(1, len(acks) + 1)),
                  "round %d: the writer's acknowledgements are 1..%d in order" % (r, len(acks)))
            acked[r] = acks
            totals["acked"] += len(acks)
            print("journal-poweroff-test: round %d: powered off (QMP quit) %.1f s after the first ACK,"
                  " %d records acknowledged (console read to its end %s)"
                  % (r, delay, len(acks), "after %.1f s" % drained if drained is not None
                     else "NOT within %d s: the last ACKs may be missing" % CONSOLE_EOF_TIMEOUT_S), flush=True)
        except Timeout as e:
            check(False, "boot %d: timeout: %s" % (boot, e))
            break
        finally:
            m.quit()
            log.close()
    print("journal-poweroff-test: %d power-offs, %d records acknowledged, %d durable but not acknowledged"
          " (cut between the append and the ACK), torn tails repaired at %d boots, %.0f s"
          % (len(acked), totals["acked"], totals["unacked_durable"], totals["torn"],
             time.monotonic() - started), flush=True)
    print("journal-poweroff-test: %d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()
