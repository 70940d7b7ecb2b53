"""The bulk path (`credgraph load --bulk`): the same graph and the same rejects as the
transactional path, refused where it is unsafe, and a failed import loses nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from credgraph.api.auth import KeyStore, Role
from credgraph.graph.driver import Graph
from credgraph.graph.maintenance import delete_all
from credgraph.graph.model import Label
from credgraph.loaders.bulk import BulkLoader, BulkRefused, CsvGroup, ImportStage
from credgraph.loaders.bundle import BundleLoader, LoadSummary, header_test
from credgraph.loaders.demo import generate
from credgraph.loaders.readers import read_table
from credgraph.schema.rows import ROW_MODELS, header_map
from credgraph.services import Services
from tests.conftest import make_settings
from tests.ids import make_id, make_uscc
from tests.test_loader import write_csv

AS_OF = dt.date(2026, 11, 28)

def snapshot(graph: Graph) -> dict[str, Any]:
    """Every node and relationship with labels and properties, comparable across two loads.
    (Encrypted ID numbers use a random nonce, so only their presence is compared.)"""
    nodes = graph.read(
        "MATCH (n) WHERE NOT n:SchemaVersion "
        "RETURN n.id AS id, labels(n) AS labels, properties(n) AS props", timeout=120)
    rels = graph.read(
        "MATCH (a)-[r]->(b) RETURN a.id AS a, labels(a) AS al, type(r) AS type, b.id AS b, "
        "labels(b) AS bl, properties(r) AS props", timeout=120)

    def node_key(row: dict[str, Any]) -> tuple[str, str]:
        return (",".join(sorted(row["labels"])), str(row["id"]))

    shaped_nodes = {}
    for row in nodes:
        props = dict(row["props"])
        if "idEnc" in props:
            props["idEnc"] = "<encrypted>"
        shaped_nodes[node_key(row)] = props
    shaped_rels = sorted(
        (str(r["a"]), ",".join(sorted(r["al"])), r["type"], str(r["b"]),
         ",".join(sorted(r["bl"])), sorted((k, str(v)) for k, v in r["props"].items()))
        for r in rels)
    return {"nodes": shaped_nodes, "relationships": shaped_rels}


def rejects(summary: LoadSummary) -> list[tuple[str, int, str, str, str]]:
    return sorted((r.file, r.line, r.column, r.value, r.reason) for r in summary.rejects)


def bulk_loader(services: Services, **kwargs: Any) -> BulkLoader:
    return BulkLoader(services.settings, services.graph, services.rules, services.privacy,
                      services.normaliser, today=AS_OF, **kwargs)


def rows_of(folder: Path, kind: str) -> list[dict[str, str]]:
    """A file's loadable-looking rows, by field name."""
    model = ROW_MODELS[kind]
    table = read_table(folder / f"{kind}.csv", header_test(model))
    fields = header_map(model, table.headers)
    return [{fields[h]: v for h, v in raw.values.items() if h in fields and v}
            for raw in table.rows if not raw.problem]


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    headers = sorted({name for row in rows for name in row})
    write_csv(path, headers, [[row.get(name, "") for name in headers] for row in rows])


def add_repeats(folder: Path) -> dict[str, str]:
    """Second files of a kind that repeat keys of the first — a record updated, a relation and
    an official's post restated — and a licence whose number is also a penalty's: the later
    row wins (a record's earlier row rejected naming it), and the licence is a record of its
    own."""
    penalties = [row for row in rows_of(folder, "penalties")
                 if row.get("subject_id", "").startswith("91")][:3]
    write_rows(folder / "penalties_update.csv",
               [{**row, "fine": "77.5", "content": "更正后的处罚内容"} for row in penalties])
    shared = penalties[0]
    write_rows(folder / "licenses_same_numbers.csv", [{
        "decision_no": shared["decision_no"], "subject_name": shared["subject_name"],
        "subject_id": shared["subject_id"], "decided_on": shared["decided_on"],
        "authority": shared["authority"], "license_category": "普通"}])
    stakes = [row for row in rows_of(folder, "relations") if row["type"] == "SHAREHOLDER"][:3]
    write_rows(folder / "relations_restated.csv",
               [{**row, "ratio": "12.5%"} for row in stakes] + [{**stakes[0], "ratio": "31%"}])
    official = rows_of(folder, "officials")[0]
    write_rows(folder / "officials_restated.csv", [{**official, "position": "调研员"}])
    return {"penalty": shared["decision_no"], "company": stakes[0]["to_id"]}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bulk-city")
    generate(folder, subjects=1000, seed=23, as_of=AS_OF)
    return folder


