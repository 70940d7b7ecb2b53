"""Prometheus metrics of one app instance (a registry per app, so tests never share state)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from credgraph.graph.driver import Graph
from credgraph.queries.monitoring import run_stats

log = logging.getLogger("credgraph.api")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("credgraph_http_requests_total", "HTTP requests",
                                ["path", "status"], registry=self.registry)
        self.latency = Histogram("credgraph_http_request_seconds", "HTTP request latency",
                                 ["path"], registry=self.registry)
        self.errors = Counter("credgraph_graphql_errors_total", "GraphQL errors by code",
                              ["code"], registry=self.registry)
        self.partner_failures = Counter(
            "credgraph_partner_failures_total",
            "federatedCheck calls a partner city did not answer, by its region code",
            ["partner"], registry=self.registry)


class MonitorCollector(Collector):
    """Monitoring runs and alerts as the graph records them: `credgraph monitor run` is a
    separate process, so its counters live on `:MonitorRun` nodes and are read at scrape
    time, whichever API instance is scraped."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        try:
            stats = run_stats(self.graph)
        except Exception as exc:  # Neo4j unreachable: the HTTP metrics still answer
            log.warning("monitoring metrics unavailable: %s", type(exc).__name__)
            return
        runs = CounterMetricFamily("credgraph_monitor_runs", "Monitoring runs by outcome",
                                   labels=["status"])
        by_status: dict[str, int] = {}
        for run in stats["runs"]:
            by_status[run["status"]] = by_status.get(run["status"], 0) + 1
        for status, count in sorted(by_status.items()):
            runs.add_metric([status], count)
        yield runs
        completed = [r for r in stats["runs"] if r["status"] == "COMPLETED"]
        yield CounterMetricFamily("credgraph_monitor_alerts_raised",
                                  "Alerts created by monitoring runs",
                                  value=sum(r["new"] or 0 for r in completed))
        yield CounterMetricFamily("credgraph_monitor_run_seconds",
                                  "Time spent in completed monitoring runs",
                                  value=sum(r["seconds"] or 0 for r in completed))
        last = max(completed, key=lambda r: r["finished"] or 0, default=None)
        if last is not None:
            yield GaugeMetricFamily("credgraph_monitor_last_run_seconds",
                                    "Duration of the last completed run",
                                    value=last["seconds"] or 0)
            yield GaugeMetricFamily("credgraph_monitor_last_run_timestamp_seconds",
                                    "When the last completed run finished",
                                    value=(last["finished"] or 0) / 1000)
        alerts = GaugeMetricFamily("credgraph_monitor_alerts", "Alerts held, by rule and status",
                                   labels=["rule", "status"])
        for row in sorted(stats["alerts"], key=lambda r: (r["rule"], r["status"])):
            alerts.add_metric([row["rule"], row["status"]], row["n"])
        yield alerts
        yield GaugeMetricFamily("credgraph_monitor_watched_subjects",
                                "Subjects on any watchlist", value=stats["watched"])
