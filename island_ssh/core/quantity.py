"""Kubernetes resource quantities ("1500Mi", "2Gi", "512M", "1e3", "250m") as integers. Pure.

The one parser of quantities: the capacity check, input validation and the sandbox's scheduler
and kubelet all count memory the same way."""


from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(text: str | int | float) -> int:
    """Bytes (or units) a quantity stands for, rounded up as Kubernetes rounds requests."""
    if isinstance(text, (int, float)):
        return math.ceil(text)
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$': {text!r}")
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation:
        raise QuantityError(f"not a number in quantity {text!r}") from None
    scale = Decimal(_BINARY[suffix]) if suffix in _BINARY else _DECIMAL[suffix]
    return math.ceil(value * scale)


def format_kibibytes(amount: int) -> str:
    """How a kubelet reports node memory: whole Ki."""
    return f"{amount // 1024}Ki"


def format_memory(n: int) -> str:
    """Bytes as the largest binary unit that keeps it exact and readable: 943718400 -> '900Mi'."""
    for suffix in ("Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    if n >= 2**20:
        return f"{n / 2**20:.0f}Mi"
    return str(n)
