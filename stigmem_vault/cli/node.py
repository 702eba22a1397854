"""The node: ``stigmem serve`` (HTTP, with the watcher inside) and its bearer tokens."""

from __future__ import annotations

import signal
import socket
from dataclasses import asdict
from types import FrameType

import click

from stigmem_vault.api.results import Token
from stigmem_vault.api.vault import COMMIT_DELAY
from stigmem_vault.cli.common import echo_json, json_option, open_vault, state, table
from stigmem_vault.http.settings import AttestationMode, AuthMode, NodeSettings, RateLimit

_DEFAULTS = NodeSettings()
# A bucket holds this many seconds of the sustained rate (the defaults' burst ratio).
BURST_SECONDS = 10


def _rate(rate: float) -> RateLimit:
    """``rate`` requests per second sustained; 0 means unlimited."""
    return RateLimit(rate, max(1, int(rate * BURST_SECONDS)) if rate > 0 else 0)


def _comma_list(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """``--scopes team,company`` and ``--scopes team --scopes company`` alike."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _check_port_free(host: str, port: int) -> None:
    """Fail fast, as bad input, when the address cannot be bound (uvicorn would exit 1)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host.strip("[]"), port))
    except OSError as exc:
        raise click.BadParameter(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                 param_hint="'--port'") from None


@click.command("serve")
@click.option("--host", default=_DEFAULTS.host, show_default=True,
              help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=_DEFAULTS.port, show_default=True,
              help="Port to listen on (0: any free port).")
@click.option("--auth", type=click.Choice(["token", "none"]), default="token", show_default=True,
              help="token: every /v1 request needs a bearer token (`stigmem token create`); "
                   "none: no auth, allowed only on a loopback address.")
@click.option("--attestation", type=click.Choice(["enforce", "warn", "off"]),
              help="Source attestation: may a token write facts whose source is not its "
                   "principal? enforce refuses (403 source_not_owned), warn accepts with a "
                   "warning, off accepts. Default: enforce with token auth, off without.")
@click.option("--node-url", metavar="URL",
              help="The URL the node announces in /.well-known/stigmem (default: its address).")
@click.option("--no-watch", is_flag=True,
              help="Do not run the watcher (edits in the vault are not indexed while serving).")
@click.option("--read-rate", type=click.FloatRange(min=0), default=_DEFAULTS.reads.rate,
              show_default=True, help="Reads per second per token (0: unlimited); over it: 429.")
@click.option("--write-rate", type=click.FloatRange(min=0), default=_DEFAULTS.writes.rate,
              show_default=True, help="Writes per second per token (0: unlimited); over it: 429.")
@click.option("--sync-interval", type=click.FloatRange(min=0), default=30.0, show_default=True,
              metavar="SECONDS", help="Sync with every remote this often in the background (0: "
                                      "off); a failing remote backs off exponentially, with jitter.")
@click.option("--request-timeout", type=click.FloatRange(min=0, min_open=True),
              default=_DEFAULTS.request_timeout, show_default=True, metavar="SECONDS",
              help="A request must arrive whole within this time of its first byte (a new "
                   "connection: of opening); else 408 and the connection is closed.")
@click.option("--keepalive-timeout", type=click.FloatRange(min=0, min_open=True),
              default=_DEFAULTS.keepalive_timeout, show_default=True, metavar="SECONDS",
              help="Close a keep-alive connection idle for this long.")
@click.option("--max-connections", type=click.IntRange(min=1),
              default=_DEFAULTS.max_connections, show_default=True,
              help="Open connections at most; beyond, requests get 503 until some close.")
