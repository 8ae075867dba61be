"""The database side of the virtual rack's Debian nodes: a client on the LAN that commits
numbered rows through the floating address, and the checks of the database after a scenario.
Standard library only; the client is PostgreSQL's own psql, run in the LAN client's network
namespace (harness.TapPort).

Owns: the client's loop and its record of acknowledgements, the query of what the database
holds, pg_amcheck, and the judgement of the nodes' PostgreSQL samples (never a server on the
shared disk on both nodes at once). Does not own: the VMs, the scenarios (rack.py)."""

import collections
import subprocess
import threading
import time

from harness import now_s

PSQL = "/usr/lib/postgresql/15/bin/psql"
PG_AMCHECK = "/usr/lib/postgresql/15/bin/pg_amcheck"
# Bounds on one attempt: libpq's connection timeout (s) and TCP user timeout (ms, for a
# server that vanished mid-transaction: the power cut), and the whole psql process (s).
CONNECT_TIMEOUT_S = 3
TCP_USER_TIMEOUT_MS = 3000
ATTEMPT_TIMEOUT_S = 15
# After a failed attempt the client tries again at once, but not more often than this.
RETRY_S = 0.1
# Bound on the errors kept for the report.
MAX_ERRORS = 50
# A sample of one node says what ran there for this long after it was taken: two samples of
# different nodes both showing a server within this window count as both running at once.
SAMPLE_VALID_S = 1.0
TABLE = ("CREATE TABLE IF NOT EXISTS rack_rows (id bigint PRIMARY KEY, node text NOT NULL, "
         "at timestamptz NOT NULL DEFAULT now())")


def conninfo(host):
    return ("host=%s user=postgres dbname=postgres connect_timeout=%d tcp_user_timeout=%d "
            "keepalives_idle=1 keepalives_interval=1 keepalives_count=2"
            % (host, CONNECT_TIMEOUT_S, TCP_USER_TIMEOUT_MS))


class Client:
    """Commits rows 1, 2, 3, ... through `host`, one psql (one connection, one transaction)
    per row, row after row without pause; a failed attempt is retried with the next number
    (an unacknowledged row may or may not be in the table: nobody was told it was). A row is
    acknowledged when psql exited 0 and printed the node that stored it (the server's
    /etc/hostname, read by the INSERT itself). `acks`: (host time, node, row)."""

    def __init__(self, port, host):
        self.port, self.host = port, host
        self.acks = collections.deque()
        self.errors = collections.deque(maxlen=MAX_ERRORS)  # (host time, text)
        self.attempts = 0
        self.failures = 0
        self.stopping = False
        self.table_made = False
        self.thread = threading.Thread(target=self._run, daemon=True, name="db-client")
        self.thread.start()

    def sql(self, statement, timeout_s=ATTEMPT_TIMEOUT_S, program=PSQL, extra=()):
        """One psql through the floating address: (exit status, output)."""
        argv = [program, conninfo(self.host)] if program == PSQL else [program, "-h", self.host, "-U", "postgres"]
        argv = argv + (["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-c", statement]
                       if program == PSQL else list(extra))
        try:
            r = subprocess.run(self.port.command(argv), capture_output=True, timeout=timeout_s,
                               env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": str(CONNECT_TIMEOUT_S)})
        except subprocess.TimeoutExpired:
            return None, "no answer within %d s" % timeout_s
        return r.returncode, (r.stdout + r.stderr).decode("utf-8", "replace").strip()

    def _run(self):
        row = 1
        while not self.stopping:
            if not self.table_made:
                rc, out = self.sql(TABLE)
                if rc == 0:
                    self.table_made = True
                else:
                    self._failed(out)
                    continue
            self.attempts += 1
            rc, out = self.sql("INSERT INTO rack_rows (id, node) VALUES (%d, trim(E'\\n' FROM "
                               "pg_read_file('/etc/hostname'))) RETURNING node" % row)
            t = now_s()
            if rc == 0 and out:
                self.acks.append((t, out.splitlines()[-1], row))
            else:
                self._failed("row %d: %s" % (row, out or "exit %s" % rc))
            row += 1

    def _failed(self, text):
        self.failures += 1
        self.errors.append((now_s(), text.splitlines()[-1][:200] if text else "?"))
        time.sleep(RETRY_S)

    def stop(self):
        self.stopping = True
        self.thread.join(ATTEMPT_TIMEOUT_S + 5)

    def rows(self):
        """The ids in the table, read through the floating address; None when it cannot be read
        (with the reason as the second value)."""
        rc, out = self.sql("SELECT id FROM rack_rows ORDER BY id", timeout_s=60)
        if rc != 0:
            return None, out
        return {int(x) for x in out.split()}, ""

    def amcheck(self):
        """pg_amcheck of every database through the floating address (the amcheck extension
        installed where missing; heap and B-tree checks, indexes against their heap):
        (exit status, output)."""
        return self.sql(None, timeout_s=300, program=PG_AMCHECK,
                        extra=["--install-missing", "--all", "--heapallindexed", "--progress"])


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
