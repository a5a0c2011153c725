"""`python -m app.auth.keygen FOLDER`: the signing key pair that JIFEN_JWT_PRIVATE_KEY_FILE and
JIFEN_JWT_PUBLIC_KEY_FILE name, made by the user that will read it.

docker-compose.yml runs it once, as the image's user, into the `keys` volume: the private key is
that user's alone (0600), the public one anyone's to read (0644). A pair already there is kept, so
a restart never changes the keys (a new key would sign every member out).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from app.auth.keys import generate_private_key, key_id, load_private_pem, private_pem
from app.config import JwtAlgorithm

PRIVATE_FILE = "jwt-private.pem"
PUBLIC_FILE = "jwt-public.pem"


class ForeignPublicKey(Exception):
    """A public key without its private key: not ours to pair with a new one."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists without its private key; remove it or add the private key")


def ensure_key_pair(folder: Path, algorithm: JwtAlgorithm) -> tuple[str, bool]:
    """The pair in `folder`, made if missing; returns its `kid` and whether it was made now."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private_path, public_path = folder / PRIVATE_FILE, folder / PUBLIC_FILE
    made = not private_path.exists()
    if made:
        if public_path.exists():
            raise ForeignPublicKey(public_path)
        _write(private_path, private_pem(generate_private_key(algorithm)), 0o600)
    private = load_private_pem(private_path.read_bytes())
    if not public_path.exists():
        public = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write(public_path, public, 0o644)
    return key_id(private.public_key()), made


def _write(path: Path, data: bytes, mode: int) -> None:
    """Written aside with its final mode from the start, then linked into place: never readable by
    others for an instant, never half-written, and never over a file another run made."""
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(aside, mode)  # the umask may have taken bits the mode asks for
        os.link(aside, path)
    finally:
        aside.unlink()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m app.auth.keygen",
        description=f"Make {PRIVATE_FILE} (0600) and {PUBLIC_FILE} in FOLDER unless there.",
    )
    parser.add_argument("folder", type=Path, help="where the pair is kept (made 0700 if missing)")
    parser.add_argument(
        "--algorithm",
        type=JwtAlgorithm,
        choices=[JwtAlgorithm.EDDSA, JwtAlgorithm.ES256],
        default=JwtAlgorithm.EDDSA,
        help="JIFEN_JWT_ALGORITHM of the pair (default: EdDSA)",
    )
    args = parser.parse_args(argv)
    try:
        kid, made = ensure_key_pair(args.folder, args.algorithm)
    except (ForeignPublicKey, ValueError) as exc:
        parser.exit(1, f"{exc}\n")
    print(f"{'made' if made else 'kept'} the key pair in {args.folder} (kid {kid})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
