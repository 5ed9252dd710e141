"""Label and field selectors as the API server parses them (``-l``/``--field-selector``). Pure.

Label selectors: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a``, ``!a``,
comma-separated (all must hold). Field selectors: ``path=value``, ``path==value``,
``path!=value`` over dotted paths such as ``metadata.name`` or ``spec.nodeName``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

Predicate = Callable[[dict[str, Any]], bool]


class SelectorError(ValueError):
    """The selector text does not parse; the message is what the API server answers (400)."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!exists"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ = re.compile(rf"^\s*({_KEY})\s*(==|!=|=)\s*([-A-Za-z0-9_.]*)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split_terms(text: str) -> list[str]:
    terms, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(ch)
    terms.append("".join(current))
    return [t for t in terms if t.strip()]


def parse_label_selector(text: str | None) -> tuple[Requirement, ...]:
    if not text or not text.strip():
        return ()
    requirements = []
    for term in _split_terms(text):
        if m := _SET.match(term):
            values = tuple(v.strip() for v in m.group(4).split(",") if v.strip())
            requirements.append(Requirement(m.group(1), m.group(3), values))
        elif m := _EQ.match(term):
            op = "=" if m.group(3) in ("=", "==") else "!="
            requirements.append(Requirement(m.group(1), op, (m.group(4),)))
        elif m := _EXISTS.match(term):
            requirements.append(Requirement(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise SelectorError(f"unable to parse requirement: {term.strip()!r}")
    return tuple(requirements)


def labels_match(requirements: tuple[Requirement, ...], obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return all(r.matches(labels) for r in requirements)


def _field_value(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    return "" if node is None else str(node)


def parse_field_selector(text: str | None) -> tuple[tuple[str, bool, str], ...]:
    """(path, equal?, value) triples."""
    if not text or not text.strip():
        return ()
    out = []
    for term in text.split(","):
        if "!=" in term:
            path, value = term.split("!=", 1)
            out.append((path.strip(), False, value.strip()))
        elif "=" in term:
            path, value = term.split("==", 1) if "==" in term else term.split("=", 1)
            out.append((path.strip(), True, value.strip()))
        else:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{term}'")
    return tuple(out)


def fields_match(requirements: tuple[tuple[str, bool, str], ...], obj: dict[str, Any]) -> bool:
    return all((_field_value(obj, path) == value) == equal for path, equal, value in requirements)


@dataclass(frozen=True)
class Selector:
    """Both selectors of one request."""
    labels: tuple[Requirement, ...] = ()
    fields: tuple[tuple[str, bool, str], ...] = ()

    @classmethod
    def parse(cls, label_selector: str | None, field_selector: str | None) -> "Selector":
        return cls(parse_label_selector(label_selector), parse_field_selector(field_selector))

    def matches(self, obj: dict[str, Any]) -> bool:
        return labels_match(self.labels, obj) and fields_match(self.fields, obj)
