"""The OpenAPI part of crash forensics (issue 15): GET /api/islands/{id}/remains, a tar.gz stream."""

from __future__ import annotations


def remains_paths(island_id, user_auth, ok, errors) -> dict:
    return {"/api/islands/{island_id}/remains": {"get": {
        "summary": "Download an island's remains (tar.gz)", "operationId": "downloadRemains",
        "security": user_auth, "parameters": [island_id],
        "description": "The owner's and admins' only (logs can hold secrets). A tar.gz streamed as it is "
                       "made, under remains-<id>-g<generation>/: server.log (the last islands.remains_log_lines "
                       "lines), events.json, pod.json and pod.txt (`kubectl describe`-like facts), clock.json, "
                       "code-version.txt, files/ (islands.remains_paths of islands.remains_dir, taken from the "
                       "side container), notes.txt (what was left out or cut) and manifest.json last (members, "
                       "sizes, `truncated`). The files stop at islands.remains_max_bytes; the bundle then says "
                       "TRUNCATED in notes.txt and manifest.json. Headers X-Remains-Max-Bytes and "
                       "Content-Disposition (the file name) come first; the size is not known in advance. "
                       "410 once the island's pod is gone: its remains went with it. 503 + Retry-After when every "
                       "channel for users' reads is busy.",
        "responses": {"200": {"description": "the bundle (application/gzip, chunked)",
                              "content": {"application/gzip": {"schema": {"type": "string",
                                                                          "contentMediaType": "application/gzip"}}}},
                      **errors("401", "403", "404", "410", "502", "503")}}}}
