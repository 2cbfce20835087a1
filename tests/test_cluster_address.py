"""What an address that is not a Ray cluster gets, before anything tries to join it (no Ray is started here)."""

from __future__ import annotations

import http.server
import socket
import threading

import pytest

from cifar_cnn.classroom import QueueError, cluster


class _WebPage(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the standard library's name
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def web_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WebPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_web_server_is_named_as_what_it_is(web_server):
    with pytest.raises(QueueError) as refused:
        cluster._check_reachable(web_server)
    message = str(refused.value)
    assert f"The address {web_server} answered, but not as Ray" in message and "HTTP web server" in message
    assert "port 6379" in message and "unset RAY_ADDRESS" in message


def test_a_peer_that_says_nothing_is_left_to_the_joins_time_limit(monkeypatch):
    monkeypatch.setattr(cluster, "ANSWER_TIMEOUT_S", 0.5)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        cluster._check_reachable(f"127.0.0.1:{silent.getsockname()[1]}")  # no verdict: the engine's limit decides
    finally:
        silent.close()


def test_auto_with_no_cluster_on_this_machine_says_how_to_start_one(monkeypatch):
    from ray._private import services, utils

    monkeypatch.setattr(services, "find_gcs_addresses", lambda: [])  # no Ray of anyone's on this machine
    monkeypatch.setattr(utils, "read_ray_address", lambda temp_dir=None: None)
    with pytest.raises(QueueError) as refused:
        cluster.start_ray("auto")
    message = str(refused.value)
    assert 'RAY_ADDRESS is "auto", but no Ray cluster runs on this machine' in message and "ray start --head" in message
    assert not cluster.ray.is_initialized()
