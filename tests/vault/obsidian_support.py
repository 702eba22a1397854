"""Checking a vault the way Obsidian reads it: wikilinks resolved as Obsidian resolves them,
and `.base` files (core Bases plugin) parsed down to every property and function they name.

Links (what Obsidian does, checked a little more strictly):

* ``[[target]]``, ``[[target|alias]]``, ``[[target#Heading]]``, ``[[target#^block]]``, embeds
  ``![[…]]``; inside a Markdown table row the alias bar is escaped (``\\|``), as GFM splits
  cells on any bare ``|``, so a bare bar inside a link in a table is a problem of its own;
* nothing inside inline code, fenced code or ``%%`` comments is a link;
* the target is tried as a path from the vault root, as written and with ``.md`` appended;
  ``./`` and ``../`` are relative to the linking note; a target without a folder, or a path
  not found from the root, matches the one file whose path ends with it (Obsidian's shortest
  path form; more than one match is reported as ambiguous). Case must match exactly;
* a ``#Heading`` must name a heading of the target, a ``#^id`` a block id in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

# ------------------------------------------------------------------------------- links

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_COMMENT = re.compile(r"%%.*?%%", re.S)
_CODE = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.S)
_LINK = re.compile(r"!?\[\[(.*?)\]\]")
_BAR = re.compile(r"\\?\|")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
_BLOCK_ID = re.compile(r"\s\^([A-Za-z0-9-]+)\s*$", re.M)


@dataclass(frozen=True, slots=True)
class Link:
    note: str  # the linking note, vault-relative
    line: int
    raw: str  # the text between [[ and ]]
    target: str
    anchor: str
    in_table: bool


def _without_code(text: str) -> str:
    """The text with code and comments blanked out (line numbers kept)."""
    def blank(match: re.Match[str]) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))
    return _CODE.sub(blank, _COMMENT.sub(blank, _FENCE.sub(blank, text)))


def links_in(note: str, text: str) -> Iterator[Link]:
    for number, line in enumerate(_without_code(text).splitlines(), 1):
        in_table = line.lstrip().startswith("|")
        for match in _LINK.finditer(line):
            raw = match.group(1)
            target = _BAR.split(raw, maxsplit=1)[0]
            path, _, anchor = target.partition("#")
            yield Link(note, number, raw, path, anchor, in_table)


def _resolve(root: Path, files: dict[str, list[str]], note: str, target: str) -> list[str]:
    """The vault-relative files ``target`` (linked from ``note``) can mean, best first."""
    if target == "":
        return [note]
    candidates = [target, f"{target}.md"]
    if target.startswith(("./", "../")):
        base = PurePosixPath(note).parent
        candidates = [str(PurePosixPath(_normpath(base / c))) for c in candidates]
        return [c for c in candidates if (root / c).is_file()][:1]
    exact = [c for c in candidates if (root / c).is_file()]
    if exact:
        return exact[:1]
    suffix = [path for c in candidates for path in files.get(PurePosixPath(c).name, [])
              if path == c or path.endswith("/" + c)]
    return sorted(set(suffix))


def _normpath(path: PurePosixPath) -> str:
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)


def _anchor_problem(text: str, anchor: str) -> str | None:
    if not anchor:
        return None
    last = anchor.split("#")[-1]
    if last.startswith("^"):
        return None if last[1:] in _BLOCK_ID.findall(text) else f"no block ^{last[1:]}"
    headings = {h.strip() for h in _HEADING.findall(_without_code(text))}
    return None if last.strip() in headings else f"no heading {last!r}"


def link_problems(root: Path, notes: Iterable[Path] | None = None) -> list[str]:
    """Every wikilink in ``notes`` (default: every Markdown note of the vault outside dot
    folders) that Obsidian would not resolve, as 'note:line: [[raw]]: why'."""
    every = [p for p in sorted(root.rglob("*")) if p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    files: dict[str, list[str]] = {}
    for path in every:
        files.setdefault(path.name, []).append(path.relative_to(root).as_posix())
    problems = []
    for note in notes if notes is not None else [p for p in every if p.suffix == ".md"]:
        rel = note.relative_to(root).as_posix()
        for link in links_in(rel, note.read_text(encoding="utf-8")):
            where = f"{rel}:{link.line}: [[{link.raw}]]"
            if link.in_table and re.search(r"(?<!\\)\|", link.raw):
                problems.append(f"{where}: a bare | inside a table cell splits the link")
                continue
            found = _resolve(root, files, rel, link.target)
            if not found:
                problems.append(f"{where}: no file {link.target!r}")
            elif len(found) > 1:
                problems.append(f"{where}: ambiguous, matches {found}")
            else:
                why = _anchor_problem((root / found[0]).read_text(encoding="utf-8"), link.anchor)
                if why:
                    problems.append(f"{where}: {why}")
    return problems


def note_properties(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), path
    data = yaml.safe_load(text[4:text.index("\n---\n", 3)])
    assert isinstance(data, dict), path
    return data


# ------------------------------------------------------------------------------- Bases

# File properties and functions of Bases (help.obsidian.md/bases/syntax, /bases/functions).
FILE_PROPERTIES = {"name", "basename", "path", "folder", "ext", "size", "ctime", "mtime",
                   "tags", "links", "backlinks", "embeds", "properties", "file"}
FILE_FUNCTIONS = {"asLink", "hasLink", "hasTag", "hasProperty", "inFolder"}
GLOBAL_FUNCTIONS = {"date", "duration", "now", "today", "if", "min", "max", "number", "link",
                    "list", "file", "image", "icon", "html", "escapeHTML", "random"}
VALUE_METHODS = {"isTruthy", "isType", "toString", "isEmpty", "contains", "containsAll",
                 "containsAny", "startsWith", "endsWith", "lower", "title", "trim", "replace",
                 "split", "slice", "length", "format", "date", "time", "relative", "round",
                 "floor", "ceil", "abs", "toFixed", "join", "filter", "map", "unique", "sort",
                 "reverse", "flat", "keys", "values", "matches", "asFile", "linksTo", "year",
                 "month", "day", "hour", "minute", "second", "days", "hours"}
TOP_KEYS = {"filters", "formulas", "properties", "summaries", "views"}
VIEW_KEYS = {"type", "name", "limit", "filters", "order", "sort", "groupBy", "summaries",
             "columnSize", "image", "imageFit", "imageAspectRatio", "cardSize"}
VIEW_TYPES = {"table", "cards", "list", "map"}

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!().,\[\]])
)""", re.X)
_BINARY = [("||",), ("&&",), ("==", "!="), ("<", "<=", ">", ">="), ("+", "-"), ("*", "/", "%")]


