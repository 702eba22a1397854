"""RFC 8785 JSON Canonicalization Scheme for the JSON subset facts use.

Supported: dict with str keys, list/tuple, str, bool, None, int (|n| < 2**53) and finite float.
Keys are sorted by UTF-16 code units (for the ASCII keys we emit, plain code-point order);
strings use the minimal JSON escapes; numbers use the ECMAScript Number-to-String rule.
"""

from __future__ import annotations

import math
from json.encoder import encode_basestring  # the C encoder when available

_MAX_SAFE_INT = 2**53


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``."""
    parts: list[str] = []
    _emit(value, parts)
    return "".join(parts).encode("utf-8")


def _emit(value: object, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        # encode_basestring (json's ensure_ascii=False encoder) escapes exactly '"', '\\' and
        # U+0000..U+001F, as \b \t \n \f \r or lowercase \u00xx: the RFC 8785 string rule.
        out.append(encode_basestring(value))
    elif isinstance(value, int):
        if abs(value) >= _MAX_SAFE_INT:
            raise ValueError(f"integer {value} is outside the exactly representable range")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(number_to_string(value))
    elif isinstance(value, dict):
        out.append("{")
        for index, key in enumerate(sorted(value, key=_utf16_key)):
            if not isinstance(key, str):
                raise TypeError(f"object keys must be strings, got {key!r}")
            if index:
                out.append(",")
            out.append(encode_basestring(key))
            out.append(":")
            _emit(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _emit(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot canonicalize {type(value).__name__}")


def _utf16_key(key: str) -> bytes:
    # Checked here: sorting runs before the loop's own check could see a non-str key.
    if not isinstance(key, str):
        raise TypeError(f"object keys must be strings, got {key!r}")
    return key.encode("utf-16-be")


def number_to_string(number: float) -> str:
    """ECMAScript Number::toString for a finite double (RFC 8785 §3.2.2.3)."""
    if not math.isfinite(number):
        raise ValueError(f"{number!r} is not a finite number")
    if number == 0:
        return "0"
    sign = "-" if number < 0 else ""
    text = repr(abs(number))  # shortest round-trip digits
    mantissa, _, exponent = text.partition("e")
    point = mantissa.find(".")
    digits = mantissa.replace(".", "")
    n = (point if point >= 0 else len(mantissa)) + int(exponent or 0)
    stripped = digits.lstrip("0")
    n -= len(digits) - len(stripped)
    digits = stripped.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        body = "0." + "0" * (-n) + digits
    else:
        exp = n - 1
        fraction = "." + digits[1:] if k > 1 else ""
        body = f"{digits[0]}{fraction}e{'+' if exp >= 0 else '-'}{abs(exp)}"
    return sign + body
