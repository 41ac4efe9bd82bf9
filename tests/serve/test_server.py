"""A real ``segnet serve`` process on 127.0.0.1: the endpoints over HTTP, the label map equal to
the ``segnet predict`` command's, concurrency, overload, a client leaving mid-upload, SIGTERM."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import cv2
import httpx
import numpy as np

from tests.serve.conftest import REPO, ServerProcess


def multipart(field: str, data: bytes, boundary: str = "segnetboundary") -> tuple[bytes, str]:
    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="f.png"\r\n\r\n'.encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def raw_request(port: int, body: bytes, content_type: str, token: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (f"POST /v1/segment HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}Content-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()


def read_response(sock: socket.socket, timeout: float = 60) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_endpoints_over_http_and_labels_equal_to_the_predict_command(server, frame_path, tmp_path):
    assert httpx.get(server.url + "/healthz").json() == {"status": "ok"}
    assert httpx.get(server.url + "/v1/model").status_code == 401
    assert httpx.get(server.url + "/v1/model", headers=server.headers).json()["model"] == "fc_densenet56"
    assert "segnet" in httpx.get(server.url + "/").text
    response = httpx.post(server.url + "/v1/segment", files={"image": frame_path.read_bytes()}, headers=server.headers,
                          timeout=60)
    assert response.status_code == 200
    command = [sys.executable, "-m", "segnet", "predict", str(frame_path), "--out", str(tmp_path), "--backend", "torch"]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True, timeout=300)
    expected = cv2.imread(str(tmp_path / (frame_path.stem + "_labels.png")), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED),
                                  expected)
    overlay = httpx.post(server.url + "/v1/segment?format=overlay&legend=1", files={"image": frame_path.read_bytes()},
                         headers=server.headers, timeout=60)
    assert overlay.headers["content-type"] == "image/png"
    bad = httpx.post(server.url + "/v1/segment", files={"image": b"GIF89a broken"}, headers=server.headers)
    assert bad.status_code == 400 and list(bad.json()) == ["error"]


def test_sixteen_concurrent_requests_all_answered_alike(server, frame_path):
    data = frame_path.read_bytes()

    def one(_):
        return httpx.post(server.url + "/v1/segment", files={"image": data}, headers=server.headers, timeout=120)

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(one, range(16)))
    assert [r.status_code for r in responses] == [200] * 16
    assert len({r.content for r in responses}) == 1  # batched or not, the same label map
    assert time.monotonic() - started < 120


def test_client_leaving_mid_upload_leaves_no_file_and_the_server_serving(server, frame_path, tmp_path):
    body, content_type = multipart("image", frame_path.read_bytes())
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(raw_request(server.port, body, content_type, server.token) + body[: len(body) // 2])
        time.sleep(0.5)
    uploads = list(server.log.parent.glob("segnet-serve-*"))
    assert len(uploads) == 1
    deadline = time.monotonic() + 10
    while any(uploads[0].iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(uploads[0].iterdir())
    again = httpx.post(server.url + "/v1/segment", files={"image": frame_path.read_bytes()}, headers=server.headers,
                       timeout=60)
    assert again.status_code == 200 and server.process.poll() is None


def test_overload_is_refused_quickly_with_retry_after(frame_path, tmp_path):
    server = ServerProcess("--max-queue", "2", "--batch-window-ms", "0", "--batch-size", "1", tmp_dir=tmp_path)
    data = frame_path.read_bytes()

    def one(_):
        started = time.monotonic()
        response = httpx.post(server.url + "/v1/segment", files={"image": data}, timeout=60)
        return response, time.monotonic() - started

    try:
        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(one, range(24)))
        statuses = [r.status_code for r, _ in results]
        assert 200 in statuses and 503 in statuses and set(statuses) <= {200, 503}
        refused = [r for r, _ in results if r.status_code == 503]
        assert all(int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["error"] for r in refused)
        assert max(seconds for _, seconds in results) < 30  # the bounded queue bounds every wait
        assert httpx.post(server.url + "/v1/segment", files={"image": data}, timeout=60).status_code == 200
    finally:
        assert server.stop() == 0


def wait_until(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def refuses_connections(url: str) -> bool:
    try:
        httpx.get(url + "/healthz", timeout=2)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        pass
    return False


def test_sigterm_finishes_the_request_in_flight_and_exits_0(frame_path, tmp_path):
    server = ServerProcess(tmp_dir=tmp_path)
    body, content_type = multipart("image", frame_path.read_bytes())
    uploads = next(tmp_path.glob("segnet-serve-*"))
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(raw_request(server.port, body, content_type) + body[:1000])
        wait_until(lambda: any(uploads.iterdir()))  # the handler is storing the upload: in flight
        server.process.terminate()
        wait_until(lambda: refuses_connections(server.url))  # no new connection while it drains
        assert server.process.poll() is None
        sock.sendall(body[1000:])
        response = read_response(sock)
    assert response.startswith(b"HTTP/1.1 200") and b"image/png" in response
    assert server.process.wait(60) == 0
    assert not uploads.exists()  # the private folder goes with the server


def test_reachable_host_without_token_refuses_to_start():
    result = subprocess.run([sys.executable, "-m", "segnet", "serve", "--host", "0.0.0.0"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip() == ("segnet: error: --host 0.0.0.0 is reachable from other machines: give --token "
                                     "TOKEN (or --no-auth to serve without authentication)")
