"""Flat YAML frontmatter, read the way Obsidian means it and written the way Obsidian keeps it.

Reading uses libyaml (fast) with YAML 1.2 core-schema scalars: only ``true``/``false`` are
booleans (``yes``/``no``/``on`` stay strings), no sexagesimal numbers, no implicit timestamps
(``2026-11-24`` stays the string it looks like), and no anchors or aliases at all (an alias
bomb is refused before it is expanded). Values must be flat: scalars or lists of scalars.

Writing double-quotes every string with JSON-compatible escapes, so no value can change type
on the way back in, whatever it contains.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

import yaml

from stigmem_vault.canonical.jcs import number_to_string

MAX_FRONTMATTER_BYTES = 256 * 1024
Scalar = str | int | float | bool | None
Flat = Scalar | list[Scalar]


class FrontmatterError(ValueError):
    """Raised with a reason (and a 1-based line when known); callers attach the path."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        self.reason = reason
        self.line = line
        super().__init__(reason)


class _Loader(yaml.CSafeLoader):
    """libyaml parser, YAML 1.2 core-schema resolution."""


_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
):
    _Loader.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)  # YAML 1.2: a leading zero is not octal


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[object, object]:
    # YAML 1.2 requires unique keys; a reader that kept the first and one that kept the last
    # would disagree about what a file says, so a duplicate is an error.
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if isinstance(key, str | int | float | bool) and key in seen:
            raise FrontmatterError(f"property {key!r} appears twice", key_node.start_mark.line + 2)
        if isinstance(key, str | int | float | bool):
            seen.add(key)
    return loader.construct_mapping(node)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_unique_mapping)


