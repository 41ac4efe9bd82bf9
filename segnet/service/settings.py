"""The service's settings, each checked where it is declared, with the CLI's defaults."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from segnet.errors import SegnetError

LOOPBACK_NAMES = ("localhost",)


@dataclass(frozen=True)
class ServiceSettings:
    """What ``create_app`` and ``segnet serve`` accept beyond the model.

    ``token``: clients must send ``Authorization: Bearer <token>`` to /v1/ (None: no check).
    ``max_upload_mb``: largest upload; ``max_pixels``: largest image (width x height), also
    Pillow's decompression-bomb limit. ``max_queue``: frames waiting for the model before 503.
    ``batch_window_ms``/``max_batch``: micro-batching (segnet.service.batching).
    ``video_keep_s``: finished video jobs are removed after this; ``max_videos_running``: at
    once; ``max_video_jobs``: existing at once. ``cors_origins``: allowed origins (none: CORS off).
    """

    token: str | None = None
    max_upload_mb: float = 25.0
    max_pixels: int = 40_000_000
    max_queue: int = 32
    batch_window_ms: float = 3.0
    max_batch: int = 4
    video_keep_s: float = 600.0
    max_videos_running: int = 1
    max_video_jobs: int = 8
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    upload_dir: str | None = None

    def __post_init__(self) -> None:
        checks = {"max_upload_mb": self.max_upload_mb > 0, "max_pixels": self.max_pixels >= 1,
                  "max_queue": self.max_queue >= 1, "batch_window_ms": 0 <= self.batch_window_ms <= 1000,
                  "max_batch": self.max_batch >= 1, "video_keep_s": self.video_keep_s >= 0,
                  "max_videos_running": self.max_videos_running >= 1, "max_video_jobs": self.max_video_jobs >= 1}
        for name, ok in checks.items():
            if not ok:
                raise SegnetError(f"{name.replace('_', '-')} out of range: {getattr(self, name)!r}")
        if self.token is not None and not self.token.strip():
            raise SegnetError("token must not be empty")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 2 ** 20)


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: addresses no other machine can reach."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None, no_auth: bool) -> str | None:
    """Refuse a reachable address without a token; the warning to print for ``no_auth`` (else None)."""
    if is_loopback(host) or token:
        return None
    if not no_auth:
        raise SegnetError(f"--host {host} is reachable from other machines: give --token TOKEN "
                          "(or --no-auth to serve without authentication)")
    return (f"WARNING: serving on {host} WITHOUT AUTHENTICATION (--no-auth): anyone who reaches this "
            "address can use the model")
