"""Verifying what a remote sent, file by file, before anything touches the working tree.

For every fetched branch ``stigmem/<scope>/<node>`` the new commits must extend what we
accepted before (a branch rewound or rewritten into the past is refused). The tree diff from
the accepted tip to the new tip is then judged entry by entry:

* ``facts/<scope>/…`` added: a regular file (no symlink), at most MAX_FACT_FILE_BYTES, that
  parses, whose id and signature check, whose signer is bound to its source in *our* trust
  store, whose scope is the branch's scope (and one the remote may carry), which sits at its
  canonical path, and whose HLC is not too far in the future → accepted;
* an existing fact modified into a different fact, or deleted → refused (facts are immutable);
* ``.stigmem/peers/<node>.json`` → a peer declaration, checked and handed to the caller;
* anything else → refused.

Each refusal is data (``Rejected``): the caller quarantines and audits it, and the honest rest
of the same push is accepted. Commit signatures are checked too; a commit not signed by the
branch node's declared key is reported, but cannot make a forged fact pass or an honest one
fail, because every fact carries its own signature.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pygit2

from stigmem_vault.errors import FormatError, InvalidFact
from stigmem_vault.federation.declaration import PEERS_DIR, Declaration, parse_declaration
from stigmem_vault.federation.projection import TRACKING_REF
from stigmem_vault.federation.state import Remote
from stigmem_vault.model.fact import Fact
from stigmem_vault.model.hlc import HLC, MAX_FUTURE_SKEW_MS, skew_violation
from stigmem_vault.vault import markdown
from stigmem_vault.vault.git import lookup_blob, lookup_commit, ref_oid, sshsig_signer
from stigmem_vault.vault.layout import fact_relpath
from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.vault.verify import MAX_FACT_FILE_BYTES, Verdict, decode, judge

_LINK = pygit2.enums.FileMode.LINK
_BLOB_MODES = (pygit2.enums.FileMode.BLOB, pygit2.enums.FileMode.BLOB_EXECUTABLE)


@dataclass(frozen=True, slots=True)
class Incoming:
    path: str
    data: bytes
    fact: Fact
    # Where it came from, should a later check (federation/gardens.py) reject it after all.
    branch: str = ""
    tip: str | None = None
    blob: str | None = None


@dataclass(frozen=True, slots=True)
class Rejected:
    branch: str
    path: str
    kind: str  # untrusted-signer, invalid, out-of-scope, misplaced, skew, rewrite, deletion, ...
    reason: str
    blob: str | None = None
    data: bytes | None = None
    commit: str | None = None


@dataclass
class PullResult:
    accepted: list[Incoming] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (branch, reason): not advanced
    forged_commits: list[tuple[str, str, str]] = field(default_factory=list)  # branch, commit, why
    # (branch, accepted tip, base): the node overwrote commits it did not sign; judged from base
    overwritten: list[tuple[str, str, str]] = field(default_factory=list)
    declarations: list[Declaration] = field(default_factory=list)
    tips: dict[str, str] = field(default_factory=dict)  # branch -> new accepted tip


def tracking_branches(repo: pygit2.Repository, remote: Remote) -> list[tuple[str, str, str]]:
    """(ref name, scope, node) of every fetched projection branch of ``remote``."""
    prefix = TRACKING_REF.format(remote=remote.name, scope="", node="").rstrip("/")
    found = []
    for name in repo.references:
        if name.startswith(prefix + "/"):
            scope, _, node = name[len(prefix) + 1:].partition("/")
            if node and "/" not in node:
                found.append((name, scope, node))
    return sorted(found)


def examine(repo: pygit2.Repository, remote: Remote, accepted: dict[str, str],
            trust: TrustStore, known_fact: Callable[[str], bool], node_keys: dict[str, str],
            own_node: str, max_future_ms: int = MAX_FUTURE_SKEW_MS) -> PullResult:
    """Judge everything new on the remote's branches. Reads git objects only."""
    result = PullResult()
    now_ms = time.time_ns() // 1_000_000
    held = _held_blobs(repo)
    for ref, scope, node in tracking_branches(repo, remote):
        branch = f"stigmem/{scope}/{node}"
        if node == own_node or scope not in remote.scopes:
            continue
        tip = ref_oid(repo.references[ref])
        old = accepted.get(branch)
        if old == str(tip):
            continue
        if old is not None and not _extends(repo, tip, old):
            base = _owner_base(repo, tip, old, node_keys.get(node) or _declared_key(repo, tip,
                                                                                    node))
            if base is None:
                result.refused.append((branch, f"the branch was rewound or rewritten: {tip} does "
                                               f"not descend from the accepted {old}"))
                continue
            # N put its branch back over commits it did not sign (which we had accepted):
            # judge the branch from N's own last commit, as if they had never been there.
            result.overwritten.append((branch, old, base))
            old = base
        declared = _branch_declarations(repo, tip, branch, result)
        node_key = node_keys.get(node) or declared.get(node)
        _check_commits(repo, tip, old, branch, node_key, result)
        old_tree = repo[old].tree if old else None
        new_tree = repo[tip].tree
        # .deltas: iterating a Diff itself yields Patch objects, which load (and diff) blobs.
        deltas = old_tree.diff_to_tree(new_tree).deltas if old_tree else all_added(new_tree)
        for delta in deltas:
            _judge_delta(repo, delta, scope, branch, str(tip), trust, known_fact, now_ms,
                         max_future_ms, result, held)
        result.tips[branch] = str(tip)
    return result


