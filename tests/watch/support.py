"""Driving the real watcher: files written the way editors and agents write them, and waiting
on conditions with a deadline (never a fixed sleep)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from stigmem_vault.api.results import Change
from stigmem_vault.api.vault import Vault
from stigmem_vault.canonical.signing import format_timestamp, sign_claim
from stigmem_vault.model.fact import Fact, make_claim
from stigmem_vault.model.values import make_value
from stigmem_vault.vault import frontmatter, markdown
from stigmem_vault.vault.layout import fact_relpath

T = TypeVar("T")
INTERVAL = 0.01


def wait_for(predicate: Callable[[], T], timeout: float = 5.0, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail clearly at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            name = what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"timed out after {timeout}s waiting for {name} (last: {result!r})")
        time.sleep(INTERVAL)


# ------------------------------------------------------------------ how files get written


def write_in_place(path: Path, text: str | bytes) -> float:
    """Obsidian's save (Node's fs.writeFile): open with O_TRUNC, one write, close.

    Between the truncate and the write the watcher may see an empty file. Returns the
    ``time.monotonic()`` taken once the bytes are written and before the close, whose event
    the watcher always gets after it: a batch that began since has read the saved text."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        written = time.monotonic()
    finally:
        os.close(fd)
    return written


def save_seen(path: Path, text: str, seen: Recorder, rel: str) -> None:
    """One of Obsidian's saves (every ~2 s while a person types): in place, then wait until
    the watcher has handled the note as saved (it may say nothing: a pending note is said
    pending only once)."""
    written = write_in_place(path, text)
    wait_for(lambda: seen.handled_since(rel, written), what=f"the save of {rel!r} to be seen")


def write_via_rename(path: Path, text: str | bytes) -> None:
    """An agent's atomic write: ``name.md.tmp`` next to the target, then os.replace."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_via_hidden_temp(path: Path, text: str | bytes) -> None:
    """An editor's atomic save (vim, VS Code): a hidden temp file renamed over the target."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}~")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def append(path: Path, text: str) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text)


WRITERS = {"in-place": write_in_place, "rename": write_via_rename, "hidden-temp": write_via_hidden_temp}


# ------------------------------------------------------------------ content


def draft_text(value: str = "hello", *, entity: str = "stigmem://acme/project/atlas",
               relation: str = "memory:note", source: str | None = "user:alice",
               extra: str = "", body: str = "Typed by a human.\n", sign: bool = True) -> str:
    """A note made from templates/fact.md with its properties filled in (and, unless
    ``sign=False``, its `sign` checkbox ticked)."""
    lines = ["---", f'entity: "{entity}"', f'relation: "{relation}"', 'value_type: "string"',
             f'value_string: "{value}"']
    if source is not None:
        lines.append(f'source: "{source}"')
    lines += ["confidence: 1", 'trust: "observed"', 'scope: "local"']
    if extra:
        lines.append(extra)
    if sign:
        lines.append("sign: true")
    return "\n".join([*lines, "---", body])


def signed_elsewhere(vault: Vault, source: str, value: str, *, entity: str = "user:bob",
                     relation: str = "memory:role", scope: str = "local") -> tuple[Fact, str, str]:
    """A fact signed with ``source``'s key by another process: (fact, relpath, file text)."""
    claim = make_claim(entity=entity, relation=relation, value=make_value("string", value),
                       source=source, scope=scope)
    assert vault.clock is not None
    fact = sign_claim(claim, vault.clock.now(), format_timestamp(datetime.now(UTC)),
                      vault.signing_key_for(source))
    return fact, str(fact_relpath(fact)), markdown.render(fact)


def set_property(text: str, name: str, value: str) -> str:
    """Replace one frontmatter line ``name: ...`` (as Obsidian's property editor does)."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith(f"{name}:"):
            lines[i] = f"{name}: {value}"
            return "\n".join(lines)
    raise AssertionError(f"no property {name} in the note")


def tick_sign(text: str) -> str:
    """Tick the note's `sign` checkbox as Obsidian's Properties editor does: ``sign: true``
    replacing the unticked line, or appended as the last property."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("sign:"):
            lines[i] = "sign: true"
            return "\n".join(lines)
    end = lines.index("---", 1)
    return "\n".join([*lines[:end], "sign: true", *lines[end:]])


