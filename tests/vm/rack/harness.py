"""The virtual rack's wiring on the host: serial cables, the heartbeat LAN hub, the relay board
and the three member VMs. Standard library only.

Owns: every byte between two members passes through a `Cable` (serial) or the `Hub` (Ethernet),
which can cut, delay or corrupt it, per direction; the `RelayBoard` is a Modbus RTU slave on
the witness's relay port whose coils switch the nodes' VMs off (QMP `quit`: the QEMU process
ends, RAM and CPU state are gone, as with a power cut) and on (a new QEMU process on the same
disks: a cold boot); `Vm` starts QEMU with the same devices as tests/vm/run-member.sh plus the
shared disk and the cables, and drives its console (tests/vm/vmconsole.py); `MgmtNet` is
the management network where the harness plays the management station, `TrapStation` runs
snmptrapd on loopback behind it, `ArecaConsole` answers the witness's RAID controller port.
Does not own: what the members decide (the agent), the scenarios and checks (rack.py,
ledger.py)."""

import base64
import binascii
import collections
import gzip
import hashlib
import heapq
import json
import os
import random
import re
import selectors
import shutil
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
BOOT_TIMEOUT_S = 240
# A booting VM runs at this niceness until its agent is ready: a TCG boot (kernel, initramfs
# decompression) is CPU-heavy and starved the running members for seconds (a witness woke
# 8.6 s late once and the new holder lost its links), which made the witness fence them.
BOOT_NICE = 15
# The niceness the VMs never go below (RACK_NICE=10: a rack sharing the machine with builds
# runs at nice 10 throughout, booting VMs at BOOT_NICE or this, whichever is higher).
RUN_NICE = int(os.environ.get("RACK_NICE", "0"))
# Bound on buffered unparsed Modbus bytes (more is line noise).
MAX_MODBUS_PENDING = 256
# Bound on the acknowledgement records kept per node.
MAX_ACKS = 100000
# Bound on the LAN frames waiting for one member's socket (Hub._send).
MAX_PENDING_BYTES = 256 * 1024
# Reads of a member's status whose copy on the console was damaged before giving up (Vm.status).
STATUS_READS = 5
# The PCI slots of a member's PCI serial ports (Vm pci_serials), in ttyS order.
PCI_SERIAL_SLOTS = (0xa, 0xc)

T0 = time.monotonic()
# Bound on waiting for the echo of a typed command and for the prompt after it (a starved
# guest echoes late).
ECHO_TIMEOUT_S = 30


def now_s():
    return time.monotonic() - T0


def say(text):
    print("[%7.1f s] %s" % (now_s(), text), flush=True)


def console_run(console, command, timeout_s):
    """vmconsole.Console.run with generous waits for the echo and the prompt: returns
    (exit status, output), the output framed by markers only the shell's output contains."""
    tag = "%08x" % (int(time.monotonic() * 1e6) & 0xFFFFFFFF)
    console.send("printf '@%%s@\\n' b-%s; %s; echo \"@rc-%s=$?@\"\r" % (tag, command, tag))
    console.expect(r"@b-%s@\n" % tag, ECHO_TIMEOUT_S)
    start = console.mark
    m = console.expect(r"@rc-%s=(\d+)@" % tag, timeout_s)
    with console.lock:
        output = console.text[start:m.start()]
    console.expect(r"# ", ECHO_TIMEOUT_S)
    return int(m.group(1)), output.strip("\n")


class Direction:
    """Fault state of one direction of a cable or hub pair."""

    def __init__(self):
        self.mode = "pass"  # pass | cut | noise
        self.delay_s = 0.0
        self.noise_rate = 0.02  # per byte (serial) or per frame (Ethernet)
        self.passed = 0
        self.dropped = 0
        self.corrupted = 0
        # Lost because the receiving end did not take them (Cable._send, Hub._send).
        self.overrun = 0

    def describe(self):
        extra = " +%.0f ms" % (self.delay_s * 1000) if self.delay_s else ""
        return self.mode + extra

    def apply(self, mode=None, delay_ms=None, noise_rate=None):
        """Change what is given; None keeps the current value."""
        if mode is not None:
            self.mode = mode
        if delay_ms is not None:
            self.delay_s = delay_ms / 1000.0
        if noise_rate is not None:
            self.noise_rate = noise_rate


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
                self.dir[k].apply(mode, delay_ms, noise_rate)

    def describe(self):
        return "%s: %s>%s %s, %s>%s %s" % (
            self.name, self.ends[0], self.ends[1], self.dir[(0, 1)].describe(),
            self.ends[1], self.ends[0], self.dir[(1, 0)].describe())

    def _send(self, k, data):
        """To the receiving end without waiting: what its socket does not take now is lost, as
        bytes that reach a UART whose receive FIFO is full are (these cables have no flow
        control). QEMU stops reading the socket while the guest does not empty its UART (a
        booting member); a blocking send would then stop this cable's thread, so the sending
        member's line would stop draining and its agent's writes fill its tty buffer, which a
        real null-modem cable never does."""
        conn = self.conns[k[1]]
        if conn is None:
            return
        try:
            n = conn.send(data, socket.MSG_DONTWAIT)
        except BlockingIOError:
            n = 0
        except OSError:
            return
        if n < len(data):
            with self.lock:
                self.dir[k].overrun += len(data) - n

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