def _held_blobs(repo: pygit2.Repository) -> Callable[[str], pygit2.Oid | None]:
    """path -> the blob our own HEAD holds there (None: nothing, or no commit yet)."""
    try:
        tree = None if repo.head_is_unborn else repo.head.peel(pygit2.Commit).tree
    except pygit2.GitError:
        tree = None

    def held(path: str) -> pygit2.Oid | None:
        if tree is None:
            return None
        try:
            entry = tree[path]
        except (KeyError, ValueError):
            return None
        return entry.id if entry.type_str == "blob" else None
    return held


def _extends(repo: pygit2.Repository, tip: pygit2.Oid, old: str) -> bool:
    try:
        old_oid = pygit2.Oid(hex=old)
        return tip == old_oid or repo.descendant_of(tip, old_oid)
    except (ValueError, pygit2.GitError, KeyError):
        return False


MAX_FOREIGN_WALK = 1000  # commits walked back past foreign ones to find the node's own


def _owner_base(repo: pygit2.Repository, tip: pygit2.Oid, old: str,
                node_key: str | None) -> str | None:
    """If ``tip`` is the branch node's own commit that overwrote commits it did not sign: the
    newest ancestor of the accepted ``old`` (along first parents, past only commits not
    signed by ``node_key``) that is signed by it and that ``tip`` descends from. None for any
    other rewrite (a rewind, or history the node itself did not keep)."""
    if node_key is None or _signer(repo[tip]) != node_key:
        return None
    try:
        commit = lookup_commit(repo, pygit2.Oid(hex=old))
        for _ in range(MAX_FOREIGN_WALK):
            if _signer(commit) == node_key:
                return str(commit.id) if commit.id != pygit2.Oid(hex=old) and _extends(
                    repo, tip, str(commit.id)) else None
            if not commit.parent_ids:
                return None
            commit = lookup_commit(repo, commit.parent_ids[0])
    except (ValueError, KeyError, pygit2.GitError):
        return None
    return None


def _signer(commit: pygit2.Commit | pygit2.Object) -> str | None:
    """The key id whose SSHSIG over the commit verifies, or None (also for a non-commit)."""
    if not isinstance(commit, pygit2.Commit):
        return None
    try:
        signature, payload = commit.gpg_signature
    except pygit2.GitError:
        return None
    return sshsig_signer(signature.decode("ascii", "replace"), payload) if signature else None


def _declared_key(repo: pygit2.Repository, tip: pygit2.Oid, node: str) -> str | None:
    """The node key that ``node``'s own valid declaration in the tip's tree gives (a node id
    is derived from its key, so no one else can declare it), or None."""
    try:
        entry = repo[tip].tree[f"{PEERS_DIR}/{node}.json"]
        if not _small_blob(repo, entry):
            return None
        declaration = parse_declaration(lookup_blob(repo, entry.id).data.decode("utf-8"),
                                        f"{node}.json")  # the entry's name
    except (KeyError, InvalidFact, UnicodeDecodeError, pygit2.GitError):
        return None
    return declaration.node_key if declaration.node_id == node else None


def _small_blob(repo: pygit2.Repository, entry: pygit2.Object) -> bool:
    """A regular-file entry naming a blob of at most 64 KiB (a declaration's bound)."""
    if entry.filemode not in _BLOB_MODES:
        return False
    kind, size = repo.odb.read_header(entry.id)
    return kind == pygit2.enums.ObjectType.BLOB and size <= 64 * 1024


