#!/usr/bin/env bash
# QEMU hardware-watchdog test (issue 4).
#
# Boots Debian's kernel with a BusyBox initramfs holding the static agent, on TCG, with an
# emulated i6300esb watchdog (-watchdog-action reset) and a QMP socket. Inside the VM, /init
# loads watchdog.ko and i6300esb.ko and runs the agent itself (`ha-agent run` with a [watchdog]
# section: the real run loop arms the watchdog and feeds it by its health policy).
# None of the agent's links can open: its serial links name ttyS1 and ttyS2, which have no UART
# behind them (QEMU gets no -serial for them: uart:unknown, open fails with EIO), and its UDP
# links an address the VM does not have (it has no NIC). A link that cannot open is a link that
# is down: it must not starve the watchdog.
#   Boot 1: the agent reports "last reset by watchdog: no" and runs 3T s with no link open,
#           the links down with their reasons in its status, and the VM is NOT reset; then
#           /init stops it with kill -STOP; the hardware must reset the VM (QMP WATCHDOG
#           event, action reset).
#   Boot 2: the agent reports "last reset by watchdog: yes"; /init stops it cleanly
#           (SIGTERM: magic close); the VM must NOT be reset for 2T+5 s; /init powers off.
# The host side (python3, standard library only) records the QMP events and the console.
#
# Needs: qemu-system-x86_64, apt-get (Debian archive reachable), python3, the static agent
# (make agent). Everything is downloaded into out/.
# Usage: tests/vm/watchdog-test.sh            (HA_AGENT_BIN, WATCHDOG_TIMEOUT_S to override)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=$ROOT/out/vm-watchdog
AGENT=${HA_AGENT_BIN:-$ROOT/target/x86_64-unknown-linux-musl/release/ha-agent}
TIMEOUT_S=${WATCHDOG_TIMEOUT_S:-5}
# Upper bound on the whole run (two TCG boots and the waits).
RUN_LIMIT_S=${VM_RUN_LIMIT_S:-400}

fail() { echo "watchdog-test: $*" >&2; exit 1; }
first() { for f in "$@"; do [ -e "$f" ] && { echo "$f"; return 0; }; done; return 1; }

command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
command -v python3 >/dev/null || fail "python3 missing"
[ -x "$AGENT" ] || fail "$AGENT missing: run 'make agent' first"
if file -b "$AGENT" | grep -q 'dynamically linked'; then fail "$AGENT is not statically linked"; fi
set +e; "$AGENT" watchdog-test --bogus >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ] || fail "$AGENT has no watchdog-test subcommand (exit $rc)"

# The Debian packages are shared with tests/vm/make-image.sh.
mkdir -p "$OUT" "$ROOT/out/debs"
cd "$ROOT/out/debs"
kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
[ -n "$kpkg" ] || fail "cannot resolve linux-image-amd64 (apt-get update?)"
first "${kpkg}"_*.deb >/dev/null || apt-get download "$kpkg" 2>/dev/null
first busybox-static_*.deb >/dev/null || apt-get download busybox-static 2>/dev/null
rm -rf "$OUT/kernel" "$OUT/busybox" "$OUT/initramfs"
dpkg-deb -x "$(first "${kpkg}"_*.deb)" "$OUT/kernel"
dpkg-deb -x "$(first busybox-static_*.deb)" "$OUT/busybox"
vmlinuz=$(first "$OUT"/kernel/boot/vmlinuz-*)
kver=${vmlinuz##*/vmlinuz-}
busybox=$OUT/busybox/bin/busybox

# Initramfs: busybox, the agent, the two modules, /init.
IR=$OUT/initramfs
mkdir -p "$IR"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$IR/bin/busybox"
cp "$AGENT" "$IR/bin/ha-agent"
for m in watchdog i6300esb; do
  src=$(find "$OUT/kernel/lib/modules/$kver" -name "$m.ko*" | head -1)
  [ -n "$src" ] || fail "module $m not found in $kpkg"
  case "$src" in
    *.ko) cp "$src" "$IR/lib/modules/$m.ko" ;;
    *.ko.xz) xz -dc "$src" > "$IR/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$src" > "$IR/lib/modules/$m.ko" ;;
    *) fail "unknown module format $src" ;;
  esac
done
# The agent's configuration from the one generator of the tests' configurations
# (ha_tests::topology, checked by check-config in tests/generated_configs.rs).
mkdir -p "$IR/etc/ha-agent"
(cd "$ROOT" && cargo run -q --locked -p ha-tests --bin configs -- watchdog-vm "$IR/etc/ha-agent" \
  timeout_s="$TIMEOUT_S") >/dev/null || fail "the configs tool could not write the configuration"
