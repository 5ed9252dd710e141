"""The OpenAPI part of the Prometheus metrics (issue 15): GET /metrics (web/api_metrics.py)."""

from __future__ import annotations


def metrics_paths() -> dict:
    return {"/metrics": {"get": {
        "summary": "Prometheus metrics", "operationId": "metrics",
        "description": "The Prometheus text exposition format (version 1.0.0, what prometheus_client writes): "
                       "every metric README \"Metrics\" lists. Open when web.metrics_token is empty; else the "
                       "metricsToken bearer is required (401 without it). With PROMETHEUS_MULTIPROC_DIR set, the "
                       "values of every worker process are added up.",
        "security": [{"metricsToken": []}, {}],
        "responses": {"200": {"description": "the metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                      "401": {"description": "web.metrics_token is set and the request did not send it: one "
                                             "line of text saying so",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}}}}}


METRICS_SECURITY = {"metricsToken": {"type": "http", "scheme": "bearer",
                                     "description": "web.metrics_token (at least 32 characters), when it is set"}}
