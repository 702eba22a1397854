"""The ``stigmem`` command group and the one place where errors become exit codes.

Exit codes (see stigmem_vault.errors): 0 ok; 1 verification found facts that are not valid;
2 bad input (including click usage errors); 3 vault unusable; 4 storage failure.

Every ``StigmemError`` and every click usage error is reported here, in ``StigmemGroup.main``,
as one line on stderr (``error: MESSAGE``) or, under ``--json``, as a JSON object on stdout:
``{"error": {"type": ..., "message": ..., "field": ..., "path": ...}}``.
"""

from __future__ import annotations

import errno
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from stigmem_vault.cli import conflicts, conformance, facts, identity, indexing, node, query, setup, verify
from stigmem_vault.cli import federation as federation_cli
from stigmem_vault.cli import gardens as gardens_cli
from stigmem_vault.cli import mcp as mcp_cli
from stigmem_vault.cli import obsidian as obsidian_cli
from stigmem_vault.cli.common import State, json_option
from stigmem_vault.errors import (
    EXIT_BAD_INPUT,
    IdentityError,
    InvalidFact,
    NotFound,
    ReadOnlyCopy,
    StigmemError,
    VaultConfigError,
)

EXIT_INTERRUPTED = 130


def _json_wanted(state: State, argv: Sequence[str]) -> bool:
    # A usage error can stop parsing before the --json callback runs: look at argv too.
    options = list(argv[: argv.index("--")] if "--" in argv else argv)
    return state.json or "--json" in options


def _error_payload(exc: Exception) -> dict[str, object]:
    payload: dict[str, object] = {"type": type(exc).__name__, "message": _message(exc)}
    field = getattr(exc, "field", None)
    if isinstance(exc, click.BadParameter | click.MissingParameter) and exc.param is not None:
        field = exc.param.opts[0] if exc.param.opts else exc.param.name
    elif isinstance(exc, click.NoSuchOption):
        field = exc.option_name
    if field:
        payload["field"] = field
    path = getattr(exc, "path", None)
    if path:
        payload["path"] = str(path)
    return payload


def _hint(exc: StigmemError) -> str:
    """What to run next, in this CLI's words (API messages never name commands)."""
    if isinstance(exc, ReadOnlyCopy):
        return ("make a vault of your own from it: "
                f"`stigmem init NEW_PATH --owner user:NAME --from {exc.path or '.'}`")
    if isinstance(exc, NotFound):
        return {"fact": "list facts with `stigmem list`",
                "conflict": "list them with `stigmem conflicts`",
                "token": "list them with `stigmem token list`",
                "peer": "list them with `stigmem peer list`",
                "remote": "list them with `stigmem remote list`"}.get(exc.what, "")
    if isinstance(exc, VaultConfigError) and "is this a stigmem vault?" in str(exc):
        return "create one with `stigmem init PATH --owner user:NAME`"
    if isinstance(exc, IdentityError) and "already exists" in str(exc):
        return "see `stigmem identity list`"
    if isinstance(exc, InvalidFact) and exc.field in ("source", "principal") \
            and "create it first" in exc.reason:
        return "create it with `stigmem identity create SOURCE`"
    return ""


def _message(exc: Exception) -> str:
    if isinstance(exc, StigmemError):
        hint = _hint(exc)
        text = f"{exc}; {hint}" if hint else str(exc)
    elif isinstance(exc, click.UsageError):
        text = exc.format_message()
        if exc.ctx is not None:
            text += f" (see `{exc.ctx.command_path} --help`)"
    elif isinstance(exc, click.ClickException):
        text = exc.format_message()
    else:
        text = str(exc)
    return " ".join(text.split())  # exactly one line, whatever the message held


def _report(exc: Exception, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"error": _error_payload(exc)}, ensure_ascii=False))
    else:
        click.echo(f"error: {_message(exc)}", err=True)


class StigmemGroup(click.Group):
    """A click group whose ``main`` maps every error to its exit code in one place.

    CliRunner and the console script both enter through ``main``, so tests see exactly what
    a user sees.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # the order they were added: a workflow, not the alphabet

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        state = extra.setdefault("obj", State())
        try:
            result = super().main(argv, prog_name or "stigmem", complete_var,
                                  standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except StigmemError as exc:
            _report(exc, _json_wanted(state, argv))
            code = exc.exit_code
        except click.UsageError as exc:
            _report(exc, _json_wanted(state, argv))
            code = EXIT_BAD_INPUT
        except click.ClickException as exc:
            _report(exc, _json_wanted(state, argv))
            code = exc.exit_code
        except click.Abort:
            click.echo("error: interrupted", err=True)
            code = EXIT_INTERRUPTED
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            # The reader went away (`stigmem list | head`): stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            code = 1
        if not standalone_mode:
            return code
        sys.exit(code)


@click.group("stigmem", cls=StigmemGroup, invoke_without_command=True, no_args_is_help=False,
             context_settings={"help_option_names": ["-h", "--help"]},
             epilog="Exit codes: 0 ok, 1 verification found invalid facts, 2 bad input, "
                    "3 vault unusable, 4 storage failure.")
@click.option("--vault", "vault_path", envvar="STIGMEM_VAULT", metavar="PATH",
              help="The vault to use (default: $STIGMEM_VAULT, else the current directory).")
@json_option
@click.pass_context
def cli(ctx: click.Context, vault_path: str | None) -> None:
    """Stigmem: signed, typed facts for AI agents in a git-backed Markdown vault."""
    ctx.ensure_object(State).vault = vault_path
    if ctx.invoked_subcommand is None:
        click.echo(ctx.get_help())


for command in (setup.init_cmd, identity.identity_group, *facts.COMMANDS, *query.COMMANDS,
                *conflicts.COMMANDS, *indexing.COMMANDS, verify.verify_cmd, setup.status_cmd,
                *node.COMMANDS, conformance.conformance_cmd, *mcp_cli.COMMANDS,
                *federation_cli.COMMANDS, *gardens_cli.COMMANDS, *obsidian_cli.COMMANDS):
    cli.add_command(command)


def main() -> None:
    """Console-script entry point (``stigmem``)."""
    cli.main(prog_name="stigmem")
