"""The virtual rack's wiring on the host: serial cables, the heartbeat LAN hub, the relay board
and the three member VMs. Standard library only.

Owns: every byte between two members passes through a `Cable` (serial) or the `Hub` (Ethernet),
which can cut, delay or corrupt it, per direction; the `RelayBoard` is a Modbus RTU slave on
the witness's relay port whose coils switch the nodes' VMs off (QMP `quit`: the QEMU process
ends, RAM and CPU state are gone, as with a power cut) and on (a new QEMU process on the same
disks: a cold boot); `Vm` starts QEMU with the same devices as tests/vm/run-member.sh plus the
shared disk and the cables, and drives its console (tests/vm/vmconsole.py).
Does not own: what the members decide (the agent), the scenarios and checks (scenarios.py,
ledger.py)."""

import collections
import heapq
import json
import os
import random
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from vmconsole import Console, Qmp, Timeout  # noqa: E402,F401

# Bound on bytes waiting in one direction of a delayed cable or hub port.
MAX_QUEUED_BYTES = 1 << 20
# Bound on one Ethernet frame read from QEMU's socket netdev (jumbo frames are not used).
MAX_FRAME_BYTES = 65536
# Bound on a boot, from QEMU's start to the agent answering (TCG, 2 shared cores).
BOOT_TIMEOUT_S = 150
# Bound on buffered unparsed Modbus bytes (more is line noise).
MAX_MODBUS_PENDING = 256
# Bound on the acknowledgement records kept per node.
MAX_ACKS = 100000

T0 = time.monotonic()


def now_s():
    return time.monotonic() - T0


def say(text):
    print("[%7.1f s] %s" % (now_s(), text), flush=True)


class Direction:
    """Fault state of one direction of a cable or hub pair."""

    def __init__(self):
        self.mode = "pass"  # pass | cut | noise
        self.delay_s = 0.0
        self.noise_rate = 0.02  # per byte (serial) or per frame (Ethernet)
        self.passed = 0
        self.dropped = 0
        self.corrupted = 0

    def describe(self):
        extra = " +%.0f ms" % (self.delay_s * 1000) if self.delay_s else ""
        return self.mode + extra


def corrupt(data, rate, rng):
    out = bytearray(data)
    hits = 0
    for i in range(len(out)):
        if rng.random() < rate:
            out[i] ^= 1 << rng.randrange(8)
            hits += 1
    return bytes(out), hits


class Cable:
    """A null-modem serial cable between two VMs: the harness serves one Unix socket per end
    (each VM's chardev connects to it) and relays bytes, applying each direction's faults."""

    def __init__(self, name, a, b, workdir):
        self.name, self.ends = name, (a, b)
        self.paths = tuple(os.path.join(workdir, "cable-%s-%s.sock" % (name, e)) for e in (a, b))
        self.dir = {(0, 1): Direction(), (1, 0): Direction()}
        self.conns = [None, None]
        self.listeners = []
        self.queue = {k: [] for k in self.dir}  # heap of (due, seq, bytes)
        self.queued = {k: 0 for k in self.dir}
        self.seq = 0
        self.rng = random.Random(hash(name) & 0xFFFF)
        for p in self.paths:
            if os.path.exists(p):
                os.unlink(p)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(p)
            s.listen(2)
            s.setblocking(False)
            self.listeners.append(s)
        self.lock = threading.Lock()
        threading.Thread(target=self._run, daemon=True, name="cable-" + name).start()

    def set(self, mode=None, direction=None, delay_ms=None, noise_rate=None):
        """direction: None (both) or the name of the sending end."""
        keys = list(self.dir) if direction is None else [(0, 1) if direction == self.ends[0] else (1, 0)]
        with self.lock:
            for k in keys:
                d = self.dir[k]
                if mode is not None:
                    d.mode = mode
                if delay_ms is not None:
                    d.delay_s = delay_ms / 1000.0
                if noise_rate is not None:
                    d.noise_rate = noise_rate

    def describe(self):
        return "%s: %s>%s %s, %s>%s %s" % (
            self.name, self.ends[0], self.ends[1], self.dir[(0, 1)].describe(),
            self.ends[1], self.ends[0], self.dir[(1, 0)].describe())

    def _send(self, k, data):
        conn = self.conns[k[1]]
        if conn is None:
            return
        try:
            conn.sendall(data)
        except OSError:
            pass

    def _run(self):
        sel = selectors.DefaultSelector()
        for i, s in enumerate(self.listeners):
            sel.register(s, selectors.EVENT_READ, ("listen", i))
        while True:
            timeout = 0.05
            for event, _ in sel.select(timeout):
                kind, i = event.data
                if kind == "listen":
                    try:
                        c, _ = event.fileobj.accept()
                    except OSError:
                        continue
                    if self.conns[i] is not None:
                        try:
                            sel.unregister(self.conns[i])
                        except (KeyError, ValueError):
                            pass
                        self.conns[i].close()
                    self.conns[i] = c
                    sel.register(c, selectors.EVENT_READ, ("data", i))
                    continue
                try:
                    data = event.fileobj.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(event.fileobj)
                    event.fileobj.close()
                    if self.conns[i] is event.fileobj:
                        self.conns[i] = None
                    continue
                k = (i, 1 - i)
                with self.lock:
                    d = self.dir[k]
                    if d.mode == "cut":
                        d.dropped += len(data)
                        continue
                    if d.mode == "noise":
                        data, hits = corrupt(data, d.noise_rate, self.rng)
                        d.corrupted += hits
                    d.passed += len(data)
                    if d.delay_s > 0 and self.queued[k] + len(data) <= MAX_QUEUED_BYTES:
                        self.seq += 1
                        heapq.heappush(self.queue[k], (time.monotonic() + d.delay_s, self.seq, data))
                        self.queued[k] += len(data)
                        continue
                self._send(k, data)
            t = time.monotonic()
            for k, q in self.queue.items():
                while q and q[0][0] <= t:
                    _, _, data = heapq.heappop(q)
                    self.queued[k] -= len(data)
                    self._send(k, data)