class NetdevPorts:
    """One TCP port per member for QEMU socket netdevs (`-netdev socket,connect=`): frames are
    a 4-byte big-endian length and the frame. A reconnecting VM replaces its old connection.
    Subclasses set their own state, then call `__init__` (which starts the listeners), and
    handle each frame in `_frame(member, conn, frame)`."""

    def __init__(self, members, base_port):
        self.members = list(members)
        self.ports = {m: base_port + i for i, m in enumerate(self.members)}
        self.conns = {}
        self.lock = threading.Lock()
        self.listeners = {}
        for m, port in self.ports.items():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            s.listen(2)
            self.listeners[m] = s
            threading.Thread(target=self._accept, args=(m, s), daemon=True).start()

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
            self._frame(member, conn, frame)
        with self.lock:
            if self.conns.get(member) is conn:
                del self.conns[member]

    def _frame(self, member, conn, frame):
        raise NotImplementedError


class Hub(NetdevPorts):
    """The heartbeat LAN: an Ethernet hub on the host. Each VM's NIC is a QEMU socket netdev
    that connects to its own TCP port here (frames are a 4-byte big-endian length and the
    frame). A frame goes to the member owning its destination MAC (learned from source MACs),
    or to every other member when it is a broadcast; each (sender, receiver) pair has its own
    fault state."""

    def __init__(self, members, base_port):
        self.macs = {}
        # Frames not yet taken by a member's socket, per connection (Hub._send).
        self.pending = {}
        self.send_lock = threading.Lock()
        self.overruns = 0
        self.pairs = {(a, b): Direction() for a in members for b in members if a != b}
        self.rng = random.Random(7)
        # ARP frames whose sender address is watched (the floating IP): (time, member, op).
        self.arp_watch = set()
        self.arp_log = collections.deque(maxlen=1000)
        NetdevPorts.__init__(self, members, base_port)

    def set(self, a, b, mode=None, both=True, delay_ms=None, noise_rate=None):
        with self.lock:
            for k in ([(a, b), (b, a)] if both else [(a, b)]):
                self.pairs[k].apply(mode, delay_ms, noise_rate)

    def arp_seen(self):
        """The watched ARP frames so far, oldest first: [(time, member, op)] (a copy: the
        member threads append while the scenarios read)."""
        with self.lock:
            return list(self.arp_log)

    def describe(self):
        return "lan: " + ", ".join("%s>%s %s" % (a, b, d.describe()) for (a, b), d in sorted(self.pairs.items()))

    def _frame(self, member, conn, frame):
        self._forward(member, frame)

    def _forward(self, src, frame):
        if len(frame) < 14:
            return
        dst_mac, src_mac = frame[0:6], frame[6:12]
        with self.lock:
            if frame[12:14] == b"\x08\x06" and len(frame) >= 42 and frame[28:32] in self.arp_watch:
                self.arp_log.append((now_s(), src, "reply" if frame[21] == 2 else "request"))
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

    def _send(self, conn, data):
        """One length-prefixed frame to a member without waiting: QEMU stops reading its socket
        while the guest's NIC cannot receive (a booting member), and a blocking send would
        stop the sending member's reader thread, so its frames to everyone else. Frames wait
        in a bounded queue per connection (MAX_PENDING_BYTES); a frame that does not fit is
        dropped whole, as a switch port with a full queue drops it."""
        if not isinstance(conn, socket.socket):
            # A host on a tap device (TapPort): one frame per write, which never waits.
            conn.sendall(data)
            return
        with self.send_lock:
            pending = self.pending.get(conn, b"")
            if len(pending) + len(data) > MAX_PENDING_BYTES:
                self.overruns += 1
            else:
                pending += data
            try:
                n = conn.send(pending, socket.MSG_DONTWAIT) if pending else 0
            except BlockingIOError:
                n = 0
            except OSError:
                self.pending.pop(conn, None)
                return
            pending = pending[n:]
            if pending:
                self.pending[conn] = pending
            else:
                self.pending.pop(conn, None)


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
    answer at all), "stuck" (acknowledges, never switches). `switch_delay_s` > 0: a slow
    contactor, a write is acknowledged at once and the coil switches that much later (unless
    a newer write to it came first); read-back shows the coil as it is."""

    def __init__(self, path, channels, on_change, address=1):
        self.path, self.channels, self.on_change, self.address = path, list(channels), on_change, address
        self.coils = [True] * len(self.channels)
        self.fault = None
        self.switch_delay_s = 0.0
        self.writes = [0] * len(self.channels)  # per coil: writes so far (a late switch's ticket)
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
            self.writes[reg] += 1
            if self.fault != "stuck":
                delay_s, ticket = self.switch_delay_s, self.writes[reg]
                if delay_s > 0:
                    threading.Timer(delay_s, self._switch, args=(reg, on, ticket)).start()
                else:
                    self._switch(reg, on, ticket)
            return f[:6]
        if func == 0x01 and value == 1:
            return bytes([self.address, 0x01, 0x01, 1 if self.coils[reg] else 0])
        return bytes([self.address, func | 0x80, 0x01])

    def _switch(self, reg, on, ticket):
        if ticket != self.writes[reg] or self.coils[reg] == on:
            return  # a newer write came first, or nothing changes
        self.coils[reg] = on
        threading.Thread(target=self.on_change, args=(self.channels[reg], on), daemon=True).start()

    def events(self, kind):
        # list(): a copy taken at once; the board's thread appends while the scenarios read.
        return [(t, n) for t, n, k in list(self.log) if k == kind]


class Vm:
    """One member VM: QEMU on TCG with the test image, its data disk, the serial ports given,
    one e1000 NIC on the hub (eth0), an i6300esb watchdog (action reset) and, for nodes, the
    shared disk (/dev/vdb) and an acknowledgement port (the last serial port) read by the
    harness."""

    def __init__(self, name, workdir, image, data_disk, serials, hub_port, shared_disk=None,
                 ack_path=None, mem_mib=256, mgmt_port=None, pci_serials=()):
        self.name, self.image, self.data_disk = name, image, data_disk
        self.dir = os.path.join(workdir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.serials, self.hub_port, self.shared_disk, self.ack_path = serials, hub_port, shared_disk, ack_path
        self.mem_mib = mem_mib
        # mgmt_port: the management NIC (eth1) on MgmtNet; pci_serials: more serial ports (PCI
        # 16550s, the next ttyS after the ISA ones, in order: ttyS4, ttyS5) whose chardevs
        # connect to these paths.
        self.mgmt_port, self.pci_serials = mgmt_port, list(pci_serials)
        self.proc = self.console = self.qmp = None
        self.powered = False
        self.boots = 0
        self.resets_seen = 0
        self.status_garbled = 0  # status copies damaged on the console (Vm.status)
        self.ready_at = None
        self.lock = threading.RLock()
        self.acks = collections.deque(maxlen=MAX_ACKS)  # (host time, node, gen, seq, slot)
        self.starts = collections.deque(maxlen=MAX_ACKS)  # (host time, node, gen): ledger starts
        # (host time, node, [pids]): PostgreSQL servers on the shared disk (Debian nodes' probe)
        self.pg_samples = collections.deque(maxlen=MAX_ACKS * 4)

    def boot_args(self):
        """How the member boots: the test image's kernel and initramfs handed to QEMU."""
        return ["-kernel", os.path.join(self.image, "vmlinuz"),
                "-initrd", os.path.join(self.image, "initramfs.cpio.gz"),
                # 8250.nr_uarts: the kernel registers 4 serial ports by default; a PCI one is the 5th.
                "-append", "console=ttyS0,115200 quiet panic=5 ha.data=/dev/vda 8250.nr_uarts=8"]

    def disk_args(self):
        """The member's own disk. Explicit PCI slots: the data disk must be /dev/vda (ha.data=)
        and the shared disk /dev/vdb; with -drive if=virtio the shared disk's -device would
        come first."""
        return ["-drive", "if=none,id=data,file=%s,format=raw" % self.data_disk,
                "-device", "virtio-blk-pci,drive=data,addr=0x8"]

    def args(self):
        mac = "52:54:00:%02x:%02x:01" % (sum(self.name.encode()) % 256, len(self.name))
        a = [
            "qemu-system-x86_64", "-name", self.name, "-machine", "pc", "-accel", "tcg",
            "-m", str(self.mem_mib), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-monitor", "none",
            *self.boot_args(),
            "-chardev", "socket,id=console,path=%s/console.sock,server=on,wait=off,logfile=%s/console.log,logappend=on"
            % (self.dir, self.dir),
            "-serial", "chardev:console",
            *self.disk_args(),
            "-device", "i6300esb", "-watchdog-action", "reset",
            "-qmp", "unix:%s/qmp.sock,server=on,wait=off" % self.dir,
            "-netdev", "socket,id=net0,connect=127.0.0.1:%d" % self.hub_port,
            "-device", "e1000,netdev=net0,mac=%s,addr=0x6" % mac,
        ]
        if self.mgmt_port:
            a += ["-netdev", "socket,id=net1,connect=127.0.0.1:%d" % self.mgmt_port,
                  "-device", "e1000,netdev=net1,mac=%s2,addr=0x7" % mac[:-1]]
        if self.shared_disk:
            a += ["-drive", "if=none,id=shared,file=%s,format=raw,cache=writethrough,file.locking=off"
                  % self.shared_disk,
                  "-device", "virtio-blk-pci,drive=shared,share-rw=on,addr=0x9"]
        for i, path in enumerate(list(self.serials) + ([self.ack_path] if self.ack_path else [])):
            a += ["-chardev", "socket,id=serial%d,path=%s,reconnect=1" % (i + 1, path),
                  "-serial", "chardev:serial%d" % (i + 1)]
        for i, path in enumerate(self.pci_serials):
            a += ["-chardev", "socket,id=pciserial%d,path=%s,reconnect=1" % (i, path),
                  "-device", "pci-serial,chardev=pciserial%d,addr=%#x" % (i, PCI_SERIAL_SLOTS[i])]
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
            self.proc = subprocess.Popen(["nice", "-n", str(max(BOOT_NICE, RUN_NICE))] + self.args(), stdout=log,
                                         stderr=subprocess.STDOUT)
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
        self.renice(0)
        console.login(timeout_s=60)
        self.logged_in = True
        # The system log (a RAM ring) copied to the data disk, for the post-mortem after a
        # reset or a power cut: `Vm.syslog()` reads it from the disk image afterwards.
        self.run("echo '==== boot %d' >> /data/syslog.txt; (logread -f >> /data/syslog.txt 2>&1 &); (while sleep 2; do sync /data/syslog.txt; done &)" % self.boots)
        return float(m.group(1))

    def renice(self, nice):
        """Every thread of the QEMU process (the vCPU thread inherited the boot's niceness)."""
        proc = self.proc
        if proc is None:
            return
        nice = max(nice, RUN_NICE)
        try:
            for tid in os.listdir("/proc/%d/task" % proc.pid):
                os.setpriority(os.PRIO_PROCESS, int(tid), nice)
        except OSError:
            pass

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

    def reboot_from_inside(self, command):
        """Type `command` (one that reboots the guest, e.g. `systemctl reboot`) at the shell
        without waiting for a prompt: the guest shuts down and boots again in the same QEMU
        (no power cut); `wait_ready` then waits for its agent and logs in again."""
        with self.lock:
            if not (self.powered and self.logged_in):
                raise Timeout("%s is not up" % self.name)
            self.console.send(command + "\r")
            self.logged_in = False
            self.boots += 1
            self.ready_at = None

    def syslog(self):
        """The member's system log from its data disk (after power-off)."""
        r = subprocess.run(["debugfs", "-R", "cat syslog.txt", self.data_disk], capture_output=True)
        return r.stdout.decode("utf-8", "replace")

    def run(self, command, timeout_s=20):
        with self.lock:
            if not (self.powered and self.logged_in):
                raise Timeout("%s is not up" % self.name)
            try:
                return console_run(self.console, command, timeout_s)
            except Timeout:
                # The guest rebooted under us (its watchdog, under host load): the shell is
                # gone and getty prompts again. Log in once more and retry.
                if not self.console.seen(r"login: ", max(0, self.console.position() - 4000)):
                    raise
                self.resets_seen += 1
                say("%s: the console shows a login prompt again (the VM rebooted?): logging in" % self.name)
                self.console.login(timeout_s=60)
                return console_run(self.console, command, timeout_s)

    def status(self):
        """The agent's status (ha-agent status --json at the console), or None."""
        text = self.document("ha-agent status --json")
        if text is None:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return None

    def document(self, command):
        """What `command` prints (a document: the agent's status, crm_mon's XML), read at the
        console, or None. The document crosses the console gzip-compressed in base64 (about 1.7
        KB instead of 4 KB for the status) with its MD5: a serial console under load has been
        seen to repeat a character now and then ("generatioon"), which could still parse and
        hide a key; a copy that does not decode or whose digest differs is read again
        (STATUS_READS in all)."""
        for _ in range(STATUS_READS):
            try:
                rc, out = self.run("%s >/tmp/rack-doc && printf 'S:'"
                                   " && gzip -9c /tmp/rack-doc | base64 -w0 && echo"
                                   " && md5sum </tmp/rack-doc" % command, 15)
            except (Timeout, OSError):
                return None
            if rc != 0:
                return None
            lines = [line.strip() for line in out.splitlines()]
            packed = [line[2:] for line in lines if line.startswith("S:")]
            digest = [line.split()[0] for line in lines if re.match(r"^[0-9a-f]{32}( |$)", line)]
            if not packed or not digest:
                self.status_garbled += 1
                continue
            try:
                text = gzip.decompress(base64.b64decode(packed[0], validate=True))
            except (binascii.Error, OSError, EOFError, ValueError):
                self.status_garbled += 1
                continue
            if hashlib.md5(text).hexdigest() != digest[-1]:
                self.status_garbled += 1
                continue
            return text
        return None


