"""Host side of a member VM started by tests/vm/run-member.sh: its serial console and its QMP
socket, both Unix sockets in the VM's directory. Standard library only.

`Console` reads everything the console prints into one growing text and waits for patterns in
it from a moving mark; `Console.login` and `Console.run` drive a root shell at the console.
`Qmp` sends commands and collects events; `check` records a test's PASS/FAIL lines. Both are bounded: every wait has a timeout and the
kept console text has MAX_CONSOLE_CHARS."""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

# Bound on the console text kept in memory (a boot prints a few KiB).
# The checks of one test process: every check() appends its outcome here; the test's summary
# counts them and sets its exit status from them.
results = []


def check(ok, what):
    """Record and print one check (PASS/FAIL); returns `ok`."""
    results.append(bool(ok))
    print("%s: %s" % ("PASS" if ok else "FAIL", what), flush=True)
    return ok


def summary_exit(test, started):
    """Print `TEST: N checks, F failed, S s` (`started` from time.monotonic()) and exit: 0 only
    when there were checks and every one passed."""
    print("%s: %d checks, %d failed, %.0f s" % (test, len(results), results.count(False),
                                                time.monotonic() - started))
    sys.exit(0 if results and all(results) else 1)


MAX_CONSOLE_CHARS = 4 * 1024 * 1024
# Bound on waiting for a socket of a starting QEMU to appear.
CONNECT_TIMEOUT_S = 30


def connect_unix(path, timeout_s=CONNECT_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise TimeoutError("no socket at %s after %d s" % (path, timeout_s))
            time.sleep(0.05)


class Timeout(Exception):
    pass


class Console:
    def __init__(self, path):
        self.sock = connect_unix(path)
        self.text = ""
        self.mark = 0
        self.lock = threading.Condition()
        self.closed = False
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            with self.lock:
                if not data:
                    self.closed = True
                    self.lock.notify_all()
                    return
                self.text += data.decode("utf-8", errors="replace").replace("\r", "")
                if len(self.text) > MAX_CONSOLE_CHARS:
                    cut = len(self.text) - MAX_CONSOLE_CHARS
                    self.text = self.text[cut:]
                    self.mark = max(0, self.mark - cut)
                self.lock.notify_all()

    def expect(self, pattern, timeout_s):
        """Wait for `pattern` (a regex) after the mark; move the mark past it; return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while True:
                m = rx.search(self.text, self.mark)
                if m:
                    self.mark = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise Timeout("console: no %r within %.0f s; last output:\n%s"
                                  % (pattern, timeout_s, self.text[-1500:]))
                self.lock.wait(min(left, 0.5))

    def wait_closed(self, timeout_s):
        """Wait until the reader has taken everything up to the end of the stream (the VM's
        QEMU closed the console); returns the seconds waited, or None if it was still open
        after `timeout_s`."""
        start = time.monotonic()
        with self.lock:
            while not self.closed:
                left = timeout_s - (time.monotonic() - start)
                if left <= 0:
                    return None
                self.lock.wait(min(left, 0.5))
        return time.monotonic() - start

    def seen(self, pattern, since=0):
        with self.lock:
            return re.search(pattern, self.text[since:]) is not None

    def position(self):
        with self.lock:
            return len(self.text)

    def send(self, text):
        self.sock.sendall(text.encode())

    def login(self, user="root", password=None, timeout_s=60):
        # A fresh prompt: getty prompts again on an empty line (the first prompt may already
        # have scrolled past other console messages).
        self.send("\r")
        self.expect(r"login: $", timeout_s)
        self.send(user + "\r")
        if password is not None:
            self.expect(r"Password: ", 10)
            self.send(password + "\r")
        self.expect(r"# ", 10)
        # A wide terminal: the shell's line editor wraps long typed lines at the width.
        self.run("stty cols 1000")

    def run(self, command, timeout_s=20):
        """Run `command` at the shell prompt; return (exit status, output).

        The output is framed by two markers that only the shell's output can contain (the echo
        of the typed line holds `printf '@%s@'` and `$?` instead), so neither the terminal's
        echo, nor its wrapping of long lines, nor console messages before the command matter."""
        tag = "%08x" % (int(time.monotonic() * 1e6) & 0xFFFFFFFF)
        self.send("printf '@%%s@\\n' b-%s; %s; echo \"@rc-%s=$?@\"\r" % (tag, command, tag))
        self.expect(r"@b-%s@\n" % tag, 10)
        start = self.mark
        m = self.expect(r"@rc-%s=(\d+)@" % tag, timeout_s)
        with self.lock:
            output = self.text[start:m.start()]
        self.expect(r"# ", 10)
        return int(m.group(1)), output.strip("\n")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Qmp:
    def __init__(self, path):
        self.sock = connect_unix(path)
        self.file = self.sock.makefile("rwb")
        json.loads(self.file.readline())  # greeting
        self.events = []
        self.command("qmp_capabilities")

    def command(self, name, **arguments):
        msg = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self.file.write(json.dumps(msg).encode() + b"\n")
        self.file.flush()
        while True:
            line = self.file.readline()
            if not line:
                raise ConnectionError("QMP closed")
            reply = json.loads(line)
            if "event" in reply:
                self.events.append(reply)
                continue
            return reply

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def copy_disk(src, dest):
    """A sparse copy of a disk image (out/image/disk.img): each VM writes its own."""
    subprocess.run(["cp", "--sparse=always", src, dest], check=True)
    return dest


def partition(disk, name):
    """(offset, size) in bytes of the GPT partition named `name` of a disk image."""
    out = subprocess.run(["partx", "-g", "-b", "-o", "START,SIZE,NAME", disk], check=True,
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        start, size, pname = line.split()
        if pname == name:
            return int(start) * 512, int(size)
    raise ValueError("%s has no partition %s" % (disk, name))


def seed_data(disk, data_image):
    """Write a data partition image (out/image/data.ext4) into the `data` partition of a copy
    of disk.img (a smaller file system in a larger partition: it mounts as it is)."""
    offset, size = partition(disk, "data")
    with open(data_image, "rb") as src, open(disk, "r+b") as dst:
        data = src.read()
        assert len(data) <= size, "%s is larger than the data partition" % data_image
        dst.seek(offset)
        dst.write(data)
    return disk


class Member:
    """One member VM: run-member.sh in the background, its console and QMP."""

    def __init__(self, vm_dir, data, name="member", extra=(), log=None, disk=None):
        """`data`: the data disk of a -kernel boot; or `disk`: a copy of disk.img booted
        through the firmware (run-member.sh --disk), then `data` is None."""
        self.dir = vm_dir
        here = os.path.dirname(os.path.abspath(__file__))
        which = ["--disk", disk] if disk else ["--data", data]
        cmd = [os.path.join(here, "run-member.sh"), "--dir", vm_dir] + which + [
               "--name", name] + list(extra)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self.console = Console(os.path.join(vm_dir, "console.sock"))
        self.qmp = Qmp(os.path.join(vm_dir, "qmp.sock"))

    def elapsed_s(self):
        return time.monotonic() - self.started

    def quit(self, timeout_s=10):
        try:
            self.qmp.command("quit")
        except (OSError, ConnectionError, ValueError):
            pass
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.console.close()
        self.qmp.close()
