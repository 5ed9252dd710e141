"""Just enough of Kubernetes' protobuf encoding to read what kubectl sends that way. Pure.

kubectl posts some built-in kinds (a SelfSubjectAccessReview for `kubectl auth can-i`) as
``application/vnd.kubernetes.protobuf``: the bytes ``k8s\\0`` and a ``runtime.Unknown`` message
whose field 2 is the object's own message. Reading the wire format needs no schema: fields are
(number, wire type) keys with varints or length-delimited bytes; the caller knows the numbers.
"""

from __future__ import annotations

MAGIC = b"k8s\x00"
PROTOBUF = "application/vnd.kubernetes.protobuf"


class WireError(ValueError):
    """Not the protobuf wire format (or cut short)."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("varint runs past the end")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> dict[int, list[int | bytes]]:
    """Field number -> its values, in order (varints as int, length-delimited as bytes)."""
    found: dict[int, list[int | bytes]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise WireError(f"field {number} runs past the end")
            value, pos = data[pos:pos + size], pos + size
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, pos = data[pos:pos + size], pos + size
        else:
            raise WireError(f"wire type {wire} of field {number} is not supported")
        found.setdefault(number, []).append(value)
    return found


def unwrap(body: bytes) -> bytes:
    """The object's message inside kube's ``k8s\\0`` + runtime.Unknown envelope."""
    if not body.startswith(MAGIC):
        raise WireError("no k8s protobuf magic")
    raw = fields(body[len(MAGIC):]).get(2)
    if not raw or not isinstance(raw[0], bytes):
        raise WireError("the envelope carries no object")
    return raw[0]


def text(message: dict[int, list[int | bytes]], number: int) -> str:
    values = message.get(number) or [b""]
    value = values[-1]
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


RESOURCE_ATTRIBUTES = ("namespace", "verb", "group", "version", "resource", "subresource", "name")
"""authorization.k8s.io/v1 ResourceAttributes, fields 1-7 in this order."""


def access_review_from_protobuf(body: bytes) -> dict:
    """A SelfSubjectAccessReview (its spec's resourceAttributes) as the JSON form would carry it."""
    review = fields(unwrap(body))
    spec = fields(review.get(2, [b""])[-1])
    attributes = fields(spec.get(1, [b""])[-1])
    return {"spec": {"resourceAttributes": {name: text(attributes, number)
                                            for number, name in enumerate(RESOURCE_ATTRIBUTES, start=1)}}}
