"""The composition root: what the CLI, the API, the loaders, benchmarks and tests need, built
once from settings and replaceable in tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from credgraph.graph.driver import Graph, connect
from credgraph.queries.audit import AuditTrail
from credgraph.queries.resolution import Resolver
from credgraph.queries.risk import RiskModel
from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser
from credgraph.schema.privacy import Privacy, load_secret
from credgraph.settings import Settings
from credgraph.sharing.partners import Partner, load_partners


@dataclass
class Services:
    settings: Settings
    graph: Graph
    rules: Rules
    privacy: Privacy
    normaliser: NameNormaliser
    resolver: Resolver
    risk_model: RiskModel
    audit: AuditTrail
    # 今天: the day the API answers as of when no asOf is given (tests set it; one request
    # reads it once, so an answer spanning midnight has one date)
    today: Callable[[], dt.date] = field(default=dt.date.today)

    @classmethod
    def from_settings(cls, settings: Settings, graph: Graph | None = None) -> Services:
        rules = Rules.load(settings.rules_file)
        return cls.build(settings, graph or connect(settings), rules,
                         Privacy(load_secret(settings)))

    @classmethod
    def build(cls, settings: Settings, graph: Graph, rules: Rules, privacy: Privacy,
              audit: AuditTrail | None = None,
              today: Callable[[], dt.date] = dt.date.today) -> Services:
        normaliser = NameNormaliser(rules)
        audit = audit or AuditTrail(graph, settings.audit_flush_ms / 1000, settings.audit_batch)
        return cls(settings=settings, graph=graph, rules=rules, privacy=privacy,
                   normaliser=normaliser, resolver=Resolver(graph, rules, normaliser),
                   risk_model=RiskModel(rules), audit=audit, today=today)

    @cached_property
    def partners(self) -> tuple[Partner, ...]:
        """The partner cities of CREDGRAPH_PARTNERS, read on first use: the app factory uses
        them when it makes the app, so a bad file stops `serve` at start instead of failing
        every federatedCheck; the commands that never ask a partner do not read the file."""
        return load_partners(self.settings.partners)

    def with_rules(self, rules: Rules) -> Services:
        """The same services under other rules (everything derived from them rebuilt but the
        audit trail, which stays one queue per process)."""
        return Services.build(self.settings, self.graph, rules, self.privacy, self.audit,
                              self.today)
