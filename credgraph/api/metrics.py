"""Prometheus metrics of one app instance (a registry per app, so tests never share state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("credgraph_http_requests_total", "HTTP requests",
                                ["path", "status"], registry=self.registry)
        self.latency = Histogram("credgraph_http_request_seconds", "HTTP request latency",
                                 ["path"], registry=self.registry)
        self.errors = Counter("credgraph_graphql_errors_total", "GraphQL errors by code",
                              ["code"], registry=self.registry)