cat > "$IR/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
T=$(sed -n 's/.*ha\.wdt=\([0-9]*\).*/\1/p' /proc/cmdline)
insmod /lib/modules/watchdog.ko
insmod /lib/modules/i6300esb.ko
# Bounded waits (0.1 s steps) that say what they saw and after how long.
i=0; while [ ! -e /dev/watchdog ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
if [ -e /dev/watchdog ]; then echo "HA-VM: /dev/watchdog after $i x 0.1 s"; else echo "HA-VM: no /dev/watchdog within 30 s"; fi
echo "HA-VM: boot, watchdog timeout $T s"
# The agent's real run loop: a witness none of whose links can open (serial ports without a
# UART, UDP on an address not on this machine), with the watchdog armed by its [watchdog]
# section and fed by its N3 policy.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
mkdir -p /etc/ha-agent /tmp/state
echo 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f > /etc/ha-agent/cluster.key
chmod 600 /etc/ha-agent/cluster.key
grep -E '^[0-9]+:' /proc/tty/driver/serial | sed 's/^/HA-VM: tty /'
/bin/ha-agent run --config /etc/ha-agent/agent.toml > /tmp/wd.log 2>&1 &
PID=$!
# The agent's log is written by a thread of its own, line by line: wait for its "started:" line,
# logged after the watchdog's lines ("armed with timeout", "THE LAST RESET CAME FROM THE
# WATCHDOG"), so that those are all in the file when it is read below.
i=0; while ! grep -q "started: cluster" /tmp/wd.log && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
if grep -q "started: cluster" /tmp/wd.log; then
  echo "HA-VM: the agent logged its start after $i x 0.1 s"
else
  echo "HA-VM: the agent did not log its start within 60 s"
fi
sed 's/^/HA-VM agent: /' /tmp/wd.log
if grep -q "LAST RESET CAME FROM THE WATCHDOG" /tmp/wd.log; then
  echo "HA-VM agent: last reset by watchdog: yes"
else
  echo "HA-VM agent: last reset by watchdog: no"
fi
if grep -q "LAST RESET CAME FROM THE WATCHDOG" /tmp/wd.log; then
  echo "HA-VM: second boot, after a watchdog reset"
  sleep 2
  kill -TERM $PID
  wait $PID
  echo "HA-VM: agent exited $?"
  if grep -q "watchdog: Disarmed" /tmp/wd.log; then echo "HA-VM agent: disarmed (magic close)"; fi
  sed 's/^/HA-VM agent: /' /tmp/wd.log | tail -n 2
  sleep $((2 * T + 5))
  echo "HA-VM: NO RESET AFTER CLEAN STOP"
  poweroff -f
else
  # No link can open: the agent must keep feeding for 3T s (a link that cannot open is down,
  # not a reason to reset), with its links shown down and why.
  sleep $((3 * T))
  /bin/ha-agent status --socket /tmp/ha-agent.sock --json > /tmp/status.json 2>&1
  grep -o '"transport":"[^"]*","open":[a-z]*' /tmp/status.json | sed 's/^/HA-VM status: /'
  grep -o '"note":"[^"]*"' /tmp/status.json | sed 's/^/HA-VM status: /'
  grep -o '"stalls":{[^}]*}' /tmp/status.json | sed 's/^/HA-VM status: /'
  grep -q "watchdog NOT fed" /tmp/wd.log && echo "HA-VM: the agent withheld the watchdog"
  echo "HA-VM: NO LINK OPEN FOR 3T"
  echo "HA-VM: SIGSTOP"
  kill -STOP $PID
  sleep $((4 * T + 30))
  echo "HA-VM: STILL ALIVE AFTER SIGSTOP"
  poweroff -f
fi
INIT
chmod 755 "$IR/init"
(cd "$IR" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1) > "$OUT/initramfs.cpio.gz"

rm -f "$OUT/console.log" "$OUT/qmp.sock"
exec python3 - "$OUT" "$vmlinuz" "$TIMEOUT_S" "$RUN_LIMIT_S" <<'PY'
import json, os, socket, subprocess, sys, time

out, vmlinuz, timeout_s, limit_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
console = os.path.join(out, "console.log")
qmp_path = os.path.join(out, "qmp.sock")
cmd = [
    "qemu-system-x86_64", "-machine", "pc", "-accel", "tcg", "-m", "256", "-smp", "1",
    "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
    "-serial", "file:" + console,
    "-kernel", vmlinuz, "-initrd", os.path.join(out, "initramfs.cpio.gz"),
    "-append", "console=ttyS0 panic=-1 ha.wdt=%d" % timeout_s,
    "-device", "i6300esb", "-watchdog-action", "reset",
    "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
]
print("watchdog-test: " + " ".join(cmd), flush=True)
qemu = subprocess.Popen(cmd)
start = time.monotonic()

sock = None
while sock is None and time.monotonic() - start < 30:
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(qmp_path)
        sock = s
    except OSError:
        time.sleep(0.1)
if sock is None:
    qemu.kill()
    sys.exit("watchdog-test: no QMP socket")
sock.settimeout(0.2)
sock.sendall(b'{"execute": "qmp_capabilities"}\n')

events, buf, seen = [], b"", {}
markers = ["SIGSTOP", "second boot", "NO RESET AFTER CLEAN STOP", "STILL ALIVE AFTER SIGSTOP",
           "the agent logged its start", "NO LINK OPEN FOR 3T"]
while time.monotonic() - start < limit_s and qemu.poll() is None:
    try:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
    except socket.timeout:
        pass
    while b"\n" in buf:
        line, buf = buf.split(b"\n", 1)
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if "event" in msg:
            t = time.monotonic() - start
            events.append((t, msg["event"], msg.get("data", {})))
            print("watchdog-test: %7.1f s QMP %s %s" % (t, msg["event"], json.dumps(msg.get("data", {}))), flush=True)
    try:
        text = open(console, errors="replace").read()
    except OSError:
        text = ""
    for m in markers:
        if m not in seen and ("HA-VM: " + m) in text:
            seen[m] = time.monotonic() - start
            print("watchdog-test: %7.1f s console: %s" % (seen[m], m), flush=True)
if qemu.poll() is None:
    qemu.kill()
qemu.wait()

# QEMU has exited: what it wrote last (the console's final marker, the last QMP events) may
# have come after the loop's last look. Read both to their end once more.
sock.settimeout(2)
try:
    while True:
        data = sock.recv(65536)
        if not data:
            break
        buf += data
except OSError:
    pass
for line in buf.split(b"\n"):
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if "event" in msg:
        events.append((time.monotonic() - start, msg["event"], msg.get("data", {})))
        print("watchdog-test: QMP %s %s (read after QEMU exited)" % (msg["event"], json.dumps(msg.get("data", {}))), flush=True)
text = open(console, errors="replace").read()
for m in markers:
    if m not in seen and ("HA-VM: " + m) in text:
        seen[m] = time.monotonic() - start
        print("watchdog-test: %7.1f s console: %s (read after QEMU exited)" % (seen[m], m), flush=True)
print("---- console (HA-VM lines) ----")
for line in text.splitlines():
    if "HA-VM" in line or "i6300" in line.lower() or "watchdog" in line.lower():
        print(line.rstrip())
print("-------------------------------")

watchdogs = [e for e in events if e[1] == "WATCHDOG"]
results = []
def check(ok, what):
    results.append(ok)
    print("%s: %s" % ("PASS" if ok else "FAIL", what))

check("last reset by watchdog: no" in text, "boot 1: the agent armed the watchdog and reports no watchdog reset")
started_t = seen.get("the agent logged its start")
quiet_t = seen.get("NO LINK OPEN FOR 3T")
early = [e for e in watchdogs if quiet_t is None or e[0] < quiet_t]
notes = [l for l in text.splitlines() if "HA-VM status: \"note\":\"cannot open" in l]
check(quiet_t is not None and not early and "the agent withheld the watchdog" not in text,
      "boot 1: no link could open (%d links noted down in the status), and the watchdog was fed: no reset "
      "in the %s s from the agent's start to the end of its 3T s (T = %d s)"
      % (len(notes), "%.1f" % (quiet_t - started_t) if quiet_t and started_t else "?", timeout_s))
check(len(notes) == 4, "boot 1: the status shows the four links down, each with its reason")
check("SIGSTOP" in seen, "boot 1: the agent was stopped with kill -STOP")
stop_t = seen.get("SIGSTOP")
fired = [e for e in watchdogs if stop_t is not None and e[0] >= stop_t]
check(bool(fired) and fired[0][2].get("action") == "reset", "the watchdog reset the VM after SIGSTOP (QMP WATCHDOG, action reset)")
if fired:
    delay = fired[0][0] - stop_t
    # The last keepalive was before the stop, so the reset is due within T of the stop; the
    # host sees the console marker up to one polling interval late, and TCG adds slack.
    bound = timeout_s + 5
    check(delay <= bound, "reset %.1f s after SIGSTOP (configured timeout %d s; bound T+5 = %d s)" % (delay, timeout_s, bound))
check("STILL ALIVE AFTER SIGSTOP" not in seen, "the VM did not survive the stopped agent")
check("last reset by watchdog: yes" in text, "boot 2: the agent reports that the last reset came from the watchdog")
check("disarmed (magic close)" in text, "boot 2: clean stop disarmed the watchdog (magic close)")
check("NO RESET AFTER CLEAN STOP" in seen and len(watchdogs) == 1, "boot 2: no reset for 2T+5 s after the clean stop")
check(any(e[1] == "SHUTDOWN" for e in events) or qemu.returncode == 0, "the VM powered off by itself")
sys.exit(0 if all(results) else 1)
PY