class DiskVm(Vm):
    """A member booted from its copy of the flashable disk (out/image/disk.img, its data
    partition seeded with the member's configuration by rack.py) as hardware boots it: UEFI
    firmware (OVMF, its variables in the VM's directory, kept across power cycles as a box's
    NVRAM), GRUB from the ESP, root slot A. The serial ports, NICs and watchdog are `Vm`'s; the
    disk takes the data disk's place (/dev/vda, the data partition found by its GPT name).
    512 MiB: GRUB (EFI) runs out of memory loading the kernel from the slot with 256 MiB."""

    OVMF_CODE = "/usr/share/OVMF/OVMF_CODE.fd"
    OVMF_VARS = "/usr/share/OVMF/OVMF_VARS.fd"

    def __init__(self, name, workdir, disk, data_offset, serials, hub_port, mem_mib=512, **kw):
        # No image directory: the firmware boots the disk (boot_args).
        Vm.__init__(self, name, workdir, "", disk, serials, hub_port, mem_mib=mem_mib, **kw)
        self.data_offset = data_offset
        self.vars = os.path.join(self.dir, "OVMF_VARS.fd")
        if not os.path.exists(self.vars):
            shutil.copyfile(self.OVMF_VARS, self.vars)

    def boot_args(self):
        """The firmware, which boots the disk (GRUB's kernel command line is board/x86_64/grub.cfg's)."""
        return ["-drive", "if=pflash,format=raw,unit=0,readonly=on,file=%s" % self.OVMF_CODE,
                "-drive", "if=pflash,format=raw,unit=1,file=%s" % self.vars]

    def disk_args(self):
        a = Vm.disk_args(self)
        a[-1] += ",bootindex=0"
        return a

    def syslog(self):
        """The member's system log from its disk's data partition (after power-off)."""
        r = subprocess.run(["debugfs", "-R", "cat syslog.txt", "%s?offset=%d" % (self.data_disk, self.data_offset)],
                           capture_output=True)
        return r.stdout.decode("utf-8", "replace")


