#!/usr/bin/env python3
"""QEMU hardware-watchdog test (issues 4 and 27) on the flashable disk. Needs `make image`
(out/image) and the configs tool (cargo, package ha-tests).

A copy of out/image/disk.img boots as hardware does (OVMF, GRUB, root slot A) on TCG, with an
emulated i6300esb watchdog (-watchdog-action reset, run-member.sh) and a QMP socket. The image's
own boot runs: S02modules loads i6300esb (make-image.sh's MODULES), the supervisor
(ha-agent-supervise) runs the agent, which arms the watchdog from its [watchdog] section and feeds
it by its health policy. Its configuration is the configs tool's topology `watchdog-vm
timeout_s=T` (one generator of the tests' configurations, checked by check-config in
tests/generated_configs.rs), written into the disk's data partition with a fixed test key by
make-data-disk.sh (state on /data). None of the agent's links can open: its serial links name
ttyS1 and ttyS2, which have no UART behind them (QEMU gets no -serial for them: uart:unknown,
open fails with EIO), and its UDP links an address the VM does not have (it has no NIC). A link
that cannot open is a link that is down: it must not starve the watchdog.
  Boot 1: the kernel has the i6300esb driver loaded and /dev/watchdog; the agent armed it
          (sysfs state active, its log) and reports no watchdog reset; it runs 3T s with no link
          open, the four links down with their reasons in its status, and the VM is NOT reset;
          then the agent is stopped with kill -STOP: the hardware must reset the VM (QMP
          WATCHDOG event, action reset) within T+5 s.
  Boot 2 (the reset's reboot, same QEMU): the agent reports that the last reset came from the
          watchdog (CARDRESET) and journals it; an agent restarted in the same boot (SIGTERM, the
          supervisor starts it again) does not report it a second time; then the supervisor is
          held (SIGSTOP) and the agent stopped cleanly (SIGTERM: magic close, "watchdog:
          Disarmed"): the VM must NOT be reset for 2T+5 s.
Prints PASS/FAIL per check and the run's time; exits 1 on any FAIL. Standard library only.
Usage: tests/vm/watchdog-test.py      (WATCHDOG_TIMEOUT_S, default 5, sets T)"""

import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmconsole import Member, Timeout, check, copy_disk, seed_data, summary_exit  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE = os.path.join(ROOT, "out", "image")
WORK = os.path.join(ROOT, "out", "vm-watchdog")
TIMEOUT_S = int(os.environ.get("WATCHDOG_TIMEOUT_S", "5"))
# A fixed test key (32 bytes, hex): the agent's links never open, the key is never used.
TEST_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
# Bounds on each wait (TCG on a loaded 2-core machine: a boot through OVMF to the agent's
# first answer takes 15-30 s).
BOOT_TIMEOUT_S = 120
# Bound on the supervisor starting the agent again (RESTART_DELAY_S 2 s and the start).
RESTART_TIMEOUT_S = 30
# How often the host asks QMP for events while it waits for (or watches for the absence of) a
# watchdog reset: the reset's measured delay is late by at most this much.
QMP_POLL_S = 0.2

# The agent of `ha-agent run` (not a transient `ha-agent status` of ha-issue), by its command line.
AGENT_PID = ("for p in $(pidof ha-agent); do tr '\\0' ' ' < /proc/$p/cmdline | grep -q '^/usr/bin/ha-agent run '"
             " && echo $p; done")
# The supervisor's shells (the script and the subshell of its pipeline), by their command line.
SUPERVISOR_PIDS = ("for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null"
                   " | grep -q '^/bin/sh /usr/sbin/ha-agent-supervise' && echo ${p#/proc/}; done")


