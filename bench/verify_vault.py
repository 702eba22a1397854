"""Verify a vault of N facts with Vault.verify(), and compare with the bare cost of the work.

    python bench/verify_vault.py [--facts 20000] [--rounds 3] [--target 4000] [--rebuild]

The vault (and its private keys) is built once through the API and cached under bench/out/
(gitignored). In one process, each round times (a) ``Vault.verify()`` over every fact file and
(b) a bare loop doing only the unavoidable work: read each file, split the frontmatter by hand,
parse it with libyaml, rebuild the canonical bytes with json.dumps, check the Ed25519 signature.
An untimed read of every file first warms the page cache; rounds alternate which runs first;
best and median are reported so noise is visible.

Target (issue): >= 4,000 facts/s for Vault.verify(). Exit status 1 (and MISSED) if it is missed.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import OUT, bare_signed_body, check, fact_kwargs, machine, median, new_vault, table
from nacl.signing import VerifyKey

from stigmem_vault.api.vault import Vault


def build(place: Path, facts: int, rebuild: bool) -> tuple[Path, Path]:
    """The cached vault of ``facts`` facts (vault, home); built through the API when missing."""
    root, home, done = place / "vault", place / "home", place / "complete"
    if done.exists() and not rebuild:
        print(f"reusing cached vault {root}")
        return root, home
    shutil.rmtree(place, ignore_errors=True)
    place.mkdir(parents=True)
    print(f"building a {facts}-fact vault in {root} (cached for later runs) ...", flush=True)
    start = time.perf_counter()
    with new_vault(root, home) as vault:
        for i in range(facts):
            vault.assert_fact(**fact_kwargs(i))
    print(f"built in {time.perf_counter() - start:.1f} s")
    done.write_text(f"{facts}\n")
    return root, home


def ours(vault: Vault) -> int:
    report = vault.verify()
    if not report.ok:
        raise SystemExit(f"the benchmark vault does not verify: {report.counts()}")
    return len(report.files)


def bare(root: Path) -> int:
    """Read, parse, rebuild canonical bytes, verify the signature: nothing else."""
    count = 0
    for dirpath, _dirs, names in os.walk(root / "facts"):
        for name in names:
            if not name.endswith(".md"):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8") as handle:
                text = handle.read()
            props, body = bare_signed_body(text)
            key = VerifyKey(base64.urlsafe_b64decode(props["signer"][8:] + "=="))
            key.verify(body, base64.urlsafe_b64decode(props["signature"] + "=="))  # raises if bad
            count += 1
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--facts", type=int, default=20000, help="vault size (default 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each (default 3)")
    parser.add_argument("--target", type=float, default=4000.0,
                        help="Vault.verify() facts/s to reach (default 4000)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached vault")
    parser.add_argument("--cache", type=Path, default=OUT, help=f"cache folder (default {OUT})")
    args = parser.parse_args()

    root, home = build(args.cache / f"verify-{args.facts}", args.facts, args.rebuild)
    os.environ["STIGMEM_HOME"] = str(home)
    vault = Vault.open(root, home=home)
    start = time.perf_counter()
    for path in (root / "facts").rglob("*.md"):  # untimed: both loops then find a warm page cache
        path.read_bytes()
    print(f"  warm-up: read every fact file once in {time.perf_counter() - start:.2f} s (not counted)")
    rates: dict[str, list[float]] = {"ours": [], "bare": []}  # facts per wall-clock second
    cpu_rates: dict[str, list[float]] = {"ours": [], "bare": []}  # per CPU second: less noisy
    runs = {"ours": lambda: ours(vault), "bare": lambda: bare(root)}
    for rnd in range(args.rounds):
        for name in ("ours", "bare") if rnd % 2 == 0 else ("bare", "ours"):
            start, cpu_start = time.perf_counter(), time.process_time()
            count = runs[name]()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            if count != args.facts:
                raise SystemExit(f"{name}: verified {count} files, expected {args.facts}")
            rates[name].append(count / seconds)
            cpu_rates[name].append(count / cpu)
            print(f"  round {rnd + 1} {name:<4}  {seconds:6.2f} s  {count / seconds:8,.0f} facts/s"
                  f"   (cpu {cpu:5.2f} s, {count / cpu:6,.0f} facts/s)", flush=True)
    vault.close()

    best = {name: max(values) for name, values in rates.items()}
    med = {name: median(values) for name, values in rates.items()}
    print(f"verify_vault: {args.facts} facts, {args.rounds} rounds "
          f"({datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()})")
    table([
        ("Vault.verify()", f"best {best['ours']:8,.0f} facts/s   median {med['ours']:8,.0f} facts/s"
                           f"   (target >= {args.target:,.0f})"),
        ("bare loop", f"best {best['bare']:8,.0f} facts/s   median {med['bare']:8,.0f} facts/s"),
        ("ours/bare", f"best {best['ours'] / best['bare']:8.2f}          median "
                      f"{med['ours'] / med['bare']:8.2f}          (rate ratio; 1.00 = bare cost)"),
        ("ours/bare, CPU time", f"best {max(cpu_rates['ours']) / max(cpu_rates['bare']):8.2f}          "
                                f"median {median(cpu_rates['ours']) / median(cpu_rates['bare']):8.2f}"),
    ])
    return check([(f"Vault.verify() >= {args.target:,.0f} facts/s (median)",
                   med["ours"] >= args.target)])


if __name__ == "__main__":
    sys.exit(main())