class Hub:
    """The heartbeat LAN: an Ethernet hub on the host. Each VM's NIC is a QEMU socket netdev
    that connects to its own TCP port here (frames are a 4-byte big-endian length and the
    frame). A frame goes to the member owning its destination MAC (learned from source MACs),
    or to every other member when it is a broadcast; each (sender, receiver) pair has its own
    fault state."""

    def __init__(self, members, base_port):
        self.members = list(members)
        self.ports = {m: base_port + i for i, m in enumerate(self.members)}
        self.conns = {}
        self.macs = {}
        self.pairs = {(a, b): Direction() for a in self.members for b in self.members if a != b}
        self.lock = threading.Lock()
        self.rng = random.Random(7)
        self.listeners = {}
        for m, port in self.ports.items():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(2)
            self.listeners[m] = s
            threading.Thread(target=self._accept, args=(m, s), daemon=True).start()

    def set(self, a, b, mode=None, both=True, delay_ms=None, noise_rate=None):
        with self.lock:
            for k in ([(a, b), (b, a)] if both else [(a, b)]):
                d = self.pairs[k]
                if mode is not None:
                    d.mode = mode
                if delay_ms is not None:
                    d.delay_s = delay_ms / 1000.0
                if noise_rate is not None:
                    d.noise_rate = noise_rate

    def describe(self):
        return "lan: " + ", ".join("%s>%s %s" % (a, b, d.describe()) for (a, b), d in sorted(self.pairs.items()))

    def _accept(self, member, listener):
        while True:
            c, _ = listener.accept()
            with self.lock:
                old = self.conns.get(member)
                self.conns[member] = c
            if old is not None:
                old.close()
            threading.Thread(target=self._read, args=(member, c), daemon=True).start()

    def _read(self, member, conn):
        f = conn.makefile("rb")
        while True:
            try:
                head = f.read(4)
                if len(head) < 4:
                    break
                (n,) = struct.unpack(">I", head)
                if n > MAX_FRAME_BYTES:
                    break
                frame = f.read(n)
                if len(frame) < n:
                    break
            except OSError:
                break
            self._forward(member, frame)
        with self.lock:
            if self.conns.get(member) is conn:
                del self.conns[member]

    def _forward(self, src, frame):
        if len(frame) < 14:
            return
        dst_mac, src_mac = frame[0:6], frame[6:12]
        with self.lock:
            self.macs[src_mac] = src
            owner = self.macs.get(dst_mac)
            targets = [owner] if owner is not None and not (dst_mac[0] & 1) else \
                [m for m in self.members if m != src]
            sends = []
            for dst in targets:
                if dst == src:
                    continue
                d = self.pairs[(src, dst)]
                if d.mode == "cut":
                    d.dropped += 1
                    continue
                out = frame
                if d.mode == "noise" and self.rng.random() < d.noise_rate * 10:
                    out, _ = corrupt(frame[14:], 0.01, self.rng)
                    out = frame[:14] + out
                    d.corrupted += 1
                d.passed += 1
                conn = self.conns.get(dst)
                if conn is not None:
                    sends.append((conn, d.delay_s, out))
        for conn, delay_s, out in sends:
            data = struct.pack(">I", len(out)) + out
            if delay_s > 0:
                threading.Timer(delay_s, self._send, (conn, data)).start()
            else:
                self._send(conn, data)

    @staticmethod
    def _send(conn, data):
        try:
            conn.sendall(data)
        except OSError:
            pass


