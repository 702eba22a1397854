"""Scope projections: what a remote receives, built as separate signed git history.

For each shareable scope S a node keeps ``refs/stigmem/projection/S``: a linear history whose
trees hold only ``facts/S/`` (taken by object id from the vault's HEAD tree, so building one
costs O(1) in the vault size) and ``.stigmem/peers/`` (the signed peer declarations peers need
to check our facts). Projection commits never have a vault commit as an ancestor, so nothing
reachable from a pushed ref can contain a fact of another scope — above all, no ``local`` fact.

On a remote, node N's projection of scope S is the branch ``stigmem/S/N``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pygit2
from nacl.signing import SigningKey

from stigmem_vault.errors import FormatError
from stigmem_vault.federation.declaration import PEERS_DIR
from stigmem_vault.vault import markdown
from stigmem_vault.vault.git import (
    GitRepo,
    create_signed_commit,
    lookup_blob,
    lookup_commit,
    lookup_tree,
    ref_oid,
)
from stigmem_vault.vault.trust import TrustStore
from stigmem_vault.vault.verify import MAX_FACT_FILE_BYTES, decode

PROJECTION_REF = "refs/stigmem/projection/{scope}"
REMOTE_BRANCH = "refs/heads/stigmem/{scope}/{node}"
TRACKING_REF = "refs/stigmem/remotes/{remote}/{scope}/{node}"


def _subtree(repo: pygit2.Repository, tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        entry = tree[path]
    except KeyError:
        return None
    return entry.id if entry.type_str == "tree" else None


def _without(repo: pygit2.Repository, tree_id: pygit2.Oid, paths: list[list[str]]) -> pygit2.Oid | None:
    """``tree_id`` with the given paths (split into parts) removed; None if it ends up empty.
    Only the trees along those paths are rebuilt."""
    builder = repo.TreeBuilder(lookup_tree(repo, tree_id))
    by_child: dict[str, list[list[str]]] = {}
    for parts in paths:
        if len(parts) == 1:
            if builder.get(parts[0]) is not None:
                builder.remove(parts[0])
        else:
            by_child.setdefault(parts[0], []).append(parts[1:])
    for child, rest in by_child.items():
        entry = builder.get(child)
        if entry is None or entry.type_str != "tree":
            continue
        pruned = _without(repo, entry.id, rest)
        if pruned is None:
            builder.remove(child)
        else:
            builder.insert(child, pruned, pygit2.enums.FileMode.TREE)
    return builder.write() if len(builder) else None


def projection_tree(repo: pygit2.Repository, scope: str,
                    exclude: list[str] | None = None) -> pygit2.Oid:
    """The tree of ``facts/<scope>/`` plus ``.stigmem/peers/`` of HEAD (empty parts omitted),
    without the ``exclude`` paths (files that must not be shared)."""
    head = lookup_commit(repo, repo.head.target).tree if not repo.head_is_unborn else None
    root = repo.TreeBuilder()
    facts = _subtree(repo, head, f"facts/{scope}") if head is not None else None
    prefix = f"facts/{scope}/"
    dropped = [p[len(prefix):].split("/") for p in exclude or () if p.startswith(prefix)]
    if facts is not None and dropped:
        facts = _without(repo, facts, dropped)
    if facts is not None:
        facts_dir = repo.TreeBuilder()
        facts_dir.insert(scope, facts, pygit2.enums.FileMode.TREE)
        root.insert("facts", facts_dir.write(), pygit2.enums.FileMode.TREE)
    peers = _subtree(repo, head, PEERS_DIR) if head is not None else None
    if peers is not None:
        config = repo.TreeBuilder()
        config.insert("peers", peers, pygit2.enums.FileMode.TREE)
        root.insert(".stigmem", config.write(), pygit2.enums.FileMode.TREE)
    return root.write()


def unshareable(repo: pygit2.Repository, previous: pygit2.Oid | None, candidate: pygit2.Oid,
                scope: str, trust: TrustStore) -> list[str]:
    """Files of ``candidate`` (HEAD's facts/<scope>/) that are new since the ``previous``
    projection tree and must not leave this node: anything a peer's pull would refuse —
    not a valid fact of this very scope at its canonical path (e.g. a local fact moved into the
    team folder by hand). Only what changed is read, so the cost follows the change."""
    from stigmem_vault.federation.pull import all_added, judge_new_fact  # (pull imports us)

    new = lookup_tree(repo, candidate)
    deltas = (lookup_tree(repo, previous).diff_to_tree(new).deltas if previous is not None
              else all_added(new))
    refused = []
    for delta in deltas:
        if delta.status not in (pygit2.enums.DeltaStatus.ADDED,
                                pygit2.enums.DeltaStatus.MODIFIED):
            continue
        path = delta.new_file.path
        if not path.startswith(f"facts/{scope}/"):
            continue
        if delta.new_file.mode not in (pygit2.enums.FileMode.BLOB,
                                       pygit2.enums.FileMode.BLOB_EXECUTABLE) \
                or repo.odb.read_header(delta.new_file.id)[1] > MAX_FACT_FILE_BYTES:
            refused.append(path)
            continue
        try:
            parsed = markdown.parse(decode(lookup_blob(repo, delta.new_file.id).data, path), path)
        except FormatError:
            refused.append(path)
            continue
        if judge_new_fact(parsed, path, scope, trust, time.time_ns() // 1_000_000, 0):
            refused.append(path)
    return refused


def update_projection(git: GitRepo, scope: str, key: SigningKey, name: str, email: str,
                      trust: TrustStore) -> pygit2.Oid | None:
    """Advance the projection of ``scope`` to HEAD, leaving out what must not be shared;
    returns its tip (None if nothing to share)."""
    repo = git.repo
    ref_name = PROJECTION_REF.format(scope=scope)
    git.remove_stale_locks(ref_name)
    tip: pygit2.Oid | None
    try:
        tip = ref_oid(repo.references[ref_name])
    except KeyError:
        tip = None
    raw = projection_tree(repo, scope)
    previous = lookup_commit(repo, tip).tree_id if tip is not None else None
    refused = unshareable(repo, previous, raw, scope, trust)
    tree = projection_tree(repo, scope, refused) if refused else raw
    if tip is not None and previous == tree:
        return tip
    if tip is None and len(lookup_tree(repo, tree)) == 0:
        return None
    who = pygit2.Signature(name, email)
    message = f"stigmem: projection of scope {scope}\n"
    oid = create_signed_commit(repo, key, who, message, tree, [tip] if tip else [])
    repo.references.create(ref_name, oid, force=True)
    return oid


MAX_LISTED_FOREIGN = 20  # foreign commit ids named in an audit entry


@dataclass(frozen=True, slots=True)
class Tampered:
    """Our projection branch on a remote, found moved by someone else, and what we did."""

    branch: str  # stigmem/<scope>/<our node id>
    found: str | None  # the remote's tip as fetched (None: the branch was deleted)
    foreign: list[str]  # commits on it that are not ours (newest first, at most 20)
    action: str  # overwrote | fast-forwarded | recreated
    pushed: str  # our projection tip, now the branch's tip

    def describe(self) -> str:
        if self.action == "overwrote":
            more = " and more" if len(self.foreign) >= MAX_LISTED_FOREIGN else ""
            return (f"overwrote foreign commit(s) {', '.join(self.foreign)}{more} on our "
                    f"projection branch {self.branch} with {self.pushed} (force-push leased on "
                    f"{self.found}); nothing of them was read or imported")
        if self.action == "fast-forwarded":
            return (f"our projection branch {self.branch} was rewound to our own earlier commit "
                    f"{self.found}; fast-forwarded it to {self.pushed}")
        return f"our projection branch {self.branch} was deleted; pushed {self.pushed} again"


def check_remote_branch(repo: pygit2.Repository, branch: str, tip: pygit2.Oid,
                        found: pygit2.Oid | None, last_pushed: str | None) -> Tampered | None:
    """How the remote's copy of our projection branch (``found``, as just fetched) relates
    to our projection ``tip``: None if only we wrote it (absent before our first push, or one
    of our own commits after the last one we pushed), else what must be done to put our
    projection back. Only commit objects are read, never a foreign tree or blob."""
    if found is None:
        return Tampered(branch, None, [], "recreated", str(tip)) if last_pushed else None
    if found == tip or _ancestor(repo, found, tip):
        if last_pushed and str(found) != last_pushed and _ancestor(repo, found, last_pushed):
            return Tampered(branch, str(found), [], "fast-forwarded", str(tip))
        return None
    return Tampered(branch, str(found), _foreign_commits(repo, found, tip), "overwrote", str(tip))


def _ancestor(repo: pygit2.Repository, old: pygit2.Oid, new: pygit2.Oid | str) -> bool:
    """Whether commit ``old`` is ``new`` or one of its ancestors (False for a non-commit)."""
    try:
        new = new if isinstance(new, pygit2.Oid) else pygit2.Oid(hex=new)
        return old == new or repo.descendant_of(new, old)
    except (pygit2.GitError, KeyError, ValueError):
        return False


def _foreign_commits(repo: pygit2.Repository, found: pygit2.Oid, tip: pygit2.Oid) -> list[str]:
    """Commits reachable from ``found`` but not from our ``tip``, newest first, at most
    MAX_LISTED_FOREIGN; just ``found`` if its history cannot be walked."""
    try:
        walker = repo.walk(found, pygit2.enums.SortMode.TOPOLOGICAL)
        walker.hide(tip)
        listed = []
        for commit in walker:
            listed.append(str(commit.id))
            if len(listed) >= MAX_LISTED_FOREIGN:
                break
        return listed or [str(found)]
    except (pygit2.GitError, KeyError, ValueError):
        return [str(found)]
