"""The database side of the virtual rack's Debian nodes: a client on the LAN that commits
numbered rows through the floating address, and the checks of the database after a scenario.
Standard library only; the client (lanclient.py), psql and pg_amcheck run in the LAN client's
network namespace (harness.TapPort).

Owns: the client's loop and its record of acknowledgements, the query of what the database
holds, pg_amcheck, and the judgement of the nodes' PostgreSQL samples (never a server on the
shared disk on both nodes at once). Does not own: the VMs, the scenarios (rack.py)."""

import collections
import os
import subprocess
import sys
import threading

import harness
from harness import now_s

HERE = os.path.dirname(os.path.abspath(__file__))

PSQL = "/usr/lib/postgresql/15/bin/psql"
PG_AMCHECK = "/usr/lib/postgresql/15/bin/pg_amcheck"
# Bounds on one psql (the table's rows, read after a scenario): libpq's connection timeout (s)
# and TCP user timeout (ms), and the whole process (s).
CONNECT_TIMEOUT_S = 3
TCP_USER_TIMEOUT_MS = 3000
ATTEMPT_TIMEOUT_S = 15
# Bound on the errors kept for the report.
MAX_ERRORS = 50
# A sample of one node says what ran there for this long after it was taken: two samples of
# different nodes both showing a server within this window count as both running at once.
SAMPLE_VALID_S = 1.0


def conninfo(host):
    return ("host=%s user=postgres dbname=postgres connect_timeout=%d tcp_user_timeout=%d "
            "keepalives_idle=1 keepalives_interval=1 keepalives_count=2"
            % (host, CONNECT_TIMEOUT_S, TCP_USER_TIMEOUT_MS))


class Client:
    """The LAN client (lanclient.py) in the client's network namespace, committing rows 1, 2,
    3, ... through `host` on one connection, row after row without pause, reconnecting on
    any error (a failed row is not retried: nobody was told it was stored). A row is
    acknowledged when the server answered its commit. `acks`: (host time, node that stored
    it, row); `errors`: the last failures (host time, text)."""

    def __init__(self, port, host):
        self.port, self.host = port, host
        self.acks = collections.deque()
        self.errors = collections.deque(maxlen=MAX_ERRORS)
        self.failures = 0
        self.proc = subprocess.Popen(port.command([sys.executable, "-u", os.path.join(HERE, "lanclient.py"), host]),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.thread = threading.Thread(target=self._read, daemon=True, name="db-client")
        self.thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            parts = raw.decode("utf-8", "replace").rstrip("\n").split(" ", 2)
            try:
                t = float(parts[1]) - harness.T0
            except (IndexError, ValueError):
                self.errors.append((now_s(), "client: " + raw.decode("utf-8", "replace").strip()[:200]))
                continue
            if parts[0] == "ACK":
                row, node = parts[2].split(" ", 1)
                self.acks.append((t, node, int(row)))
            else:
                self.failures += 1
                self.errors.append((t, parts[2] if len(parts) > 2 else "?"))

    @property
    def attempts(self):
        return len(self.acks) + self.failures

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(10)

    def write_log(self, path):
        """Every acknowledgement and the last errors, in time order, into `path`."""
        lines = ["%9.3f ACK row %d by %s" % (t, row, node) for t, node, row in list(self.acks)]
        lines += ["%9.3f ERR %s" % e for e in list(self.errors)]
        with open(path, "w") as f:
            f.write("\n".join(sorted(lines)) + "\n")

    def sql(self, statement, timeout_s=ATTEMPT_TIMEOUT_S, program=PSQL, extra=()):
        """One psql through the floating address: (exit status, output)."""
        argv = [program, conninfo(self.host)] if program == PSQL else [program, "-h", self.host, "-U", "postgres"]
        argv = argv + (["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement]
                       if program == PSQL else list(extra))
        try:
            r = subprocess.run(self.port.command(argv), capture_output=True, timeout=timeout_s,
                               env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S),
                                    # No TLS handshake per row: the guests' CPU is emulated.
                                    "PGSSLMODE": "disable"})
        except subprocess.TimeoutExpired:
            return None, "no answer within %d s" % timeout_s
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace").strip()

    def rows(self):
        """The ids in the table, read through the floating address; None when it cannot be read
        (with the reason as the second value)."""
        rc, out = self.sql("SELECT id FROM rack_rows ORDER BY id", timeout_s=60)
        if rc != 0:
            return None, out
        return {int(x) for x in out.split()}, ""

    def amcheck(self):
        """pg_amcheck of every database through the floating address (the amcheck extension
        installed where missing; every table's heap and every B-tree index):
        (exit status, output)."""
        return self.sql(None, timeout_s=300, program=PG_AMCHECK,
                        extra=["--install-missing", "--all"])


def both_running(samples):
    """The instants at which two nodes reported a PostgreSQL server on the shared disk: every
    sample showing a server taken while the other node's latest sample, no older than
    SAMPLE_VALID_S, also showed one. `samples`: (host time, node, [pids]), any order. Returns
    [(time, node, pids, other node, its pids)]."""
    latest = {}
    found = []
    for t, node, pids in sorted(samples, key=lambda s: s[0]):
        latest[node] = (t, pids)
        if not pids:
            continue
        for other, (t2, pids2) in latest.items():
            if other != node and pids2 and t - t2 <= SAMPLE_VALID_S:
                found.append((t, node, pids, other, pids2))
    return found
