"""Looking at the files themselves, not the index: every fact file, verifying them, and
explaining one verdict; the vault's status. Reading only: nothing here writes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from stigmem_vault.api.context import VaultContext
from stigmem_vault.api.results import Explanation, Status, VerifyReport
from stigmem_vault.canonical.signing import verify_key_from_id
from stigmem_vault.errors import InvalidFact, NotFound
from stigmem_vault.model.fact import Scope
from stigmem_vault.vault import markdown
from stigmem_vault.vault.layout import FACTS_DIR
from stigmem_vault.vault.packing import repo_size
from stigmem_vault.vault.verify import FileVerdict, judge, read_text, verify_file


class Inspector:
    """The fact files of one open vault, as they are on disk."""

    def __init__(self, ctx: VaultContext) -> None:
        self._ctx = ctx

    def fact_paths(self) -> Iterator[str]:
        """Vault-relative paths of every fact file, in sorted order."""
        base = self._ctx.root / FACTS_DIR
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            rel_dir = PurePosixPath(Path(dirpath).relative_to(self._ctx.root).as_posix())
            for name in sorted(filenames):
                if name.endswith(".md") and not name.startswith("."):
                    yield str(rel_dir / name)

    def verify(self, paths: list[str] | None = None, *,
               progress: Callable[[int, int], None] | None = None) -> VerifyReport:
        """Verify every fact file (or the given files/folders); problems are data, not errors.

        ``progress(done, total)`` is called after each file (front ends draw progress bars).
        """
        rels = list(self.fact_paths()) if not paths else self._expand(paths)
        files = []
        for rel in rels:
            files.append(verify_file(self._ctx.root, rel, self._ctx.trust))
            if progress is not None:
                progress(len(files), len(rels))
        return VerifyReport(files, list(self._ctx.trust.rejected))

    def verify_files(self, rels: list[str]) -> VerifyReport:
        """Verify these vault-relative fact files."""
        trust = self._ctx.trust
        return VerifyReport([verify_file(self._ctx.root, rel, trust) for rel in rels],
                            list(trust.rejected))

    def _expand(self, paths: list[str]) -> list[str]:
        rels: list[str] = []
        for raw in paths:
            target = Path(raw)
            target = (target if target.is_absolute() else Path.cwd() / target).resolve()
            try:
                rel = target.relative_to(self._ctx.root)
            except ValueError:
                raise InvalidFact("path", f"{raw} is outside the vault {self._ctx.root}") from None
            if target.is_dir():
                rels.extend(p for p in self.fact_paths() if p.startswith(rel.as_posix() + "/")
                            or rel.as_posix() == ".")
            elif target.exists() or target.is_symlink():
                rels.append(rel.as_posix())
            else:
                raise NotFound("file", raw)
        return rels

    def explain(self, path: str) -> Explanation:
        """Everything a human needs to check one fact file by hand."""
        rel = self._expand([path])
        if len(rel) != 1:
            raise InvalidFact("path", f"{path} is not a single fact file")
        item: FileVerdict = verify_file(self._ctx.root, rel[0], self._ctx.trust)
        if item.fact is None or item.canonical is None:
            return Explanation(rel[0], None, None, None, None, None, [], item.verdict, item.reason)
        parsed = markdown.parse(read_text(self._ctx.root / rel[0], rel[0]), rel[0])
        verdict, reason = judge(parsed, self._ctx.trust)
        try:
            key_hex = bytes(verify_key_from_id(parsed.fact.signer)).hex()
        except InvalidFact:
            key_hex = None
        return Explanation(
            rel[0], item.canonical.decode("utf-8"), parsed.fact.id, parsed.claimed_id,
            parsed.fact.signer, key_hex, sorted(self._ctx.trust.sources_for(parsed.fact.signer)),
            verdict, reason)

    def status(self, pending: int, fact_files: dict[str, int]) -> Status:
        """``fact_files``: how many fact files each ``facts/<scope>/`` holds (from the index
        brought up to date, so that a status does not walk every file)."""
        by_scope = {s.value: 0 for s in Scope}
        by_scope.update(fact_files)
        head, size = None, None
        if self._ctx.git is not None:
            size = repo_size(self._ctx.git.repo.path)
            if not self._ctx.git.repo.head_is_unborn:
                head = str(self._ctx.git.repo.head.target)
        return Status(str(self._ctx.root), self._ctx.config.owner,
                      self._ctx.node.node_id if self._ctx.node else None,
                      self._ctx.node.source if self._ctx.node else None,
                      by_scope, len(self._ctx.trust.bindings()), len(self._ctx.schemas), head,
                      pending, size)