class Watch:
    """The QMP events of the VM, with the host time each was first seen."""

    def __init__(self, qmp):
        self.qmp, self.seen, self.start = qmp, [], time.monotonic()

    def poll(self):
        self.qmp.command("query-status")
        while len(self.seen) < len(self.qmp.events):
            e = self.qmp.events[len(self.seen)]
            t = time.monotonic()
            self.seen.append((t, e))
            print("watchdog-test: %7.1f s QMP %s %s" % (t - self.start, e["event"], e.get("data", {})),
                  flush=True)

    def watchdogs(self, since=0.0):
        return [(t, e) for t, e in self.seen if e["event"] == "WATCHDOG" and t >= since]

    def wait_watchdog(self, since, timeout_s):
        """The first WATCHDOG event at or after `since`, waiting up to `timeout_s`; or None."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.poll()
            fired = self.watchdogs(since)
            if fired or time.monotonic() > deadline:
                return fired[0] if fired else None
            time.sleep(QMP_POLL_S)

    def quiet_for(self, seconds):
        """Watch for `seconds`; the WATCHDOG events that came meanwhile."""
        since = time.monotonic()
        while time.monotonic() - since < seconds:
            self.poll()
            time.sleep(QMP_POLL_S)
        self.poll()
        return self.watchdogs(since)


def make_disk(vm_dir):
    """A copy of disk.img whose data partition holds the watchdog-vm configuration."""
    cfg = os.path.join(WORK, "config")
    os.makedirs(cfg)
    subprocess.run(["cargo", "run", "-q", "--locked", "-p", "ha-tests", "--bin", "configs", "--",
                    "watchdog-vm", cfg, "timeout_s=%d" % TIMEOUT_S], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)
    key = os.path.join(WORK, "cluster.key")
    with open(key, "w") as f:
        f.write(TEST_KEY + "\n")
    os.chmod(key, 0o600)
    data = os.path.join(WORK, "data.ext4")
    subprocess.run([os.path.join(ROOT, "tests", "vm", "make-data-disk.sh"), data,
                    os.path.join(cfg, "agent.toml"), key, "witness"], check=True)
    disk = copy_disk(os.path.join(IMAGE, "disk.img"), os.path.join(vm_dir, "disk.img"))
    return seed_data(disk, data)


def agent_pid(c):
    rc, out = c.run(AGENT_PID)
    pids = out.split()
    assert rc == 0 and len(pids) == 1, "expected one `ha-agent run`, found %r" % out
    return pids[0]


def ready(m, what):
    r = m.console.expect(r"ha-agent: ready after ([\d.]+) s", BOOT_TIMEOUT_S)
    print("watchdog-test: %s: agent ready %.1f s after QEMU's start (%s s of guest uptime)"
          % (what, m.elapsed_s(), r.group(1)), flush=True)
    return time.monotonic()


def show(out):
    return "\n".join("    | " + line for line in out.splitlines())


def main():
    if not os.path.exists(os.path.join(IMAGE, "disk.img")):
        sys.exit("watchdog-test: out/image/disk.img missing: run 'make image'")
    shutil.rmtree(WORK, ignore_errors=True)
    vm_dir = os.path.join(WORK, "vm")
    os.makedirs(vm_dir)
    started = time.monotonic()
    disk = make_disk(vm_dir)
    T = TIMEOUT_S
    log = open(os.path.join(vm_dir, "qemu.out"), "wb")
    m = Member(vm_dir, None, "watchdog-test", [], log=log, disk=disk)
    c = m.console
    w = Watch(m.qmp)
    try:
        # ---- boot 1
        c.expect(r"grub: booting slot A", BOOT_TIMEOUT_S)
        t_ready = ready(m, "boot 1")
        c.login()
        rc, out = c.run("grep '^i6300esb ' /proc/modules | cut -d' ' -f1; cat /sys/class/watchdog/watchdog0/identity"
                        " /sys/class/watchdog/watchdog0/state /sys/class/watchdog/watchdog0/timeout")
        lines = out.splitlines()
        check(rc == 0 and lines[:3] == ["i6300esb", "i6300ESB timer", "active"] and lines[3] == str(T),
              "boot 1: the image's kernel loaded i6300esb; the agent armed /dev/watchdog (identity, state,"
              " timeout %s s):\n%s" % (T, show(out)))
        rc, out = c.run("grep -E '^[12]:' /proc/tty/driver/serial")
        check(rc == 0 and out.count("uart:unknown") == 2,
              "boot 1: ttyS1 and ttyS2 have no UART behind them:\n" + show(out))
        rc, out = c.run("logread | grep -E 'ha-agent: .*watchdog'")
        check("armed with timeout %d s" % T in out and "LAST RESET CAME FROM THE WATCHDOG" not in out,
              "boot 1: the agent logged the watchdog armed, no reset by the watchdog before this boot:\n"
              + show(out))
        # No link can open: the agent must keep feeding for 3T s from its first answer (a link
        # that cannot open is down, not a reason to reset), its links shown down and why.
        quiet = w.quiet_for(max(0.0, t_ready + 3 * T - time.monotonic()))
        rc, out = c.run("ha-agent status --json | grep -o '\"note\":\"[^\"]*\"'")
        notes = [line for line in out.splitlines() if line.startswith('"note":"cannot open')]
        check(len(notes) == 4, "boot 1: the status shows the four links down, each with its reason:\n"
              + show(out))
        rc, starved = c.run("logread | grep -c 'watchdog NOT fed'")
        check(not quiet and not w.watchdogs() and starved.strip() == "0",
              "boot 1: no link open, the watchdog fed: no reset in the %.1f s from the agent's first"
              " answer (3T, T = %d s), the agent never withheld it" % (time.monotonic() - t_ready, T))
        pid = agent_pid(c)
        c.send("kill -STOP %s\r" % pid)
        stopped = time.monotonic()
        fired = w.wait_watchdog(stopped, 4 * T + 30)
        check(fired is not None and fired[1]["data"].get("action") == "reset",
              "the watchdog reset the VM after kill -STOP of the agent (QMP WATCHDOG: %s)"
              % (fired[1]["data"] if fired else "none within %d s" % (4 * T + 30)))
        if fired:
            # The last keepalive was before the stop, so the reset is due within T of it; the
            # console and QMP polling add a little, TCG some more.
            delay = fired[0] - stopped
            check(delay <= T + 5, "reset %.1f s after kill -STOP (timeout %d s, bound T+5 = %d s)"
                  % (delay, T, T + 5))

        # ---- boot 2, after the watchdog's reset
        c.expect(r"BdsDxe: starting", BOOT_TIMEOUT_S)
        c.expect(r"grub: booting slot A", BOOT_TIMEOUT_S)
        ready(m, "boot 2 (after the watchdog reset)")
        c.login()
        rc, out = c.run("logread | grep -E 'ha-agent: .*(watchdog|WATCHDOG)'")
        check("LAST RESET CAME FROM THE WATCHDOG" in out,
              "boot 2: the agent reports that the last reset came from the watchdog:\n" + show(out))
        # A restarted agent of the same boot: the driver's boot status still says CARDRESET,
        # the reset is not reported (journaled, notified) again.
        pid = agent_pid(c)
        c.run("kill -TERM %s" % pid)
        c.expect(r"ha-agent-supervise: starting ha-agent \(start 2\)", RESTART_TIMEOUT_S)
        c.expect(r"ha-agent: ready after", RESTART_TIMEOUT_S)
        rc, out = c.run("logread | grep -E 'ha-agent: .*(reported by an earlier agent|came from the watchdog)'")
        rc2, journal = c.run("ha-agent log | grep -c 'the last reset of this machine came from the watchdog'")
        check(out.count("reported by an earlier agent of this boot") == 1
              and out.count("the last reset of this machine came from the watchdog") == 1
              and journal.strip() == "1",
              "boot 2: the reset is reported once (journal records: %s); the agent restarted in the"
              " same boot says an earlier agent reported it:\n%s" % (journal.strip(), show(out)))
        # A clean stop with the supervisor held (it would start the agent again): magic close.
        rc, sup = c.run(SUPERVISOR_PIDS)
        pid = agent_pid(c)
        c.run("kill -STOP %s; kill -TERM %s" % (" ".join(sup.split()), pid))
        t = time.monotonic()
        while True:
            rc, out = c.run("[ -d /proc/%s ] && ! grep -q '^State:.*zombie' /proc/%s/status" % (pid, pid))
            if rc != 0 or time.monotonic() - t > RESTART_TIMEOUT_S:
                break
            time.sleep(0.5)
        check(rc != 0 and len(sup.split()) >= 1,
              "boot 2: the supervisor held (%d shells stopped), the agent exited on SIGTERM after %.1f s"
              % (len(sup.split()), time.monotonic() - t))
        rc, out = c.run("logread | grep -E 'ha-agent: .*watchdog: (Disarmed|LeftArmed)'; cat /sys/class/watchdog/watchdog0/state")
        # Two stops on SIGTERM in this boot (the restart above and this one), each disarmed.
        check(out.count("watchdog: Disarmed") == 2 and "LeftArmed" not in out
              and out.splitlines()[-1].strip() == "inactive",
              "boot 2: each stop on SIGTERM disarmed the watchdog (magic close), now inactive:\n" + show(out))
        quiet = w.quiet_for(2 * T + 5)
        rc, out = c.run("cat /proc/uptime")
        check(not quiet and rc == 0, "boot 2: no reset for 2T+5 = %d s after the clean stop (uptime %s s)"
              % (2 * T + 5, out.split()[0] if out else "?"))
        check(len(w.watchdogs()) == 1, "one watchdog reset in the whole run (%d)" % len(w.watchdogs()))
    except (Timeout, AssertionError) as e:
        check(False, str(e))
    finally:
        m.quit()
        log.close()
    summary_exit("watchdog-test", started)


if __name__ == "__main__":
    main()
