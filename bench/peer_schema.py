"""The peer's type definitions and queries, generated from the declared model so that the
@neo4j/graphql peer of `bench/api.py` (bench/peer/) sees every relation type credgraph does.

Each directed relation type becomes two relationship fields on `Subject` (`shareholderOut`,
`shareholderIn`), a symmetric one (FAMILY, SHARES_CONTACT) one undirected field; their
properties (`start`, `end`, `ratio` …) are the `@relationshipProperties` type named after the
relation, so a query filters on the live-at-date predicate as credgraph does.

    .venv/bin/python -m bench.peer_schema        # prints the type definitions
"""

from __future__ import annotations

from credgraph.graph.model import RELATIONS, RelationSpec, SubjectKind

DATES = ("start", "end")
FLOATS = ("ratio",)
# What `subject` and the neighbourhood return of a subject (as bench.api's credgraph queries).
SUBJECT_FIELDS = ("name", "kind", "region", "status")


def camel(name: str) -> str:
    head, *rest = name.lower().split("_")
    return head + "".join(part.title() for part in rest)


def pascal(name: str) -> str:
    return "".join(part.title() for part in name.lower().split("_"))


def fields(spec: RelationSpec) -> list[tuple[str, str]]:
    """(field name, direction) of a relation type on Subject."""
    base = camel(spec.type)
    if spec.symmetric:
        return [(base, "UNDIRECTED")]
    return [(base + "Out", "OUT"), (base + "In", "IN")]


def relationship_field(spec: RelationSpec, name: str, direction: str) -> str:
    args = [f'type: "{spec.type}"',
            f"direction: {'OUT' if direction == 'UNDIRECTED' else direction}"]
    if direction == "UNDIRECTED":
        args.append("queryDirection: UNDIRECTED")
    if spec.properties:
        args.append(f'properties: "{pascal(spec.type)}Properties"')
    return f"  {name}: [Subject!]! @relationship({', '.join(args)})"


def property_type(name: str) -> str:
    return "Date" if name in DATES else "Float" if name in FLOATS else "String"


def type_defs() -> str:
    kinds = " ".join(kind.value for kind in SubjectKind)
    lines = [f"enum SubjectKind {{ {kinds} }}", "", 'type Subject @node(labels: ["Subject"]) {',
             "  id: ID!", "  name: String", "  kind: SubjectKind", "  region: String",
             "  status: String", "  idMasked: String"]
    for spec in RELATIONS.values():
        lines += [relationship_field(spec, name, direction) for name, direction in fields(spec)]
    lines.append("}")
    for spec in RELATIONS.values():
        if spec.properties:
            props = " ".join(f"{p}: {property_type(p)}" for p in spec.properties)
            lines.append(f"type {pascal(spec.type)}Properties @relationshipProperties "
                         f"{{ {props} }}")
    return "\n".join(lines) + "\n"


def live_filter(spec: RelationSpec) -> str:
    """The edge filter for a relation live at $asOf (credgraph.queries.fragments.live)."""
    if not set(DATES) <= set(spec.properties):
        return ""
    return ("(where: { edge: { AND: ["
            "{ OR: [{ start: { eq: null } }, { start: { lte: $asOf } }] }, "
            "{ OR: [{ end: { eq: null } }, { end: { gt: $asOf } }] }] } })")


def hop(depth: int) -> str:
    """The selection of every live relation of a subject, `depth` levels deep."""
    if depth == 0:
        return ""
    parts = []
    for spec in RELATIONS.values():
        for name, _ in fields(spec):
            inner = hop(depth - 1)
            parts.append(f"{name}: {name}Connection{live_filter(spec)} "
                         f"{{ edges {{ node {{ id{' ' + inner if inner else ''} }} }} }}")
    return " ".join(parts)


SUBJECT = ("query($id: ID!) { subjects(where: { id: { eq: $id } }) "
           f"{{ id {' '.join(SUBJECT_FIELDS)} }} }}")


def neighbourhood(depth: int) -> str:
    return ("query($id: ID!, $asOf: Date!) { subjects(where: { id: { eq: $id } }) "
            f"{{ id {hop(depth)} }} }}")


if __name__ == "__main__":
    print(type_defs())
