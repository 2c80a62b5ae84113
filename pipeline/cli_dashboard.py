"""`portrait serve` and `portrait users …`: start the dashboard over a store, and manage its users."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table as RichTable

from pipeline.errors import PortraitError

console = Console()
users_app = typer.Typer(add_completion=False, no_args_is_help=True, help="dashboard users (users.toml with bcrypt hashes)")

DEMO_PASSWORD_BYTES = 9


def _app_script() -> Path:
    import dashboards

    return Path(next(iter(dashboards.__path__))).resolve() / "app.py"


def _users_file(store: Path, users: Optional[Path]) -> Path:
    from dashboards.auth import users_path

    return users_path(store, users)


def serve(
    store: Path = typer.Option(Path("store"), "--store", help="portrait store folder"),
    port: int = typer.Option(8501, "--port", help="port to listen on"),
    users: Optional[Path] = typer.Option(None, "--users", help="users file (default STORE/app/users.toml)"),
    address: str = typer.Option("localhost", "--address", help="address to bind (0.0.0.0 to serve the network)"),
) -> None:
    """Start the dashboard (headless Streamlit) over a published store."""
    store = store.resolve()
    if not (store / "store.json").exists():
        raise PortraitError(f"{store} is not a portrait store (no store.json)",
                            hint="run `portrait demo` or `portrait run --store …` first, or pass --store")
    users_file = _users_file(store, users).resolve()
    if not users_file.exists():
        console.print(f"[yellow]no users file at {users_file}[/yellow]: add one with "
                      f"`portrait users add NAME --role analyst --store {store}`")
    env = {**os.environ, "PORTRAIT_STORE": str(store), "PORTRAIT_USERS": str(users_file)}
    cmd = [sys.executable, "-m", "streamlit", "run", str(_app_script()),
           "--server.headless", "true", "--server.port", str(port), "--server.address", address,
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--theme.base", "light", "--theme.primaryColor", "#1f6fb2", "--client.toolbarMode", "minimal"]
    console.print(f"dashboard: http://{'localhost' if address in ('0.0.0.0', '::') else address}:{port}  "
                  f"(store {store}; Ctrl+C stops it)")
    try:
        code = subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        code = 0
    if code:
        raise PortraitError(f"the dashboard exited with status {code}", hint="see the Streamlit output above")


@users_app.command("add")
def users_add(
    name: str = typer.Argument(..., help="user name (letters, digits, _ . @ -)"),
    role: str = typer.Option(..., "--role", help="staff | manager | analyst | admin"),
    district: List[str] = typer.Option([], "--district", help="a 台区 id the user looks after (repeat for more)"),
    password: Optional[str] = typer.Option(None, "--password", help="password (prompted when omitted)"),
    display_name: str = typer.Option("", "--display-name", help="name shown in the dashboard"),
    email: str = typer.Option("", "--email", help="email matched against the OIDC log-in, if configured"),
    store: Path = typer.Option(Path("store"), "--store", help="portrait store folder"),
    users: Optional[Path] = typer.Option(None, "--users", help="users file (default STORE/app/users.toml)"),
) -> None:
    """Add a user (or reset one's password, role and districts)."""
    from dashboards.auth import UserError, add_user

    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    path = _users_file(store, users)
    try:
        user = add_user(path, name, role, password, tuple(district), display_name, email)
    except UserError as err:
        raise PortraitError(str(err)) from None
    where = f" for {', '.join(user.districts)}" if user.districts else ""
    console.print(f"saved {user.role} [bold]{user.username}[/bold]{where} in {path}")


@users_app.command("list")
def users_list(
    store: Path = typer.Option(Path("store"), "--store", help="portrait store folder"),
    users: Optional[Path] = typer.Option(None, "--users", help="users file (default STORE/app/users.toml)"),
) -> None:
    """List the dashboard's users, roles and districts (never their password hashes)."""
    from dashboards.auth import UserError, load_users

    path = _users_file(store, users)
    try:
        found = load_users(path)
    except UserError as err:
        raise PortraitError(str(err)) from None
    if not found:
        console.print(f"no users in {path}; add one with `portrait users add NAME --role analyst`")
        return
    t = RichTable(title=str(path))
    for col in ("user", "role", "districts", "display name", "email", "status"):
        t.add_column(col)
    for u in sorted(found.values(), key=lambda u: (u.role, u.username)):
        t.add_row(u.username, u.role, ", ".join(u.districts), u.display_name, u.email,
                  "disabled" if u.disabled else "active")
    console.print(t)


@users_app.command("disable")
def users_disable(
    name: str = typer.Argument(..., help="user name"),
    enable: bool = typer.Option(False, "--enable", help="re-enable instead"),
    store: Path = typer.Option(Path("store"), "--store", help="portrait store folder"),
    users: Optional[Path] = typer.Option(None, "--users", help="users file (default STORE/app/users.toml)"),
) -> None:
    """Disable a user (or re-enable with --enable); their open sessions end on the next click."""
    from dashboards.auth import UserError, set_disabled

    try:
        set_disabled(_users_file(store, users), name, not enable)
    except UserError as err:
        raise PortraitError(str(err)) from None
    console.print(f"{name}: {'enabled' if enable else 'disabled'}")


def _two_districts(store: Path) -> list[str]:
    import duckdb

    from pipeline.store import snapshot

    con = duckdb.connect()
    try:
        rows = con.execute("SELECT district_id FROM read_parquet(?) GROUP BY district_id "
                           "ORDER BY count(*) DESC, district_id LIMIT 2",
                           [str(snapshot(store).table_path("customers"))]).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def demo_users(store: Path) -> list[tuple[str, str, str]]:
    """Create the demo users in STORE/app/users.toml with fresh random passwords; return (user, role, password)."""
    from dashboards.auth import add_user, users_path

    path = users_path(store)
    districts = _two_districts(store)
    wanted = [("analyst", "analyst", (), "数据分析员"), ("manager", "manager", (), "供电所经理"),
              ("admin", "admin", (), "系统管理员")]
    for i, d in enumerate(districts, start=1):
        wanted.append((f"staff{i}", "staff", (d,), f"台区经理{i}"))
    out = []
    for name, role, ds, display in wanted:
        password = secrets.token_urlsafe(DEMO_PASSWORD_BYTES)
        add_user(path, name, role, password, ds, display)
        out.append((name, role, password))
    return out


def print_demo_access(store: Path, port: int = 8501) -> None:
    """Create the demo users and print how to open the dashboard, with their passwords (shown only here)."""
    from dashboards.auth import load_users, users_path

    creds = demo_users(store)
    found = load_users(users_path(store))
    console.print()
    console.print(f"[bold]dashboard[/bold]: portrait serve --store {store} --port {port}   → http://localhost:{port}")
    t = RichTable(title="demo users (passwords are shown once; reset with `portrait users add NAME --role …`)")
    for col in ("user", "role", "districts", "password"):
        t.add_column(col)
    for name, role, password in creds:
        t.add_row(name, role, ", ".join(found[name].districts) if name in found else "", password)
    console.print(t)
