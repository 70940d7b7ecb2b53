"""What a request needs, built once per app and replaceable in tests."""

from __future__ import annotations

from dataclasses import dataclass

from credgraph.graph.driver import Graph, connect
from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser
from credgraph.schema.privacy import Privacy, load_secret
from credgraph.settings import Settings


@dataclass
class Services:
    settings: Settings
    graph: Graph
    rules: Rules
    privacy: Privacy
    normaliser: NameNormaliser

    @classmethod
    def from_settings(cls, settings: Settings, graph: Graph | None = None) -> Services:
        rules = Rules.load(settings.rules_file)
        return cls(
            settings=settings,
            graph=graph or connect(settings),
            rules=rules,
            privacy=Privacy(load_secret(settings)),
            normaliser=NameNormaliser(rules),
        )
