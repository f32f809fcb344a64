"""Service and pipeline settings: defaults, then a YAML file, then ``SEVTRIAGE_*`` environment variables.

Validated once at the edge (the CLI or `create_app`); the core never reads the environment.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sevtriage import yaml_text
from sevtriage.errors import ConfigError, Problem

if TYPE_CHECKING:
    from sevtriage.triage import Triage

CONFIG_ENV = "SEVTRIAGE_CONFIG"
ENGINES = ("durable", "python")
ALERT_KINDS = ("critical", "possible_critical", "breach_soon")


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


IMAP_SECURITY = ("ssl", "starttls", "plain")
IMAP_MARKS = ("keywords", "folders", "none")
IMAP_FOLDER_KEYS = ("sev1", "sev2", "sev3", "sev4", "needs-review", "skipped", "rejected")


class _YamlFileSource(PydanticBaseSettingsSource):
    """Values from the YAML file named by `Settings.load(config_file=...)` or ``SEVTRIAGE_CONFIG``."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self._data = _read_yaml(path) if path is not None else {}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(Problem(str(path), None, f"cannot read the settings file: {error.strerror}")) from None
    try:
        data = yaml_text.load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(Problem(str(path), line, f"not valid YAML: {error}")) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(Problem(str(path), 1, "the settings file must be a mapping of setting: value"))
    return {str(k): v for k, v in data.items()}