def _branch_declarations(repo: pygit2.Repository, tip: pygit2.Oid, branch: str,
                         result: PullResult) -> dict[str, str]:
    """Declarations in the branch's tree (checked); node id -> node key."""
    keys: dict[str, str] = {}
    try:
        peers = repo[tip].tree[PEERS_DIR]
    except KeyError:
        return keys
    if not isinstance(peers, pygit2.Tree):
        result.rejected.append(Rejected(branch, PEERS_DIR, "invalid-declaration",
                                        f"{PEERS_DIR} is not a folder"))
        return keys
    for entry in peers:
        path = f"{PEERS_DIR}/{entry.name}"
        if not _small_blob(repo, entry):
            result.rejected.append(Rejected(branch, path, "invalid", "not a small regular file"))
            continue
        data = lookup_blob(repo, entry.id).data
        try:
            declaration = parse_declaration(data.decode("utf-8"), path)
        except (InvalidFact, UnicodeDecodeError) as exc:
            result.rejected.append(Rejected(branch, path, "invalid-declaration", str(exc),
                                            str(entry.id), data))
            continue
        if entry.name != f"{declaration.node_id}.json":
            result.rejected.append(Rejected(branch, path, "invalid-declaration",
                                            "file name does not match its node id"))
            continue
        keys[declaration.node_id] = declaration.node_key
        result.declarations.append(declaration)
    return keys


def _check_commits(repo: pygit2.Repository, tip: pygit2.Oid, old: str | None, branch: str,
                   node_key: str | None, result: PullResult) -> None:
    walker = repo.walk(tip, pygit2.enums.SortMode.TOPOLOGICAL)
    if old:
        walker.hide(pygit2.Oid(hex=old))
    for commit in walker:
        signer = _signer(commit)
        if signer is None:
            result.forged_commits.append((branch, str(commit.id), "commit is unsigned or its "
                                                                  "signature does not verify"))
        elif node_key is not None and signer != node_key:
            result.forged_commits.append((branch, str(commit.id), f"signed by {signer}, not the "
                                                                  f"node's key {node_key}"))


_NO_OBJECT = pygit2.Oid(raw=bytes(20))  # git's id for "no object" (the zero id)


class _Added:
    """A diff delta for a tree seen for the first time: every blob is an addition."""

    def __init__(self, path: str, entry: pygit2.Object) -> None:
        self.status = pygit2.enums.DeltaStatus.ADDED
        self.new_file = _File(path, entry.id, entry.filemode)
        self.old_file = _File(path, _NO_OBJECT, 0)  # as in git's diff: no old side


class _File:
    def __init__(self, path: str, oid: pygit2.Oid, mode: int) -> None:
        self.path = path
        self.id = oid
        self.mode = mode


def all_added(tree: pygit2.Tree, prefix: str = "") -> list[_Added]:
    added: list[_Added] = []
    for entry in tree:
        path = f"{prefix}{entry.name}"
        if isinstance(entry, pygit2.Tree):
            added.extend(all_added(entry, path + "/"))
        else:
            added.append(_Added(path, entry))
    return added