@pytest.fixture(scope="module")
def repeated(city: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("bulk-repeats")
    for path in city.iterdir():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())
    return folder, add_repeats(folder)


def test_bulk_and_transactional_build_the_same_graph(
        services: Services, repeated: tuple[Path, dict[str, str]]) -> None:
    """One transactional and one bulk load of the same bundle (an import restarts the server,
    so the checks of the imported database share this test), shared contacts derived in the
    database by one and staged by the other; later files repeat keys of earlier ones."""
    city, keys = repeated
    transactional = BundleLoader(services.graph, services.rules, services.privacy,
                                 services.normaliser, today=AS_OF).load([city])
    expected = snapshot(services.graph)
    # the repeats took effect as a MERGE makes them: the later row's values, two records
    penalty = expected["nodes"][("Penalty", keys["penalty"])]
    assert (penalty["fine"], penalty["content"]) == (77.5, "更正后的处罚内容")
    assert ("License", keys["penalty"]) in expected["nodes"]
    ratios = [dict(props)["ratio"] for _, _, kind, b, _, props in expected["relationships"]
              if b == keys["company"] and kind == "SHAREHOLDER"]
    assert "0.31" in ratios
    penalty_rows = {(r.file, r.reason) for r in transactional.rejects if r.value == keys["penalty"]}
    assert penalty_rows == {("penalties.csv", f"duplicate key {keys['penalty']!r} in this "
                                              "bundle: penalties_update.csv line 2 wins")}
    delete_all(services.graph, keep=(Label.SCHEMA_VERSION.value,))
    token = KeyStore(services.graph).create("before-bulk", Role.ADMIN)

    # the bulk load validates in two worker processes, the transactional one in process
    loader = bulk_loader(services, workers=2)
    loader.validator.parallel_from_bytes = 0
    bulk = loader.load([city])
    assert KeyStore(services.graph).lookup(token) is not None  # keys survive the import
    services.graph.write("MATCH (k:ApiKey) DETACH DELETE k")
    found = snapshot(services.graph)

    assert rejects(bulk) == rejects(transactional)
    assert [(f.kind, f.read, f.loaded, f.rejected, f.corrected) for f in bulk.files] == [
        (f.kind, f.read, f.loaded, f.rejected, f.corrected) for f in transactional.files]
    assert bulk.corrections == transactional.corrections
    assert bulk.missing == transactional.missing and sum(bulk.missing.values()) > 0
    assert bulk.shared_contacts == transactional.shared_contacts
    assert len(found["nodes"]) == len(expected["nodes"]) > 2000
    assert len(found["relationships"]) == len(expected["relationships"]) > 2000
    assert set(expected["nodes"]) == set(found["nodes"])
    different = [key for key, props in expected["nodes"].items() if found["nodes"][key] != props]
    assert not different, [(k, expected["nodes"][k], found["nodes"][k]) for k in different[:3]]
    assert found["relationships"] == expected["relationships"]

    # the imported database is migrated: constraints, lookups and the full-text index answer
    version = services.graph.read("MATCH (v:SchemaVersion) RETURN v.version AS v")
    assert version and version[0]["v"] >= 1
    indexes = {row["name"] for row in services.graph.read("SHOW INDEXES YIELD name")}
    assert {"subject_id", "subject_names", "penalty_date"} <= indexes
    assert services.resolver.candidates("德州", None, 3)


def test_refused_on_a_database_with_data(services: Services, city: Path) -> None:
    services.graph.write("CREATE (:Subject {id: 'X', name: '已有主体'})")
    with pytest.raises(BulkRefused, match="empty database"):
        bulk_loader(services).load([city])
    assert services.graph.read("MATCH (n:Subject) RETURN count(n) AS n")[0]["n"] == 1