def modbus_crc(data):
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            lsb = crc & 1
            crc >>= 1
            if lsb:
                crc ^= 0xA001
    return crc


class RelayBoard:
    """A Modbus RTU relay board (slave `address`) on the witness's relay serial port, served on
    a Unix socket. Coil n switches the power of `channels[n]`: `on_change(node, on)` is called
    when a write changes a coil. Read-back (fn 01) reports the coil. `fault`: None, "dead" (no
    answer at all), "stuck" (acknowledges, never switches)."""

    def __init__(self, path, channels, on_change, address=1):
        self.path, self.channels, self.on_change, self.address = path, list(channels), on_change, address
        self.coils = [True] * len(self.channels)
        self.fault = None
        self.log = collections.deque(maxlen=200)  # (time, node, "off"|"on"|"read")
        if os.path.exists(path):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(2)
        threading.Thread(target=self._accept, daemon=True, name="relay").start()

    def _accept(self):
        while True:
            c, _ = self.listener.accept()
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, conn):
        pending = bytearray()
        while True:
            try:
                data = conn.recv(256)
            except OSError:
                data = b""
            if not data:
                conn.close()
                return
            pending += data
            if len(pending) > MAX_MODBUS_PENDING:
                del pending[:-MAX_MODBUS_PENDING]
            while len(pending) >= 8:
                f = bytes(pending[:8])
                if f[0] != self.address or modbus_crc(f[:6]).to_bytes(2, "little") != f[6:8]:
                    del pending[0]
                    continue
                del pending[:8]
                reply = self._execute(f)
                if reply:
                    try:
                        conn.sendall(reply + modbus_crc(reply).to_bytes(2, "little"))
                    except OSError:
                        return

    def _execute(self, f):
        if self.fault == "dead":
            return b""
        func, reg, value = f[1], int.from_bytes(f[2:4], "big"), int.from_bytes(f[4:6], "big")
        if reg >= len(self.channels):
            return bytes([self.address, func | 0x80, 0x02])
        node = self.channels[reg]
        if func == 0x05 and value in (0xFF00, 0x0000):
            on = value == 0xFF00
            self.log.append((now_s(), node, "on" if on else "off"))
            if self.fault != "stuck" and self.coils[reg] != on:
                self.coils[reg] = on
                threading.Thread(target=self.on_change, args=(node, on), daemon=True).start()
            return f[:6]
        if func == 0x01 and value == 1:
            return bytes([self.address, 0x01, 0x01, 1 if self.coils[reg] else 0])
        return bytes([self.address, func | 0x80, 0x01])

    def events(self, kind):
        return [(t, n) for t, n, k in self.log if k == kind]


