"""Dashboard users: a TOML file of bcrypt hashes, roles and districts; log-in and the signed session.

users.toml (default STORE/app/users.toml, or $PORTRAIT_USERS):

    [users.wang]
    role = "staff"                       # staff | manager | analyst | admin
    districts = ["TQ3301015533"]         # the 台区 a staff user looks after
    password_hash = "$2b$12$…"           # bcrypt
    display_name = "王经理"              # optional
    email = "wang@example.com"          # optional: matches st.user.email when OIDC (st.login) is configured
    disabled = false                     # optional

The session keeps only the user name and an HMAC of it under a per-process secret. Every page
run re-reads the user from the file, so a changed role, district or a disabled account applies
at once, and a user name typed into session state without its signature is not a log-in.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt

from dashboards.queries import ROLES, Viewer
from dashboards.file_lock import locked

USERS_ENV = "PORTRAIT_USERS"
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_DISTRICT = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SECRET = secrets.token_bytes(32)  # per process: a restart logs everyone out, which is fine
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds=4))
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60


class UserError(ValueError):
    """A user entry or users file is invalid; the message says how to fix it."""


@dataclass(frozen=True)
class User:
    """One dashboard user as stored in users.toml (the hash never leaves this module's callers)."""

    username: str
    role: str
    districts: tuple[str, ...] = ()
    password_hash: str = field(default="", repr=False)
    display_name: str = ""
    email: str = ""
    disabled: bool = False

    def viewer(self) -> Viewer:
        """Return the Viewer the query layer enforces for this user."""
        return Viewer(self.username, self.role, self.districts)


def users_path(store: Path, override: Path | str | None = None) -> Path:
    """Return the users file: `override`, else $PORTRAIT_USERS, else STORE/app/users.toml."""
    if override:
        return Path(override)
    if os.environ.get(USERS_ENV):
        return Path(os.environ[USERS_ENV])
    return Path(store) / "app" / "users.toml"


def load_users(path: Path) -> dict[str, User]:
    """Return the users in `path` (empty when the file does not exist); raise UserError on a bad entry."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: not valid TOML ({err}); fix the file or recreate it with `portrait users add`")
    out = {}
    for name, raw in (data.get("users") or {}).items():
        if not isinstance(raw, dict):
            raise UserError(f"{path}: [users.{name}] must be a table")
        out[name] = _user_from(name, raw, path)
    return out


def _user_from(name: str, raw: dict, path: Path) -> User:
    if not _NAME.match(name):
        raise UserError(f"{path}: user name {name!r} may use letters, digits and _ . @ - only")
    role = raw.get("role")
    if role not in ROLES:
        raise UserError(f"{path}: user {name!r} has role {role!r}; use one of {', '.join(ROLES)}")
    districts = raw.get("districts") or []
    if not isinstance(districts, list) or not all(isinstance(d, str) for d in districts):
        raise UserError(f"{path}: user {name!r}: districts is a list of 台区 ids, e.g. [\"TQ3301015533\"]")
    return User(name, role, tuple(districts), str(raw.get("password_hash") or ""), str(raw.get("display_name") or ""),
                str(raw.get("email") or ""), bool(raw.get("disabled", False)))


def _toml_string(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _render(users: dict[str, User]) -> str:
    lines = ["# grid-portrait dashboard users — edit with `portrait users add`; passwords are bcrypt hashes", ""]
    for u in sorted(users.values(), key=lambda u: u.username):
        lines.append(f"[users.{_toml_string(u.username)}]")
        lines.append(f"role = {_toml_string(u.role)}")
        lines.append("districts = [" + ", ".join(_toml_string(d) for d in u.districts) + "]")
        lines.append(f"password_hash = {_toml_string(u.password_hash)}")
        if u.display_name:
            lines.append(f"display_name = {_toml_string(u.display_name)}")
        if u.email:
            lines.append(f"email = {_toml_string(u.email)}")
        if u.disabled:
            lines.append("disabled = true")
        lines.append("")
    return "\n".join(lines)


def write_users(path: Path, users: dict[str, User]) -> None:
    """Write the users file atomically, readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(_render(users))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def hash_password(password: str, rounds: int = 12) -> str:
    """Return the bcrypt hash of `password`."""
    raw = password.encode("utf-8")
    if len(raw) > 72:
        raise UserError("passwords are at most 72 bytes (a bcrypt limit)")
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds=rounds)).decode("ascii")


