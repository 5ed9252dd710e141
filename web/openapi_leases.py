"""The lease API's part of the OpenAPI description (web/api_leases.py; openapi.py merges it in)."""

from __future__ import annotations

LEASE_TEXT = ("whole numbers with units d, h, m, s, largest first: '8h', '90m', '2d', '1d12h'. At launch: the "
              "island's life from now (empty or null: islands.lease_default). Never more than islands.lease_max")
EXTEND_TEXT = ("'+4h' adds 4 h to the current end; '8h' makes the island end 8 h from now. The end may never be "
               "further ahead than islands.lease_max from now (the maximum counts from the moment of asking, so "
               "an island can be extended again later); a refusal (400) says when the asked lease would end, "
               "where the maximum is, and how much is still allowed")


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def lease_property() -> dict:
    """The ``lease`` of an island in LaunchRequest."""
    return _nullable({"type": "string", "maxLength": 64, "description": LEASE_TEXT, "example": "8h"})


def lease_schemas() -> dict:
    time = _nullable({"type": "string", "format": "date-time"})
    text = {"type": "string"}
    return {
        "Lease": {"type": "object", "required": ["expires_at"], "properties": {
            "expires_at": {**time, "description": "when the island is deleted (reason LeaseExpired); null: an "
                                                  "island from before leases, given the default at the next pass"},
            "warned_at": {**time, "description": "when its owner was warned (islands.lease_warning before the end)"},
            "seconds_left": _nullable({"type": "integer", "minimum": 0}),
            "time_left": {"type": "string", "description": "'3h12m', '45s', 'expired', or '-' without a lease"}}},
        "LeasePolicy": {"type": "object", "required": ["default", "max", "warning", "min"], "properties": {
            "default": text, "max": text, "warning": text, "min": text,
            "max_counts_from": {"type": "string", "enum": ["now"]}}},
        "LeaseView": {"type": "object", "required": ["island_id", "lease", "policy", "can_extend"], "properties": {
            "island_id": {"type": "integer"}, "lease": _ref("Lease"), "policy": _ref("LeasePolicy"),
            "can_extend": {"type": "boolean", "description": "the caller owns the island or is an admin, and it "
                                                             "is not being deleted"}}},
        "ExtendRequest": {"type": "object", "required": ["extend"], "additionalProperties": False, "properties": {
            "extend": {"type": "string", "maxLength": 64, "description": EXTEND_TEXT, "example": "+4h"}}},
    }


def lease_paths(island_id: dict, user_auth: list, ok, errors) -> dict:
    return {
        "/api/islands/{island_id}/lease": {
            "parameters": [island_id],
            "get": {"summary": "The island's lease: its end, time left and the policy", "operationId": "getLease",
                    "security": user_auth,
                    "responses": {"200": ok("the lease", _ref("LeaseView")), **errors("401", "404", "503")}},
            "post": {"summary": "Extend the island's lease (owner or admin)", "operationId": "extendLease",
                     "description": EXTEND_TEXT, "security": user_auth,
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": _ref("ExtendRequest")}}},
                     "responses": {"200": ok("the island with its new end (lease)", _ref("Island")),
                                   **errors("400", "401", "403", "404", "413", "415", "503")}}},
    }
