"""Settings: defaults, YAML file, environment and overrides in that order; errors that name the setting."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from sevtriage.errors import ConfigError
from sevtriage.settings import Settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SEVTRIAGE_"):
            monkeypatch.delenv(name)


def test_defaults_are_safe() -> None:
    settings = Settings.load()
    assert settings.host == "127.0.0.1"
    assert settings.token is None
    assert settings.log_request_text is False
    assert settings.store_url == "sqlite:///sevtriage.db"


def test_file_then_environment_then_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "sevtriage.yaml"
    config.write_text("port: 9001\nmax_batch: 50\nhost: 127.0.0.2\n", encoding="utf-8")
    monkeypatch.setenv("SEVTRIAGE_MAX_BATCH", "70")
    settings = Settings.load(config, host="::1")
    assert (settings.port, settings.max_batch, settings.host) == (9001, 70, "::1")
    monkeypatch.setenv("SEVTRIAGE_CONFIG", str(config))
    assert Settings.load().port == 9001


def test_empty_store_url_disables_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVTRIAGE_STORE_URL", "")
    assert Settings.load().store_url is None


def test_token_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEVTRIAGE_API_TOKEN", "abc123")
    settings = Settings.load()
    assert settings.token == "abc123"
    assert "abc123" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        (
            "SEVTRIAGE_RULES_ENGINE",
            "drools",
            "setting rules_engine (env SEVTRIAGE_RULES_ENGINE): Value error,"
            " rules_engine must be one of durable, python; got 'drools'",
        ),
        ("SEVTRIAGE_MAX_BATCH", "lots", "setting max_batch (env SEVTRIAGE_MAX_BATCH): Input should be a valid integer"),
        ("SEVTRIAGE_PORT", "70000", "setting port (env SEVTRIAGE_PORT): Input should be less than or equal to 65535"),
    ],
)
def test_bad_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, env: str, value: str, message: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as error:
        Settings.load()
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: [1\n", "not valid YAML"),
        ("- a\n- b\n", "the settings file must be a mapping of setting: value"),
        ("colour: blue\n", "setting colour"),
    ],
)
def test_bad_files_are_reported_with_the_file(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "s.yaml"
    config.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        Settings.load(config)
    assert str(config) in str(error.value)
    assert message in str(error.value)


def test_secret_key_is_generated_once_beside_the_sqlite_store(tmp_path: Path) -> None:
    settings = Settings.load(store_url=f"sqlite:///{tmp_path / 'reviews.db'}")
    key = settings.resolved_secret_key()
    key_file = tmp_path / "reviews.db.secret"
    assert key_file.read_text(encoding="utf-8").strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert settings.resolved_secret_key() == key
    assert len(key) >= 32
    assert Settings.load(store_url="sqlite:///x.db", secret_key="given").resolved_secret_key() == "given"


def test_secret_key_for_a_server_database_must_be_given() -> None:
    with pytest.raises(ConfigError, match="set SEVTRIAGE_SECRET_KEY"):
        Settings.load(store_url="postgresql://db/sevtriage").resolved_secret_key()
