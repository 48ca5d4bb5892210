"""A listener holds at most max_connections open: a flood of idle connections is refused at the
door instead of growing memory, and the held ones keep working."""
from conftest import free_port, standard_policy
import time

from rawhttp import Conn, ProtocolError

LIMIT = 4


def test_connections_over_the_limit_are_closed_and_served_again_after(spawn, backend):
    port = free_port()
    files = standard_policy(port, backend.port, free_port(), workers=1)
    files["gateway.yaml"] = files["gateway.yaml"].replace("max_uri_bytes: 8KiB}", f"max_uri_bytes: 8KiB, max_connections: {LIMIT}}}")
    assert f"max_connections: {LIMIT}" in files["gateway.yaml"]
    s = spawn.sluice(files, port)

    held = [Conn(s.port) for _ in range(LIMIT)]
    try:
        for c in held:  # each is really being served (and stays open: keep-alive)
            assert c.request("GET", "/echo/held").status == 200
        try:
            with Conn(s.port) as extra:
                assert extra.closed_by_peer(2.0), "a connection over the limit was kept open"
        except ConnectionResetError:
            pass  # the reset can beat connect() returning: refused all the same
        held.pop().close()
        for _ in range(50):  # the freed slot is given back once sluice sees the close
            with Conn(s.port) as again:
                try:
                    if again.request("GET", "/echo/again").status == 200:
                        break
                except (ConnectionError, OSError, EOFError, ProtocolError):
                    time.sleep(0.02)  # refused: sluice has not seen the close yet
        else:
            raise AssertionError("no connection accepted after one was freed")
        assert held[0].request("GET", "/echo/still").status == 200
    finally:
        for c in held:
            c.close()


def test_one_client_cannot_take_the_listener_alone(spawn, backend):
    """max_connections_per_client: 3 — a fourth connection from 127.0.0.1 is refused at the door
    while another client (127.0.0.2, still loopback) connects and is served."""
    import socket
    port = free_port()
    files = standard_policy(port, backend.port, free_port(), workers=2)
    files["gateway.yaml"] = files["gateway.yaml"].replace(
        "max_uri_bytes: 8KiB}", "max_uri_bytes: 8KiB, max_connections_per_client: 3}")
    assert "max_connections_per_client: 3" in files["gateway.yaml"]
    s = spawn.sluice(files, port)
    held = [Conn(s.port) for _ in range(3)]
    try:
        for c in held:
            assert c.request("GET", "/echo/held").status == 200
        try:
            with Conn(s.port) as extra:
                assert extra.closed_by_peer(2.0), "a fourth connection from one client was kept open"
        except ConnectionResetError:
            pass
        other = socket.socket()
        other.settimeout(5)
        other.bind(("127.0.0.2", 0))
        other.connect(("127.0.0.1", s.port))
        other.sendall(b"GET /echo/other HTTP/1.1\r\nHost: t\r\n\r\n")
        assert other.recv(64).startswith(b"HTTP/1.1 200"), "another client must still get in"
        other.close()
        assert held[0].request("GET", "/echo/still").status == 200
    finally:
        for c in held:
            c.close()
