"""What a client is shown of a git remote's URL (api/peers.py): no credentials, no server path."""

from __future__ import annotations

import pytest

from stigmem_vault.api.peers import public_url


@pytest.mark.parametrize(("url", "shown"), [
    ("https://bob:secret@git.example.com/team.git?token=abc", "https://git.example.com/team.git"),
    ("ssh://git@git.example.com:2222/team.git", "ssh://git.example.com:2222/team.git"),
    ("git://127.0.0.1:9418/r.git", "git://127.0.0.1:9418/r.git"),
    ("git@github.com:acme/team.git", "git@github.com:acme/team.git"),
    ("/srv/git/team.git", "remote:origin"),
    ("./shared:odd/team.git", "remote:origin"),
    ("file:///srv/git/team.git", "remote:origin"),
    ("FILE://localhost/srv/git/team.git", "remote:origin"),
    ("C:\\git\\team.git", "remote:origin"),
])
def test_public_url(url: str, shown: str) -> None:
    assert public_url("origin", url) == shown