def add_user(path: Path, username: str, role: str, password: str, districts: tuple[str, ...] = (),
             display_name: str = "", email: str = "", rounds: int = 12) -> User:
    """Add or replace a user in the users file; return it."""
    if not _NAME.match(username or ""):
        raise UserError(f"user name {username!r} may use letters, digits and _ . @ - only (1–64 characters)")
    if role not in ROLES:
        raise UserError(f"role {role!r} is unknown; use one of {', '.join(ROLES)}")
    for d in districts:
        if not _DISTRICT.match(d):
            raise UserError(f"district {d!r} is not a 台区 id such as TQ3301015533")
    if role == "staff" and not districts:
        raise UserError("a staff user needs at least one --district (the 台区 they look after)")
    if len(password or "") < 8:
        raise UserError("a password needs at least 8 characters")
    user = User(username, role, tuple(districts), hash_password(password, rounds), display_name, email)
    with locked(Path(path)):
        users = load_users(path)
        users[username] = user
        write_users(path, users)
    return user


def set_disabled(path: Path, username: str, disabled: bool) -> None:
    """Disable or re-enable a user."""
    with locked(Path(path)):
        users = load_users(path)
        if username not in users:
            raise UserError(f"there is no user {username!r}")
        u = users[username]
        users[username] = User(u.username, u.role, u.districts, u.password_hash, u.display_name, u.email, disabled)
        write_users(path, users)


def verify_password(users: dict[str, User], username: str, password: str) -> User | None:
    """Return the user when the password matches an enabled account; None otherwise (in similar time)."""
    user = users.get(username or "")
    candidate = (password or "").encode("utf-8")[:72]
    if user is None or not user.password_hash or user.disabled:
        bcrypt.checkpw(candidate, _DUMMY_HASH)
        return None
    try:
        ok = bcrypt.checkpw(candidate, user.password_hash.encode("ascii"))
    except ValueError:
        return None
    return user if ok else None


def user_for_email(users: dict[str, User], email: str) -> User | None:
    """Return the enabled user whose email matches (for OIDC log-in), else None."""
    if not email:
        return None
    for u in users.values():
        if u.email and u.email.lower() == email.lower() and not u.disabled:
            return u
    return None


def session_token(username: str) -> str:
    """Return the signature that proves this process logged `username` in."""
    return hmac.new(_SECRET, username.encode("utf-8"), hashlib.sha256).hexdigest()


def token_valid(username: str, token: str) -> bool:
    """Return whether `token` was issued by this process for `username`."""
    return isinstance(username, str) and isinstance(token, str) and hmac.compare_digest(session_token(username), token)


class Throttle:
    """Failed log-ins per user name; after MAX_FAILURES the name is locked for LOCKOUT_SECONDS."""

    def __init__(self) -> None:
        self._fails: dict[str, list[float]] = {}

    def locked(self, username: str) -> bool:
        """Return whether log-ins for this name are paused."""
        recent = [t for t in self._fails.get(username, []) if time.monotonic() - t < LOCKOUT_SECONDS]
        self._fails[username] = recent
        return len(recent) >= MAX_FAILURES

    def failed(self, username: str) -> None:
        """Record a failed log-in."""
        self._fails.setdefault(username, []).append(time.monotonic())

    def succeeded(self, username: str) -> None:
        """Forget failures after a good log-in."""
        self._fails.pop(username, None)


THROTTLE = Throttle()
