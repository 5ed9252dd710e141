"""A new connection the server drops during the handshake (seen once in a busy CI run: "Lost
connection to MySQL server during query" while connecting) is tried once more; two drops in a
row are the error, in words. Between the store and the real MariaDB sits a TCP relay on
127.0.0.1 that closes the first N connections before the server's greeting and relays the rest.
"""

from __future__ import annotations

import dataclasses
import socket
import threading

import pytest

from island_ssh.core.errors import StoreError
from island_ssh.store.db import Database


class DroppingRelay:
    def __init__(self, target: tuple[str, int], drops: int) -> None:
        self.target, self.drops, self.accepted = target, drops, 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted <= self.drops:
                client.close()  # before the greeting: the client reads end of file in the handshake
                continue
            server = socket.create_connection(self.target, timeout=5)
            server.settimeout(None)
            self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                t = threading.Thread(target=self._pipe, args=(a, b), daemon=True)
                t.start()
                self._threads.append(t)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (a close alone does not on Linux)
        self.listener.close()
        self._accepting.join(5)
        for s in self._open:
            s.close()
        for t in self._threads:
            t.join(5)


@pytest.fixture
def relay_to(db_settings):
    relays = []

    def make(drops: int) -> Database:
        relay = DroppingRelay((db_settings.host, db_settings.port), drops)
        relays.append(relay)
        return Database(dataclasses.replace(db_settings, host="127.0.0.1", port=relay.port)), relay

    yield make
    for relay in relays:
        relay.close()


def test_one_dropped_handshake_is_tried_again(relay_to, caplog):
    db, relay = relay_to(drops=1)
    conn = db.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
    finally:
        conn.close()
    assert relay.accepted == 2
    assert "dropped a new connection during the handshake" in caplog.text


def test_two_dropped_handshakes_are_the_error_in_words(relay_to):
    db, relay = relay_to(drops=2)
    with pytest.raises(StoreError) as exc:
        db.connect()
    assert relay.accepted == 2
    assert exc.value.message.startswith(f"lost the connection to MySQL at 127.0.0.1:{relay.port} while connecting")
