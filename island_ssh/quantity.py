"""Kubernetes resource quantities (memory) as plain integers of bytes. Pure."""

from __future__ import annotations

import re

_SUFFIX = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


def parse_memory(text: str | int) -> int:
    """'1500Mi' -> 1572864000. Raises ValueError for anything Kubernetes would refuse."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = _QUANTITY.match(str(text).strip())
    if not m:
        raise ValueError(f"not a memory quantity: {text!r} (examples: 1500Mi, 2Gi)")
    number, suffix = m.groups()
    value = float(number) * _SUFFIX[suffix or ""]
    return int(value) if value == int(value) else int(value) + 1


def format_memory(n: int) -> str:
    """Bytes as the largest binary unit that keeps it readable: 943718400 -> '900Mi'."""
    for suffix in ("Gi", "Mi", "Ki"):
        unit = _SUFFIX[suffix]
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    if n >= 2**20:
        return f"{n / 2**20:.0f}Mi"
    return str(n)
