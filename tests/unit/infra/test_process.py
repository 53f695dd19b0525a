"""Free loopback ports for the test brokers."""

from __future__ import annotations

import socket

from abm.infra.process import bindable, free_port_pair, port_open


def test_a_free_pair_can_be_bound_both() -> None:
    port = free_port_pair()
    with socket.socket() as first, socket.socket() as second:
        first.bind(("127.0.0.1", port))
        second.bind(("127.0.0.1", port + 1))


def test_the_local_end_of_a_connection_is_not_bindable_though_nothing_listens_there() -> None:
    """Why the pair is checked by binding: connecting to such a port is refused, so a check
    by connecting would offer it, and the broker would then fail with 'Address already in
    use'."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname()) as client:
            held = int(client.getsockname()[1])
            assert not port_open("127.0.0.1", held)
            assert not bindable(held)