def test_refused_on_an_external_database(services: Services, city: Path) -> None:
    external = make_settings(neo4j_uri="neo4j://cluster.example:7687")
    loader = BulkLoader(external, services.graph, services.rules, services.privacy,
                        services.normaliser, today=AS_OF)
    with pytest.raises(BulkRefused, match="external"):
        loader.load([city])


class BrokenImport(BulkLoader):
    """neo4j-admin fed a file it cannot import (a relationship to a node that is not there)."""

    def _run_import(self) -> None:
        bad = self.stage.folder / "99999-rels-broken.csv"
        bad.write_text(":START_ID(Subject),:END_ID(Subject)\n\"nobody\",\"nothing\"\n",
                       encoding="utf-8")
        self.stage.relationship_files.append(CsvGroup(bad, "FAMILY"))
        super()._run_import()


def test_a_failed_import_keeps_the_previous_database(services: Services, city: Path) -> None:
    token = KeyStore(services.graph).create("kept", Role.INVESTIGATOR)
    with pytest.raises(Exception, match="neo4j-admin import failed") as failed:
        BrokenImport(services.settings, services.graph, services.rules, services.privacy,
                     services.normaliser, today=AS_OF).load([city])
    # the message names the entry that stopped it
    assert "referring to missing node nobody" in str(failed.value)
    # the server is up again, on the database it had before
    assert KeyStore(services.graph).lookup(token) is not None
    assert services.graph.read("MATCH (n:Subject) RETURN count(n) AS n")[0]["n"] == 0


def test_staged_cells_keep_what_a_merge_would_store(tmp_path: Path) -> None:
    """An absent value is an empty field, an empty string a quoted one; quotes, line breaks,
    dates, booleans and lists written as neo4j-admin reads them; a column no row fills is
    left out."""
    stage = ImportStage(tmp_path)
    stage.write_nodes("Penalty", "Penalty", "Penalty", [
        {"id": "A", "title": 'say "no"\nnow', "fine": 2.5, "count": 3, "empty": "",
         "date": dt.date(2026, 1, 2), "done": True, "tags": ["x", "y"], "none": None},
        {"id": "B", "title": None, "fine": None, "count": 4, "empty": None,
         "date": None, "done": False, "tags": None},
    ])
    [group] = stage.node_files
    assert group.path.read_text(encoding="utf-8") == (
        "id:ID(Penalty),count:long,date:date,done:boolean,empty:string,fine:double,"
        "tags:string[],title:string\n"
        '"A",3,"2026-01-02","true","",2.5,"x;y","say ""no""\nnow"\n'
        '"B",4,,"false",,,,\n')
    assert group.multiline


def test_a_superior_also_given_as_a_relation_is_one_edge(services: Services,
                                                        tmp_path: Path) -> None:
    """An agency's `superior` column and a relations row 隶属 between the same two agencies
    are one SUBORDINATE_TO, as the transactional MERGE makes it: the bulk stage claimed the
    superior's edge without the relation key the row's claim carries, and imported two."""
    from stdnum.cn import uscc

    def code(body: str) -> str:
        return body + uscc.calc_check_digit(body)

    city, county = code("11371400MB1000001"), code("11371402MB1000002")
    write_csv(tmp_path / "legal_persons.csv", ["uscc", "name", "superior"],
              [[city, "德州市市场监督管理局", ""],
               [county, "德州市德城区市场监督管理局", city]])
    write_csv(tmp_path / "relations.csv", ["from_id", "to_id", "type"],
              [[county, city, "隶属"]])
    count = "MATCH (:Agency)-[r:SUBORDINATE_TO]->(:Agency) RETURN count(r) AS n"
    BundleLoader(services.graph, services.rules, services.privacy, services.normaliser,
                 today=AS_OF).load([tmp_path])
    expected = snapshot(services.graph)
    assert services.graph.read(count)[0]["n"] == 1
    delete_all(services.graph, keep=(Label.SCHEMA_VERSION.value,))
    bulk_loader(services).load([tmp_path])
    assert services.graph.read(count)[0]["n"] == 1
    assert snapshot(services.graph) == expected


