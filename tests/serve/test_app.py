"""The service's contract against the ASGI app itself (httpx through FastAPI's TestClient and
ASGITransport), with the real bundled model: every endpoint, every error status, label maps equal
to ``segnet predict``'s, EXIF, queue limits, video jobs and their expiry."""

from __future__ import annotations

import asyncio
import base64
import io
import time
import zipfile
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import segnet
from segnet.service import ServiceSettings, create_app
from tests.serve.conftest import write_clip

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def client(model, tmp_path_factory):
    settings = ServiceSettings(token=TOKEN, max_upload_mb=1, upload_dir=str(tmp_path_factory.mktemp("uploads")))
    with TestClient(create_app(model, settings), headers={"Authorization": f"Bearer {TOKEN}"}) as test_client:
        yield test_client


def labels_png_of(model, path, out):
    """What `segnet predict` writes as <name>_labels.png for ``path``."""
    segnet.predict_files(model, [path], out)
    return cv2.imread(str(out / (path.stem + "_labels.png")), cv2.IMREAD_UNCHANGED)


def decode(png: bytes, flags=cv2.IMREAD_UNCHANGED) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(png, np.uint8), flags)


def test_health_and_model_description(client, model):
    assert client.get("/healthz").json() == {"status": "ok"}
    info = client.get("/v1/model").json()
    assert info["model"] == "fc_densenet56" and info["ignore_id"] == 11
    assert [c["name"] for c in info["classes"]] == list(model.classes.names)
    assert (info["classes"][3]["color"] == [128, 64, 128]
            and info["training_frame_size"] == {"height": 180, "width": 240})
    assert info["backend"] == "torch" and info["precision"] in ("float32", "bfloat16")


def test_label_map_equals_segnet_predicts_labels_png(client, model, frame_path, tmp_path):
    response = client.post("/v1/segment", files={"image": frame_path.read_bytes()})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    labels = decode(response.content)
    assert labels.shape == (360, 480) and labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, labels_png_of(model, frame_path, tmp_path))


def test_exif_orientation_is_applied_as_segnet_predict_does(client, model, frame_path, tmp_path):
    photo = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees: portrait
    Image.open(frame_path).save(photo, exif=exif, quality=92)
    labels = decode(client.post("/v1/segment", files={"image": photo.read_bytes()}).content)
    assert labels.shape == (480, 360)
    np.testing.assert_array_equal(labels, labels_png_of(model, photo, tmp_path / "out"))


