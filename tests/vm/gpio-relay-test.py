#!/usr/bin/env python3
"""The GPIO relay driver against a real kernel GPIO chip (issue 4), on the flashable disk
(a copy of out/image/disk.img booted through OVMF and GRUB) on TCG. Run by
tests/vm/gpio-relay-test.sh, which builds gpio-sim.ko and the data partition's image (argv[1]):
it is written into the copy's data partition, as a box's would be seeded.

The witness (started by the image's supervisor from the data disk) has both nodes' power on one
gpio-sim chip: node-a on output line 0 with sense input line 1, node-b on lines 2 and 3. A
shell loop in the guest (gpio-guest.sh mirror) is the relay's wiring: it copies the output
line's value, as the chip sees it in sysfs, into the sense line's pull. An unrequested output
line shows its pull, so line 0's pull-up stands for "the relay is on" before the agent drives it.
  1. `ha-agent fence-test --channel node-a` reads the state back through the sense line:
     "on", then "off" after line 0's level is pulled down, then "on" again.
  2. The witness's run loop fences node-a: node-b (a second agent in the VM, UDP on loopback)
     comes up, node-a never does, so the witness powers node-a off through line 0, confirms it
     on the sense line, grants node-b and powers node-a on again (power_on_after_fence). The
     mirror's log shows line 0 driven to 0 in sysfs while the agent held it.
  3. Stuck relay: the mirror is stopped (the sense line stays "on"); `ha-agent fence node-a
     --yes`: line 0 reads 0 in sysfs while held, and the fence fails after confirm_timeout_ms
     with "relay still reads on".
  4. active_low: the witness restarts with active_low = sense_active_low = true for node-a;
     fence-test now reports the lines busy (the running witness owns them); an operator fence
     drives line 0 to 1 in sysfs and is confirmed through the inverted sense line.
  5. After the fence and the power-on the agent still holds line 0 (a released line's level
     is undefined in the uAPI; gpio-sim restores its pull), and line 0 reads 1 (power on).
Prints PASS/FAIL per check; exits 1 on any FAIL. Standard library only."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmconsole import Member, Timeout, check, copy_disk, results, seed_data  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WORK = os.path.join(ROOT, "out", "vm-gpio", "vm")
G = "sh /data/test/gpio-guest.sh"
# Bounds on the waits (TCG on a loaded 2-core machine).
BOOT_TIMEOUT_S = 120
FENCE_TIMEOUT_S = 120
# Bounds on a line's value, the mirror's log and the journal catching up with what the agent
# logged (each is written on its own: the mirror loop, the agent's durable writer).
LINE_TIMEOUT_S = 20
MIRROR_TIMEOUT_S = 10
JOURNAL_TIMEOUT_S = 30

def wait_for(c, command, predicate, timeout_s, interval_s=2):
    """Run `command` until predicate(output) holds; return the last output."""
    return wait_timed(c, command, predicate, timeout_s, interval_s)[1]


def wait_timed(c, command, predicate, timeout_s, interval_s=2):
    """Run `command` until predicate(output) holds or `timeout_s` passed: (whether it held, the
    last output, seconds waited)."""
    start = time.monotonic()
    while True:
        _, out = c.run(command, 30)
        waited = time.monotonic() - start
        if predicate(out) or waited > timeout_s:
            return predicate(out), out, waited
        time.sleep(interval_s)


def took(held, waited, timeout_s):
    return "after %.1f s" % waited if held else "not within %d s" % timeout_s


def count(c, pattern):
    _, out = c.run("logread | grep -c '%s'" % pattern)
    try:
        return int(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


def mirror_rows(out):
    rows = []
    for line in out.splitlines():
        m = re.match(r"([\d.]+) value (\d) (held|free)$", line.strip())
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3)))
    return rows


def wait_mirror(c, predicate, timeout_s=MIRROR_TIMEOUT_S):
    """The mirror's log of line 0, read until predicate(rows) holds (the mirror appends a row
    after it has copied the value, so a row can trail what the agent already saw): (whether it
    held, the rows, seconds waited)."""
    held, out, waited = wait_timed(c, "cat /tmp/mirror-0.log", lambda o: predicate(mirror_rows(o)), timeout_s, 0.5)
    return held, mirror_rows(out), waited


def show(title, text):
    print("    %s:" % title)
    for line in text.splitlines():
        print("    | " + line)


def main():
    data = sys.argv[1]
    os.makedirs(WORK, exist_ok=True)
    disk = copy_disk(os.path.join(ROOT, "out", "image", "disk.img"), os.path.join(WORK, "disk.img"))
    seed_data(disk, data)
    log = open(os.path.join(WORK, "qemu.out"), "wb")
    started = time.monotonic()
    m = Member(WORK, None, "gpio-test", [], log=log, disk=disk)
    c = m.console
    try:
        c.expect(r"ha-agent: ready after", BOOT_TIMEOUT_S)
        c.login()
        print("gpio-relay-test: booted and logged in after %.0f s" % m.elapsed_s(), flush=True)
        rc, out = c.run(G + " setup", 60)
        check(rc == 0 and "chip=gpiochip0" in out, "gpio-sim chip created: %s" % out.strip())
        _, out = c.run("cat /sys/kernel/debug/gpio | head -3; ls -l /dev/gpiochip0")
        show("kernel", out)

        # ---- 1. read-back through the sense line
        c.run("%s pull 0 up; %s pull 2 up; %s mirror 0 1; %s mirror 2 3" % (G, G, G, G))
        wait_for(c, G + " value 1", lambda o: o.strip() == "1", 20, 0.5)
        rc, out = c.run("ha-agent fence-test --channel node-a")
        show("fence-test, line 0 pulled up", out)
        check(rc == 0 and "state: on" in out, "fence-test reads node-a on through sense line 1 (exit %d)" % rc)
        c.run(G + " pull 0 down")
        sense = wait_for(c, G + " value 1", lambda o: o.strip() == "0", 20, 0.5)
        rc, out = c.run("ha-agent fence-test --channel node-a")
        show("fence-test, line 0 pulled down", out)
        check(rc == 0 and "state: off" in out and sense.strip() == "0",
              "fence-test reads node-a off when the sense line reads 0 in sysfs (exit %d)" % rc)
        c.run(G + " pull 0 up")
        wait_for(c, G + " value 1", lambda o: o.strip() == "1", 20, 0.5)
        rc, out = c.run("ha-agent fence-test --channel node-a")
        check(rc == 0 and "state: on" in out, "fence-test reads node-a on again (exit %d)" % rc)

        # ---- 2. the witness fences the absent node-a, then powers it on again
        c.run("(ha-agent run --config /data/test/node-b.toml > /tmp/node-b.log 2>&1 &)")
        out = wait_for(c, "logread | grep 'fence node-a relay: '",
                       lambda o: "fence node-a relay: powered on again" in o or "fence node-a relay: power on failed" in o
                       or "fence node-a relay: failed" in o, FENCE_TIMEOUT_S)
        show("witness log", out)
        check("fence node-a relay: power off confirmed" in out, "the witness fenced node-a, confirmed by the sense line")
        check("fence node-a relay: powered on again" in out, "the witness powered node-a on again after granting node-b")
        _, status = c.run("ha-agent status | head -12")
        show("ha-agent status", status)
        off_held = lambda rows: any(v == "0" and h == "held" for _, v, h in rows)  # noqa: E731
        ok, rows, waited = wait_mirror(c, off_held)
        show("line 0 in sysfs (mirror log: uptime, value, requested by the agent?)",
             "\n".join("%.2f value %s %s" % r for r in rows))
        check(ok, "line 0 read 0 in sysfs while the agent held it (the off command), in the mirror's log %s"
              % took(ok, waited, MIRROR_TIMEOUT_S))
        ok, jlog, waited = wait_timed(c, "ha-agent log | grep -i fence", lambda o: "power off confirmed" in o,
                                      JOURNAL_TIMEOUT_S, 1)
        show("journal (fence records)", jlog)
        check(ok, "the journal records the confirmed fence, %s" % took(ok, waited, JOURNAL_TIMEOUT_S))
        _, held = c.run(G + " held 0")
        _, value0 = c.run(G + " value 0")
        check(bool(held.strip()), "after the fence and the power-on the agent still holds line 0: %r"
              % held.strip())
        check(value0.strip() == "1", "line 0 reads 1 (power on, driven by the agent): %r" % value0.strip())

        # ---- 3. stuck relay: nothing moves the sense line any more
        c.run(G + " stop 0")
        before_failed = count(c, "fence node-a relay: failed")
        rc, out = c.run("ha-agent fence node-a --yes")
        check(rc == 0 and "accepted" in out, "operator fence of node-a accepted: %s" % out.strip())
        # The command only queues the fence: the witness's loop drives the line afterwards.
        driven = lambda o: len(o.strip().splitlines()) == 3 and o.strip().splitlines()[1] == "0"  # noqa: E731
        ok, held, waited = wait_timed(c, G + " held 0; " + G + " value 0; " + G + " value 1", driven,
                                      LINE_TIMEOUT_S, 0.5)
        show("during the stuck fence: line 0 request, line 0 value, line 1 value", held)
        lines = held.strip().splitlines()
        check(ok and "|ha-agent node-a" in lines[0] and " out " in lines[0] and lines[2] == "1",
              "line 0 is driven to 0 in sysfs (%s) while the sense line stays 1" % took(ok, waited, LINE_TIMEOUT_S))
        out = wait_for(c, "logread | grep 'fence node-a relay: failed'",
                       lambda o: o.count("fence node-a relay: failed") > before_failed, 60)
        show("witness log", out)
        check(re.search(r"fence node-a relay: failed: .*relay still reads on", out) is not None,
              "the stuck relay fails the fence: 'relay still reads on' after confirm_timeout_ms")
        # The journal record is written by the agent's durable writer, on its own time.
        ok, jlog, waited = wait_timed(c, "ha-agent log | grep -i 'still reads on' | tail -1",
                                      lambda o: "still reads on" in o, JOURNAL_TIMEOUT_S, 1)
        check(ok, "the journal records the failed fence, %s: %s" % (took(ok, waited, JOURNAL_TIMEOUT_S), jlog.strip()))

        # ---- 4. active_low: the witness restarts with node-a's lines inverted
        c.run("cp /data/test/witness-active-low.toml /etc/ha-agent/agent.toml")
        c.run("for p in $(pidof ha-agent); do grep -q agent.toml /proc/$p/cmdline && kill $p; done")
        c.expect(r"ha-agent: ready after", 60)
        c.run("%s pull 0 down; %s mirror 0 1" % (G, G))
        wait_for(c, G + " value 1", lambda o: o.strip() == "0", 20, 0.5)
        # The running witness holds its lines (it keeps each channel open for its lifetime), so
        # a second process cannot take them: fence-test says so instead of reading.
        out = wait_for(c, "ha-agent fence-test --channel node-a", lambda o: "busy" in o, 30, 1)
        show("fence-test while the witness holds the lines", out)
        check("busy" in out and "running agent" in out,
              "fence-test reports the line busy while the agent owns it, with the hint")
        confirmed = count(c, "fence node-a relay: power off confirmed")
        rc, out = c.run("ha-agent fence node-a --yes")
        check(rc == 0 and "accepted" in out, "operator fence of node-a accepted: %s" % out.strip())
        out = wait_for(c, "logread | grep 'fence node-a relay: '",
                       lambda o: o.count("fence node-a relay: power off confirmed") > confirmed
                       or o.count("fence node-a relay: failed") > before_failed + 1, 60)
        check(out.count("fence node-a relay: power off confirmed") > confirmed,
              "active_low: the fence is confirmed through the inverted sense line")
        on_held = lambda rows: any(v == "1" and h == "held" for _, v, h in rows)  # noqa: E731
        ok, rows, waited = wait_mirror(c, on_held)
        show("line 0 in sysfs after the restart (mirror log)", "\n".join("%.2f value %s %s" % r for r in rows))
        check(ok, "active_low: the off command drove line 0 to 1 in sysfs while the agent held it, in the "
              "mirror's log %s" % took(ok, waited, MIRROR_TIMEOUT_S))
    except Timeout as e:
        check(False, "timeout: %s" % e)
    finally:
        print("gpio-relay-test: %.0f s" % (time.monotonic() - started), flush=True)
        m.quit()
        log.close()
    print("gpio-relay-test: %d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if results and all(results) else 1)


if __name__ == "__main__":
    main()
