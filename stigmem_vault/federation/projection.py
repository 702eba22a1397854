"""Scope projections: what a remote receives, built as separate signed git history.

For each shareable scope S a node keeps ``refs/stigmem/projection/S``: a linear history whose
trees hold only ``facts/S/`` (taken by object id from the vault's HEAD tree, so building one
costs O(1) in the vault size) and ``.stigmem/peers/`` (the signed peer declarations peers need
to check our facts). Projection commits never have a vault commit as an ancestor, so nothing
reachable from a pushed ref can contain a fact of another scope — above all, no ``local`` fact.

On a remote, node N's projection of scope S is the branch ``stigmem/S/N``.
"""

from __future__ import annotations

import pygit2
from nacl.signing import SigningKey

from stigmem_vault.federation.declaration import PEERS_DIR
from stigmem_vault.vault.git import GitRepo, sshsig

PROJECTION_REF = "refs/stigmem/projection/{scope}"
REMOTE_BRANCH = "refs/heads/stigmem/{scope}/{node}"
TRACKING_REF = "refs/stigmem/remotes/{remote}/{scope}/{node}"


def _subtree(repo: pygit2.Repository, tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    try:
        entry = tree[path]
    except KeyError:
        return None
    return entry.id if entry.type_str == "tree" else None


def projection_tree(repo: pygit2.Repository, scope: str) -> pygit2.Oid:
    """The tree of ``facts/<scope>/`` plus ``.stigmem/peers/`` of HEAD (empty parts omitted)."""
    head = repo[repo.head.target].tree if not repo.head_is_unborn else None
    root = repo.TreeBuilder()
    facts = _subtree(repo, head, f"facts/{scope}") if head is not None else None
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


def update_projection(git: GitRepo, scope: str, key: SigningKey, name: str,
                      email: str) -> pygit2.Oid | None:
    """Advance the projection of ``scope`` to HEAD; returns its tip (None if nothing to share)."""
    repo = git.repo
    ref_name = PROJECTION_REF.format(scope=scope)
    tree = projection_tree(repo, scope)
    try:
        tip = repo.references[ref_name].target
    except KeyError:
        tip = None
    if tip is not None and repo[tip].tree_id == tree:
        return tip
    if tip is None and len(repo[tree]) == 0:
        return None
    who = pygit2.Signature(name, email)
    message = f"stigmem: projection of scope {scope}\n"
    payload = repo.create_commit_string(who, who, message, tree, [tip] if tip else [])
    oid = repo.create_commit_with_signature(payload, sshsig(key, payload.encode("utf-8")), "gpgsig")
    repo.references.create(ref_name, oid, force=True)
    return oid
