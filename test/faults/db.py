"""SQL calls with a deadline the client keeps itself.

A paused server (SIGSTOP) answers nothing and times nothing out, so every
call here runs on an asynchronous psycopg2 connection and waits on its
socket with select() until a deadline of our own: the caller always gets
an answer, an error with the server's SQLSTATE, or Timeout.
"""

import select
import time

import psycopg2
import psycopg2.extensions as ext


class Timeout(Exception):
    """The deadline passed with no answer: what happened is unknown."""


class DbError(Exception):
    """The call failed: code is the SQLSTATE (None if the connection broke),
    msg the message, detail the server's DETAIL (or None)."""

    def __init__(self, code, msg, detail=None):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.detail = detail

    @classmethod
    def of(cls, e):
        diag = getattr(e, 'diag', None)
        return cls(getattr(e, 'pgcode', None), str(e).strip().split('\n')[0],
                   diag.message_detail if diag is not None else None)


def _wait(conn, deadline):
    while True:
        try:
            state = conn.poll()
            fd = conn.fileno()
        except psycopg2.Error as e:
            raise DbError.of(e) from None
        if state == ext.POLL_OK:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout()
        if state == ext.POLL_READ:
            r, _, _ = select.select([fd], [], [], left)
        elif state == ext.POLL_WRITE:
            _, r, _ = select.select([], [fd], [], left)
        else:
            raise DbError(None, 'unexpected poll state %r' % state)
        if not r and time.monotonic() >= deadline:
            raise Timeout()


class Conn:
    """One session to one server, opened on first use and after a failure."""

    def __init__(self, dsn, setup=()):
        self.dsn = dsn
        self.setup = setup		# statements run once per session; failures ignored
        self.conn = None

    def close(self):
        if self.conn is not None:
            try:
                self.conn.close()
            except psycopg2.Error:
                pass
            self.conn = None

    def connect(self, timeout):
        """Open the session if needed.  Raises like query()."""
        if self.conn is not None and not self.conn.closed:
            return
        self.conn = None
        deadline = time.monotonic() + timeout
        try:
            conn = psycopg2.connect(self.dsn, async_=1)
        except psycopg2.Error as e:
            raise DbError.of(e) from None
        try:
            _wait(conn, deadline)
        except (DbError, Timeout):
            conn.close()
            raise
        self.conn = conn
        for stmt in self.setup:
            try:
                self._run(stmt, None, deadline)
            except DbError:
                pass

    def _run(self, sql, args, deadline):
        try:
            cur = self.conn.cursor()
            cur.execute(sql, args)
        except psycopg2.Error as e:
            raise DbError.of(e) from None
        _wait(self.conn, deadline)
        try:
            rows = cur.fetchall() if cur.description is not None else []
            cur.close()
        except psycopg2.Error as e:
            raise DbError.of(e) from None
        return rows

    def query(self, sql, args=None, timeout=5.0):
        """Rows of sql, within timeout seconds, or DbError / Timeout.

        After a Timeout or a broken connection the session is closed: the
        next call opens a new one.
        """
        deadline = time.monotonic() + timeout
        self.connect(max(0.1, deadline - time.monotonic()))
        try:
            return self._run(sql, args, deadline)
        except Timeout:
            self.close()
            raise
        except DbError as e:
            if e.code is None or self.conn is None or self.conn.closed:
                self.close()
            raise
