"""docker-compose.yml cannot run here (no Docker engine): read it as `docker compose config` does,
keep it in step with Settings and the Dockerfile, and run its healthchecks' and keys' commands."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from app.auth import PrincipalKind, TokenIssuer, TokenVerifier, load_key_material
from app.auth.keygen import PRIVATE_FILE, PUBLIC_FILE
from app.cli import build_parser
from app.clock import SystemClock
from app.config import Settings
from tests.processes import JIFEN, api_process, jifen_env, stop

ROOT = Path(__file__).resolve().parent.parent


def load() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_services_are_mongo_replica_set_api_and_worker() -> None:
    services = load()["services"]
    assert {"mongo", "mongo-init", "keys", "api", "worker"} <= set(services)
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


# Keys, users and health checks: docker-compose.yml and the Dockerfile agree, and each
# healthcheck's own command is run here against the real thing.


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def image_user() -> str:
    """The Dockerfile's USER (the last one), as uid:gid."""
    [*_, user] = re.findall(r"^USER\s+(\S+)\s*$", dockerfile(), re.MULTILINE)
    return user


def built_here(service: dict[str, Any]) -> bool:
    return service.get("build") in (".", {"context": "."})


def run_in_test(command: list[str]) -> list[str]:
    """A service's command as a test runs it: `python` is this interpreter."""
    assert command[0] == "python", command
    return [sys.executable, *command[1:]]


def test_every_service_built_here_runs_as_the_images_fixed_non_root_user() -> None:
    user = image_user()
    uid, gid = user.split(":")
    assert uid.isdigit() and gid.isdigit() and uid != "0" and gid != "0", user
    assert f"--uid {uid}" in dockerfile() and f"--gid {gid}" in dockerfile()
    services = load()["services"]
    built = [name for name, service in services.items() if built_here(service)]
    assert {"keys", "api", "worker"} <= set(built)
    for name in built:  # the keys the `keys` service makes belong to the user the API runs as
        assert services[name]["user"] == user, name
    for name, service in services.items():
        assert str(service.get("user", "")).split(":")[0] not in ("0", "root"), name


def _mount(service: dict[str, Any], volume: str) -> tuple[str, str]:
    """Where `service` mounts the named volume, and its mode ('rw' unless ':ro')."""
    for entry in service.get("volumes", []):
        source, target, *mode = entry.split(":")
        if source == volume:
            return target, mode[0] if mode else "rw"
    raise AssertionError(f"{volume} is not mounted")


def test_the_api_reads_the_keys_the_keys_service_made_and_only_the_api_mounts_them() -> None:
    spec = load()
    services, environment = spec["services"], spec["services"]["api"]["environment"]
    assert "keys" in spec["volumes"]  # a named volume, not a folder of the host's
    made_at, mode = _mount(services["keys"], "keys")
    assert mode == "rw"
    command = services["keys"]["command"]
    assert command[:4] == ["python", "-m", "app.auth.keygen", made_at]
    assert command[command.index("--algorithm") + 1] == environment["JIFEN_JWT_ALGORITHM"]
    assert services["keys"]["restart"] == "no"
    api_at, mode = _mount(services["api"], "keys")
    assert mode == "ro"
    assert environment["JIFEN_JWT_PRIVATE_KEY_FILE"] == f"{api_at}/{PRIVATE_FILE}"
    assert environment["JIFEN_JWT_PUBLIC_KEY_FILE"] == f"{api_at}/{PUBLIC_FILE}"
    assert services["api"]["depends_on"]["keys"] == {"condition": "service_completed_successfully"}
    mounted = [name for name, service in services.items() if "keys" in str(service.get("volumes"))]
    assert sorted(mounted) == ["api", "keys"]  # the worker signs nothing
    # A new volume takes the owner and mode of the image's folder it is mounted on: that folder
    # must be the image user's, and nobody else's.
    user = image_user().split(":")[0]
    name = re.search(rf"useradd .*--uid {user}\b.* (\w+)\s*\\?$", dockerfile(), re.MULTILINE)
    assert name is not None, "the Dockerfile names no user for its uid"
    owned = re.search(rf"chown {name.group(1)}:\w+ ([^&\\]+)", dockerfile())
    private = re.search(r"chmod 0?700 ([^&\\]+)", dockerfile())
    assert owned is not None and made_at in owned.group(1).split()
    assert private is not None and made_at in private.group(1).split()


