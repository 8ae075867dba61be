#!/usr/bin/env python3
"""Field update test of the flashable disk (issue 27): out/image/disk.img booted through OVMF
and GRUB, updated with `ha-agent update apply`. Needs `make image` (out/image) and the release
agent (it packs the update files on the host).

The update files are made here from out/image/slot.squashfs, signed with a fresh update key:
  good     the same slot with release name test-good
  broken   release test-broken, whose agent never starts (`ha-agent run` exits 1)
  hung     release test-hung, whose agent arms the watchdog and hangs (SIGSTOP)
  corrupt  good with one byte of its squashfs changed (SHA-256 mismatch)
  forged   good signed with another key (HMAC mismatch)
They reach the VM on a second virtio disk (ext4). One copy of disk.img goes through:

1. First boot (slot A); the update key and a short commit deadline are put on the data
   partition; a file is written there.
2. corrupt and forged are refused with a clear error; slot B's bytes (read on the host) and
   the environment block are unchanged.
3. Power cut: good is applied and QEMU quits (QMP `quit`) after the second MiB of the slot
   was written; the host sees slot B partly written; the next boot takes slot A, nothing on
   trial, slot B shown without a release.
3b. Power cuts in the environment block's write that marks slot B to be tried: good is applied
   again; once its last MiB is written the disk's writes are throttled (QMP
   block_set_io_throttle, ENV_CUT_IOPS write requests per second: each request of the guest
   then takes a slot of its own) and QEMU quits once k more write requests completed (QMP
   query-blockstats), k = 0, 1, 2, ...: each cut lands between two successive requests of the
   window (grubenv written and synced, then grubenv.bak). The host reads both copies from the
   disk and says where the cut landed; the next boot must take what the copy GRUB believes says:
   slot A with nothing on trial while the mark has not reached a whole copy, slot B on trial
   once it has. Rounds go on until the mark reached grubenv (at most MAX_ENV_CUTS).
4. The trial of good (slot B) commits itself, and that write is cut too: the disk is throttled
   COMMIT_THROTTLE_LEAD_S before the commit is due and QEMU quits as soon as the host sees the
   committed block in grubenv. Then the host tears grubenv (the committed block's beginning
   over the previous block's end, as a write cut inside a sector leaves it): GRUB must say so
   and boot what grubenv.bak says, and the boot must repair grubenv from it (`ha-agent update
   repair`, run by ha-update-commit at every boot). When grubenv.bak predates the commit the
   trial counts as failed (slot A runs, B rolled back) and good is applied once more and
   commits; then release test-good runs from committed slot B, the data partition's file is
   still there, and the next boot takes B with both copies equal.
5. broken (now into slot A): its trial boot's agent never gets ready, the trial is not
   committed within COMMIT_WAIT_S and the box reboots; GRUB takes slot B again, and `update
   status` shows A rolled back.
6. hung (into slot A again): its agent arms the watchdog and hangs; the i6300esb resets the
   box (a QMP WATCHDOG event), GRUB takes slot B again.
Prints PASS/FAIL per check and each step's time; exits 1 on any FAIL. Standard library only."""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vmconsole import Member, Timeout, check, copy_disk, partition, summary_exit  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGE = os.path.join(ROOT, "out", "image")
WORK = os.path.join(ROOT, "out", "vm-update-test")
AGENT = os.environ.get("HA_AGENT_BIN",
                       os.path.join(ROOT, "target", "x86_64-unknown-linux-musl", "release", "ha-agent"))