def both_loads_count(services: Services, bundle: Path, rtype: str) -> int:
    """Load the bundle transactionally, then in bulk into an emptied database: the same graph
    both ways; how many `rtype` relationships it has."""
    BundleLoader(services.graph, services.rules, services.privacy, services.normaliser,
                 today=AS_OF).load([bundle])
    expected = snapshot(services.graph)
    count = f"MATCH ()-[r:{rtype}]->() RETURN count(r) AS n"
    made = services.graph.read(count)[0]["n"]
    delete_all(services.graph, keep=(Label.SCHEMA_VERSION.value,))
    bulk_loader(services).load([bundle])
    assert snapshot(services.graph) == expected
    return int(made)


def test_a_tie_given_undated_then_dated_is_one_edge(services: Services, tmp_path: Path) -> None:
    """Two rows of one tie, the first without a start date: the transactional load makes the
    dated row take over the undated edge, and the bulk load — which staged both as edges of
    their own — now builds the same graph."""
    company = make_uscc(region="371402", org="MA3C00001")
    person = make_id(region="371402", born="19800101", seq="011")
    write_csv(tmp_path / "legal_persons.csv", ["uscc", "name"], [[company, "德州市甲有限公司"]])
    write_csv(tmp_path / "natural_persons.csv", ["id_number", "name"], [[person, "张三明"]])
    write_csv(tmp_path / "relations.csv", ["from_id", "to_id", "type", "start_date",
                                           "end_date"],
              [[person, company, "LEGAL_REPRESENTATIVE", "", ""],
               [person, company, "LEGAL_REPRESENTATIVE", "2015-01-01", "2026-05-31"]])
    assert both_loads_count(services, tmp_path, "LEGAL_REPRESENTATIVE") == 1


def test_a_superior_in_a_later_file_of_subjects_is_linked(services: Services,
                                                         tmp_path: Path) -> None:
    """An agency whose `superior` stands in a later legal_persons file of the same load: both
    loads linked the superiors at the end of each file, so the first load warned 'superior …
    is not loaded' and made no SUBORDINATE_TO, and loading the same bundle again made it."""
    city = make_uscc(prefix="11", region="371400", org="MB1000001")
    county = make_uscc(prefix="11", region="371402", org="MB1000002")
    write_csv(tmp_path / "legal_persons_a.csv", ["uscc", "name", "superior"],
              [[county, "德州市德城区市场监督管理局", city]])
    write_csv(tmp_path / "legal_persons_z.csv", ["uscc", "name"],
              [[city, "德州市市场监督管理局"]])
    summary = BundleLoader(services.graph, services.rules, services.privacy,
                           services.normaliser, today=AS_OF).load([tmp_path])
    assert not [w for w in summary.warnings if "superior" in w]
    assert services.graph.read("MATCH (:Agency)-[r:SUBORDINATE_TO]->(:Agency) "
                               "RETURN count(r) AS n") == [{"n": 1}]
    delete_all(services.graph, keep=(Label.SCHEMA_VERSION.value,))
    assert both_loads_count(services, tmp_path, "SUBORDINATE_TO") == 1


def test_a_relation_waits_for_a_subject_a_later_file_names(services: Services,
                                                          tmp_path: Path) -> None:
    """Both loads keep a relation to a person only a penalty names (a stub), and reject the
    one to a person nothing names."""
    company = make_uscc(region="371402", org="MA3C00001")
    named = make_id(region="371424", born="19720303", seq="777")
    nobody = make_id(region="371424", born="19720404", seq="888")
    write_csv(tmp_path / "legal_persons.csv", ["uscc", "name"], [[company, "德州市甲有限公司"]])
    write_csv(tmp_path / "relations.csv", ["from_id", "to_id", "type"],
              [[named, company, "LEGAL_REPRESENTATIVE"], [nobody, company, "SHAREHOLDER"]])
    write_csv(tmp_path / "penalties.csv", ["decision_no", "subject_name", "subject_category",
                                           "subject_id", "category", "decided_on", "authority"],
              [["P-1", "王某", "自然人", named, "警告", "2026-01-05", "德州市市场监督管理局"]])
    assert both_loads_count(services, tmp_path, "LEGAL_REPRESENTATIVE") == 1
    assert services.graph.read("MATCH ()-[r:SHAREHOLDER]->() RETURN count(r) AS n") == [{"n": 0}]


