"""SMTP_URL → a connected smtplib client (smtp://, smtp+starttls://, smtps://, optional login)."""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from flask import current_app

DEV_SINK_PORT = 8025  # `kohde dev` runs the development mail sink here
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to deliver."""

    host: str
    port: int
    tls: str  # "none", "starttls" or "implicit"
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str | None) -> SmtpSettings:
    """Settings from SMTP_URL; unset means the development sink on 127.0.0.1."""
    if not url:
        return SmtpSettings("127.0.0.1", DEV_SINK_PORT, "none")
    parts = urlsplit(url)
    schemes = {"smtp": ("none", 25), "smtp+starttls": ("starttls", 587), "smtps": ("implicit", 465)}
    if parts.scheme not in schemes:
        raise ValueError(f"SMTP_URL must start with smtp://, smtp+starttls:// or smtps://: {url!r}")
    tls, default_port = schemes[parts.scheme]
    return SmtpSettings(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or default_port,
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def connect(settings: SmtpSettings | None = None) -> smtplib.SMTP:
    """An open, logged-in SMTP connection (reused for a whole batch)."""
    settings = settings or parse_smtp_url(current_app.config.get("SMTP_URL"))
    if settings.tls == "implicit":
        client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=TIMEOUT_SECONDS,
                                  context=ssl.create_default_context())  # fmt: skip
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_SECONDS)
        if settings.tls == "starttls":
            client.starttls(context=ssl.create_default_context())
    if settings.username:
        client.login(settings.username, settings.password or "")
    return client