# Bounds on each wait (TCG on a loaded 2-core machine: a boot through OVMF to the agent takes
# 15-25 s; writing a 12 MiB slot, synced each MiB, and reading it back some more).
BOOT_TIMEOUT_S = 120
APPLY_TIMEOUT_S = 180
# The trial's deadline put on the data partition (/etc/ha-agent/update.conf): the broken
# release reboots this long after its boot. A good one commits once its agent has been ready
# for 30 s (ha-agent's COMMIT_STABLE_MS), some 40 s after the script starts.
COMMIT_WAIT_S = 75
UPDATES_DISK_MIB = 128
# The watchdog timeout of the image's default configuration ([watchdog] timeout_ms).
WATCHDOG_TIMEOUT_S = 10
# Power cuts in the environment block's writes: the disk's write requests per second while the
# cut is prepared (each request a slot of its own: the writes of grubenv and grubenv.bak are
# then apart by a second or more), and the bound on the rounds of cuts in the mark.
ENV_CUT_IOPS = 1
MAX_ENV_CUTS = 8
# Bound on a throttled window (the writes of both copies and the agent's own).
ENV_WINDOW_TIMEOUT_S = 60
# The trial's commit is due COMMIT_STABLE_S after the agent is ready (ha-agent's
# COMMIT_STABLE_MS); the disk is throttled COMMIT_THROTTLE_LEAD_S before that.
COMMIT_STABLE_S = 30
COMMIT_THROTTLE_LEAD_S = 10