class DebianVm(Vm):
    """A node booted from the Debian node image (tests/vm/make-debian-node.sh): Debian's kernel
    and initramfs, the root file system a copy-on-write overlay of the image's (/dev/vda), the
    shared disk (/dev/vdb) and the seed disk (/dev/vdc, mounted on /data: the configuration the
    harness generated, the copied journal), the same NICs, watchdog and serial ports as `Vm`.
    systemd starts the agent from its package's unit; the image's rack-ready unit prints the
    line `wait_ready` waits for."""

    def __init__(self, name, workdir, node_image, root_overlay, seed_disk, serials, hub_port,
                 shared_disk, ack_path, mem_mib=512, mgmt_port=None, ready=r"ha-agent: ready after ([\d.]+) s"):
        Vm.__init__(self, name, workdir, node_image, seed_disk, serials, hub_port, shared_disk,
                    ack_path, mem_mib=mem_mib, mgmt_port=mgmt_port)
        # The console line that says the node is up (its rack-ready unit): the agent ready, or
        # on the Pacemaker nodes Pacemaker started.
        self.root_overlay, self.ready = root_overlay, ready

    def boot_args(self):
        return ["-kernel", os.path.join(self.image, "vmlinuz"),
                "-initrd", os.path.join(self.image, "initrd.img"),
                "-append", "console=ttyS0,115200 root=/dev/vda rw quiet loglevel=3 panic=5 "
                           "net.ifnames=0 8250.nr_uarts=8"]

    def disk_args(self):
        """The root overlay as /dev/vda, the seed disk as /dev/vdc."""
        return ["-drive", "if=none,id=data,file=%s,format=qcow2" % self.root_overlay,
                "-device", "virtio-blk-pci,drive=data,addr=0x8",
                "-drive", "if=none,id=seed,file=%s,format=raw" % self.data_disk,
                "-device", "virtio-blk-pci,drive=seed,addr=0xb"]

    def wait_ready(self, timeout_s=BOOT_TIMEOUT_S):
        console = self.console
        m = console.expect(self.ready, timeout_s)
        self.ready_at = now_s()
        self.renice(0)
        console.login(timeout_s=60)
        self.logged_in = True
        return float(m.group(1))