def obsidian_yaml(props: dict[str, object]) -> str:
    """A frontmatter block as Obsidian's Properties editor writes it, in the given order: a
    value unquoted wherever it reads back as the same string (else double-quoted), numbers
    and checkboxes bare, a list as ``  - item`` lines, an empty property as ``name:``."""
    lines = []
    for key, value in props.items():
        if isinstance(value, list):
            lines += [f"{key}:", *[f"  - {_obsidian_scalar(v)}" for v in value]]
        elif value is None or value == "":
            lines.append(f"{key}:")
        else:
            lines.append(f"{key}: {_obsidian_scalar(value)}")
    return "\n".join(lines) + "\n"


def _obsidian_scalar(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    try:
        if frontmatter.load(f"k: {text}\n") == {"k": text}:
            return text  # a plain scalar that reads back as this very string
    except frontmatter.FrontmatterError:
        pass
    return json.dumps(text, ensure_ascii=False)


def properties_edit(text: str, *, changes: dict[str, object] | None = None,
                    first: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> str:
    """The note after an edit in Obsidian's Properties editor: ``changes`` set (a new property
    goes last), ``first`` dragged to the top, ``drop`` removed, and the whole block written
    again the editor's way (values unquoted). The body is kept byte for byte."""
    yaml_text, body, _ = frontmatter.split(text)
    props: dict[str, object] = dict(frontmatter.load(yaml_text))
    props.update(changes or {})
    for key in drop:
        props.pop(key, None)
    ordered = {key: props[key] for key in first if key in props}
    ordered.update((key, value) for key, value in props.items() if key not in ordered)
    return "---\n" + obsidian_yaml(ordered) + "---\n" + body


# ------------------------------------------------------------------ the running watcher


class Recorder:
    """Collects what the watcher reports, from its thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.changes: list[Change] = []
        self.errors: list[BaseException] = []
        self.batches: list[tuple[float, list[str]]] = []  # (handling began, paths)

    def on_change(self, changes: list[Change]) -> None:
        with self._lock:
            self.changes.extend(changes)

    def on_batch(self, paths: list[str], started: float) -> None:
        with self._lock:
            self.batches.append((started, paths))

    def handled_since(self, path: str, since: float) -> bool:
        """Whether the watcher handled ``path`` in a batch that began at or after ``since``
        (``time.monotonic()``), i.e. it read the file as it was then, or later."""
        with self._lock:
            return any(started >= since and path in paths for started, paths in self.batches)

    def on_error(self, exc: BaseException) -> None:
        with self._lock:
            self.errors.append(exc)

    def kinds(self, kind: str) -> list[Change]:
        with self._lock:
            return [c for c in self.changes if c.kind == kind]

    def count(self) -> int:
        with self._lock:
            return len(self.changes)

    def about(self, kind: str, path: str) -> int:
        """How many changes of ``kind`` were reported for ``path`` so far."""
        with self._lock:
            return sum(1 for c in self.changes if c.kind == kind and c.path == path)


def listing(root: Path) -> dict[str, int]:
    """Every file outside .git and the index, with its mtime: what a human would see change."""
    seen: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git" and not (dirpath == str(root / ".stigmem")
                                                                  and d in ("index", "local"))]
        for name in filenames:
            path = Path(dirpath) / name
            seen[path.relative_to(root).as_posix()] = path.lstat().st_mtime_ns
    return seen


def wait_quiet(vault: Vault, recorder: Recorder, quiet: float = 0.3, timeout: float = 5.0) -> None:
    """Wait until neither the files, the git HEAD nor the reported changes move for ``quiet``."""

    def snapshot() -> tuple[object, ...]:
        head = None if vault.git is None or vault.git.repo.head_is_unborn else str(vault.git.repo.head.target)
        return (listing(vault.root), head, recorder.count())

    last = snapshot()
    since = time.monotonic()
    deadline = since + timeout
    while time.monotonic() - since < quiet:
        if time.monotonic() > deadline:
            raise AssertionError(f"the vault never went quiet for {quiet}s within {timeout}s")
        time.sleep(INTERVAL)
        now = snapshot()
        if now != last:
            last, since = now, time.monotonic()


@contextmanager
def watching(vault: Vault) -> Iterator[Recorder]:
    recorder = Recorder()
    watcher = vault.watch(on_change=recorder.on_change, on_error=recorder.on_error,
                          on_batch=recorder.on_batch)
    try:
        yield recorder
    finally:
        watcher.stop()
    assert recorder.errors == [], recorder.errors