def test_the_keys_services_command_makes_a_pair_only_its_user_reads_and_keeps_it(
    tmp_path: Path,
) -> None:
    services = load()["services"]
    made_at = services["keys"]["command"][3]
    folder = tmp_path / "keys"  # the volume's mount, here
    command = run_in_test(services["keys"]["command"])
    command[command.index(made_at)] = str(folder)
    private, public = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    made = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    assert made.returncode == 0 and "made the key pair" in made.stdout, made.stderr
    first = private.read_bytes()
    kept = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)  # a restart
    assert kept.returncode == 0 and "kept the key pair" in kept.stdout, kept.stderr
    assert private.read_bytes() == first
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(private.stat().st_mode) == 0o600  # its user's alone
    assert stat.S_IMODE(public.stat().st_mode) == 0o644
    assert private.stat().st_uid == os.getuid()  # made by the user that reads it

    environment = services["api"]["environment"]
    values = {key.removeprefix("JIFEN_").lower(): value for key, value in environment.items()}
    values.update(jwt_private_key_file=private, jwt_public_key_file=public)
    settings = Settings(**values)
    keys = load_key_material(settings)  # as the API loads them when it starts
    assert keys.signing is not None
    clock = SystemClock()
    token = TokenIssuer(
        keys.signing, issuer=settings.jwt_issuer, audience=settings.jwt_audience, clock=clock
    ).mint(PrincipalKind.MEMBER, "m_1")
    verifier = TokenVerifier(
        keys.verifying,
        algorithm=settings.jwt_algorithm,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=0,
        clock=clock,
    )
    assert asyncio.run(verifier.verify(token)).subject == "m_1"


def healthcheck(service: str) -> list[str]:
    test = load()["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD", test  # exec form: no shell that could hide a failure
    return run_in_test(test[1:])


def check(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT, timeout=60)


def wait_for_status(
    command: list[str], env: dict[str, str], healthy: bool, within: float = 30
) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + within
    while True:
        done = check(command, env)
        if (done.returncode == 0) == healthy:
            return done
        assert time.monotonic() < deadline, (healthy, done.stdout, done.stderr)
        time.sleep(0.1)


def test_the_worker_healthcheck_fails_once_the_worker_stops_ticking(
    mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    env = jifen_env(mongo_url, db_name, tmp_path, worker_interval_seconds="0.2")
    # The threshold injected: one second, where the worker ticks five times.
    command = [*healthcheck("worker"), "--max-age", "1"]
    before = check(command, env)
    assert before.returncode != 0 and "no worker heartbeat" in before.stdout
    with (tmp_path / "worker.log").open("wb") as log:
        worker = subprocess.Popen([JIFEN, "worker"], env=env, stdout=log, stderr=log)
    try:
        assert "healthy" in wait_for_status(command, env, healthy=True, within=60).stdout
        worker.send_signal(signal.SIGSTOP)  # hung: alive, its loop ticking no more
        hung = wait_for_status(command, env, healthy=False)
        assert "last ticked" in hung.stdout
        worker.send_signal(signal.SIGCONT)
        wait_for_status(command, env, healthy=True)
        assert stop(worker) == 0
        stopped = wait_for_status(command, env, healthy=False)
        assert "last ticked" in stopped.stdout
        # Without the injected threshold, a heartbeat this fresh passes: three intervals, >= 30 s.
        assert check(healthcheck("worker"), env).returncode == 0
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGCONT)
            stop(worker)


def test_the_api_healthcheck_passes_only_while_the_api_is_ready(
    mongo_url: str, db_name: str, tmp_path: Path
) -> None:
    test = healthcheck("api")
    env = jifen_env(mongo_url, db_name, tmp_path)
    with api_process(env, tmp_path / "api.log") as port:
        command = [part.replace(":8000/", f":{port}/") for part in test]
        assert command != test
        assert check(command, env).returncode == 0
    assert check(command, env).returncode != 0  # nothing answers there now


def test_every_dependency_and_volume_resolves_as_compose_resolves_them() -> None:
    """What `docker compose config` refuses, checked here: a dependency on no service, a
    condition it does not know or that can never hold, a named volume not declared."""
    spec = load()
    services, volumes = spec["services"], spec.get("volumes") or {}
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, needs in service.get("depends_on", {}).items():
            assert target in services and target != name, (name, target)
            assert needs["condition"] in conditions, (name, target)
            if needs["condition"] == "service_healthy":
                assert "healthcheck" in services[target], (name, target)
            if needs["condition"] == "service_completed_successfully":  # a one-shot
                assert services[target].get("restart") == "no", (name, target)
        for entry in service.get("volumes", []):
            source = entry.split(":")[0]
            if not source.startswith((".", "/", "~")):
                assert source in volumes, (name, source)
        if "healthcheck" in service:
            assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def docker_compose() -> list[str] | None:
    """`docker compose` when this machine has the plugin (it needs no engine for `config`)."""
    if shutil.which("docker") is None:
        return None
    found = subprocess.run(["docker", "compose", "version"], capture_output=True)
    return ["docker", "compose"] if found.returncode == 0 else None


def test_the_file_is_valid_under_the_compose_specifications_schema() -> None:
    """The schema `docker compose config` checks a file against, so this runs without the plugin."""
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    assert [error.message for error in validator.iter_errors(load())] == []
    misspelt = load()
    misspelt["services"]["worker"]["healthcheck"]["tset"] = misspelt["services"]["worker"][
        "healthcheck"
    ].pop("test")
    assert any("tset" in error.message for error in validator.iter_errors(misspelt))


def test_docker_compose_config_accepts_the_file() -> None:
    compose = docker_compose()
    if compose is None:
        pytest.skip("no `docker compose` here; the tests above read the file as it does")
    done = subprocess.run(
        [*compose, "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
