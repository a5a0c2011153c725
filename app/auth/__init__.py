"""Authentication: who is calling (principals), token issue and verification, passwords."""

from app.auth.keys import generates_key, load_key_material
from app.auth.passwords import WeakPassword, hash_password
from app.auth.passwords import prepare as prepare_passwords
from app.auth.principals import Principal, PrincipalKind, actor_of
from app.auth.sessions import (
    InvalidRefreshToken,
    Session,
    end_session,
    forget_sessions,
    refresh_session,
)
from app.auth.signin import (
    InvalidCredentials,
    PhoneTaken,
    SignedIn,
    TooManyAttempts,
    TooManySignUps,
    log_in,
    sign_up,
)
from app.auth.throttle import Locked, SignUpLimits, count_mutations, forget_phones
from app.auth.tokens import (
    VERIFIED_CACHE_SIZE,
    InvalidToken,
    TokenIssuer,
    TokenVerifier,
    build_token_services,
)

__all__ = [
    "prepare_passwords",
    "VERIFIED_CACHE_SIZE",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "InvalidToken",
    "Locked",
    "PhoneTaken",
    "Principal",
    "PrincipalKind",
    "Session",
    "SignUpLimits",
    "SignedIn",
    "TokenIssuer",
    "TokenVerifier",
    "TooManyAttempts",
    "TooManySignUps",
    "WeakPassword",
    "actor_of",
    "build_token_services",
    "count_mutations",
    "end_session",
    "forget_phones",
    "forget_sessions",
    "generates_key",
    "hash_password",
    "load_key_material",
    "log_in",
    "refresh_session",
    "sign_up",
]
