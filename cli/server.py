"""CLI verbs of the web API (issue #6): serve, keys."""
from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.table import Table

from .main import DbOpt, _engine, app, err, out

keys_app = typer.Typer(help="API keys with roles: reader, editor (review links), admin (imports, match, keys).",
                       no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    db: DbOpt = None,
) -> None:
    """Serve the HTTP API (OpenAPI at /docs) and the web page with uvicorn."""
    import os
    from pathlib import Path

    import uvicorn

    import matcher

    url = db or matcher.get_settings().database_url
    new_file = url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists()
    if db is None and "UPR_ALIGN_DATABASE_URL" not in os.environ and new_file and Path("upr-align-demo.db").exists():
        # `upr-align demo && upr-align serve` shows the demo: there is no store of one's own here yet
        db = "sqlite:///upr-align-demo.db"
        err.print(f"no store at {url.removeprefix('sqlite:///')}: serving the demo store upr-align-demo.db")
    elif new_file:
        err.print(f"no store at {url.removeprefix('sqlite:///')} yet: starting an empty one (to see the demo, run "
                  "`upr-align demo` in this folder first; to fill it, `upr-align ingest …` or the page's upload)")
    if db:
        os.environ["UPR_ALIGN_DATABASE_URL"] = db  # the app factory (and any worker process) reads it
    engine = _engine(db)  # migrate (or refuse) before listening
    engine.dispose()
    out.print(f"upr-align on http://{host}:{port}/  (API docs: http://{host}:{port}/docs)")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers, log_level="warning")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option("--role", help="reader | editor | admin")],
    name: Annotated[Optional[str], typer.Option("--name", help="Whose key (shown as reviewer).")] = None,
    db: DbOpt = None,
) -> None:
    """Create a key; it is printed once (only its hash is stored)."""
    from sqlmodel import Session

    from matcher.keys import create_key

    with Session(_engine(db, must_exist=True)) as session:
        try:
            key, row = create_key(session, role, name)
        except ValueError as exc:
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from None
    err.print(f"key {row.id} ({row.role}{', ' + row.name if row.name else ''}) — store it now, it is not shown again:")
    print(key)


@keys_app.command("list")
def keys_list(db: DbOpt = None) -> None:
    """List keys: id, prefix, role, name, created, revoked (never the key)."""
    from sqlmodel import Session

    from matcher.keys import list_keys

    with Session(_engine(db, must_exist=True)) as session:
        t = Table("id", "prefix", "role", "name", "created", "revoked")
        for k in list_keys(session):
            t.add_row(str(k.id), k.prefix + "…", k.role, k.name or "", k.created_at.isoformat(timespec="seconds"),
                      k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else "")
        out.print(t)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="Key id (upr-align keys list).")], db: DbOpt = None) -> None:
    """Revoke a key: it is refused from now on."""
    from sqlmodel import Session

    from matcher.keys import revoke_key

    with Session(_engine(db, must_exist=True)) as session:
        try:
            row = revoke_key(session, key_id)
        except LookupError as exc:
            err.print(f"[red]error:[/red] {exc.args[0]}")
            raise typer.Exit(2) from None
    out.print(f"key {row.id} revoked")