class Settings(BaseSettings):
    """Everything `sevtriage serve` and `sevtriage classify` can be configured with.

    Every field can be set as ``SEVTRIAGE_<NAME>`` in the environment (e.g. ``SEVTRIAGE_API_TOKEN``) or as
    ``name: value`` in a YAML file given with ``--config`` or ``SEVTRIAGE_CONFIG``. The environment wins.
    """

    model_config = SettingsConfigDict(env_prefix="SEVTRIAGE_", extra="forbid", validate_default=True)

    # Where the rules, the model and the SLA policy come from; None = the bundled files.
    rules_path: Path | None = None
    model_path: Path | None = None
    sla_path: Path | None = None
    # Named so that its variable, SEVTRIAGE_RULES_ENGINE, is the one the rule stage itself reads.
    rules_engine: str | None = Field(default=None, description="rules engine: durable (default) or python")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # Without a token the service only listens on the loopback interface.
    api_token: SecretStr | None = None
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=2_000_000, ge=1024)
    log_request_text: bool = False

    # Decision store (and with it the review desk); None or "" switches both off.
    store_url: str | None = "sqlite:///sevtriage.db"
    # Signs review sessions and CSRF tokens. Use `resolved_secret_key()`: it creates and keeps one when unset.
    secret_key: str | None = Field(default=None, repr=False)
    review_enabled: bool = True

    batch_size: int = Field(default=1000, ge=1, le=100_000)

    # Alerts (README "Alerts"): a severity-1 decision, a possible_critical review, a request about to breach.
    # Sent by e-mail when alerts_smtp_host and alerts_mail_to are set, by webhook when alerts_webhook_url is.
    alerts_smtp_host: str | None = None
    alerts_smtp_port: int = Field(default=25, ge=1, le=65535)
    alerts_smtp_starttls: bool = False
    alerts_smtp_user: str | None = None
    alerts_smtp_password: SecretStr | None = None
    alerts_mail_from: str = "sevtriage@localhost"
    # Comma-separated addresses.
    alerts_mail_to: str = ""
    # A Slack or Microsoft Teams incoming webhook, or any URL that takes a JSON POST with a "text" field.
    alerts_webhook_url: str | None = None
    # Which alerts to send: any of critical, possible_critical, breach_soon (comma-separated).
    alerts_kinds: str = "critical,possible_critical,breach_soon"
    # "About to breach": this much business time left of a business-hours target (warned while the desk is open),
    # or this much real time left of an "8 hours outside business hours" clause (warned at any hour).
    alerts_lead_business_minutes: float = Field(default=30, ge=0)
    alerts_lead_elapsed_minutes: float = Field(default=60, ge=0)
    # Only requests received this recently alert (so switching alerts on over an old store does not flood).
    alerts_max_age_hours: float = Field(default=24, gt=0)
    alerts_check_seconds: float = Field(default=60, ge=1)
    alerts_attempts: int = Field(default=6, ge=1, le=100)
    alerts_backoff_seconds: float = Field(default=30, ge=0)
    alerts_timeout_seconds: float = Field(default=10, gt=0)
    # Where the review desk is reachable, for links in alerts (e.g. https://support.example.com).
    alerts_desk_url: str | None = None
    # Mail intake (`sevtriage mail import` / `mail watch`). Mail from these addresses, or from any address of an
    # "@domain" entry, is a response from support; everything else is from customers.
    mail_support: list[str] = Field(default_factory=list)
    # A customer's plan by address or domain ("acme.example": premier); others get the policy's default plan.
    mail_plans: dict[str, str] = Field(default_factory=dict)
    imap_host: str | None = None
    imap_port: int = Field(default=993, ge=1, le=65535)
    # "ssl" (IMAPS, port 993), "starttls" (port 143, upgraded) or "plain" (only for a server on loopback).
    imap_security: str = "ssl"
    # PEM file of the CA certificate(s) the server's certificate must chain to, for a server whose certificate is
    # signed by a private CA (or self-signed); None: the system's trusted CAs. Used by "ssl" and "starttls".
    imap_ca_file: str | None = None
    imap_user: str | None = None
    imap_password: SecretStr | None = None
    imap_folder: str = "INBOX"
    # How a handled message is marked in the mailbox: "keywords" ($sev1..$sev4, $needs-review, $skipped,
    # $rejected), "folders" (moved to imap_folders[...]), or "none".
    imap_mark: str = "keywords"
    imap_folders: dict[str, str] = Field(default_factory=dict)
    # Polling interval where the server has no IDLE, and the longest IDLE before it is renewed (RFC 2177 asks
    # clients to renew within 29 minutes).
    imap_poll_seconds: float = Field(default=30.0, gt=0)
    imap_idle: bool = True
    imap_idle_seconds: float = Field(default=300.0, gt=0, le=1740)
    imap_backoff_max_seconds: float = Field(default=300.0, gt=0)

    _config_file: ClassVar[Path | None] = None

    @field_validator("rules_engine")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        if value is not None and value not in ENGINES:
            raise ValueError(f"rules_engine must be one of {', '.join(ENGINES)}; got {value!r}")
        return value

    @field_validator("imap_security")
    @classmethod
    def _known_security(cls, value: str) -> str:
        if value not in IMAP_SECURITY:
            raise ValueError(f"imap_security must be one of {', '.join(IMAP_SECURITY)}; got {value!r}")
        return value

    @field_validator("imap_mark")
    @classmethod
    def _known_mark(cls, value: str) -> str:
        if value not in IMAP_MARKS:
            raise ValueError(f"imap_mark must be one of {', '.join(IMAP_MARKS)}; got {value!r}")
        return value

    @field_validator("imap_folders")
    @classmethod
    def _known_folder_keys(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(IMAP_FOLDER_KEYS))
        if unknown:
            raise ValueError(f"imap_folders keys must be among {', '.join(IMAP_FOLDER_KEYS)}; got {unknown[0]!r}")
        return value

    @field_validator("mail_support")
    @classmethod
    def _support_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            if "@" not in entry:
                raise ValueError(
                    f"mail_support entries must be an address (support@vendor.example) or a domain written "
                    f"@vendor.example; got {entry!r}"
                )
        return [entry.strip().lower() for entry in value]

    @field_validator("store_url", "secret_key", "alerts_smtp_host", "alerts_webhook_url", "alerts_desk_url")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None

    @field_validator("alerts_kinds")
    @classmethod
    def _known_alert_kinds(cls, value: str) -> str:
        for kind in _split(value):
            if kind not in ALERT_KINDS:
                raise ValueError(f"alerts_kinds must be some of {', '.join(ALERT_KINDS)}; got {kind!r}")
        return value

    @field_validator("alerts_webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"alerts_webhook_url must start with http:// or https://; got {value!r}")
        return value

    @property
    def alert_recipients(self) -> tuple[str, ...]:
        return _split(self.alerts_mail_to)

    @property
    def alert_kinds(self) -> tuple[str, ...]:
        return _split(self.alerts_kinds)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = cls._config_file
        if path is None and os.environ.get(CONFIG_ENV):
            path = Path(os.environ[CONFIG_ENV])
        return (init_settings, env_settings, _YamlFileSource(settings_cls, path))

    @classmethod
    def load(cls, config_file: str | Path | None = None, **overrides: Any) -> Settings:
        """Settings from defaults, the YAML file, the environment and explicit overrides (highest first: overrides).

        Raises `ConfigError` naming the setting, what was allowed and what came.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        source = str(config_file) if config_file is not None else os.environ.get(CONFIG_ENV, "settings")
        cls._config_file = Path(config_file) if config_file is not None else None
        try:
            return cls(**given)
        except ValidationError as error:
            problems = [
                Problem(
                    source,
                    None,
                    f"setting {'.'.join(str(p) for p in e['loc'])} (env SEVTRIAGE_"
                    f"{str(e['loc'][0]).upper()}): {e['msg']}",
                )
                for e in error.errors()
            ]
            raise ConfigError(problems) from None
        finally:
            cls._config_file = None

    @property
    def token(self) -> str | None:
        """The bearer token as plain text, or None when the API is open (loopback only)."""
        return self.api_token.get_secret_value() if self.api_token is not None else None

    def sqlite_path(self) -> Path | None:
        """The database file when the store is SQLite, else None."""
        url = self.store_url or ""
        for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
            if url.startswith(prefix):
                rest = url[len(prefix) :].split("?", 1)[0]
                return Path(rest) if rest and rest != ":memory:" else None
        return None

    def resolved_secret_key(self) -> str:
        """The configured secret key, else one kept in ``<database>.secret`` beside the SQLite store.

        Created once (mode 0600) so that sessions survive restarts. A non-SQLite store needs an explicit key,
        because several processes must share it.
        """
        if self.secret_key:
            return self.secret_key
        db = self.sqlite_path()
        if db is None:
            raise ConfigError(
                "secret_key is not set and the store is not a SQLite file, so there is nowhere to keep a generated "
                "one; set SEVTRIAGE_SECRET_KEY (e.g. to the output of `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        key_file = db.with_name(db.name + ".secret")
        if key_file.exists():
            return key_file.read_text(encoding="utf-8").strip()
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(32)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
        return key


def load_triage(settings: Settings) -> Triage:
    """Rules, model and SLA policy from the settings' paths (the bundled files where unset)."""
    from sevtriage.triage import Triage

    options: dict[str, Any] = {}
    if settings.model_path is not None:
        options["model"] = settings.model_path
    if settings.sla_path is not None:
        options["sla"] = settings.sla_path
    if settings.rules_engine is not None:
        options["engine"] = settings.rules_engine
    return Triage.load(settings.rules_path, **options)