# ioctl and flags of the tun driver (linux/if_tun.h).
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000


class TapPort:
    """A host on the hub's LAN: a tap device in a network namespace of its own (`netns`) with
    `address`, plugged into the hub as member `name` (the hub must list it). Frames the hub
    sends to `name` are written to the tap; frames the namespace sends are forwarded by the
    hub like a VM's. Programs run in the namespace with `command(argv)`; nothing in it reaches
    any other network."""

    def __init__(self, hub, name, netns, ifname, address):
        import fcntl
        self.hub, self.name, self.netns, self.ifname = hub, name, netns, ifname
        subprocess.run(["ip", "netns", "del", netns], stderr=subprocess.DEVNULL)
        subprocess.run(["ip", "netns", "add", netns], check=True)
        self.fd = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(self.fd, TUNSETIFF, struct.pack("16sH", ifname.encode(), IFF_TAP | IFF_NO_PI))
        for cmd in (["ip", "link", "set", ifname, "netns", netns],
                    ["ip", "-n", netns, "addr", "add", address, "dev", ifname],
                    ["ip", "-n", netns, "link", "set", ifname, "up"],
                    ["ip", "-n", netns, "link", "set", "lo", "up"]):
            subprocess.run(cmd, check=True)
        self.closed = False
        with hub.lock:
            hub.conns[name] = self
        threading.Thread(target=self._read, daemon=True, name="tap-" + name).start()

    def command(self, argv):
        return ["ip", "netns", "exec", self.netns] + list(argv)

    def sendall(self, data):
        """The hub's framing (a 4-byte length, then the frame): the frame goes to the tap."""
        if not self.closed:
            os.write(self.fd, data[4:])

    def _read(self):
        while not self.closed:
            try:
                frame = os.read(self.fd, MAX_FRAME_BYTES)
            except OSError:
                return
            self.hub._forward(self.name, frame)

    def close(self):
        self.closed = True
        with self.hub.lock:
            if self.hub.conns.get(self.name) is self:
                del self.hub.conns[self.name]
        subprocess.run(["ip", "netns", "del", self.netns], stderr=subprocess.DEVNULL)
        os.close(self.fd)


