"""Uploads: a multipart field, or the whole body sent as the file itself (``curl --data-binary``
with Content-Type image/*, video/* or application/octet-stream), streamed into a private folder,
size-checked while it arrives, then decoded with the same reader ``segnet predict`` uses.

The body is parsed here, chunk by chunk, instead of by the framework: that is what lets a
too-large upload be refused (413) as soon as its bytes exceed the limit, before anything is
decoded, and keeps the file in a folder only this process can read (0700), removed after use.
A client names a field, never a server-side path: the stored file gets a random name.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
import warnings
from pathlib import Path

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from segnet.service.errors import ApiError

MULTIPART_OVERHEAD = 64 * 1024  # headers and boundaries around the file, beyond its own bytes
# Pillow's format names -> the suffix read_image expects (it checks JPEGs for damage by suffix)
SUFFIXES = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "BMP": ".bmp", "TIFF": ".tif", "WEBP": ".webp",
            "PPM": ".ppm", "GIF": ".gif"}


class UploadFolder:
    """A private temporary folder (mode 0700) for uploads and video jobs; ``close`` removes it."""

    def __init__(self, parent: str | os.PathLike | None = None):
        self.path = Path(tempfile.mkdtemp(prefix="segnet-serve-", dir=parent))
        os.chmod(self.path, 0o700)

    def new_file(self, suffix: str = "") -> Path:
        return self.path / f"{uuid.uuid4().hex}{suffix}"

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class _FilePart:
    """multipart callbacks that write the part named ``field`` to ``target``, counting its bytes."""

    def __init__(self, field: str, target: Path, max_bytes: int):
        self.field, self.target, self.max_bytes = field, target, max_bytes
        self.header_name, self.header_value, self.headers = b"", b"", {}
        self.file, self.found, self.size = None, False, 0

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_value, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished, "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self.headers = {}

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def _header_end(self) -> None:
        self.headers[self.header_name.lower()] = self.header_value
        self.header_name, self.header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        if options.get(b"name", b"").decode("latin-1") == self.field and not self.found:
            self.found, self.file = True, open(self.target, "wb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self.file is not None:
            self.size += end - start
            if self.size > self.max_bytes:
                raise ApiError(413, f"upload larger than this server's limit of {_mib(self.max_bytes)}")
            self.file.write(data[start:end])

    def _end(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def close(self) -> None:
        self._end()


class _RawBody:
    """The request body itself as the file: parser and part in one (``write``, ``finalize``, ``found``)."""

    def __init__(self, target: Path):
        self.size = 0
        self.file = open(target, "wb")  # noqa: SIM115 -- closed by close(), also on every error path

    @property
    def found(self) -> bool:
        return self.size > 0

    def write(self, chunk: bytes) -> None:  # receive_file counts the bytes against the limit first
        self.size += len(chunk)
        self.file.write(chunk)

    def finalize(self) -> None:
        pass

    def close(self) -> None:
        self.file.close()


def is_raw_upload(mime: bytes) -> bool:
    """A body that is the file itself, not a form: an image, a video or bytes of any kind."""
    return mime.startswith((b"image/", b"video/")) or mime == b"application/octet-stream"


async def receive_file(request: Request, field: str, folder: UploadFolder, max_bytes: int) -> Path:
    """The multipart field ``field`` of ``request``, or its whole body when sent as the file
    (``is_raw_upload``), stored in ``folder``; ApiError 400/413/415 otherwise. A client that
    disconnects mid-upload leaves nothing behind (ClientDisconnect propagates)."""
    mime, options = parse_options_header(request.headers.get("content-type", ""))
    raw = is_raw_upload(mime)
    if mime == b"multipart/form-data" and not options.get(b"boundary"):
        raise ApiError(400, "multipart/form-data without a boundary in its Content-Type: let the client library "
                            "set the header (a hand-written one drops the boundary)")
    if not raw and mime != b"multipart/form-data":
        raise ApiError(415, f"send the file as multipart/form-data in the field '{field}', or as the request "
                            "body with Content-Type image/*, video/* or application/octet-stream")
    overhead = 0 if raw else MULTIPART_OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes + overhead:
        raise ApiError(413, f"upload of {_mib(int(declared))} is larger than this server's limit of {_mib(max_bytes)}")
    target = folder.new_file()
    if raw:
        part = parser = _RawBody(target)
    else:
        part = _FilePart(field, target, max_bytes)
        parser = MultipartParser(options[b"boundary"], callbacks=part.callbacks())
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes + overhead:
                raise ApiError(413, f"upload larger than this server's limit of {_mib(max_bytes)}")
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError:
        part.close()
        target.unlink(missing_ok=True)
        raise ApiError(400, "malformed multipart/form-data body") from None
    except BaseException:  # too large, disconnected, disk full, cancelled: nothing half-written stays
        part.close()
        target.unlink(missing_ok=True)
        raise
    part.close()
    if not part.found:
        target.unlink(missing_ok=True)
        raise ApiError(400, "the request body is empty" if raw else f"no file in the multipart field '{field}'")
    return target


def decode_image(path: Path, max_pixels: int):
    """HxWx3 uint8 RGB of an uploaded file, EXIF orientation applied, exactly as ``segnet predict``
    reads it. The pixel count comes from the header first: a decompression bomb is refused (413)
    before a single pixel is decoded. Runs in a worker thread (decoding is CPU work)."""
    from PIL import Image, UnidentifiedImageError

    from segnet.data import read_image
    from segnet.errors import SegnetError

    try:
        with warnings.catch_warnings():  # a size over Pillow's limit is answered below, not warned about
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                width, height, kind = image.width, image.height, image.format
    except Image.DecompressionBombError:
        raise ApiError(413, f"image has more pixels than this server's limit of {max_pixels}") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise ApiError(400, "the upload is not an image this server can read (PNG, JPEG, BMP, TIFF, WebP)") from None
    if width * height > max_pixels:
        raise ApiError(413, f"image is {width}x{height} = {width * height} pixels; "
                            f"this server takes at most {max_pixels}")
    named = path.rename(path.with_suffix(SUFFIXES.get(kind or "", ".img")))
    try:
        return read_image(named)
    except SegnetError as exc:
        raise ApiError(400, str(exc).replace(str(named), "the upload")) from None
    finally:
        named.unlink(missing_ok=True)


def _mib(size: int) -> str:
    return f"{size / 2 ** 20:.1f} MiB"
