"""Fleet service settings (pydantic-settings, environment prefix GREENGATE_).

Outside the demo the service refuses to start with the shipped default secrets:
a district must set its own GREENGATE_SECRET_KEY and GREENGATE_ADMIN_PASSWORD.
`GREENGATE_DEMO=1` (or `Settings(demo=True)`) allows them for a laptop demo.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import ipaddress

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET_KEY = "changethis"
DEFAULT_ADMIN_PASSWORD = "changethis"


def default_data_dir() -> Path:
    """The per-user data directory (XDG_DATA_HOME/greengate, usually
    ~/.local/share/greengate): never the current directory, where a clone of
    the repository would show the database and secrets in `git status`."""
    from platformdirs import user_data_path

    return user_data_path("greengate", appauthor=False)


class StorageSettings(BaseSettings):
    """Where things are: enough for the administrative CLI, which needs no secrets."""

    model_config = SettingsConfigDict(env_prefix="GREENGATE_", extra="ignore")

    demo: bool = False
    data_dir: Path = Field(default_factory=default_data_dir)
    # SQLite file by default; "postgresql://..." (psycopg 3) for production.
    database_url: str = ""
    # Empty = start the embedded amqtt broker in-process on broker_port.
    broker_url: str = ""
    broker_port: int = 1883
    broker_ca_file: Path | None = None
    # What devices are told to connect to (the bundle); default: the broker URL.
    device_broker_url: str = ""
    # A mosquitto on this host whose password file the service keeps equal to
    # the registered devices (rewritten, then SIGHUP to the pid in the pid file).
    mosquitto_passwd_file: Path | None = None
    mosquitto_pid_file: Path | None = None
    fleet_key_path: Path | None = None
    # The district's pass issuer (greengate/passes): key file and CWT "iss".
    issuer_key_path: Path | None = None
    issuer_name: str = Field("HCM-Q7", min_length=1, max_length=32)
    # Release PUBLIC keys (64 hex each): what a published firmware release must
    # be signed with. The release private key never comes near the fleet.
    release_public_keys: list[str] = Field(default_factory=list)

    @property
    def db_url(self) -> str:
        if self.database_url:
            return normalise_db_url(self.database_url)
        return f"sqlite:///{self.data_dir / 'fleet.db'}"

    @property
    def signing_key_path(self) -> Path:
        return self.fleet_key_path or (self.data_dir / "fleet-signing.key")

    @property
    def pass_issuer_key_path(self) -> Path:
        return self.issuer_key_path or (self.data_dir / "issuer.key")


class Settings(StorageSettings):
    """Everything the running service needs, secrets included."""

    secret_key: str = DEFAULT_SECRET_KEY
    admin_username: str = "admin"
    admin_password: str = DEFAULT_ADMIN_PASSWORD

    # Argon2id cost for user passwords (lower it only for tests).
    argon2_time_cost: int = Field(3, ge=1, le=10)
    argon2_memory_kib: int = Field(65536, ge=1024)

    session_ttl_s: int = Field(8 * 3600, ge=60)
    technician_token_ttl_s: int = Field(15 * 60, ge=60)
    # Log-in throttle (fleet/services/throttle.py): free failures per
    # (username, client address) and per client address; past them the next
    # attempt waits delay_base_s * 2**(extra failures), capped at delay_max_s.
    # Failures are forgotten after window_s without one.
    login_user_failures: int = Field(5, ge=1)
    login_ip_failures: int = Field(30, ge=1)
    login_window_s: int = Field(15 * 60, ge=1)
    login_delay_base_s: float = Field(1.0, gt=0)
    login_delay_max_s: int = Field(15 * 60, ge=1)
    # Reverse proxies whose X-Forwarded-For is believed (addresses or CIDR
    # networks, e.g. ["127.0.0.1", "10.0.0.0/8"]); empty: the header is ignored.
    trusted_proxies: list[str] = Field(default_factory=list)
    # Strict-Transport-Security on every response (only behind HTTPS).
    hsts: bool = False
    # /docs, /redoc and /openapi.json without a log-in (off: admin/operator only).
    public_api_docs: bool = False
    # Prometheus scrape token: GET /metrics with "Authorization: Bearer <it>".
    # Empty: /metrics needs an admin/operator log-in. At least 16 characters.
    metrics_token: str = Field("", pattern=r"^(|.{16,})$")
    # -- dashboard display (fleet/web) --
    # Times are shown in this IANA zone (stored in UTC); stated once per page.
    timezone: str = Field("Asia/Ho_Chi_Minh", min_length=1, max_length=64)
    # Site map background: a tile URL template ("https://tiles.example/{z}/{x}/{y}.png")
    # from the district's own tile server; empty = markers on a plain background.
    map_tile_url: str = Field("", max_length=300)
    map_tile_attribution: str = Field("", max_length=200)
    # F0 exposure window: look back N days for sites where the pass was accepted,
    # and list other passes scanned there within +/- T hours.
    exposure_days: int = Field(14, ge=1, le=60)
    exposure_hours: float = Field(2.0, gt=0, le=48)
    device_offline_after_s: int = Field(5 * 60, ge=10)
    drift_grace_s: int = Field(120, ge=0)
    clock_drift_alert_s: int = Field(120, ge=1)
    outbox_alert_depth: int = Field(500, ge=1)
    # How often `serve` moves the firmware rollout campaigns on (fleet/services/ota.py).
    ota_tick_s: float = Field(5.0, gt=0, le=300)
    # New critical alert groups POSTed to this URL (fleet/services/notify.py),
    # signed with HMAC-SHA256 under alert_webhook_secret. Empty: off.
    alert_webhook_url: str = Field("", pattern=r"^(|https?://[^\s/?#]+[^\s]*)$")
    alert_webhook_secret: str = ""
    alert_webhook_timeout_s: float = Field(5.0, gt=0, le=60)
    alert_webhook_attempts: int = Field(8, ge=1, le=50)
    alert_webhook_backoff_s: float = Field(5.0, gt=0)
    alert_webhook_backoff_max_s: float = Field(900.0, gt=0)
    alert_webhook_max_age_s: int = Field(3600, ge=60)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (an IANA name, e.g. Asia/Ho_Chi_Minh)") from None
        return value

    @field_validator("map_tile_url")
    @classmethod
    def _tile_url(cls, value: str) -> str:
        if value and not (value.startswith("https://") or value.startswith("http://")) \
                or value and not all(k in value for k in ("{z}", "{x}", "{y}")):
            raise ValueError("map_tile_url must be an http(s) URL template with {z}, {x} and {y}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError: refused at start
        return value

    @model_validator(mode="after")
    def _webhook_needs_a_secret(self) -> "Settings":
        if self.alert_webhook_url and len(self.alert_webhook_secret) < 16:
            raise ValueError("GREENGATE_ALERT_WEBHOOK_URL needs GREENGATE_ALERT_WEBHOOK_SECRET "
                             "(at least 16 characters): receivers check the signature")
        return self

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> "Settings":
        if not self.demo:
            weak = []
            if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 16:
                weak.append("GREENGATE_SECRET_KEY")
            if self.admin_password == DEFAULT_ADMIN_PASSWORD or len(self.admin_password) < 10:
                weak.append("GREENGATE_ADMIN_PASSWORD")
            if weak:
                raise ValueError(
                    "default or short secrets outside the demo: set "
                    + ", ".join(weak)
                    + " (at least 16/10 characters) or GREENGATE_DEMO=1"
                )
        return self


def normalise_db_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 here (not psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@lru_cache
def get_settings() -> Settings:
    return Settings()