def test_a_post_waits_for_an_agency_a_record_found_by_name_names(services: Services,
                                                                 tmp_path: Path) -> None:
    """An official's post in an agency only the 处罚机关代码 of a penalty found by name (关联补正)
    names, and his spouse's 配偶: the transactional load keeps both (they wait for the end of
    the load); the bulk load, whose rows found by name are written only after the import, had
    rejected both at the end of staging. Now they wait for those rows there too."""
    company = make_uscc(region="371402", org="MA3C00001")
    bureau = make_uscc(prefix="11", region="371402", org="004187459")
    official = make_id(region="371402", born="19700315", seq="033")
    spouse = make_id(region="371402", born="19720315", seq="044")
    write_csv(tmp_path / "legal_persons.csv", ["uscc", "name"],
              [[company, "德州市德城区鑫源食品有限公司"]])
    write_csv(tmp_path / "natural_persons.csv", ["id_number", "name"], [[spouse, "李四"]])
    write_csv(tmp_path / "officials.csv", ["id_number", "name", "agency_uscc", "position"],
              [[official, "赵六", bureau, "局长"]])
    write_csv(tmp_path / "relations.csv", ["from_id", "to_id", "type", "kind"],
              [[spouse, official, "亲属", "配偶"]])
    write_csv(tmp_path / "penalties.csv", ["decision_no", "subject_name", "subject_id",
                                           "category", "decided_on", "authority",
                                           "authority_uscc"],
              [["P-1", "德州市德城区鑫源食品有限公司", "", "警告", "2026-01-05",
                "德州市德城区卫生健康局", bureau]])
    assert both_loads_count(services, tmp_path, "SERVES_IN") == 1
    assert services.graph.read("MATCH ()-[r:FAMILY]->() RETURN count(r) AS n") == [{"n": 1}]


def test_a_relations_row_serves_in_makes_an_official(services: Services,
                                                     tmp_path: Path) -> None:
    """A relations row 任职 labels its person `:Official` and keeps its 职务 as the post's
    position, in bulk as in the transactional load."""
    bureau = make_uscc(prefix="11", region="371402", org="004187459")
    person = make_id(region="371402", born="19920315", seq="033")
    write_csv(tmp_path / "legal_persons.csv", ["uscc", "name"],
              [[bureau, "德州市德城区市场监督管理局"]])
    write_csv(tmp_path / "natural_persons.csv", ["id_number", "name"], [[person, "赵六"]])
    write_csv(tmp_path / "relations.csv", ["from_id", "to_id", "type", "role"],
              [[person, bureau, "任职", "科长"]])
    assert both_loads_count(services, tmp_path, "SERVES_IN") == 1
    assert services.graph.read("MATCH (:Official)-[r:SERVES_IN]->() RETURN r.position AS p") \
        == [{"p": "科长"}]


def test_an_officials_post_given_undated_then_dated_is_one_edge(services: Services,
                                                                tmp_path: Path) -> None:
    """Officials' posts are staged once per person and agency, as relations are: the second
    row of a post is written after the import, as the transactional load writes it."""
    market = make_uscc(prefix="11", region="371402", org="004187451")
    tax = make_uscc(prefix="11", region="371402", org="004187452")
    official = make_id(region="371402", born="19700315", seq="033")
    write_csv(tmp_path / "legal_persons.csv", ["uscc", "name"], [
        [market, "德州市德城区市场监督管理局"], [tax, "国家税务总局德州市德城区税务局"]])
    write_csv(tmp_path / "officials.csv", ["id_number", "name", "agency_uscc", "position",
                                           "start_date", "end_date"], [
        [official, "李四", market, "科员", "", ""],
        [official, "李四", tax, "局长", "2010-01-01", "2012-01-01"],
        [official, "李四", market, "局长", "2018-01-01", "2024-12-31"],
        [official, "李四", tax, "局长", "2015-01-01", ""]])
    assert both_loads_count(services, tmp_path, "SERVES_IN") == 3
