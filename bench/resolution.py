"""Entity-resolution benchmark (SPEC §7, 关联补正): precision, recall, rejected-as-ambiguous and
rows/s of the resolver on a labelled set made from the demo city, beside rapidfuzz's plain
`process.extractOne` over every legal person's name as the naive baseline, in the same run.

The demo city's subjects, legal representatives and relations are loaded into an empty
database of a dedicated local Neo4j; namesakes are added in other Dezhou counties (half of them
with a legal representative of the same name as the original's). Each labelled row names a
company the way a department's export might: registered name, 有限责任公司 ↔ 有限公司, brackets,
spaces, region prefixes added or dropped at every level, traditional characters, a typo, and
for the namesakes the core name alone, a county prefix, the legal representative (name or ID
number) or a county authority; and names of another 字号 that no company bears. A row's label
is what its evidence determines, taken from how the demo builds names (region + 字号 + 行业 +
组织形式): the one company it was made from (uniquely resolvable), or none when several
companies share the core name and nothing in the row tells them apart (ambiguous by
construction: any attachment is a guess), or none for a name not registered.

    .venv/bin/python -m bench.resolution --subjects 20000
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opencc import OpenCC
from rapidfuzz import process
from stdnum.cn import ric, uscc

from bench.load import RESULTS, empty, machine
from credgraph.graph.migrations import migrate
from credgraph.graph.model import Label, RelationType
from credgraph.graph.server import LocalNeo4j
from credgraph.loaders.bundle import BundleLoader
from credgraph.loaders.demo import COUNTIES, NEIGHBOURS, ORG_ALPHABET, generate
from credgraph.queries.resolution import LEGAL, Lookup, Resolver
from credgraph.schema.regions import region
from credgraph.services import Services
from credgraph.settings import Settings

LEGAL_FORMS = (("有限责任公司", "有限公司"), ("股份有限公司", "股份公司"))
FORMS = ("股份有限公司", "有限责任公司", "有限公司", "农民专业合作社", "经营部")
TYPO_CHARS = "华信达源通泰丰盛兴利德和安顺昌隆"
TO_TRADITIONAL = OpenCC("s2t.json")
UNREGISTERED = "甲乙丙丁戊己庚辛壬癸"  # 字号 characters no demo company bears
NOT_REGISTERED = "not registered: another 字号, same 行业"
COMPANIES = f"""
MATCH (c:{Label.LEGAL_PERSON.value}) WHERE NOT c:{Label.AGENCY.value} AND c.stub IS NULL
OPTIONAL MATCH (p:{Label.NATURAL_PERSON.value})-[:{RelationType.LEGAL_REPRESENTATIVE.value}]->(c)
WITH c, collect([p.name, p.id]) AS reps
RETURN collect({{id: c.id, name: c.name, region: c.region, reps: reps}}) AS rows
"""
BUREAUS = f"""
MATCH (a:{Label.AGENCY.value}) WHERE a.name ENDS WITH '市场监督管理局'
RETURN collect({{id: a.id, region: a.region}}) AS rows
"""


def short(name: str) -> str:
    """禹城市 → 禹城, 山东省 → 山东 (the demo's regions all end in one level character)."""
    return name[:-1] if name[-1] in "省市区县" and len(name) > 2 else name


def heads() -> list[str]:
    """Every region name the demo writes before a core name, full and short, longest first."""
    names = {"山东省", "河北省", "德州市"}
    for code in [*COUNTIES, *NEIGHBOURS]:
        names.add(region(code[:4] + "00").name)  # type: ignore[union-attr]
        names.add(region(code).name)  # type: ignore[union-attr]
    return sorted(names | {short(n) for n in names}, key=len, reverse=True)


HEADS = heads()


def without_heads(name: str) -> str:
    """The name as the demo built it without the region names before it."""
    text = name
    while head := next((h for h in HEADS if text.startswith(h) and len(text) > len(h) + 3),
                       None):
        text = text[len(head):]
    return text


def core_of(name: str) -> str:
    """The name as the demo built it, without its region names, legal form canonical."""
    text = without_heads(name)
    for long_form, short_form in LEGAL_FORMS:
        if text.endswith(long_form):
            return text[: -len(long_form)] + short_form
    return text


@dataclass
class Company:
    id: str
    name: str
    region: str
    reps: list[tuple[str, str]]  # (name, person key)

    @property
    def core(self) -> str:
        return core_of(self.name)

    @property
    def core_as_written(self) -> str:
        """The core name with the legal form as registered."""
        return without_heads(self.name)


@dataclass
class Row:
    category: str
    source: Company
    name: str
    region: str = ""  # code prefix the row's region names name ("" none)
    rep_name: str | None = None
    rep_key: str | None = None
    authority: str | None = None  # a bureau's USCC
    authority_region: str = ""
    unregistered: bool = False  # names a company that is not in the city
    expected: str | None = None  # the company's id, or None: ambiguous or not registered

    def lookup(self) -> Lookup:
        return Lookup(self.name, LEGAL, self.rep_name, self.rep_key, self.authority)


@dataclass
class City:
    companies: list[Company]
    bureaus: dict[str, str]  # region → USCC of its 市场监督管理局
    by_core: dict[str, list[Company]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        groups: dict[str, list[Company]] = defaultdict(list)
        for company in self.companies:
            groups[company.core].append(company)
        self.by_core = dict(groups)

    def label(self, row: Row) -> str | None:
        """What the row's evidence determines: the one company consistent with it, if one."""
        if row.unregistered:
            return None
        group = [c for c in self.by_core[row.source.core] if c.region.startswith(row.region)]
        if row.rep_key or row.rep_name:
            index = 1 if row.rep_key else 0
            wanted = row.rep_key or row.rep_name
            group = [c for c in group if not c.reps or wanted in {r[index] for r in c.reps}]
        if len(group) > 1 and row.authority_region:
            local = [c for c in group if c.region.startswith(row.authority_region)]
            group = local if len(local) == 1 else group
        return row.source.id if group == [row.source] else None


def read_city(services: Services) -> City:
    companies = [Company(r["id"], r["name"], r["region"] or "",
                         [(n, k) for n, k in r["reps"] if n])
                 for r in services.graph.read_rows(COMPANIES)]
    bureaus = {r["region"]: r["id"] for r in services.graph.read_rows(BUREAUS)}
    return City(companies, bureaus)


# -- the city and its namesakes --------------------------------------------------------------
def add_namesakes(city: City, folder: Path, rng: random.Random,
                  pairs: int) -> list[tuple[Company, str]]:
    """For `pairs` companies of a Dezhou county with a legal representative and a core name of
    their own: a company of the same core name in another county, named with that county, and
    its legal representative — for half of them a person of the same name as the original's
    (同名同姓). Written as extra bundle files; returns (original, namesake's USCC)."""
    sources = [c for c in city.companies if c.region in COUNTIES and c.reps
               and len(city.by_core[c.core]) == 1 and c.id.startswith("91")]
    chosen = rng.sample(sources, min(pairs, len(sources)))
    legal, persons, relations, made = [], [], [], []
    for index, source in enumerate(chosen):
        county = rng.choice([c for c in COUNTIES if c != source.region])
        body = "91" + county + "".join(rng.choice(ORG_ALPHABET) for _ in range(9))
        twin = body + uscc.calc_check_digit(body)
        place = COUNTIES[county] if rng.random() < 0.5 else short(COUNTIES[county])
        legal.append([twin, place + swap_form(source.core_as_written, rng), county])
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=rng.randrange(15000))
        number = f"{county}{birth:%Y%m%d}{index % 1000:03d}"
        number += ric.calc_check_digit(number + "0")
        own = source.reps[0][0]
        persons.append([number, own if index % 2 == 0 else _other_name(own, rng)])
        relations.append([number, twin, "LEGAL_REPRESENTATIVE"])
        made.append((source, twin))
    _csv(folder / "legal_persons_namesakes.csv", ["uscc", "name", "region"], legal)
    _csv(folder / "natural_persons_namesakes.csv", ["id_number", "name"], persons)
    _csv(folder / "relations_namesakes.csv", ["from_id", "to_id", "type"], relations)
    return made


def _other_name(name: str, rng: random.Random) -> str:
    while (other := name[0] + rng.choice("建国秀志丽明玉") + rng.choice("军芳伟敏静磊洋")) == name:
        continue
    return other


def swap_form(core: str, rng: random.Random) -> str:
    """有限责任公司 ↔ 有限公司 half of the time."""
    return other_form(core) if rng.random() < 0.5 else core


def other_form(core: str) -> str:
    if core.endswith("股份有限公司"):
        return core
    for long_form, short_form in (("有限责任公司", "有限公司"), ("有限公司", "有限责任公司")):
        if core.endswith(long_form):
            return core[: -len(long_form)] + short_form
    return core


def _csv(path: Path, headers: list[str], rows: list[list[str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)


# -- the labelled rows -----------------------------------------------------------------------
def place_names(code: str) -> tuple[str, str, str]:
    """Province, prefecture and county names of a county code."""
    names = [region(code[:2] + "0000"), region(code[:4] + "00"), region(code)]
    return names[0].name, names[1].name, names[2].name  # type: ignore[union-attr]


def written(name: str, rng: random.Random) -> str:
    return name if rng.random() < 0.5 else short(name)


def legal_form(core: str) -> str:
    return next((f for f in FORMS if core.endswith(f)), core[-2:])


def region_prefixed(company: Company, rng: random.Random) -> tuple[str, str]:
    """The core name with region names at one level, or all, or none: (name, code prefix)."""
    province, prefecture, county = place_names(company.region)
    code = company.region
    level = rng.choice(["none", "province", "prefecture", "county", "all"])
    prefix, named = {
        "none": ("", ""),
        "province": (written(province, rng), code[:2]),
        "prefecture": (written(prefecture, rng), code[:4]),
        "county": (written(county, rng), code),
        "all": (written(province, rng) + written(prefecture, rng) + written(county, rng), code),
    }[level]
    return prefix + company.core_as_written, named


def typo(core: str, rng: random.Random) -> str:
    """One edit in the 字号 or 行业, the legal form left alone."""
    body, form = core[: -len(legal_form(core))], legal_form(core)
    at = rng.randrange(len(body))
    edit = rng.choice(["substitute", "delete", "double", "swap"])
    if edit == "substitute":
        body = body[:at] + rng.choice([c for c in TYPO_CHARS if c != body[at]]) + body[at + 1:]
    elif edit == "delete" and len(body) > 2:
        body = body[:at] + body[at + 1:]
    elif edit == "swap" and at + 1 < len(body) and body[at] != body[at + 1]:
        body = body[:at] + body[at + 1] + body[at] + body[at + 2:]
    else:
        body = body[:at] + body[at] + body[at:]
    return body + form


def variants(city: City, company: Company, rng: random.Random) -> list[Row]:
    """One row per kind of noise, made from one company's registered name."""
    core = company.core_as_written
    head = company.name[: len(company.name) - len(core)]
    named = _head_region(head, company.region)
    form = legal_form(core)
    _, prefecture, _ = place_names(company.region)
    rows = [Row("exact", company, company.name, named)]
    if other_form(core) != core:
        rows.append(Row("有限责任公司 ↔ 有限公司", company, head + other_form(core), named))
    style = rng.randrange(3)
    if style == 0:
        rows.append(Row("brackets", company, f"{head}{core[:-len(form)]}（{form}）", named))
    elif style == 1:
        rows.append(Row("brackets", company, f"{head}{core[:-len(form)]}({form})", named))
    else:
        rows.append(Row("brackets", company, f"{core[:-len(form)]}（{short(prefecture)}）{form}",
                        company.region[:4]))
    spaced = list(company.name)
    for _ in range(rng.randint(1, 3)):
        spaced.insert(rng.randrange(1, len(spaced)), rng.choice([" ", "\u3000", "  "]))
    rows.append(Row("spaces", company, "".join(spaced), named))
    name, level = region_prefixed(company, rng)
    rows.append(Row("region prefix added or dropped", company, name, level))
    rows.append(Row("traditional characters", company, TO_TRADITIONAL.convert(company.name),
                    named))
    changed = typo(core, rng)
    if core_of(changed) not in city.by_core:  # a typo that is another company's name is none
        rows.append(Row("typo", company, head + changed, named))
    other = rng.choice(UNREGISTERED) + rng.choice(UNREGISTERED) + core[2:]
    if core_of(other) not in city.by_core:
        rows.append(Row(NOT_REGISTERED, company, head + other, named, unregistered=True))
    return rows


def _head_region(head: str, code: str) -> str:
    """The code prefix the registered head names (德州市 → 3714, 德州市德城区 → 371402)."""
    province, prefecture, county = place_names(code)
    if head.endswith((county, short(county))) and county != prefecture:
        return code
    if head.endswith((prefecture, short(prefecture))):
        return code[:4]
    return code[:2] if head.endswith((province, short(province))) else ""


def namesake_rows(city: City, source: Company, twin: Company) -> list[Row]:
    """The namesakes told apart — or not — by what a row says besides the core name."""
    core = source.core_as_written
    _, prefecture, county = place_names(source.region)
    rep_name, rep_key = source.reps[0]
    bureau = city.bureaus.get(source.region)
    rows = [
        Row("namesakes: core name only", source, core),
        Row("namesakes: core name only", source, prefecture + core, source.region[:4]),
        Row("namesakes: county prefix", source, county + core, source.region),
        Row("namesakes: county prefix", twin, twin.name, twin.region),
        Row("namesakes: authority region", source, core, authority=bureau,
            authority_region=source.region),
    ]
    same = {r[0] for r in twin.reps} == {rep_name}
    kind = "same-name persons" if same else "legal representative"
    rows.append(Row(f"namesakes: {kind} (name)", source, core, rep_name=rep_name))
    rows.append(Row(f"namesakes: {kind} (ID number)", source, core, rep_key=rep_key))
    return rows


def labelled_rows(city: City, pairs: list[tuple[Company, str]], rng: random.Random,
                  sources: int) -> list[Row]:
    counties = [c for c in city.companies
                if c.region in COUNTIES or c.region in NEIGHBOURS]
    rows = [row for company in rng.sample(counties, min(sources, len(counties)))
            for row in variants(city, company, rng)]
    by_id = {c.id: c for c in city.companies}
    rows += [row for source, twin in pairs for row in namesake_rows(city, source, by_id[twin])]
    for row in rows:
        row.expected = city.label(row)
    return rows


# -- running and scoring ---------------------------------------------------------------------
def score(rows: list[Row], attached: list[str | None], ambiguous: list[bool],
          seconds: float) -> dict[str, Any]:
    unique = [(r, a) for r, a in zip(rows, attached, strict=True) if r.expected]
    shared = [(r, a, amb) for r, a, amb in zip(rows, attached, ambiguous, strict=True)
              if not r.expected and not r.unregistered]
    unknown = [a for r, a in zip(rows, attached, strict=True) if r.unregistered]
    correct = sum(a == r.expected for r, a in unique)
    attachments = sum(a is not None for a in attached)
    guessed = sum(a is not None for _, a, _ in shared)
    return {
        "uniqueRows": len(unique), "recall": round(correct / len(unique), 4),
        "wrongOnUnique": sum(a is not None and a != r.expected for r, a in unique),
        "ambiguousRows": len(shared), "guessed": guessed,
        "precisionOnAmbiguous": round(1 - guessed / len(shared), 4) if shared else None,
        "rejectedAsAmbiguous": sum(amb for *_, amb in shared),
        "unregisteredRows": len(unknown),
        "unregisteredAttached": sum(a is not None for a in unknown),
        "precision": round(correct / attachments, 4) if attachments else None,
        "rowsPerSecond": round(len(rows) / seconds, 1),
    }


def by_category(rows: list[Row], attached: list[str | None]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for row, found in zip(rows, attached, strict=True):
        tally = out[row.category]
        tally["rows"] += 1
        if row.expected:
            tally["unique"] += 1
            tally["correct"] += found == row.expected
        else:
            tally["ambiguous" if not row.unregistered else "unregistered"] += 1
            tally["guessed"] += found is not None
    return {name: dict(tally) for name, tally in out.items()}


def run(subjects: int, seed: int, services: Services, workdir: Path, pairs: int,
        sources: int) -> dict[str, Any]:
    rng = random.Random(seed)
    folder = workdir / f"city-{subjects}"
    generate(folder, subjects=subjects, seed=seed)
    empty(services)
    loader = BundleLoader(services.graph, services.rules, services.privacy,
                          services.normaliser)
    subject_files = ["legal_persons", "natural_persons", "relations"]
    loader.load([folder / f"{name}.csv" for name in subject_files], derive_contacts=False)
    made = add_namesakes(read_city(services), folder, rng, pairs)
    loader.load([folder / f"{name}_namesakes.csv" for name in subject_files],
                derive_contacts=False)
    city = read_city(services)
    rows = labelled_rows(city, made, rng, sources)

    resolver: Resolver = services.resolver
    lookups = [row.lookup() for row in rows]
    resolver.resolve_many(lookups[:100])  # warm-up: plans cached, connections open
    started = time.perf_counter()
    resolutions = resolver.resolve_many(lookups)
    ours_seconds = time.perf_counter() - started
    ours: list[str | None] = [r.match.id if r.match else None for r in resolutions]
    ours_ambiguous = [r.reason.startswith("unresolved subject: ambiguous") for r in resolutions]

    names = [c.name for c in city.companies]
    started = time.perf_counter()
    best = [process.extractOne(row.name, names) for row in rows]
    naive_seconds = time.perf_counter() - started
    naive: list[str | None] = [city.companies[found[2]].id if found else None
                               for found in best]

    return {
        "date": dt.date.today().isoformat(), "machine": machine(), "subjects": subjects,
        "seed": seed, "legalPersons": len(city.companies), "namesakePairs": len(made),
        "rows": len(rows), "rules": services.rules.resolution.model_dump(
            include={"threshold", "margin", "candidates"}),
        "credgraph": score(rows, ours, ours_ambiguous, ours_seconds),
        "extractOne": score(rows, naive, [False] * len(rows), naive_seconds),
        "categories": {"credgraph": by_category(rows, ours),
                       "extractOne": by_category(rows, naive)},
        "refusals": dict(Counter(r.reason.split(":")[0] for r, row in zip(
            resolutions, rows, strict=True) if r.match is None and row.expected)),
        "targets": {"precisionOnAmbiguous": 1.0, "recall": 0.95},
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"\nresolution benchmark — {result['subjects']:,} subjects "
          f"({result['legalPersons']:,} legal persons, {result['namesakePairs']} namesake "
          f"pairs), {result['rows']:,} labelled rows — {result['date']} — {result['machine']}")
    print(f"{'method':14}{'unique rows':>12}{'recall':>8}{'wrong':>7}{'ambiguous rows':>16}"
          f"{'rejected as amb.':>18}{'guessed':>9}{'prec. (amb.)':>14}{'unregistered':>14}"
          f"{'attached':>10}{'precision':>11}{'rows/s':>9}")
    for method in ("credgraph", "extractOne"):
        m = result[method]
        print(f"{method:14}{m['uniqueRows']:>12,}{m['recall']:>8.3f}{m['wrongOnUnique']:>7,}"
              f"{m['ambiguousRows']:>16,}{m['rejectedAsAmbiguous']:>18,}{m['guessed']:>9,}"
              f"{m['precisionOnAmbiguous']:>14.3f}{m['unregisteredRows']:>14,}"
              f"{m['unregisteredAttached']:>10,}{m['precision']:>11.3f}"
              f"{m['rowsPerSecond']:>9,.0f}")
    print(f"\n{'category':42}{'rows':>6}{'unique':>8}{'credgraph':>11}{'extractOne':>12}"
          f"{'not resolvable':>16}{'attached (cg / eo)':>20}")
    ours, naive = result["categories"]["credgraph"], result["categories"]["extractOne"]
    for name, tally in ours.items():
        other = naive[name]
        unique = tally.get("unique", 0)
        recall = f"{tally.get('correct', 0) / unique:.3f}" if unique else "-"
        recall_naive = f"{other.get('correct', 0) / unique:.3f}" if unique else "-"
        print(f"{name:42}{tally['rows']:>6}{unique:>8}{recall:>11}{recall_naive:>12}"
              f"{tally.get('ambiguous', 0) + tally.get('unregistered', 0):>16}"
              f"{tally.get('guessed', 0):>9} / {other.get('guessed', 0):<7}")
    print(f"refused on the unique part: {result['refusals']}")
    print("targets: precision 1.0 on the ambiguous part (nothing guessed), recall ≥ 0.95 on "
          "the uniquely resolvable part")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=371400)
    parser.add_argument("--pairs", type=int, default=300, help="namesake pairs added")
    parser.add_argument("--sources", type=int, default=400,
                        help="companies whose names are varied")
    parser.add_argument("--rules", type=Path, help="a rules override file to measure")
    parser.add_argument("--port", type=int, default=17798)
    parser.add_argument("--keep-server", action="store_true")
    args = parser.parse_args()
    home = Path(__file__).resolve().parent / ".neo4j-bench"
    settings = Settings(home=home, bolt_port=args.port, heap="2g", pagecache="2g",
                        neo4j_uri=None, rules_file=args.rules)
    server = LocalNeo4j(settings)
    server.start()
    services = Services.from_settings(settings)
    migrate(services.graph)
    RESULTS.mkdir(exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            result = run(args.subjects, args.seed, services, Path(workdir), args.pairs,
                         args.sources)
        print_table(result)
        path = RESULTS / f"resolution-{args.subjects}.json"
        path.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    finally:
        services.graph.close()
        if not args.keep_server:
            server.stop()


if __name__ == "__main__":
    main()