def serve_cmd(host: str, port: int, auth: AuthMode, attestation: AttestationMode | None,
              node_url: str | None, no_watch: bool, read_rate: float, write_rate: float,
              sync_interval: float, request_timeout: float, keepalive_timeout: float,
              max_connections: int) -> None:
    """Serve the vault over HTTP (upstream Stigmem v1 wire format) until Ctrl-C or SIGTERM.

    The watcher runs inside the node, so edits made in the vault meanwhile are indexed (and
    drafts signed) as with `stigmem watch`. Writes are committed shortly after they happen and
    on exit.
    """
    # auth and attestation are among the Literal values: click.Choice admits nothing else.
    settings = NodeSettings(host=host, port=port, auth=auth, attestation=attestation,
                            node_url=node_url, watch=not no_watch,
                            reads=_rate(read_rate), writes=_rate(write_rate),
                            request_timeout=request_timeout, keepalive_timeout=keepalive_timeout,
                            max_connections=max_connections)
    settings.check()  # --auth none off loopback: InvalidFact, exit 2
    _check_port_free(host, port)
    from stigmem_vault.http.server import serve  # fastapi and uvicorn: only when serving

    stops: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        # uvicorn handles SIGINT/SIGTERM while it serves, then re-raises the signal it got
        # against the handlers it found: these, so shutdown goes on to close the vault.
        stops.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with open_vault(commit_delay=COMMIT_DELAY) as vault:
            if not stops:
                watching = "watcher on" if settings.watch and vault.writable else "no watcher"
                syncing = sync_interval > 0 and vault.writable
                watching += f", sync every {sync_interval:g}s" if syncing else ", no background sync"
                announced = f", announced as {node_url}" if node_url else ""
                def ready(url: str) -> None:  # the socket is bound: connections are accepted
                    click.echo(f"listening on {url}: serving {vault.root}{announced} "
                               f"(auth {settings.auth}, attestation {settings.attestation_mode}, "
                               f"{watching}; Ctrl-C to stop)", err=True)

                stop_sync = vault.background_sync(sync_interval) if syncing else None
                try:
                    serve(vault, settings, on_ready=ready)
                finally:
                    if stop_sync is not None:
                        stop_sync.set()
        click.echo("stopped; every change is committed", err=True)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.group("token")
def token_group() -> None:
    """Bearer tokens for `stigmem serve`: create, list, revoke (stored hashed, this clone only)."""


@token_group.command("create")
@click.argument("principal")
@click.option("--scopes", multiple=True, required=True, callback=_comma_list,
              metavar="SCOPE[,SCOPE...]", help="Scopes the token may read and write: local, team, "
                                               "company, public.")
@click.option("--perms", multiple=True, default=("read",), show_default=True, callback=_comma_list,
              metavar="PERM[,PERM...]", help="read, write or both (read,write).")
@json_option
def token_create_cmd(principal: str, scopes: list[str], perms: list[str]) -> None:
    """Create a token for PRINCIPAL (an identity of this vault; for write, one whose key this
    machine holds). The raw token is printed once, on stdout; only its hash is stored."""
    with open_vault() as vault:
        raw, record = vault.create_token(principal, scopes=scopes, perms=perms)
    if state().json:
        echo_json({"token": raw, **_token_dict(record)})
        return
    click.echo(raw)
    click.echo(f"created token {record.id} for {record.principal} (scopes "
               f"{','.join(record.scopes)}; perms {','.join(record.perms)}); it is shown only "
               f"this once", err=True)


@token_group.command("list")
@json_option
def token_list_cmd() -> None:
    """List tokens: id, principal, scopes, permissions, created (never the token itself)."""
    with open_vault(read_only=True) as vault:
        tokens = vault.tokens()
    if state().json:
        echo_json([_token_dict(t) for t in tokens])
        return
    rows = [(t.id, t.principal, ",".join(t.scopes), ",".join(t.perms), t.created) for t in tokens]
    click.echo(table(("ID", "PRINCIPAL", "SCOPES", "PERMS", "CREATED"), rows))


@token_group.command("revoke")
@click.argument("token_id", metavar="ID")
@json_option
def token_revoke_cmd(token_id: str) -> None:
    """Revoke the token with this ID (see `stigmem token list`); it stops working at once."""
    with open_vault() as vault:
        vault.revoke_token(token_id.strip().lower())
    if state().json:
        echo_json({"revoked": token_id})
    else:
        click.echo(f"revoked token {token_id}")


def _token_dict(token: Token) -> dict[str, object]:
    """A token record without its hash: what may be shown."""
    data = asdict(token)
    del data["sha256"]
    return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}


COMMANDS = (serve_cmd, token_group)