class AckPort:
    """The host end of a node's acknowledgement serial port: the ledger writer prints
    `ACK node generation sequence slot` after each record is durable on the shared disk, and
    `START node generation` when its start action begins."""

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
                try:
                    if len(parts) == 5 and parts[0] == "ACK":
                        self.vm.acks.append((now_s(), parts[1], int(parts[2]), int(parts[3]), int(parts[4])))
                    elif len(parts) == 3 and parts[0] == "START":
                        self.vm.starts.append((now_s(), parts[1], int(parts[2])))
                    elif len(parts) == 3 and parts[0] == "PG":
                        # The Debian node's probe (rack-probe): the PostgreSQL servers running
                        # on the shared disk's data directory, "-" for none.
                        pids = [] if parts[2] == "-" else [int(x) for x in parts[2].split(",")]
                        self.vm.pg_samples.append((now_s(), parts[1], pids))
                except ValueError:
                    pass
            if len(buf) > 4096:
                buf = b""


# ---- the management network and the network management station

ETH_ARP = 0x0806
ETH_IPV4 = 0x0800
IPPROTO_UDP = 17
# The station's address on the management network and its (locally administered) MAC.
STATION_IP = "10.20.0.254"
STATION_MAC = bytes.fromhex("5254000000fe")
SNMP_TRAP_PORT = 162


def ip_bytes(text):
    return bytes(int(x) for x in text.split("."))


