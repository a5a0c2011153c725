"""Settings are validated at start with a message that names the bad setting."""

from __future__ import annotations

import pytest

from app.config import ConfigurationError, Environment, JwtAlgorithm, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("JIFEN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_are_the_embedded_dev_setup() -> None:
    settings = load_settings()
    assert settings.env is Environment.DEV
    assert settings.embedded
    assert settings.jwt_algorithm is JwtAlgorithm.EDDSA
    assert settings.jwt_leeway_seconds == 30
    assert not settings.json_logs


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIFEN_PORT", "eighty")
    with pytest.raises(ConfigurationError, match="JIFEN_PORT"):
        load_settings()


def test_an_unknown_algorithm_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIFEN_JWT_ALGORITHM", "none")
    with pytest.raises(ConfigurationError, match="JIFEN_JWT_ALGORITHM"):
        load_settings()


def test_hs256_needs_an_explicit_long_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIFEN_JWT_ALGORITHM", "HS256")
    with pytest.raises(ConfigurationError, match="JIFEN_JWT_HS256_SECRET"):
        load_settings()
    monkeypatch.setenv("JIFEN_JWT_HS256_SECRET", "short")
    with pytest.raises(ConfigurationError, match="JIFEN_JWT_HS256_SECRET"):
        load_settings()
    monkeypatch.setenv("JIFEN_JWT_HS256_SECRET", "x" * 40)
    assert load_settings().jwt_algorithm is JwtAlgorithm.HS256


def test_production_needs_a_database_url_and_a_verification_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JIFEN_ENV", "production")
    with pytest.raises(ConfigurationError, match="JIFEN_MONGODB_URL"):
        load_settings()
    monkeypatch.setenv("JIFEN_MONGODB_URL", "mongodb://db:27017/?replicaSet=rs0")
    with pytest.raises(ConfigurationError, match="JIFEN_JWT_PUBLIC_KEY_FILE or JIFEN_JWKS_URL"):
        load_settings()
    monkeypatch.setenv("JIFEN_JWKS_URL", "https://auth.example.com/.well-known/jwks.json")
    settings = load_settings()
    assert settings.json_logs


def test_cors_origins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIFEN_CORS_ORIGINS", "https://a.example, https://b.example")
    assert load_settings().cors_origins == ["https://a.example", "https://b.example"]


def test_dotenv_file_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text("JIFEN_DB_NAME=from_dotenv\n")
    assert load_settings().db_name == "from_dotenv"


def test_cli_reports_bad_settings_and_exits_2(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from app.cli import main

    monkeypatch.setenv("JIFEN_WORKERS", "0")
    assert main(["token", "admin", "ops"]) == 2
    assert "JIFEN_WORKERS" in capsys.readouterr().err
