"""docker-compose.yml cannot run here (no Docker engine); keep it valid and in step with Settings."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.cli import build_parser
from app.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def load() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_are_mongo_replica_set_api_and_worker() -> None:
    services = load()["services"]
    assert {"mongo", "mongo-init", "api", "worker"} <= set(services)
    assert "--replSet" in services["mongo"]["command"]
    assert services["mongo"]["image"].startswith("mongo:8")
    assert "rs.initiate" in " ".join(services["mongo-init"]["command"])
    for name in ("mongo", "api", "worker"):
        assert "healthcheck" in services[name], name


def test_api_and_worker_environment_names_real_settings() -> None:
    services = load()["services"]
    fields = {f"JIFEN_{name.upper()}" for name in Settings.model_fields}
    for name in ("api", "worker"):
        environment = services[name]["environment"]
        unknown = set(environment) - fields
        assert not unknown, f"{name} sets variables Settings does not read: {unknown}"
        assert "replicaSet=rs0" in environment["JIFEN_MONGODB_URL"]


def test_compose_environment_is_a_valid_production_configuration(tmp_path: Path) -> None:
    environment = dict(load()["services"]["api"]["environment"])
    values = {key.removeprefix("JIFEN_").lower(): value for key, value in environment.items()}
    settings = Settings(**values)
    assert settings.env.value == "production"
    assert settings.mongodb_url is not None


def test_services_run_commands_the_cli_has() -> None:
    parser = build_parser()
    for name in ("api", "worker"):
        command = load()["services"][name]["command"]
        assert command[0] == "jifen"
        parser.parse_args(command[1:])