def split(text: str) -> tuple[str, str, int]:
    """Split a note into (frontmatter YAML, body, line number where the body starts)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if not (text.startswith("---\n") or text.startswith("---\r\n")):
        raise FrontmatterError("no frontmatter: the file must start with a '---' line", 1)
    start = text.index("\n") + 1
    match = re.search(r"^---[ \t]*\r?$", text[start:], re.MULTILINE)
    if match is None:
        raise FrontmatterError("frontmatter is not closed by a '---' line")
    yaml_text = text[start:start + match.start()]
    body_start = start + match.end()
    if text.startswith("\n", body_start):
        body_start += 1
    elif text.startswith("\r\n", body_start):
        body_start += 2
    return yaml_text, text[body_start:], yaml_text.count("\n") + 3


def load(yaml_text: str) -> dict[str, Flat]:
    """Parse flat frontmatter into a dict, or raise FrontmatterError with the reason."""
    if len(yaml_text) > MAX_FRONTMATTER_BYTES:
        raise FrontmatterError(f"frontmatter is larger than {MAX_FRONTMATTER_BYTES} bytes")
    fast = _load_simple(yaml_text)
    if fast is not None:
        return fast
    if "&" in yaml_text or "*" in yaml_text or "!" in yaml_text:
        _refuse_anchors(yaml_text)
    try:
        data = yaml.load(yaml_text, Loader=_Loader)
    except FrontmatterError:
        raise
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 2 if exc.problem_mark else None
        raise FrontmatterError(f"malformed YAML: {exc.problem}", line) from None
    except yaml.YAMLError as exc:
        raise FrontmatterError(f"malformed YAML: {exc}") from None
    except (ValueError, TypeError, AttributeError, KeyError, OverflowError, RecursionError) as exc:
        # PyYAML's constructors for explicit tags (!!int abc, !!bool maybe, !!timestamp x)
        # fail with plain Python errors rather than YAMLError.
        raise FrontmatterError(f"malformed YAML: a tagged value cannot be read ({exc!r})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FrontmatterError("frontmatter must be a mapping of property names to values")
    for key, value in data.items():
        if not isinstance(key, str):
            raise FrontmatterError(f"property name {key!r} is not a string")
        if isinstance(value, dict):
            raise FrontmatterError(f"property {key!r} is a nested map; properties must be flat")
        if isinstance(value, list) and any(
                not isinstance(item, str | int | float | bool) and item is not None for item in value):
            raise FrontmatterError(f"property {key!r} nests lists or maps; lists must hold scalars")
        if not isinstance(value, str | int | float | bool | list) and value is not None:
            raise FrontmatterError(f"property {key!r} has an unsupported value {type(value).__name__}")
    return data


# \uD800-\uDFFF escapes are left out: JSON pairs surrogates, YAML refuses them.
_JSON_STRING = r'"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u(?![dD][89a-fA-F])[0-9a-fA-F]{4})*"'
_SIMPLE_LINE = re.compile(
    r"^(?:([A-Za-z_][A-Za-z0-9_-]*):(?: (" + _JSON_STRING + r"|-?(?:0|[1-9][0-9]*)"
    r"(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null|\[\]))?|  - (" + _JSON_STRING + "))$"
)
# Characters YAML refuses in a stream, or reads as line breaks (NEL, LS, PS), where JSON would
# keep them: their presence sends the text to the full parser.
_NOT_PRINTABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffe\uffff]")


def _load_simple(yaml_text: str) -> dict[str, Flat] | None:
    """Read the exact shape ``dump`` writes (JSON scalars, one per line) without libyaml.

    Returns None as soon as anything falls outside that shape; the caller then uses the full
    YAML parser. Every line this accepts means the same in YAML 1.2 and in JSON (a property
    test checks it against the YAML path), so the result is identical, only faster.
    """
    if _NOT_PRINTABLE.search(yaml_text):
        return None
    result: dict[str, Flat] = {}
    open_key: str | None = None  # a "key:" line with no value: null, or a list if items follow
    open_items: list[Scalar] | None = None  # that list, once its first item is read
    for line in yaml_text.split("\n"):
        match = _SIMPLE_LINE.match(line)
        if match is None:
            if line:
                return None
            continue
        key, scalar_text, item = match.groups()
        if item is not None:
            if open_key is None:
                return None
            if open_items is None:
                open_items = result[open_key] = []
            open_items.append(_json_scalar(item))
            continue
        if key in result or key in _NON_STRING_KEYS:
            return None  # duplicate keys, or a key YAML reads as a bool/null: full parser decides
        open_key = open_items = None
        if scalar_text is None:
            result[key] = None
            open_key = key
        elif scalar_text == "[]":
            result[key] = []
        else:
            result[key] = _json_scalar(scalar_text)
    return result


def _json_scalar(text: str) -> Scalar:
    # _SIMPLE_LINE only admits JSON scalars; a string without escapes is its own content
    # (no '"' or control characters inside), so skip json.loads for it: ~25% of a load.
    if text[0] == '"' and "\\" not in text:
        return text[1:-1]
    value: Scalar = json.loads(text)  # a JSON scalar, as _SIMPLE_LINE admits nothing else
    return value


def _refuse_anchors(yaml_text: str) -> None:
    # Only tokens are inspected, so '&' or '*' inside quoted strings is fine.
    try:
        for token in yaml.scan(yaml_text, Loader=_Loader):
            if isinstance(token, yaml.TagToken):
                raise FrontmatterError("explicit YAML tags (!!...) are not allowed in frontmatter",
                                       token.start_mark.line + 2)
            if isinstance(token, yaml.AnchorToken | yaml.AliasToken):
                line = token.start_mark.line + 2
                raise FrontmatterError("YAML anchors and aliases are not allowed in frontmatter", line)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 2 if exc.problem_mark else None
        raise FrontmatterError(f"malformed YAML: {exc.problem}", line) from None
    except yaml.YAMLError as exc:  # ReaderError (a control character) is not a MarkedYAMLError
        raise FrontmatterError(f"malformed YAML: {exc}") from None


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# Plain keys that YAML resolves to a boolean or null: written quoted, never read by the fast path.
_NON_STRING_KEYS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL"})
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]')


def quote(text: str) -> str:
    """A YAML double-quoted scalar that reads back as exactly ``text``."""
    def escape(match: re.Match[str]) -> str:
        char = match.group()
        return _ESCAPES.get(char) or f"\\u{ord(char):04x}"

    return '"' + _NEEDS_ESCAPE.sub(escape, text) + '"'


def scalar(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_to_string(value)
    if isinstance(value, str):
        return quote(value)
    raise TypeError(f"cannot write {type(value).__name__} as a property value")


def dump(properties: Mapping[str, Flat], keep_point: tuple[str, ...] = ()) -> str:
    """Render flat properties as frontmatter lines (without the '---' fences). A whole float
    under a ``keep_point`` key is written with its point (``7.0``, ``-0.0``), so that it reads
    back as a float; elsewhere as ECMAScript prints it (``7``)."""
    lines: list[str] = []
    for raw_key, value in properties.items():
        if (raw_key in keep_point and isinstance(value, float) and value.is_integer()
                and abs(value) < 2**53):
            lines.append(f"{raw_key}: {value!r}")
            continue
        plain = _PLAIN_KEY.fullmatch(raw_key) and raw_key not in _NON_STRING_KEYS
        key = raw_key if plain else quote(raw_key)
        if isinstance(value, list):
            if not value:
                lines.append(f"{key}: []")
                continue
            lines.append(f"{key}:")
            lines.extend(f"  - {scalar(item)}" for item in value)
        else:
            lines.append(f"{key}: {scalar(value)}")
    return "\n".join(lines) + "\n"