class MgmtNet(NetdevPorts):
    """Each VM's management NIC (eth1): a QEMU socket netdev on its own TCP port here. Nothing
    is forwarded between members; the only other host on this network is the management
    station at STATION_IP, played by this class: it answers ARP for its address and hands
    every UDP datagram sent to STATION_IP:162 to `deliver(member, payload)` (the harness
    relays it to snmptrapd on 127.0.0.1). No datagram leaves the host's loopback."""

    def __init__(self, members, base_port, deliver):
        self.deliver = deliver
        self.datagrams = collections.Counter()
        self.cut = set()  # members whose management port is unplugged
        NetdevPorts.__init__(self, members, base_port)

    def _frame(self, member, conn, frame):
        if member in self.cut or len(frame) < 14:
            return
        (etype,) = struct.unpack(">H", frame[12:14])
        body = frame[14:]
        if etype == ETH_ARP and len(body) >= 28 and body[6:8] == b"\x00\x01" \
                and body[24:28] == ip_bytes(STATION_IP):
            sha, spa = body[8:14], body[14:18]
            reply = (sha + STATION_MAC + struct.pack(">H", ETH_ARP) + body[0:6] + b"\x00\x02"
                     + STATION_MAC + ip_bytes(STATION_IP) + sha + spa)
            try:
                # This member's own reader thread: waiting here holds up no other member.
                conn.sendall(struct.pack(">I", len(reply)) + reply)
            except OSError:
                pass
        elif etype == ETH_IPV4 and len(body) >= 20 and body[9] == IPPROTO_UDP \
                and body[16:20] == ip_bytes(STATION_IP):
            ihl = (body[0] & 0x0F) * 4
            total = struct.unpack(">H", body[2:4])[0]
            udp = body[ihl:total]
            if len(udp) < 8:
                return
            dport, length = struct.unpack(">HH", udp[2:6])
            if dport == SNMP_TRAP_PORT:
                self.datagrams[member] += 1
                self.deliver(member, udp[8:length])


class Trap:
    def __init__(self, t, sender, name, fields):
        self.t, self.sender, self.name, self.fields = t, sender, name, fields

    def describe(self):
        subject = self.fields.get("rackHaMemberName", "")
        extra = [self.fields[k] for k in ("rackHaPeerName", "rackHaLinkName", "rackHaResourceName",
                                         "rackHaDiskName", "rackHaLogicalDriveName",
                                         "rackHaProgressPercent") if k in self.fields]
        return "%s from %s (%s)" % (self.name, self.sender, " ".join([subject] + extra).strip())


