"""Settings: every knob of the service, read from JIFEN_* environment variables or a .env file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.data_folder import default_data_dir
from app.embedded import EmbeddedMongo
from app.proxies import Network, parse_networks


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class JwtAlgorithm(StrEnum):
    EDDSA = "EdDSA"
    ES256 = "ES256"
    HS256 = "HS256"


class SmsProviderName(StrEnum):
    NONE = "none"
    ALIYUN = "aliyun"  # Alibaba Cloud SMS (Dysmsapi)
    TENCENT = "tencent"  # Tencent Cloud SMS


class SmtpSecurity(StrEnum):
    STARTTLS = "starttls"  # upgraded by STARTTLS (port 587); refused if not offered
    TLS = "tls"  # TLS from the first byte (port 465)
    NONE = "none"  # no encryption: a relay on the same host or a private network only


class Settings(BaseSettings):
    """The service's configuration; validated once at start."""

    model_config = SettingsConfigDict(
        env_prefix="JIFEN_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.DEV
    mongodb_url: str | None = Field(
        default=None,
        description="MongoDB connection string; unset starts the embedded SecantusDB.",
    )
    db_name: str = "jifen"
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="The data folder (embedded database, its log, generated keys); only serve creates it.",
    )
    embedded_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="The embedded database's port; unset picks a free one.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool | None = Field(
        default=None, description="JSON log lines; defaults to on in production."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(
        default_factory=list,
        description="Proxies whose X-Forwarded-For is believed: addresses or CIDR blocks.",
    )
    seed_demo: bool = Field(
        default=True, description="Seed the demo program into an empty embedded database."
    )

    jwt_algorithm: JwtAlgorithm = JwtAlgorithm.EDDSA
    jwt_issuer: str = "jifen"
    jwt_audience: str = "jifen-api"
    jwt_private_key_file: Path | None = Field(
        default=None, description="PEM private key used to sign tokens (CLI and sign-in)."
    )
    jwt_public_key_file: Path | None = Field(
        default=None, description="PEM public key that verifies access tokens."
    )
    jwks_url: str | None = Field(default=None, description="JWKS URL that verifies access tokens.")
    jwks_max_age_seconds: int = Field(
        default=300, ge=10, le=86400, description="Refetch the JWKS once its copy is this old."
    )
    jwt_hs256_secret: str | None = Field(
        default=None, min_length=32, description="Shared secret; only with JWT_ALGORITHM=HS256."
    )
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)

    txn_max_attempts: int = Field(default=8, ge=1, le=100)
    request_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        le=120,
        description="Time budget of one API request; past it the client gets UNAVAILABLE.",
    )
    request_head_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Time a connection has to send a complete request head (serve closes it).",
    )

    mutation_limit_per_minute: int = Field(
        default=60, ge=1, le=1000, description="Mutations one member may make in any minute."
    )
    sign_up_limit_per_address: int = Field(
        default=10, ge=1, le=1000, description="Sign-ups from one client address in any hour."
    )
    sign_up_limit_per_phone_prefix: int = Field(
        default=10,
        ge=1,
        le=1000,
        description="Sign-ups in any hour for phones that differ only in their last 4 digits.",
    )

    push_gateway_url: str | None = Field(
        default=None, description="The brand's push/SMS gateway; unset keeps deliveries queued."
    )
    push_signing_secret: str | None = Field(
        default=None,
        min_length=32,
        description="HMAC key of gateway deliveries; generated into the data folder when unset.",
    )
    # app/messaging (docs/messaging.md)
    unsubscribe_secret: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="HMAC key of unsubscribe links; generated once into the database when unset.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The API's address as members reach it: unsubscribe links start with it.",
    )
    # SMS (app/channels, docs/channels.md): which provider sends, under which sign name. The
    # credentials come from the environment only; secrets are SecretStr so no repr shows them.
    sms_provider: SmsProviderName = Field(
        default=SmsProviderName.NONE, description="Who sends SMS: none, aliyun or tencent."
    )
    sms_sign_name: str | None = Field(
        default=None,
        min_length=2,
        max_length=12,
        description="The approved sign name (签名) every SMS is sent under.",
    )
    sms_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long one SMS request may take."
    )
    sms_aliyun_access_key_id: str | None = None
    sms_aliyun_access_key_secret: SecretStr | None = None
    sms_aliyun_region: str = "cn-hangzhou"
    sms_aliyun_endpoint: str = "https://dysmsapi.aliyuncs.com/"
    sms_tencent_secret_id: str | None = None
    sms_tencent_secret_key: SecretStr | None = None
    sms_tencent_sdk_app_id: str | None = Field(
        default=None, pattern=r"^[0-9]+$", description="The SMS application's SmsSdkAppId."
    )
    sms_callback_token: SecretStr | None = Field(
        default=None,
        min_length=32,
        description="The secret in the SMS providers' callback URLs (delivery reports, replies); "
        "unset: the callbacks answer 404.",
    )
    sms_tencent_region: str = "ap-guangzhou"
    sms_tencent_endpoint: str = "https://sms.tencentcloudapi.com"
    smtp_host: str | None = Field(
        default=None, description="The SMTP relay that sends e-mail; unset sends none."
    )
    smtp_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Unset: 587 for starttls, 465 for tls, 25 for none.",
    )
    smtp_security: SmtpSecurity = SmtpSecurity.STARTTLS
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = Field(
        default=None, description="The sender address (required with JIFEN_SMTP_HOST)."
    )
    smtp_from_name: str = Field(default="", max_length=100, description="The sender's name.")
    smtp_timeout_seconds: float = Field(
        default=30.0, gt=0, le=300, description="Time budget of sending one message."
    )
    smtp_ca_file: Path | None = Field(
        default=None, description="PEM certificates trusted for the relay instead of the system's."
    )
    # Direct push (app/channels/apns.py, fcm.py), beside the brand's gateway: each platform is on
    # when its key is set. The keys are files (a .p8, a service account's JSON), never values here.
    apns_key_file: Path | None = Field(
        default=None, description="The team's APNs auth key (.p8, ES256); sets APNs on."
    )
    apns_key_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{10}$")
    apns_team_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{10}$")
    apns_topic: str | None = Field(default=None, max_length=255, description="The app's bundle id.")
    apns_endpoint: str = "https://api.push.apple.com"
    fcm_service_account_file: Path | None = Field(
        default=None, description="The Firebase service account's JSON key; sets FCM on."
    )
    fcm_project_id: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9-]{4,29}$")
    fcm_endpoint: str = "https://fcm.googleapis.com"
    push_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long one push request may take."
    )

    # Webhooks (app/webhooks, docs/events.md): how often the worker looks at the event log, and
    # how long it keeps trying an endpoint.
    webhook_interval_seconds: float = Field(default=2.0, gt=0, le=3600)
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Time an endpoint has to answer one delivery."
    )
    webhook_retry_hours: float = Field(
        default=72, gt=0, le=24 * 30, description="A delivery is dead after this long failing."
    )
    webhook_first_backoff_seconds: float = Field(default=5.0, gt=0, le=3600)
    webhook_pause_after_minutes: float = Field(
        default=24 * 60,
        gt=0,
        le=30 * 24 * 60,
        description="An endpoint failing without a success for this long is paused.",
    )
    webhook_claim_seconds: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="A delivery in flight; a worker killed mid-request sends it again after this.",
    )
    worker_interval_seconds: float = Field(default=30.0, gt=0, le=3600)
    worker_lease_seconds: float = Field(default=60.0, gt=0, le=3600)
    backup_every_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 366,
        description="Embedded database only: the worker backs up into the data folder's "
        "backups/ this often; 0 turns it off (with a MongoDB URL use mongodump).",
    )
    backup_keep: int = Field(
        default=7, ge=1, le=1000, description="How many scheduled backups are kept, newest first."
    )
    serve_worker: bool = Field(
        default=True, description="On the embedded default, serve also runs the worker."
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        # Resolved once, here: a relative JIFEN_DATA_DIR means the same folder to every child process.
        return value.expanduser().absolute()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_networks(value)
        return value

    @model_validator(mode="after")
    def _check_keys(self) -> Settings:
        if self.jwt_algorithm is JwtAlgorithm.HS256 and not self.jwt_hs256_secret:
            raise ValueError("JIFEN_JWT_HS256_SECRET is required when JIFEN_JWT_ALGORITHM=HS256")
        if self.jwt_algorithm is not JwtAlgorithm.HS256 and self.jwt_hs256_secret:
            raise ValueError(
                "JIFEN_JWT_HS256_SECRET is only allowed with JIFEN_JWT_ALGORITHM=HS256"
            )
        self._check_smtp()
        self._check_push()
        if self.env is Environment.PRODUCTION:
            if self.mongodb_url is None:
                raise ValueError("JIFEN_MONGODB_URL is required when JIFEN_ENV=production")
            has_verifier = self.jwt_public_key_file or self.jwks_url or self.jwt_hs256_secret
            if not has_verifier:
                raise ValueError(
                    "JIFEN_JWT_PUBLIC_KEY_FILE or JIFEN_JWKS_URL is required when "
                    "JIFEN_ENV=production"
                )
        return self

    @model_validator(mode="after")
    def _check_sms(self) -> Settings:
        required = {
            SmsProviderName.NONE: [],
            SmsProviderName.ALIYUN: [
                "sms_sign_name",
                "sms_aliyun_access_key_id",
                "sms_aliyun_access_key_secret",
            ],
            SmsProviderName.TENCENT: [
                "sms_sign_name",
                "sms_tencent_secret_id",
                "sms_tencent_secret_key",
                "sms_tencent_sdk_app_id",
            ],
        }[self.sms_provider]
        missing = [f"JIFEN_{name.upper()}" for name in required if not getattr(self, name)]
        if missing:
            raise ValueError(
                f"JIFEN_SMS_PROVIDER={self.sms_provider.value} needs " + ", ".join(missing)
            )
        return self

    def _check_push(self) -> None:
        if self.apns_key_file is not None and not (
            self.apns_key_id and self.apns_team_id and self.apns_topic
        ):
            raise ValueError(
                "JIFEN_APNS_KEY_FILE needs JIFEN_APNS_KEY_ID, JIFEN_APNS_TEAM_ID and JIFEN_APNS_TOPIC"
            )
        if self.fcm_service_account_file is not None and not self.fcm_project_id:
            raise ValueError("JIFEN_FCM_SERVICE_ACCOUNT_FILE needs JIFEN_FCM_PROJECT_ID")

    def _check_smtp(self) -> None:
        if self.smtp_host is not None and not self.smtp_from:
            raise ValueError("JIFEN_SMTP_FROM is required with JIFEN_SMTP_HOST")
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("JIFEN_SMTP_USERNAME and JIFEN_SMTP_PASSWORD go together")
        if self.smtp_username is not None and self.smtp_security is SmtpSecurity.NONE:
            raise ValueError(
                "JIFEN_SMTP_USERNAME with JIFEN_SMTP_SECURITY=none would send the password "
                "unencrypted: use starttls or tls"
            )

    @property
    def embedded(self) -> bool:
        return self.mongodb_url is None

    @property
    def json_logs(self) -> bool:
        return self.log_json if self.log_json is not None else self.env is Environment.PRODUCTION


class ConfigurationError(Exception):
    """A setting is missing or malformed; the message names it."""


def load_settings(**overrides: object) -> Settings:
    """Read and validate the settings, turning pydantic's report into one readable message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            name = f"JIFEN_{where.upper()}" if where else "settings"
            lines.append(f"{name}: {error['msg']}")
        raise ConfigurationError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def data_folder_database(settings: Settings) -> EmbeddedMongo:
    """The embedded database of the configured data folder (its `db/`), on the configured port:
    the one `serve` starts and every other command finds running or starts for itself."""
    return EmbeddedMongo(settings.data_dir / "db", port=settings.embedded_port)