def _judge_delta(repo: pygit2.Repository, delta: pygit2.DiffDelta | _Added, scope: str,
                 branch: str, tip: str, trust: TrustStore, known_fact: Callable[[str], bool],
                 now_ms: int, max_future_ms: int, result: PullResult,
                 held: Callable[[str], pygit2.Oid | None]) -> None:
    status = delta.status
    new, old = delta.new_file, delta.old_file
    path = new.path if status != pygit2.enums.DeltaStatus.DELETED else old.path
    if path.startswith(PEERS_DIR + "/"):
        return  # handled by _branch_declarations
    reject = _rejecter(result, branch, path, tip)
    if any(part in ("", ".", "..") or part.lower() == ".git" for part in path.split("/")):
        # git's transport carries tree entries named '..' or '.git': refuse them by name.
        reject("unsafe-path", f"{path!r} has an empty, '.', '..' or '.git' segment", new.id)
        return
    if not path.startswith(f"facts/{scope}/"):
        reject("out-of-scope", f"{path} is outside facts/{scope}/, the only folder this branch "
                               "may carry", new.id)
        return
    if status == pygit2.enums.DeltaStatus.DELETED:
        reject("deletion", "a fact file was deleted; facts are immutable (retract with a new fact)")
        return
    if new.mode == _LINK:
        reject("symlink", "a symlink where a fact file belongs", new.id)
        return
    if new.mode not in _BLOB_MODES:
        reject("invalid", f"not a regular file (mode {new.mode:o})", new.id)
        return
    kind, size = repo.odb.read_header(new.id)  # the size without inflating a huge blob
    if kind != pygit2.enums.ObjectType.BLOB:  # a mode that lies about its object
        reject("invalid", "a file entry that does not name a file", new.id)
        return
    if size > MAX_FACT_FILE_BYTES:
        reject("too-large", f"{size} bytes, over the {MAX_FACT_FILE_BYTES}-byte limit", new.id)
        return
    if status == pygit2.enums.DeltaStatus.ADDED and held(path) == new.id:
        # A relayed copy: our own commit holds these very bytes at this very path, so the
        # peer adds nothing. Reading, parsing and checking its signature again made each new
        # fact cost every node once per other node carrying its scope (docs/scaling.md).
        return
    data = lookup_blob(repo, new.id).data
    try:
        parsed = markdown.parse(decode(data, path), path)
    except FormatError as exc:
        reject("invalid", exc.reason, new.id, data)
        return
    fact = parsed.fact
    if status == pygit2.enums.DeltaStatus.MODIFIED:
        try:
            before = markdown.parse(decode(lookup_blob(repo, old.id).data, path), path).fact.id
        except FormatError:
            before = None
        if before != fact.id:
            reject("rewrite", "an existing fact was rewritten into a different one", new.id, data)
        return  # the same fact re-formatted: nothing new
    problem = judge_new_fact(parsed, path, scope, trust, now_ms, max_future_ms)
    if problem is not None:
        reject(*problem, new.id, data)
        return
    if known_fact(fact.id):
        return  # a replay: we have it already
    result.accepted.append(Incoming(path, data, fact, branch, tip, str(new.id)))


class _Reject(Protocol):
    def __call__(self, kind: str, reason: str, blob: object = None,
                 data: bytes | None = None) -> None: ...


def _rejecter(result: PullResult, branch: str, path: str, tip: str) -> _Reject:
    def reject(kind: str, reason: str, blob: object = None, data: bytes | None = None) -> None:
        result.rejected.append(Rejected(branch, path, kind, reason,
                                        str(blob) if blob else None, data, tip))
    return reject


def judge_new_fact(parsed: markdown.ParsedFact, path: str, scope: str, trust: TrustStore,
                   now_ms: int, max_future_ms: int) -> tuple[str, str] | None:
    """Why a parsed fact arriving at ``path`` on a ``scope`` branch may not be accepted
    (kind, reason), or None: signature and entitlement, scope, placement, clock skew."""
    fact = parsed.fact
    verdict, reason = judge(parsed, trust)
    # A fact vouched for by a principal *our* trust store lets vouch is accepted like a valid
    # one (it is judged against the receiver's trust store, never the sender's).
    if verdict not in (Verdict.VALID, Verdict.VOUCHED):
        kind = ("untrusted-signer" if verdict in (Verdict.UNKNOWN_SIGNER, Verdict.UNATTESTED)
                else "invalid")
        return kind, f"{verdict.value}: {reason}"
    if fact.scope.value != scope:
        return "out-of-scope", f"a {fact.scope.value} fact on the {scope} branch"
    if str(fact_relpath(fact)) != path:
        return "misplaced", f"belongs at {fact_relpath(fact)}"
    violation = skew_violation(HLC.parse(fact.hlc), now_ms, max_future_ms, 0)
    if violation:
        return "skew", violation
    return None


def recheck(data: bytes, path: str, trust: TrustStore,
            max_future_ms: int = MAX_FUTURE_SKEW_MS) -> tuple[Fact | None, str]:
    """Re-judge quarantined bytes (after a peer was admitted) with every check a pull makes;
    the fact if it may be accepted now."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != "facts":
        return None, f"{path} is not under facts/<scope>/"
    try:
        parsed = markdown.parse(decode(data, path), path)
    except FormatError as exc:
        return None, exc.reason
    problem = judge_new_fact(parsed, path, parts[1], trust, time.time_ns() // 1_000_000,
                             max_future_ms)
    return (parsed.fact, "") if problem is None else (None, problem[1])

