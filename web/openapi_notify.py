"""The OpenAPI parts of webhook notifications (issue 14): GET /api/notifications (admins)."""

from __future__ import annotations

from island_ssh.core.notify_payload import EVENTS, PRESETS, TEST_EVENT

_TIME = {"type": ["string", "null"], "format": "date-time"}


def notify_schemas() -> dict:
    event = {"type": "string", "enum": [*EVENTS, TEST_EVENT]}
    return {
        "Webhook": {"type": "object", "required": ["name", "url", "events"], "properties": {
            "name": {"type": "string"},
            "url": {"type": "string", "description": "without its query (where WeCom and DingTalk keep the key) "
                                                     "and with long path segments cut (Slack's secret)"},
            "preset": {"type": "string", "enum": list(PRESETS)},
            "events": {"type": "array", "items": event}, "timeout": {"type": "number"},
            "template": {"type": "string", "description": "the preset's name, or 'custom'"},
            "signed": {"type": "boolean", "description": "calls are signed with the webhook's secret "
                                                         "(DingTalk, Feishu); the secret is never shown"},
            "pending": {"type": "integer"}, "delivered": {"type": "integer"}, "failed": {"type": "integer"},
            "oldest_pending_seconds": {"type": ["integer", "null"]}}},
        "Notification": {"type": "object", "required": ["id", "webhook", "event", "state", "attempts"], "properties": {
            "id": {"type": "integer"}, "webhook": {"type": "string"}, "event": event,
            "island_id": {"type": ["integer", "null"]}, "generation": {"type": ["integer", "null"]},
            "state": {"type": "string", "enum": ["pending", "delivered", "failed"],
                      "description": "failed: given up after notify.attempts calls, or at once on a redirect "
                                     "or a 4xx other than 408/429"},
            "attempts": {"type": "integer"}, "next_at": {**_TIME, "description": "the next try (pending only)"},
            "last_status": {"type": ["integer", "null"], "description": "the HTTP status of the last call"},
            "last_error": {"type": "string", "description": "what the receiver did: 'no answer within 5 s', "
                           "'answered 500 ...', 'answered 302 Found redirecting to ...'"},
            "created_at": _TIME, "finished_at": _TIME, "text": {"type": "string"}}},
        "NotificationLog": {"type": "object", "required": ["enabled", "webhooks", "recent", "failures"], "properties": {
            "enabled": {"type": "boolean", "description": "false when notify.webhooks is empty"},
            "webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}},
            "recent": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}},
            "failures": {"type": "array", "items": {"$ref": "#/components/schemas/Notification"}}}},
    }


def notify_paths(user_auth, ok, errors) -> dict:
    return {"/api/notifications": {"get": {
        "summary": "Webhook notifications sent and failed (admins)", "operationId": "listNotifications",
        "security": user_auth,
        "parameters": [
            {"name": "state", "in": "query", "schema": {"type": "string", "enum": ["pending", "delivered", "failed"]}},
            {"name": "webhook", "in": "query", "schema": {"type": "string", "maxLength": 64}},
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500,
                                                        "default": 50}}],
        "responses": {"200": ok("the configured webhooks with their counts, the latest notifications (newest "
                                "first) and the latest failures", {"$ref": "#/components/schemas/NotificationLog"}),
                      **errors("400", "401", "403")}}}}