def sh(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


# The agent of the `broken` release never starts; the one of `hung` starts, arms the hardware
# watchdog and hangs (SIGSTOP) before it answers.
BROKEN_AGENT = """#!/bin/sh
# update-test: a release whose agent never starts
if [ "$1" = run ]; then echo 'ha-agent: this release cannot start' >&2; exit 1; fi
exec /usr/bin/ha-agent.real "$@"
"""
HUNG_AGENT = """#!/bin/sh
# update-test: a release whose agent hangs once it has armed the watchdog
if [ "$1" = run ]; then
    /usr/bin/ha-agent.real "$@" &
    pid=$!
    sleep 1
    echo "update-test: stopping ha-agent ($pid): a hang" > /dev/console
    kill -STOP $pid
    wait $pid
    exit $?
fi
exec /usr/bin/ha-agent.real "$@"
"""


def make_slot(tree, version, wrapper=None):
    """A slot squashfs from out/image/slot.squashfs with release `version`."""
    d = os.path.join(WORK, tree)
    sh("unsquashfs", "-q", "-n", "-d", d, os.path.join(IMAGE, "slot.squashfs"))
    info = os.path.join(d, "etc", "ha-image")
    with open(info) as f:
        lines = [line for line in f if not line.startswith("VERSION=")]
    with open(info, "w") as f:
        f.writelines(lines + ["VERSION=%s\n" % version])
    if wrapper:
        agent = os.path.join(d, "usr", "bin", "ha-agent")
        os.rename(agent, agent + ".real")
        with open(agent, "w") as f:
            f.write(wrapper)
        os.chmod(agent, 0o755)
    out = os.path.join(WORK, tree + ".squashfs")
    sh("mksquashfs", d, out, "-comp", "xz", "-all-root", "-noappend", "-quiet")
    shutil.rmtree(d)
    return out


def pack(squashfs, version, key, out):
    sh(AGENT, "update", "pack", squashfs, "--key", key, "--version", version, "--output", out)
    return out


def write_key(path):
    with open(path, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(path, 0o600)
    with open(path) as f:
        return f.read().strip()


def region_sha(disk, name, length=None):
    offset, size = partition(disk, name)
    h = hashlib.sha256()
    with open(disk, "rb") as f:
        f.seek(offset)
        left = size if length is None else length
        while left:
            chunk = f.read(min(left, 1 << 20))
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def matching_mib(disk, name, payload):
    """How many leading MiB of partition `name` equal the payload's."""
    offset, _ = partition(disk, name)
    n = 0
    with open(disk, "rb") as f:
        f.seek(offset)
        for i in range(0, len(payload), 1 << 20):
            want = payload[i:i + (1 << 20)]
            if f.read(len(want)) != want:
                break
            n += 1
    return n


def read_env(disk, name):
    """The variables of the ESP's EFI/BOOT/<name> (grubenv or grubenv.bak) on the host, with
    whether it is whole and sealed (ha_env_seq first and ha_env_end last, equal); None if
    unreadable."""
    offset, _ = partition(disk, "esp")
    r = subprocess.run(["mcopy", "-n", "-i", "%s@@%d" % (disk, offset), "::EFI/BOOT/" + name, "-"],
                       capture_output=True)
    block = r.stdout
    if r.returncode != 0 or len(block) != 1024 or not block.startswith(b"# GRUB Environment Block\n"):
        return None
    names, env = [], {}
    for line in block.decode("latin-1").split("\n")[1:]:
        if line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        names.append(k)
        env[k] = v
    env["sealed"] = (names[:1] == ["ha_env_seq"] and names[-1:] == ["ha_env_end"]
                     and env["ha_env_seq"] == env["ha_env_end"])
    return env


def describe_env(env):
    if env is None:
        return "unreadable"
    if not env["sealed"]:
        return "torn"
    words = ["seq %s" % env["ha_env_seq"], "boot %s" % env.get("ha_boot")]
    if "ha_try" in env:
        words.append("try %s left %s" % (env["ha_try"], env.get("ha_try_left")))
    return ", ".join(words)


def believed(disk):
    """The copy GRUB believes (grub.cfg): grubenv if sealed, else grubenv.bak if sealed."""
    p, b = read_env(disk, "grubenv"), read_env(disk, "grubenv.bak")
    if p and p["sealed"]:
        return "grubenv", p
    if b and b["sealed"]:
        return "grubenv.bak", b
    return None, None


def write_file_in_esp(disk, name, data):
    offset, _ = partition(disk, "esp")
    tmp = os.path.join(WORK, "esp-file")
    with open(tmp, "wb") as f:
        f.write(data)
    sh("mcopy", "-o", "-n", "-i", "%s@@%d" % (disk, offset), tmp, "::EFI/BOOT/" + name)


def read_file_in_esp(disk, name):
    offset, _ = partition(disk, "esp")
    return subprocess.run(["mcopy", "-n", "-i", "%s@@%d" % (disk, offset), "::EFI/BOOT/" + name, "-"],
                          capture_output=True, check=True).stdout


class Vm:
    def __init__(self, disk, updates, vm_dir):
        self.disk, self.updates, self.dir = disk, updates, vm_dir
        self.m = None

    def start(self):
        self.log = open(os.path.join(self.dir, "qemu.out"), "ab")
        # The default configuration's serial links and NICs exist (nobody at the other end),
        # as in the boot test: with no UART behind ttyS1/ttyS2 the agent's retries to open
        # them starve its watchdog feeding and the i6300esb resets the VM.
        extra = ["--serial", "listen:" + os.path.join(self.dir, "ttyS1.sock"),
                 "--serial", "listen:" + os.path.join(self.dir, "ttyS2.sock"),
                 "--nic", "mcast:230.0.0.1:42121", "--nic", "mcast:230.0.0.1:42122",
                 "--drive", self.updates]
        self.m = Member(self.dir, None, "update-test", extra, log=self.log, disk=self.disk)
        return self.m.console

    def throttle(self, iops_wr):
        """Limit the disk's write requests (0: no limit)."""
        r = self.m.qmp.command("block_set_io_throttle", device="disk0", bps=0, bps_rd=0, bps_wr=0,
                               iops=0, iops_rd=0, iops_wr=iops_wr)
        assert "error" not in r, "block_set_io_throttle: %s" % r

    def writes(self):
        """The disk's completed write requests so far."""
        r = self.m.qmp.command("query-blockstats")
        for dev in r["return"]:
            if dev.get("device") == "disk0":
                return dev["stats"]["wr_operations"]
        raise AssertionError("no disk0 in query-blockstats: %s" % r)

    def cut(self):
        """Power cut: QEMU quits, nothing flushed."""
        self.m.qmp.command("quit")
        self.m.proc.wait(30)
        self.stop()

    def stop(self):
        if self.m:
            self.m.quit()
            self.log.close()
            self.m = None


def ready(c, what, started):
    r = c.expect(r"ha-agent: ready after ([\d.]+) s", BOOT_TIMEOUT_S)
    print("%s: agent ready %.1f s after the step began (%s s of guest uptime)"
          % (what, time.monotonic() - started, r.group(1)), flush=True)


def mount_updates(c):
    rc, out = c.run("mkdir -p /tmp/u && mount -o ro /dev/vdb /tmp/u && ls /tmp/u")
    assert rc == 0, "cannot mount the updates disk: %s" % out


def main():
    for f in (os.path.join(IMAGE, "disk.img"), os.path.join(IMAGE, "slot.squashfs"), AGENT):
        if not os.path.exists(f):
            sys.exit("update-test: %s missing: run 'make image'" % f)
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK)
    started = time.monotonic()

    # ---- the update files, on a disk of their own
    key = write_key(os.path.join(WORK, "update.key"))
    other = os.path.join(WORK, "other.key")
    write_key(other)
    files = os.path.join(WORK, "files")
    os.makedirs(files)
    good_sq = make_slot("good", "test-good")
    broken_sq = make_slot("broken", "test-broken", BROKEN_AGENT)
    hung_sq = make_slot("hung", "test-hung", HUNG_AGENT)
    pack(good_sq, "test-good", os.path.join(WORK, "update.key"), os.path.join(files, "good.upd"))
    pack(broken_sq, "test-broken", os.path.join(WORK, "update.key"), os.path.join(files, "broken.upd"))
    pack(hung_sq, "test-hung", os.path.join(WORK, "update.key"), os.path.join(files, "hung.upd"))
    pack(good_sq, "test-good", other, os.path.join(files, "forged.upd"))
    with open(os.path.join(files, "good.upd"), "rb") as f:
        corrupt = bytearray(f.read())
    corrupt[len(corrupt) // 2] ^= 0x01
    with open(os.path.join(files, "corrupt.upd"), "wb") as f:
        f.write(corrupt)
    with open(good_sq, "rb") as f:
        good_payload = f.read()
    updates = os.path.join(WORK, "updates.ext4")
    sh("mkfs.ext4", "-q", "-F", "-d", files, updates, "%dM" % UPDATES_DISK_MIB)
    print("update files: good %d bytes, broken %d bytes (%.0f s)" % (
        os.path.getsize(os.path.join(files, "good.upd")),
        os.path.getsize(os.path.join(files, "broken.upd")), time.monotonic() - started), flush=True)

    vm_dir = os.path.join(WORK, "vm")
    os.makedirs(vm_dir)
    disk = copy_disk(os.path.join(IMAGE, "disk.img"), os.path.join(vm_dir, "disk.img"))
    vm = Vm(disk, updates, vm_dir)
    try:
        # ---- 1. first boot, slot A
        t = time.monotonic()
        c = vm.start()
        c.expect(r"grub: booting slot A", BOOT_TIMEOUT_S)
        ready(c, "boot 1 (slot A, first boot)", t)
        c.login()
        rc, _ = c.run("echo %s > /etc/ha-agent/update.key && chmod 600 /etc/ha-agent/update.key"
                      " && printf 'COMMIT_WAIT_S=%d\\nCOMMIT_PEERS=none\\n' > /etc/ha-agent/update.conf"
                      " && echo kept > /etc/ha-agent/update-test && sync" % (key, COMMIT_WAIT_S))
        check(rc == 0, "the update key, the commit settings (COMMIT_WAIT_S=%d, peers not required:"
              " a lone VM) and a file are on the data partition" % COMMIT_WAIT_S)
        rc, out = c.run("ha-agent update status")
        check(rc == 0 and "booted: slot A" in out and "committed: slot A" in out,
              "update status: booted and committed slot A:\n" + "\n".join("    | " + l for l in out.splitlines()))

        # ---- 2. refused files: nothing written
        mount_updates(c)
        b_before = region_sha(disk, "rootB")
        esp_before = region_sha(disk, "esp")
        rc, out = c.run("ha-agent update apply /tmp/u/corrupt.upd", timeout_s=APPLY_TIMEOUT_S)
        check(rc == 4 and "SHA-256" in out and "damaged" in out,
              "a corrupted update file is refused (exit %d): %s" % (rc, out.strip()))
        rc, out = c.run("ha-agent update apply /tmp/u/forged.upd", timeout_s=APPLY_TIMEOUT_S)
        check(rc == 4 and "HMAC does not match" in out,
              "an update file signed with another key is refused (exit %d): %s" % (rc, out.strip()))
        rc, _ = c.run("sync")
        check(region_sha(disk, "rootB") == b_before and region_sha(disk, "esp") == esp_before,
              "after the refusals slot B's bytes and the ESP (environment block) are unchanged")

        # ---- 3. power cut while slot B is written
        t = time.monotonic()
        c.send("ha-agent update apply /tmp/u/good.upd\r")
        c.expect(r"update: slot B: 2 of (\d+) MiB written", APPLY_TIMEOUT_S)
        vm.m.qmp.command("quit")
        vm.m.proc.wait(30)
        vm.stop()
        n = matching_mib(disk, "rootB", good_payload)
        total = (len(good_payload) + (1 << 20) - 1) >> 20
        check(2 <= n < total, "power cut (QMP quit) while writing slot B: %d of %d MiB of the new"
              " release on the disk" % (n, total))
        c = vm.start()
        c.expect(r"grub: booting slot A", BOOT_TIMEOUT_S)
        ready(c, "boot 2 (after the power cut)", t)
        check(not c.seen(r"on trial"), "after the power cut GRUB boots slot A, nothing on trial")
        c.login()
        rc, out = c.run("ha-agent update status")
        check(rc == 0 and "booted: slot A" in out and "slot B: no release" in out,
              "update status: slot B holds no release:\n" + "\n".join("    | " + l for l in out.splitlines()))

        # ---- 3b. power cuts in the write of the mark (grubenv, then grubenv.bak)
        last = re.compile(r"update: slot B: (\d+) of \1 MiB written")
        trial = False
        for k in range(0, MAX_ENV_CUTS):
            t = time.monotonic()
            if k > 0:
                c.login()
            mount_updates(c)
            c.send("ha-agent update apply /tmp/u/good.upd\r")
            c.expect(last.pattern, APPLY_TIMEOUT_S)
            mark = c.position()
            vm.throttle(ENV_CUT_IOPS)
            base = vm.writes()
            deadline = time.monotonic() + ENV_WINDOW_TIMEOUT_S
            while vm.writes() < base + k and not c.seen(r"\(read back\)", mark) \
                    and time.monotonic() < deadline:
                time.sleep(0.05)
            done = vm.writes() - base
            vm.cut()
            p, b = read_env(disk, "grubenv"), read_env(disk, "grubenv.bak")
            which, env = believed(disk)
            marked = env is not None and env.get("ha_try") == "B" and env.get("ha_try_left") == "1"
            where = "grubenv: %s; grubenv.bak: %s" % (describe_env(p), describe_env(b))
            c = vm.start()
            m = c.expect(r"grub: (slot B on trial|booting slot A|booting slot B)", BOOT_TIMEOUT_S)
            trial = m.group(1) == "slot B on trial"
            c.expect(r"stage1: root is /dev/vda%d \(root%s\)" % ((3, "B") if trial else (2, "A")), BOOT_TIMEOUT_S)
            ready(c, "mark cut %d" % k, t)
            # Each write seals above the copies' numbers: copies that differ have different ones.
            rising = not (p and b and p["sealed"] and b["sealed"] and p != b) \
                or int(p["ha_env_seq"]) > int(b["ha_env_seq"])
            check(which is not None and trial == marked and (trial or not c.seen(r"on trial")) and rising,
                  "power cut in the mark's write, after %d throttled write requests (asked %d): %s;"
                  " GRUB believes %s: %s; the box came up (agent ready)" % (
                      done, k, where, which, "slot B on trial" if trial else "slot A, nothing on trial"))
            if trial:
                break
        check(trial, "within %d cuts the mark reached grubenv and slot B was tried" % MAX_ENV_CUTS)

        # ---- 4. the trial commits itself; its write is cut, then grubenv torn on the host
        t = time.monotonic()
        # The commit is due COMMIT_STABLE_S after the agent's first answer (just seen).
        time.sleep(max(0, COMMIT_STABLE_S - COMMIT_THROTTLE_LEAD_S))
        previous = read_file_in_esp(disk, "grubenv")
        vm.throttle(ENV_CUT_IOPS)
        deadline = time.monotonic() + COMMIT_WAIT_S
        while time.monotonic() < deadline:
            p = read_env(disk, "grubenv")
            if p and p["sealed"] and p.get("ha_boot") == "B":
                break
            time.sleep(0.01)
        vm.cut()
        p, b = read_env(disk, "grubenv"), read_env(disk, "grubenv.bak")
        check(p and p["sealed"] and p.get("ha_boot") == "B" and "ha_try" not in p,
              "power cut in the commit's write: grubenv: %s; grubenv.bak: %s"
              % (describe_env(p), describe_env(b)))
        # A write of the commit cut inside a sector: the committed block's beginning (up to
        # its ha_boot line) over the end of the block before it.
        committed = read_file_in_esp(disk, "grubenv")
        cut_at = committed.index(b"ha_boot=B\n") + len(b"ha_boot=B\n")
        write_file_in_esp(disk, "grubenv", committed[:cut_at] + previous[cut_at:])
        which, env = believed(disk)
        if env is not None and env.get("ha_try") == "B" and env.get("ha_try_left") == "1":
            expect = "slot B on trial"
        else:
            expect = "booting slot %s" % (env or {}).get("ha_boot")
        print("torn grubenv: %s; grubenv.bak: %s" % (describe_env(read_env(disk, "grubenv")),
                                                     describe_env(b)), flush=True)
        c = vm.start()
        c.expect(r"grub: grubenv is torn: using grubenv.bak", BOOT_TIMEOUT_S)
        m = c.expect(r"grub: (slot B on trial|booting slot B|booting slot A)", BOOT_TIMEOUT_S)
        check(which == "grubenv.bak" and m.group(1) == expect,
              "grubenv torn: GRUB said so and took grubenv.bak (%s): %s" % (describe_env(env), m.group(1)))
        c.expect(r"ha-update-commit: update: environment block: EFI/BOOT/grubenv rewritten from the copy GRUB believes",
                 BOOT_TIMEOUT_S)
        ready(c, "boot after the torn grubenv", t)
        p, b = read_env(disk, "grubenv"), read_env(disk, "grubenv.bak")
        check(p and b and p["sealed"] and p == b,
              "the boot repaired grubenv from grubenv.bak (ha-agent update repair): grubenv: %s; grubenv.bak: %s"
              % (describe_env(p), describe_env(b)))
        c.login()
        if m.group(1) == "booting slot A":
            # The commit never reached a whole copy: the trial counts as failed, slot A (the
            # committed one) runs. The good update once more, without a cut.
            rc, out = c.run("ha-agent update status")
            check(rc == 0 and "booted: slot A" in out and "committed: slot A" in out
                  and "slot B: test-good, tried and not committed: rolled back" in out,
                  "the torn commit counts as a failed trial: slot A committed and running:\n"
                  + "\n".join("    | " + l for l in out.splitlines()))
            mount_updates(c)
            c.send("ha-agent update apply /tmp/u/good.upd\r")
            c.expect(r"update: slot B holds release test-good \(read back\)", APPLY_TIMEOUT_S)
            c.expect(r"grub: slot B on trial", BOOT_TIMEOUT_S)
            c.expect(r"stage1: root is /dev/vda3 \(rootB\)", BOOT_TIMEOUT_S)
        if m.group(1) != "booting slot B":
            c.expect(r"ha-update-commit: update: slot B committed \(release test-good\)", COMMIT_WAIT_S + BOOT_TIMEOUT_S)
            check(True, "good update: slot B booted once on trial and committed itself (release test-good)")
            c.login()
        print("good update: apply to committed in %.1f s" % (time.monotonic() - t), flush=True)
        rc, out = c.run("ha-agent update status; cat /etc/ha-agent/update-test")
        check(rc == 0 and "booted: slot B" in out and "committed: slot B" in out
              and "running release: test-good" in out and out.strip().endswith("kept"),
              "update status: release test-good runs from committed slot B; the data partition's"
              " file is still there:\n" + "\n".join("    | " + l for l in out.splitlines()))
        mark = c.position()
        c.send("reboot\r")
        c.expect(r"grub: booting slot B", BOOT_TIMEOUT_S)
        ready(c, "boot 4 (after the commit)", t)
        p, b = read_env(disk, "grubenv"), read_env(disk, "grubenv.bak")
        check(not c.seen(r"on trial", mark) and not c.seen(r"grubenv is torn", mark) and p == b,
              "the next boot takes slot B, the committed one, without a trial; both copies equal (%s)"
              % describe_env(p))

        # ---- 5. a release whose agent never starts (into slot A)
        t = time.monotonic()
        c.login()
        mount_updates(c)
        c.send("ha-agent update apply /tmp/u/broken.upd\r")
        c.expect(r"update: slot A holds release test-broken \(read back\)", APPLY_TIMEOUT_S)
        c.expect(r"grub: slot A on trial", BOOT_TIMEOUT_S)
        c.expect(r"stage1: root is /dev/vda2 \(rootA\)", BOOT_TIMEOUT_S)
        c.expect(r"ha-agent exited with status 1;", BOOT_TIMEOUT_S)
        c.expect(r"ha-update-commit: the trial is not committed: rebooting to the committed slot",
                 COMMIT_WAIT_S + BOOT_TIMEOUT_S)
        c.expect(r"grub: booting slot B", BOOT_TIMEOUT_S)
        ready(c, "broken update: back on slot B", t)
        check(True, "an update whose agent never starts: not committed within %d s, rebooted,"
              " GRUB took committed slot B again" % COMMIT_WAIT_S)
        c.login()
        rc, out = c.run("ha-agent update status")
        check(rc == 0 and "booted: slot B" in out and "committed: slot B" in out
              and "slot A: test-broken, tried and not committed: rolled back" in out,
              "update status shows slot A rolled back:\n" + "\n".join("    | " + l for l in out.splitlines()))

        # ---- 6. a release whose agent hangs (into slot A again): the watchdog resets the box
        t = time.monotonic()
        mark6 = c.position()
        mount_updates(c)
        c.send("ha-agent update apply /tmp/u/hung.upd\r")
        c.expect(r"update: slot A holds release test-hung \(read back\)", APPLY_TIMEOUT_S)
        c.expect(r"grub: slot A on trial", BOOT_TIMEOUT_S)
        c.expect(r"update-test: stopping ha-agent", BOOT_TIMEOUT_S)
        hung_at = time.monotonic()
        c.expect(r"BdsDxe: starting", WATCHDOG_TIMEOUT_S + 60)
        reset_after = time.monotonic() - hung_at
        c.expect(r"grub: booting slot B", BOOT_TIMEOUT_S)
        ready(c, "hung update: back on slot B", t)
        vm.m.qmp.command("query-status")
        watchdog = [e for e in vm.m.qmp.events if e.get("event") == "WATCHDOG"]
        check(watchdog and not c.seen(r"rebooting to the committed slot", mark6),
              "an update whose agent hangs: the hardware watchdog reset the box %.0f s after the"
              " hang (QMP WATCHDOG event: %s), GRUB took committed slot B again"
              % (reset_after, watchdog[0]["data"] if watchdog else "none"))
        c.login()
        rc, out = c.run("ha-agent update status")
        check(rc == 0 and "booted: slot B" in out
              and "slot A: test-hung, tried and not committed: rolled back" in out,
              "update status shows slot A rolled back:\n" + "\n".join("    | " + l for l in out.splitlines()))
    except Timeout as e:
        check(False, str(e))
    finally:
        vm.stop()
    summary_exit("update-test", started)


if __name__ == "__main__":
    main()
