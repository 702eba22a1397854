"""``stigmem verify``: check fact files (exit 1 if any does not verify), or explain one."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import asdict

import click

from stigmem_vault.api.results import Explanation, VerifyReport
from stigmem_vault.cli.common import echo_json, fields, json_option, open_vault, progress_bar, state
from stigmem_vault.errors import EXIT_VERIFY_FAILED


def _ok(report: VerifyReport, strict: bool) -> bool:
    return report.strict_ok if strict else report.ok


def _report_json(report: VerifyReport, strict: bool) -> dict[str, object]:
    return {
        "ok": _ok(report, strict),
        "strict": strict,
        "checked": len(report.files),
        "counts": report.counts(),
        "problems": [{"path": f.path, "verdict": f.verdict.value, "reason": f.reason}
                     for f in report.problems(strict)],
        "trust_problems": [{"path": p, "reason": r} for p, r in report.trust_problems],
    }


def _print_report(report: VerifyReport, strict: bool) -> None:
    for path, reason in report.trust_problems:
        click.echo(f"{path}: trust-store: {reason}")
    for item in report.problems(strict):
        click.echo(f"{item.path}: {item.verdict.value}: {item.reason}")
    counts = ", ".join(f"{n} {verdict}" for verdict, n in report.counts().items() if n)
    summary = f"verified {len(report.files)} fact file(s): {counts or 'none found'}"
    if report.trust_problems:
        summary += f"; {len(report.trust_problems)} trust-store problem(s)"
    vouched = report.counts()["vouched"]
    if vouched and not strict:
        summary += (f" ({vouched} vouched for by the vault, not signed by their source;"
                    " --strict fails on them)")
    click.echo(summary + ("" if _ok(report, strict) else " — FAILED"))


def _print_explanation(exp: Explanation) -> None:
    click.echo(fields([
        ("file", exp.path),
        ("verdict", f"{exp.verdict.value}: {exp.reason}"),
        ("computed id", exp.computed_id),
        ("recorded id", exp.recorded_id),
        ("signer", exp.signer),
        ("public key", exp.public_key_hex and f"{exp.public_key_hex} (Ed25519, hex)"),
        ("bound to", ", ".join(exp.bound_sources) or "no source (not in the trust store)"),
    ]))
    if exp.canonical is not None:
        size = len(exp.canonical.encode("utf-8"))
        click.echo(f"canonical bytes ({size} bytes, RFC 8785 JSON; sha256 = computed id):")
        click.echo(exp.canonical)


@click.command("verify")
@click.argument("paths", nargs=-1, type=click.Path(), metavar="[PATH]...")
@click.option("--explain", is_flag=True,
              help="For one FILE (or fact id, or a prefix of 8+ hex digits): print its canonical "
                   "bytes, ids, signer key, bound sources, verdict.")
@click.option("--strict", is_flag=True,
              help="Also fail on facts only vouched for (signed by a principal allowed to vouch "
                   "for other sources, such as the node's operator), not by their own source.")
@json_option
def verify_cmd(paths: tuple[str, ...], explain: bool, strict: bool) -> None:
    """Verify fact files (all, or those under PATHs): id, signature, signer binding.

    Exits 1 if any file does not verify or the trust store has problems. A fact vouched for
    by the vault (written through a node that accepts other sources) verifies, and is
    counted apart; with --strict it fails.
    """
    ctx = click.get_current_context()
    if explain:
        if len(paths) != 1:
            raise click.UsageError("--explain needs exactly one FILE or fact id")
        with open_vault(read_only=True) as vault:
            exp = vault.explain(paths[0])
        accepted = ("valid",) if strict else ("valid", "vouched")
        if state().json:
            echo_json({**asdict(exp), "ok": exp.verdict.value in accepted})
        else:
            _print_explanation(exp)
        if exp.verdict.value not in accepted:
            ctx.exit(EXIT_VERIFY_FAILED)
        return
    with ExitStack() as stack, open_vault(read_only=True) as vault:
        report = vault.verify(list(paths) or None, progress=progress_bar(stack, "verifying"))
    if state().json:
        echo_json(_report_json(report, strict))
    else:
        _print_report(report, strict)
    if not _ok(report, strict):
        ctx.exit(EXIT_VERIFY_FAILED)