class TrapStation:
    """net-snmp's snmptrapd on 127.0.0.1:`port` (SNMPv2c, community public, the RACK-HA-MIB
    loaded), fed by MgmtNet through one UDP socket per member (so the source port tells the
    sender). Every trap it logs is parsed into a `Trap` stamped with the host clock."""

    def __init__(self, workdir, port, mibdirs, members):
        self.port = port
        self.traps = []
        self.lock = threading.Lock()
        self.socks, self.by_port = {}, {}
        for m in members:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            self.socks[m] = s
            self.by_port[s.getsockname()[1]] = m
        conf = os.path.join(workdir, "snmptrapd.conf")
        with open(conf, "w") as f:
            f.write("authCommunity log public\n")
        self.log = open(os.path.join(workdir, "snmptrapd.log"), "w")
        env = dict(os.environ, SNMP_PERSISTENT_DIR=os.path.join(workdir, "snmptrapd-persist"))
        self.proc = subprocess.Popen(
            ["snmptrapd", "-f", "-Lo", "-C", "-c", conf, "-n", "-M", mibdirs, "-m", "RACK-HA-MIB:SNMPv2-MIB",
             "udp:127.0.0.1:%d" % port], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        self.started = threading.Event()
        threading.Thread(target=self._reader, daemon=True, name="snmptrapd").start()
        if not self.started.wait(20):
            raise RuntimeError("snmptrapd did not start (make setup installs it)")

    def deliver(self, member, payload):
        try:
            self.socks[member].sendto(payload, ("127.0.0.1", self.port))
        except OSError:
            pass

    def _reader(self):
        import re
        sender = None
        head = re.compile(r"UDP: \[127\.0\.0\.1\]:(\d+)->")
        field = re.compile(r"RACK-HA-MIB::(\w+)\.0 = [\w-]+: (.*)")
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.log.write(line + "\n")
            self.log.flush()
            if "NET-SNMP version" in line:
                self.started.set()
            m = head.search(line)
            if m:
                sender = self.by_port.get(int(m.group(1)), "?")
                continue
            if "snmpTrapOID.0" not in line:
                continue
            oid = re.search(r"snmpTrapOID\.0 = OID: (?:RACK-HA-MIB::)?([\w.]+)", line)
            fields = {}
            for part in line.split("\t"):
                f = field.match(part.strip())
                if f:
                    fields[f.group(1)] = f.group(2).strip().strip('"')
            with self.lock:
                self.traps.append(Trap(now_s(), sender, oid.group(1) if oid else "?", fields))

    def since(self, t0):
        with self.lock:
            return [t for t in self.traps if t.t >= t0]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# ---- the RAID controller's console (Areca dialect)

# Disks in the simulated array: four RAID 5 members and one global spare (as
# tests/src/console_sim.rs).
ARRAY_DISKS = 5
ARECA_EQ = "=" * 79
# Output is written in pieces of this size, so the agent sees partial lines.
WRITE_PIECE_BYTES = 61
MAX_CONSOLE_LINE = 256


class ArecaConsole:
    """An Areca-style RAID controller CLI on a Unix socket that the witness's console serial
    port (a QEMU chardev) connects to: prompt `CLI> `, commands `vsf info`, `disk info`,
    `hw info`, each answer ending `GuiErrMsg<0x00>: Success.`. The output is written here
    from the dialect's description (docs/array.md) and tests/src/console_sim.rs, not from the
    agent's parser. The array is scriptable: `fail_disk`, `activate_spare`, `set_progress`,
    `complete_rebuild`."""

    def __init__(self, path):
        self.path = path
        self.disks = ["member"] * 4 + ["spare"]
        self.drive = "optimal"  # optimal | degraded | rebuilding | failed
        self.progress = 0
        self.commands = 0
        self.lock = threading.Lock()
        if os.path.exists(path):
            os.unlink(path)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(2)
        threading.Thread(target=self._accept, daemon=True, name="areca").start()

    def fail_disk(self, i):
        with self.lock:
            was_member = self.disks[i] in ("member", "rebuilding")
            self.disks[i] = "failed"
            if was_member:
                if self.drive == "optimal":
                    self.drive = "degraded"
                else:
                    self.disks = ["free" if d == "rebuilding" else d for d in self.disks]
                    self.drive = "failed"

    def activate_spare(self):
        with self.lock:
            if "spare" in self.disks:
                self.disks[self.disks.index("spare")] = "rebuilding"
                self.drive, self.progress = "rebuilding", 0

    def set_progress(self, percent):
        with self.lock:
            assert self.drive == "rebuilding"
            self.progress = percent

    def complete_rebuild(self):
        with self.lock:
            self.disks = ["member" if d == "rebuilding" else d for d in self.disks]
            self.drive = "optimal"

    def replace_with_spare(self, i):
        with self.lock:
            self.disks[i] = "spare"

    def _accept(self):
        while True:
            c, _ = self.listener.accept()
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, conn):
        line = bytearray()
        while True:
            try:
                data = conn.recv(256)
            except OSError:
                data = b""
            if not data:
                conn.close()
                return
            for b in data:
                if b not in (0x0D, 0x0A):
                    if len(line) < MAX_CONSOLE_LINE:
                        line.append(b)
                    continue
                text = line.decode("ascii", "replace").strip()
                line.clear()
                reply = self._answer(text)
                try:
                    for i in range(0, len(reply), WRITE_PIECE_BYTES):
                        conn.sendall(reply[i:i + WRITE_PIECE_BYTES].encode())
                        time.sleep(0.0003)
                except OSError:
                    return

    def _answer(self, command):
        with self.lock:
            self.commands += 1
            if not command:
                return "CLI> "
            body = self._body(command)
        return "\r\n".join(body.split("\n")) + "\r\nCLI> "

    def _body(self, command):
        if command == "vsf info":
            state = {"optimal": "Normal", "degraded": "Degraded", "failed": "Failed",
                     "rebuilding": "Rebuilding(%d.0%%)" % self.progress}[self.drive]
            return ("  # Name             Raid Name       Level   Capacity Ch/Id/Lun  State\n%s\n"
                    "  1 ARC-1880-VOL#000 Raid Set # 000  Raid5   3000.0GB 00/00/00   %s\n%s\n"
                    "GuiErrMsg<0x00>: Success." % (ARECA_EQ, state, ARECA_EQ))
        if command == "disk info":
            usage = {"member": "Raid Set # 000", "spare": "HotSpare[Global]",
                     "rebuilding": "Rebuild Raid Set # 000", "failed": "Failed", "free": "Free"}
            out = "  # Enc# Slot#   ModelName                        Capacity  Usage\n%s\n" % ARECA_EQ
            for i, d in enumerate(self.disks):
                out += "  %d  01  Slot#%d  ST1000NM0033-9ZM173             1000.2GB  %s\n" % (i + 1, i + 1, usage[d])
            out += "  6  01  Slot#6  N.A.                                0.0GB  N.A.\n%s\nGuiErrMsg<0x00>: Success." % ARECA_EQ
            return out
        if command == "hw info":
            return ("The Hardware Monitor Information\n%s\nFan#1 Speed (RPM)   : 3100\nBattery Status      : 100%%\n"
                    "Controller Temp.    : 41 (Celsius)\n12V                 : 12.160 V\n%s\nGuiErrMsg<0x00>: Success."
                    % (ARECA_EQ, ARECA_EQ))
        return "GuiErrMsg<0x01>: Undefined Command."