class Vm:
    """One member VM: QEMU on TCG with the test image, its data disk, the serial ports given,
    one e1000 NIC on the hub (eth0), an i6300esb watchdog (action reset) and, for nodes, the
    shared disk (/dev/vdb) and an acknowledgement port (the last serial port) read by the
    harness."""

    def __init__(self, name, workdir, image, data_disk, serials, hub_port, shared_disk=None,
                 ack_path=None, mem_mib=256):
        self.name, self.image, self.data_disk = name, image, data_disk
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.serials, self.hub_port, self.shared_disk, self.ack_path = serials, hub_port, shared_disk, ack_path
        self.mem_mib = mem_mib
        self.proc = self.console = self.qmp = None
        self.powered = False
        self.boots = 0
        self.resets_seen = 0
        self.ready_at = None
        self.lock = threading.RLock()
        self.acks = collections.deque(maxlen=MAX_ACKS)  # (host time, node, gen, seq, slot)

    def args(self):
        mac = "52:54:00:%02x:%02x:01" % (sum(self.name.encode()) % 256, len(self.name))
        a = [
            "qemu-system-x86_64", "-name", self.name, "-machine", "pc", "-accel", "tcg",
            "-m", str(self.mem_mib), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
            "-kernel", os.path.join(self.image, "vmlinuz"),
            "-initrd", os.path.join(self.image, "initramfs.cpio.gz"),
            "-append", "console=ttyS0,115200 quiet panic=5 ha.data=/dev/vda",
            "-chardev", "socket,id=console,path=%s/console.sock,server=on,wait=off,logfile=%s/console.log,logappend=on"
            % (self.dir, self.dir),
            "-serial", "chardev:console",
            # Explicit PCI slots: the data disk must be /dev/vda (ha.data=) and the shared disk
            # /dev/vdb; with -drive if=virtio the shared disk's -device would come first.
            "-drive", "if=none,id=data,file=%s,format=raw" % self.data_disk,
            "-device", "virtio-blk-pci,drive=data,addr=0x8",
            "-device", "i6300esb", "-watchdog-action", "reset",
            "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % self.dir,
            "-netdev", "socket,id=net0,connect=127.0.0.1:%d" % self.hub_port,
            "-device", "e1000,netdev=net0,mac=%s" % mac,
        ]
        if self.shared_disk:
            a += ["-drive", "if=none,id=shared,file=%s,format=raw,cache=writethrough,file.locking=off"
                  % self.shared_disk,
                  "-device", "virtio-blk-pci,drive=shared,share-rw=on,addr=0x9"]
        for i, path in enumerate(list(self.serials) + ([self.ack_path] if self.ack_path else [])):
            a += ["-chardev", "socket,id=serial%d,path=%s,reconnect=1" % (i + 1, path),
                  "-serial", "chardev:serial%d" % (i + 1)]
        return a

    def power_on(self):
        """Start QEMU (a cold boot); returns at once. `wait_ready` waits for the agent."""
        with self.lock:
            if self.powered:
                return
            for s in ("console.sock", "qmp.sock"):
                p = os.path.join(self.dir, s)
                if os.path.exists(p):
                    os.unlink(p)
            log = open(os.path.join(self.dir, "qemu.out"), "ab")
            self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT)
            self.powered = True
            self.boots += 1
            self.ready_at = None
            self.started_at = now_s()
            self.console = Console(os.path.join(self.dir, "console.sock"))
            self.qmp = Qmp(os.path.join(self.dir, "qmp.sock"))
            self.logged_in = False

    def wait_ready(self, timeout_s=BOOT_TIMEOUT_S):
        console = self.console
        m = console.expect(r"ha-agent: ready after ([\d.]+) s", timeout_s)
        self.ready_at = now_s()
        console.login(timeout_s=60)
        self.logged_in = True
        # The system log (a RAM ring) copied to the data disk, for the post-mortem after a
        # reset or a power cut: `Vm.syslog()` reads it from the disk image afterwards.
        self.run("echo '==== boot %d' >> /data/syslog.txt; (logread -f >> /data/syslog.txt 2>&1 &); (while sleep 2; do sync /data/syslog.txt; done &)" % self.boots)
        return float(m.group(1))

    def power_off(self):
        """Power cut: QEMU ends now (QMP quit, else SIGKILL). Nothing in the guest runs after."""
        with self.lock:
            if not self.powered:
                return
            try:
                self.qmp.command("quit")
            except (OSError, ConnectionError, ValueError):
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.console.close()
            self.qmp.close()
            self.powered = False
            self.logged_in = False

    def syslog(self):
        """The member's system log from its data disk (after power-off)."""
        r = subprocess.run(["debugfs", "-R", "cat syslog.txt", self.data_disk], capture_output=True)
        return r.stdout.decode("utf-8", "replace")

    def run(self, command, timeout_s=20):
        with self.lock:
            if not (self.powered and self.logged_in):
                raise Timeout("%s is not up" % self.name)
            try:
                return self.console.run(command, timeout_s)
            except Timeout:
                # The guest rebooted under us (its watchdog, under host load): the shell is
                # gone and getty prompts again. Log in once more and retry.
                if not self.console.seen(r"login: ", max(0, self.console.position() - 4000)):
                    raise
                self.resets_seen += 1
                say("%s: the console shows a login prompt again (the VM rebooted?): logging in" % self.name)
                self.console.login(timeout_s=30)
                return self.console.run(command, timeout_s)

    def status(self):
        """The agent's status (ha-agent status --json at the console), or None."""
        try:
            rc, out = self.run("ha-agent status --json", 15)
        except (Timeout, OSError):
            return None
        if rc != 0:
            return None
        for line in out.splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    return json.loads(line)
                except ValueError:
                    return None
        return None


class AckPort:
    """The host end of a node's acknowledgement serial port: the ledger writer prints
    `ACK node generation sequence slot` after each record is durable on the shared disk."""

    def __init__(self, path, vm):
        self.path, self.vm = path, vm
        if os.path.exists(path):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(2)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            c, _ = self.listener.accept()
            threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, conn):
        buf = b""
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                conn.close()
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                parts = line.decode("ascii", "replace").strip().split()
                if len(parts) == 5 and parts[0] == "ACK":
                    try:
                        self.vm.acks.append((now_s(), parts[1], int(parts[2]), int(parts[3]), int(parts[4])))
                    except ValueError:
                        pass
            if len(buf) > 4096:
                buf = b""