class BasesSyntaxError(ValueError):
    pass


def _tokens(expr: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(expr.rstrip()):
        match = _TOKEN.match(expr, pos)
        if not match or match.end() == pos:
            raise BasesSyntaxError(f"{expr!r}: cannot read at {expr[pos:]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    """A precedence-climbing parser for the Bases expression language; the tree is tuples:
    ("name", n) ("num", v) ("str", s) ("get", obj, name) ("index", obj, e) ("call", f, args)
    ("unary", op, e) ("binary", op, a, b)."""

    def __init__(self, expr: str) -> None:
        self.expr, self.tokens, self.at = expr, _tokens(expr), 0

    def parse(self) -> tuple[Any, ...]:
        tree = self._binary(0)
        if self.at != len(self.tokens):
            raise BasesSyntaxError(f"{self.expr!r}: unexpected {self.tokens[self.at][1]!r}")
        return tree

    def _peek(self) -> str | None:
        return self.tokens[self.at][1] if self.at < len(self.tokens) else None

    def _take(self, wanted: str | None = None) -> tuple[str, str]:
        if self.at >= len(self.tokens) or (wanted and self.tokens[self.at][1] != wanted):
            raise BasesSyntaxError(f"{self.expr!r}: expected {wanted or 'more'}")
        self.at += 1
        return self.tokens[self.at - 1]

    def _binary(self, level: int) -> tuple[Any, ...]:
        if level == len(_BINARY):
            return self._unary()
        left = self._binary(level + 1)
        while self._peek() in _BINARY[level] and self.tokens[self.at][0] == "op":
            op = self._take()[1]
            left = ("binary", op, left, self._binary(level + 1))
        return left

    def _unary(self) -> tuple[Any, ...]:
        if self._peek() in ("!", "-") and self.tokens[self.at][0] == "op":
            return ("unary", self._take()[1], self._unary())
        return self._postfix(self._primary())

    def _primary(self) -> tuple[Any, ...]:
        kind, text = self._take()
        if kind in ("num", "str", "name"):
            return (kind, text[1:-1] if kind == "str" else text)
        if text == "(":
            inner = self._binary(0)
            self._take(")")
            return inner
        raise BasesSyntaxError(f"{self.expr!r}: unexpected {text!r}")

    def _postfix(self, node: tuple[Any, ...]) -> tuple[Any, ...]:
        while self._peek() in (".", "(", "["):
            op = self._take()[1]
            if op == ".":
                kind, name = self._take()
                if kind != "name":
                    raise BasesSyntaxError(f"{self.expr!r}: a name must follow '.'")
                node = ("get", node, name)
            elif op == "[":
                node = ("index", node, self._binary(0))
                self._take("]")
            else:
                args = []
                while self._peek() != ")":
                    args.append(self._binary(0))
                    if self._peek() != ")":
                        self._take(",")
                self._take(")")
                node = ("call", node, args)
        return node


@dataclass
class Named:
    """What a base refers to: note properties, file properties, formulas, functions."""

    properties: set[str]
    file_properties: set[str]
    formulas: set[str]
    problems: list[str]


def _walk(tree: tuple[Any, ...], named: Named) -> None:
    kind = tree[0]
    if kind == "name":
        if tree[1] in ("true", "false", "null", "this"):
            return
        if tree[1] in ("file", "note", "formula"):
            named.problems.append(f"bare {tree[1]!r}")
            return
        named.properties.add(tree[1])
    elif kind == "get":
        obj, name = tree[1], tree[2]
        if obj == ("name", "note"):
            named.properties.add(name)
        elif obj == ("name", "file"):
            named.file_properties.add(name)
        elif obj == ("name", "formula"):
            named.formulas.add(name)
        elif obj == ("name", "this"):
            pass
        else:
            _walk(obj, named)
            if name not in VALUE_METHODS:
                named.problems.append(f"unknown field or method .{name}")
    elif kind == "index":
        obj, key = tree[1], tree[2]
        if obj == ("name", "note") and key[0] == "str":
            named.properties.add(key[1])
        else:
            _walk(obj, named)
            _walk(key, named)
    elif kind == "call":
        function, args = tree[1], tree[2]
        if function[0] == "name":
            if function[1] not in GLOBAL_FUNCTIONS:
                named.problems.append(f"unknown function {function[1]}()")
        elif function[0] == "get" and function[1] == ("name", "file"):
            if function[2] not in FILE_FUNCTIONS:
                named.problems.append(f"unknown file function {function[2]}()")
            if function[2] == "hasProperty" and args and args[0][0] == "str":
                named.properties.add(args[0][1])
        else:
            _walk(function, named)
        for arg in args:
            _walk(arg, named)
    elif kind == "unary":
        _walk(tree[2], named)
    elif kind == "binary":
        _walk(tree[2], named)
        _walk(tree[3], named)


def _filters(node: object, named: Named, where: str) -> None:
    """A filter: one expression string, or {and|or|not: [filters]} (exactly one key)."""
    if isinstance(node, str):
        try:
            _walk(_Parser(node).parse(), named)
        except BasesSyntaxError as exc:
            named.problems.append(f"{where}: {exc}")
        return
    if not (isinstance(node, dict) and len(node) == 1
            and next(iter(node)) in ("and", "or", "not")
            and isinstance(next(iter(node.values())), list)):
        named.problems.append(f"{where}: a filter is a string or one of and/or/not with a list")
        return
    for item in next(iter(node.values())):
        _filters(item, named, where)


def _property_ref(ref: object, named: Named, where: str) -> None:
    """A property as order/sort/groupBy name it: file.X, formula.X, note.X or a bare name."""
    if not isinstance(ref, str) or not ref:
        named.problems.append(f"{where}: a property name must be a string")
        return
    head, dot, rest = ref.partition(".")
    if dot and head == "file":
        named.file_properties.add(rest)
    elif dot and head == "formula":
        named.formulas.add(rest)
    else:
        named.properties.add(rest if dot and head == "note" else ref)


def read_base(path: Path) -> tuple[dict[str, Any], Named]:
    """Parse a `.base` file; return it and everything it names (problems included)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    named = Named(set(), set(), set(), [])
    if not isinstance(data, dict):
        named.problems.append("not a YAML mapping")
        return {}, named
    named.problems += [f"unknown key {k!r}" for k in set(data) - TOP_KEYS]
    if "filters" in data:
        _filters(data["filters"], named, "filters")
    formulas = data.get("formulas") or {}
    if not isinstance(formulas, dict):
        named.problems.append("formulas must be a mapping")
        formulas = {}
    for name, expr in formulas.items():
        _filters(str(expr), named, f"formula {name}")
    views = data.get("views")
    if not isinstance(views, list) or not views:
        named.problems.append("no views")
        views = []
    for number, view in enumerate(views):
        where = f"views[{number}]"
        if not isinstance(view, dict):
            named.problems.append(f"{where}: not a mapping")
            continue
        named.problems += [f"{where}: unknown key {k!r}" for k in set(view) - VIEW_KEYS]
        if view.get("type") not in VIEW_TYPES or not isinstance(view.get("name"), str):
            named.problems.append(f"{where}: needs a type ({'/'.join(sorted(VIEW_TYPES))}) "
                                  "and a name")
        if "limit" in view and not (isinstance(view["limit"], int) and view["limit"] > 0):
            named.problems.append(f"{where}: limit must be a positive integer")
        if "filters" in view:
            _filters(view["filters"], named, f"{where}.filters")
        for ref in view.get("order", []):
            _property_ref(ref, named, f"{where}.order")
        groups = [view["groupBy"]] if "groupBy" in view else []
        for spec in [*view.get("sort", []), *groups]:
            if not (isinstance(spec, dict) and spec.get("direction") in ("ASC", "DESC")):
                named.problems.append(f"{where}: sort/groupBy need property and ASC|DESC")
                continue
            _property_ref(spec.get("property"), named, f"{where}.sort")
    undefined = named.formulas - set(formulas)
    named.problems += [f"formula.{f} is not defined" for f in sorted(undefined)]
    named.problems += [f"file.{f} is not a file property"
                       for f in sorted(named.file_properties - FILE_PROPERTIES)]
    return data, named


def required_folders(data: dict[str, Any]) -> set[str]:
    """The folders a base's global filter requires its notes to be in (file.inFolder in a
    top-level `and`, or the whole filter)."""
    filters = data.get("filters")
    items = [filters] if isinstance(filters, str) else (
        filters.get("and", []) if isinstance(filters, dict) else [])
    found = set()
    for item in items:
        if isinstance(item, str):
            match = re.fullmatch(r'\s*file\.inFolder\("([^"]+)"\)\s*', item)
            if match:
                found.add(match.group(1))
    return found
