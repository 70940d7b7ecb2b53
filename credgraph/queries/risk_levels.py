"""Own risk (自身风险) of many subjects at once: what colours the nodes of a drawn graph.

One set-based read of the subjects and their possible signals, scored with the same rules as
`risk.assess` gives a subject's `ownScore` — without walking anyone's neighbourhood, so a
300-node graph costs one query, not 300 assessments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from credgraph.graph.driver import Graph
from credgraph.queries.risk import SUBJECTS_WITH_RECORDS, RiskModel, noisy_or

# The Chinese names of the risk levels of the rules file ([risk] levels).
RISK_LEVEL_ZH = {"LOW": "低风险", "MEDIUM": "中风险", "HIGH": "高风险", "SEVERE": "严重风险"}


@dataclass(frozen=True)
class OwnRisk:
    id: str
    score: int
    level: str
    signals: int


def own_risks(graph: Graph, model: RiskModel, ids: list[str], as_of: dt.date) -> list[OwnRisk]:
    """Each known subject's own score (0–100) and level as of a date, in the order asked."""
    rows = graph.read_rows(SUBJECTS_WITH_RECORDS, {"ids": ids, "asOf": as_of})
    found: dict[str, OwnRisk] = {}
    for row in rows:
        signals = [s for item in row["records"]
                   if (s := model.signal(item["role"], item["record"], as_of)) is not None]
        score = round(100 * noisy_or([s.decayed for s in signals]))
        found[row["id"]] = OwnRisk(row["id"], score, model.level(score), len(signals))
    return [found[i] for i in dict.fromkeys(ids) if i in found]
