#!/usr/bin/env python3
"""The virtual rack's database client (tests/vm/rack/database.py runs it in the LAN client's
network namespace): commits rows 1, 2, 3, ... to PostgreSQL at HOST, each its own transaction
(an INSERT in autocommit) on one connection, row after row without pause; on any error it
closes the connection and connects again (RETRY_S later), the next row with the next number.
The INSERT returns the server's host name (the node that stored the row).

Prints one line per event on stdout, with CLOCK_MONOTONIC (the harness's clock):
    ACK <time> <row> <node>     the server answered the row's commit (ReadyForQuery, idle)
    ERR <time> <text>           an attempt failed; the connection is dropped
Standard library only: the frontend/backend protocol 3.0, trust authentication, simple query.
Usage: lanclient.py HOST [PORT]   (runs until killed)"""

import socket
import struct
import sys
import time

# Bounds: connecting, and waiting for any answer of the server (a server that vanished
# mid-transaction, as in a power cut, is given up after this).
CONNECT_TIMEOUT_S = 3
ANSWER_TIMEOUT_S = 5
RETRY_S = 0.1
TCP_USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", 18)
TABLE = ("CREATE TABLE IF NOT EXISTS rack_rows (id bigint PRIMARY KEY, node text NOT NULL, "
         "at timestamptz NOT NULL DEFAULT now())")
INSERT = ("INSERT INTO rack_rows (id, node) VALUES (%d, trim(E'\\n' FROM pg_read_file('/etc/hostname'))) "
          "RETURNING node")


class PgError(Exception):
    pass


def out(kind, text):
    sys.stdout.write("%s %.3f %s\n" % (kind, time.monotonic(), text))
    sys.stdout.flush()


class Connection:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), CONNECT_TIMEOUT_S)
        self.sock.settimeout(ANSWER_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, TCP_USER_TIMEOUT, ANSWER_TIMEOUT_S * 1000)
        self.buf = b""
        params = b"user\0postgres\0database\0postgres\0application_name\0rack-client\0\0"
        body = struct.pack(">I", 196608) + params
        self.sock.sendall(struct.pack(">I", len(body) + 4) + body)
        while True:
            kind, payload = self.message()
            if kind == b"R" and struct.unpack(">I", payload[:4])[0] != 0:
                raise PgError("the server asks for a password (authentication %d)" % struct.unpack(">I", payload[:4]))
            if kind == b"Z":
                return

    def recv(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise PgError("the server closed the connection")
            self.buf += data
        head, self.buf = self.buf[:n], self.buf[n:]
        return head

    def message(self):
        head = self.recv(5)
        kind, length = head[:1], struct.unpack(">I", head[1:])[0]
        payload = self.recv(length - 4)
        if kind == b"E":
            fields = dict((f[:1], f[1:].decode("utf-8", "replace")) for f in payload.split(b"\0") if f)
            raise PgError("%s: %s" % (fields.get(b"S", "ERROR"), fields.get(b"M", "?")))
        return kind, payload

    def query(self, sql):
        """Runs `sql` (simple query protocol); returns the first column of the rows, once the
        server is ready again and idle (the transaction committed)."""
        body = sql.encode() + b"\0"
        self.sock.sendall(b"Q" + struct.pack(">I", len(body) + 4) + body)
        values = []
        while True:
            kind, payload = self.message()
            if kind == b"D":
                (n,) = struct.unpack(">H", payload[:2])
                if n:
                    (size,) = struct.unpack(">i", payload[2:6])
                    values.append(payload[6:6 + size].decode() if size >= 0 else None)
            elif kind == b"Z":
                if payload != b"I":
                    raise PgError("the server is not idle after the statement (%r)" % payload)
                return values

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def main():
    host = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 5432
    row = 1
    conn = None
    while True:
        try:
            if conn is None:
                conn = Connection(host, port)
                conn.query(TABLE)
            node = conn.query(INSERT % row)
            out("ACK", "%d %s" % (row, node[0] if node else "?"))
        except (OSError, PgError, ValueError, struct.error) as e:
            out("ERR", "row %d: %s" % (row, str(e).replace("\n", " ")[:200] or type(e).__name__))
            if conn is not None:
                conn.close()
                conn = None
            time.sleep(RETRY_S)
        row += 1


if __name__ == "__main__":
    main()