def test_overlay_and_json_formats(client, model, frame_path):
    frame = segnet.data.read_image(frame_path)
    ids = model.predict(frame)
    overlay = client.post("/v1/segment?format=overlay&legend=1", files={"image": frame_path.read_bytes()})
    picture = cv2.cvtColor(decode(overlay.content, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(picture, model.overlay(frame, ids, legend=True))
    body = client.post("/v1/segment?format=json", files={"image": frame_path.read_bytes()}).json()
    assert (body["width"], body["height"]) == (480, 360)
    assert sum(c["fraction"] for c in body["classes"]) == pytest.approx(1.0, abs=1e-4)
    np.testing.assert_array_equal(decode(base64.b64decode(body["labels_png"])), ids)
    assert body["classes"][3] == {"id": 3, "name": "Road", "fraction": round(float((ids == 3).mean()), 6)}


@pytest.mark.parametrize("kwargs, status, message", [
    (dict(files={"image": ("notes.txt", b"plain text, not a picture")}), 400, "not an image"),
    (dict(files={"image": ("cut.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)}), 400, "not an image"),
    (dict(files={"photo": ("x.png", b"123")}), 400, "no file in the multipart field 'image'"),
    (dict(content=b"raw bytes", headers={"content-type": "image/png"}), 400, "not an image"),
    (dict(content=b"", headers={"content-type": "application/octet-stream"}), 400, "the request body is empty"),
    (dict(content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"}), 415, "multipart/form-data"),
    (dict(content=b"--x\r\n", headers={"content-type": "multipart/form-data"}), 400, "without a boundary"),
    (dict(json={"image": "aGVsbG8="}), 415, "Content-Type image/*"),
    (dict(content=b"\0" * (2 ** 20 + 10), headers={"content-type": "image/png"}), 413, "limit of 1.0 MiB"),
    (dict(files={"image": ("big.png", b"\0" * (2 ** 20 + 10))}), 413, "limit of 1.0 MiB"),
])
def test_bad_uploads_get_one_json_line(client, kwargs, status, message):
    response = client.post("/v1/segment", **kwargs)
    assert response.status_code == status and message in response.json()["error"]
    assert list(response.json()) == ["error"] and "Traceback" not in response.text
    assert not list(Path(client.app.state.settings.upload_dir).glob("segnet-serve-*/*"))  # nothing half-written


def test_the_file_as_the_whole_body_gets_what_the_multipart_field_gets(client, frame_path):
    """curl --data-binary @frame.png -H 'Content-Type: image/png' (or application/octet-stream)."""
    expected = client.post("/v1/segment", files={"image": frame_path.read_bytes()})
    for content_type in ("image/png", "application/octet-stream"):
        raw = client.post("/v1/segment", content=frame_path.read_bytes(), headers={"content-type": content_type})
        assert raw.status_code == 200 and raw.content == expected.content


def test_openapi_schema_describes_both_upload_forms_and_no_page_loads_a_cdn(client):
    schema = client.get("/openapi.json").json()
    body = schema["paths"]["/v1/segment"]["post"]["requestBody"]["content"]
    assert set(body) == {"multipart/form-data", "image/*", "application/octet-stream"}
    assert body["multipart/form-data"]["schema"]["required"] == ["image"]
    assert "video/*" in schema["paths"]["/v1/videos"]["post"]["requestBody"]["content"]
    assert {"/v1/model", "/v1/videos/{job_id}", "/healthz"} <= set(schema["paths"]) and "/" not in schema["paths"]
    assert client.get("/docs").status_code == 404
    # the token is declared, so that generated clients send it
    assert list(schema["components"]["securitySchemes"].values()) == [
        {"type": "http", "scheme": "bearer", "description": "the token segnet serve was started with (--token)"}]
    for path in ("/v1/model", "/v1/segment", "/v1/videos", "/v1/videos/{job_id}"):
        for operation in schema["paths"][path].values():
            assert operation["security"] == [{"HTTPBearer": []}], path
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_too_large_is_refused_while_streaming_without_a_length(client):
    sent = []

    def body():  # chunked: no Content-Length, the server counts as the bytes arrive
        yield b"--b\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n\r\n"
        for _ in range(64):
            sent.append(1)
            yield b"\0" * 65536

    response = client.post("/v1/segment", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert response.status_code == 413 and "limit of 1.0 MiB" in response.json()["error"]


def test_query_errors_unknown_paths_and_tokens(client, frame_path):
    image = {"image": frame_path.read_bytes()}
    assert ("format must be one of png, overlay, json"
            in client.post("/v1/segment?format=gif", files=image).json()["error"])
    assert client.post("/v1/segment?opacity=2", files=image).status_code == 400
    assert client.post("/v1/segment?opacity=x", files=image).status_code == 400
    missing = client.get("/v1/nothing")
    assert missing.status_code == 404 and missing.json() == {"error": "no such endpoint: GET /v1/nothing"}
    assert client.get("/v1/model", headers={"Authorization": ""}).status_code == 401
    wrong = client.post("/v1/segment", files=image, headers={"Authorization": "Bearer s3cret-tokeN"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert client.get("/healthz", headers={"Authorization": ""}).status_code == 200  # health checks need no token
    assert client.get("/v1/model", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/v1/model", headers={"Authorization": f"bearer  {TOKEN} "}).status_code == 200


def test_pixel_limit_refuses_before_decoding(model, tmp_path):
    settings = ServiceSettings(max_pixels=10_000, upload_dir=str(tmp_path))
    with TestClient(create_app(model, settings)) as small:
        assert "securitySchemes" not in small.get("/openapi.json").json().get("components", {})  # no token, none
        buffer = io.BytesIO()
        Image.new("RGB", (200, 100)).save(buffer, "PNG")
        response = small.post("/v1/segment", files={"image": buffer.getvalue()})
    assert response.status_code == 413 and "200x100 = 20000 pixels" in response.json()["error"]


def test_the_page_and_its_files_are_served_without_anything_external(client):
    page = client.get("/", headers={"Authorization": ""})
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("app.js", "style.css"):
        assert client.get(f"/static/{name}").status_code == 200
    for text in (page.text, client.get("/static/app.js").text):
        assert "http://" not in text and "https://" not in text
    assert client.get("/static/../app.py").status_code == 404  # no request names a server-side path


def test_full_queue_answers_503_with_retry_after(model, frame_path, tmp_path):
    app = create_app(model, ServiceSettings(max_queue=2, batch_window_ms=0, max_batch=1, upload_dir=str(tmp_path)))
    files = {"image": frame_path.read_bytes()}

    async def burst():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
            return await asyncio.gather(*(c.post("/v1/segment", files=files) for _ in range(10)))

    started = time.monotonic()
    responses = asyncio.run(burst())
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2 and set(statuses) == {200, 503}
    refused = next(r for r in responses if r.status_code == 503)
    assert int(refused.headers["retry-after"]) >= 1 and "busy" in refused.json()["error"]
    assert time.monotonic() - started < 30
    app.state.batcher.close()
    assert not list(tmp_path.glob("segnet-serve-*/*"))  # every upload removed


def wait_for_job(client, job_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = client.get(f"/v1/videos/{job_id}").json()
        if state["state"] not in ("queued", "running"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"video job still {state} after {timeout} s")


def test_video_job_gives_overlay_webm_and_per_frame_labels(client, model, tmp_path):
    clip = write_clip(tmp_path / "clip.avi")
    submitted = client.post("/v1/videos", files={"video": clip.read_bytes()})
    assert submitted.status_code == 202 and submitted.headers["location"] == f"/v1/videos/{submitted.json()['id']}"
    job_id = submitted.json()["id"]
    state = wait_for_job(client, job_id)
    assert state["state"] == "done" and state["frames_done"] == state["frames_total"] == 6
    assert 0 < state["expires_in_s"] <= 600
    result = client.get(f"/v1/videos/{job_id}/result")
    assert result.headers["content-type"] == "video/webm" and result.content[:4] == b"\x1a\x45\xdf\xa3"  # EBML
    capture, frames = cv2.VideoCapture(str(clip)), []
    while (grabbed := capture.read())[0]:
        frames.append(cv2.cvtColor(grabbed[1], cv2.COLOR_BGR2RGB))
    with zipfile.ZipFile(io.BytesIO(client.get(f"/v1/videos/{job_id}/labels.zip").content)) as archive:
        names = sorted(archive.namelist())
        assert names == [f"{i:06d}_labels.png" for i in range(6)]
        for name, frame in zip(names, frames):
            np.testing.assert_array_equal(decode(archive.read(name)), model.predict(frame))


def test_video_errors_and_expiry(model, tmp_path):
    settings = ServiceSettings(video_keep_s=0, upload_dir=str(tmp_path))
    with TestClient(create_app(model, settings)) as quick:
        bad = quick.post("/v1/videos", files={"video": ("film.mp4", b"not a video at all")})
        assert bad.status_code == 400 and "not a video" in bad.json()["error"]
        assert quick.get("/v1/videos/0123").status_code == 404
        job_id = quick.post("/v1/videos",
                            files={"video": write_clip(tmp_path / "c.avi", frames=2).read_bytes()}).json()["id"]
        deadline = time.monotonic() + 60
        while quick.get(f"/v1/videos/{job_id}").status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        gone = quick.get(f"/v1/videos/{job_id}/result")
        assert gone.status_code == 404 and "expire after 0 s" in gone.json()["error"]
    assert not list(tmp_path.glob("segnet-serve-*"))  # shutdown removed the private folder


def test_cors_is_off_unless_an_origin_is_allowed(client, model, tmp_path):
    preflight = {"Origin": "https://example.org", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in client.options("/v1/segment", headers=preflight).headers
    settings = ServiceSettings(cors_origins=("https://example.org",), max_batch=1, upload_dir=str(tmp_path))
    with TestClient(create_app(model, settings)) as open_to_one:
        allowed = open_to_one.options("/v1/segment", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "https://example.org"
        other = open_to_one.get("/healthz", headers={"Origin": "https://elsewhere.example"})
        assert "access-control-allow-origin" not in other.headers
