"""The demo city: a Dezhou (德州) bundle with plausible subjects and records, planted cases for
every analysis of SPEC §8 described in truth.json, and a share of deliberately bad rows; and a
small second bundle in update/ (a new listing) for watching a monitoring alert appear.

Deterministic for a seed and an as-of date; 1,000 to 1,000,000 subjects.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faker.providers.company.zh_CN import Provider as CompanyNames
from faker.providers.person.zh_CN import Provider as PersonNames
from stdnum.cn import ric, uscc

from credgraph.loaders.derive import add_months

# The sizes a demo city can have.
MIN_SUBJECTS, MAX_SUBJECTS = 1_000, 1_000_000

COUNTIES = {
    "371402": "德城区", "371403": "陵城区", "371422": "宁津县", "371423": "庆云县",
    "371424": "临邑县", "371425": "齐河县", "371426": "平原县", "371427": "夏津县",
    "371428": "武城县", "371481": "乐陵市", "371482": "禹城市",
}
NEIGHBOURS = {"370102": "济南市历下区", "370112": "济南市历城区", "371502": "聊城市东昌府区",
              "371602": "滨州市滨城区", "130902": "沧州市新华区", "131102": "衡水市桃城区"}
INDUSTRIES = [
    ("食品制造业", "食品"), ("餐饮业", "餐饮管理"), ("房屋建筑业", "建筑工程"),
    ("化学原料和化学制品制造业", "化工"), ("道路运输业", "物流"), ("批发业", "商贸"),
    ("农业", "农业科技"), ("医药制造业", "医药"), ("纺织业", "纺织"),
    ("通用设备制造业", "机械设备"), ("零售业", "商贸"), ("软件和信息技术服务业", "信息技术"),
]
# (agency name suffix, violation types it punishes)
AUTHORITIES = [
    ("市场监督管理局", ["销售不符合食品安全标准的食品", "未取得食品经营许可从事食品经营",
                      "虚假宣传", "销售假冒伪劣产品"]),
    ("生态环境分局", ["超标排放大气污染物", "未批先建", "危险废物贮存不规范"]),
    ("税务局", ["未按期申报纳税", "虚开发票", "逃避缴纳税款"]),
    ("住房和城乡建设局", ["未取得施工许可证擅自施工", "违反工程建设强制性标准"]),
    ("交通运输局", ["超限运输", "未取得道路运输经营许可"]),
    ("应急管理局", ["未按规定开展安全生产培训", "安全设施未经验收投入使用"]),
    ("人力资源和社会保障局", ["拖欠劳动者工资", "未依法缴纳社会保险费"]),
    ("自然资源局", ["非法占用土地", "未经批准开采矿产"]),
    ("综合行政执法局", ["擅自占用城市道路", "违规设置户外广告"]),
    ("卫生健康委员会", ["未取得医疗机构执业许可", "公共场所卫生不合格"]),
    ("农业农村局", ["销售假劣农药", "违规使用兽药"]),
]
CATEGORIES = [("警告", 0.15), ("罚款", 0.55), ("罚款、没收违法所得", 0.18),
              ("责令停产停业", 0.05), ("吊销许可证件", 0.03), ("通报批评", 0.04)]
LIST_TYPES = [("经营异常名录", 0.6), ("失信被执行人", 0.25), ("严重失信主体", 0.05),
              ("重大税收违法失信主体", 0.05), ("政府采购严重违法失信", 0.05)]
# who lists a subject (认定部门), by list type
LIST_AUTHORITIES = {"经营异常名录": "德州市市场监督管理局", "失信被执行人": "德州市中级人民法院",
                    "严重失信主体": "德州市发展和改革委员会",
                    "重大税收违法失信主体": "国家税务总局德州市税务局",
                    "政府采购严重违法失信": "德州市财政局"}
CONTRACT_KINDS = ["政府采购", "招标投标", "政府和社会资本合作", "招商引资"]
COMMITMENT_KINDS = ["审批替代", "主动公开", "行业自律", "信用修复", "证明事项告知", "政务服务承诺"]
PROJECTS = ["办公设备采购", "道路维修工程", "信息化建设", "物业服务"]
STREETS = ["经济开发区", "新华路", "东风路", "解放大道", "天衢路"]
ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"

HEADERS = {
    "legal_persons": ["uscc", "name", "kind", "region", "industry", "status", "established",
                      "registered_capital", "address", "phone", "superior"],
    "natural_persons": ["id_number", "name", "phone", "address"],
    "relations": ["from_id", "to_id", "type", "ratio", "role", "kind", "start_date", "end_date"],
    "officials": ["id_number", "name", "agency_uscc", "position", "rank", "start_date",
                  "end_date"],
    "penalties": ["行政处罚决定书文号", "行政相对人名称", "行政相对人类别", "统一社会信用代码",
                  "法定代表人", "违法行为类型", "违法事实", "处罚依据", "处罚类别", "处罚内容",
                  "罚款金额（万元）", "处罚决定日期", "公示截止期", "处罚机关",
                  "处罚机关统一社会信用代码", "数据来源单位"],
    "licenses": ["decision_no", "document_name", "subject_name", "subject_id",
                 "license_category", "certificate_name", "license_no", "content", "decided_on",
                 "valid_from", "valid_to", "authority", "authority_uscc", "status"],
    "listings": ["list_id", "subject_name", "subject_id", "list_type", "authority", "basis",
                 "case_no", "amount", "listed_on", "removed_on", "removal_reason"],
    "judgments": ["case_no", "court", "debtor_id", "debtor_name", "creditor_id",
                  "creditor_name", "amount", "filed_on", "due_on", "fulfilled_on"],
    "contracts": ["contract_no", "kind", "agency_uscc", "counterparty_id", "title", "amount",
                  "signed_on", "due_on", "fulfilled_on", "status", "gov_default"],
    "commitments": ["commitment_id", "subject_id", "kind", "content", "made_on", "due_on",
                    "fulfilled", "authority"],
}


@dataclass
class Company:
    uscc: str
    name: str
    region: str
    kind: str = "ENTERPRISE"


@dataclass
class Person:
    id_number: str
    name: str
    region: str


@dataclass
class Agency:
    uscc: str
    name: str
    region: str
    violations: list[str] = field(default_factory=list)


class City:
    """Rows of every file, accumulated in memory as lists of dicts keyed like HEADERS."""

    def __init__(self, seed: int, as_of: dt.date) -> None:
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in HEADERS}
        self.truth: list[dict[str, Any]] = []
        # the small second bundle (update/): what arrives after the first load
        self.updates: dict[str, list[dict[str, Any]]] = {"listings": []}
        self.bad: list[dict[str, Any]] = []
        self.used_orgs: set[str] = set()
        self.used_ids: set[str] = set()
        self.used_names: set[str] = set()
        self.surnames = list(PersonNames.last_names)
        self.surname_weights = list(PersonNames.last_names.values())
        self.given = list(PersonNames.first_names)
        self.given_chars = [g for g in self.given if len(g) == 1]
        self.brands = [b for b in CompanyNames.company_prefixes if 2 <= len(b) <= 4]
        self.serial = 0

    # -- identifiers ------------------------------------------------------------------------
    def uscc(self, prefix: str, region: str) -> str:
        while True:
            org = "".join(self.rng.choice(ORG_ALPHABET) for _ in range(9))
            if org not in self.used_orgs:
                self.used_orgs.add(org)
                body = prefix + region + org
                return body + uscc.calc_check_digit(body)

    def id_number(self, region: str, born: dt.date | None = None) -> str:
        while True:
            birth = born or dt.date(1950, 1, 1) + dt.timedelta(days=self.rng.randrange(0, 19000))
            body = f"{region}{birth:%Y%m%d}{self.rng.randrange(0, 1000):03d}"
            if body not in self.used_ids:
                self.used_ids.add(body)
                return body + ric.calc_check_digit(body + "0")

    def day(self, back_days: int, min_back: int = 1) -> dt.date:
        span = max(back_days, min_back + 1)
        return self.as_of - dt.timedelta(days=self.rng.randrange(min_back, span))

    def phone(self) -> str:
        return f"1{self.rng.choice('3578')}{self.rng.randrange(10**8, 10**9)}"

    def region(self) -> str:
        if self.rng.random() < 0.93:
            return self.rng.choice(list(COUNTIES))
        return self.rng.choice(list(NEIGHBOURS))

    def region_name(self, code: str) -> str:
        if code in COUNTIES:
            return f"德州市{COUNTIES[code]}"
        return NEIGHBOURS.get(code, "德州市")

    # -- subjects ---------------------------------------------------------------------------
    def person(self, region: str | None = None, name: str | None = None) -> Person:
        code = region or self.region()
        surname = self.rng.choices(self.surnames, self.surname_weights)[0]
        # a given name of one or two characters: 张伟, 王秀英, not 任秀云红霞
        given = self.rng.choice(self.given)
        if len(given) == 1 and self.rng.random() < 0.6:
            given += self.rng.choice(self.given_chars)
        person = Person(self.id_number(code), name or surname + given, code)
        self.rows["natural_persons"].append({
            "id_number": person.id_number, "name": person.name, "phone": self.phone(),
            "address": f"{self.region_name(code)}{self.rng.randrange(1, 300)}号",
        })
        return person

    def company(self, region: str | None = None, name: str | None = None,
                prefix: str = "91", industry: tuple[str, str] | None = None,
                status: str = "存续", established: dt.date | None = None,
                phone: str | None = None, address: str | None = None) -> Company:
        code = region or self.region()
        industry_name, word = industry or self.rng.choice(INDUSTRIES)
        place = self.region_name(code)
        if name is None:
            suffix = {"91": self.rng.choice(["有限公司", "有限责任公司", "股份有限公司"]),
                      "92": "经营部", "93": "农民专业合作社"}.get(prefix, "中心")
            head = place if prefix in ("92", "93") else place[:3]
            brand = self.rng.choice(self.brands)
            name = f"{head}{brand}{word}{suffix}"
            while name in self.used_names:
                brand += self.rng.choice(self.brands)[0]
                name = f"{head}{brand}{word}{suffix}"
        self.used_names.add(name)
        company = Company(self.uscc(prefix, code), name, code,
                          {"91": "ENTERPRISE", "92": "INDIVIDUAL_BUSINESS",
                           "93": "COOPERATIVE"}.get(prefix, "OTHER_ORG"))
        self.rows["legal_persons"].append({
            "uscc": company.uscc, "name": name, "kind": "", "region": code,
            "industry": industry_name, "status": status,
            "established": established or self.day(7000, 400),
            "registered_capital": f"{self.rng.choice([10, 50, 100, 200, 500, 1000, 3000])}",
            "address": address or
            f"{place}{self.rng.choice(STREETS)}{self.rng.randrange(1, 999)}号",
            "phone": phone or f"0534-{self.rng.randrange(2000000, 8999999)}",
            "superior": "",
        })
        return company

    def agency(self, name: str, region: str, superior: str = "",
               violations: list[str] | None = None) -> Agency:
        agency = Agency(self.uscc("11", region), name, region, violations or [])
        self.rows["legal_persons"].append({
            "uscc": agency.uscc, "name": name, "kind": "机关", "region": region,
            "industry": "公共管理", "status": "正常", "established": dt.date(1994, 1, 1),
            "registered_capital": "", "address": f"{self.region_name(region)}政务中心",
            "phone": f"0534-{self.rng.randrange(2000000, 8999999)}", "superior": superior,
        })
        return agency

    def relation(self, source: str, target: str, rtype: str, ratio: float | None = None,
                 start: dt.date | None = None, end: dt.date | None = None, role: str = "",
                 kind: str = "") -> None:
        self.rows["relations"].append({
            "from_id": source, "to_id": target, "type": rtype,
            "ratio": "" if ratio is None else f"{ratio * 100:g}%", "role": role, "kind": kind,
            "start_date": start or self.day(3000, 300), "end_date": end or "",
        })

    # -- records ----------------------------------------------------------------------------
    def penalty(self, company: Company | Person, agency: Agency, decided: dt.date,
                category: str | None = None, fine: float | None = None,
                violation: str | None = None, legal_rep: str = "") -> str:
        self.serial += 1
        number = f"{agency.name[3:5]}罚字〔{decided.year}〕{self.serial}号"
        category = category or self.rng.choices([c for c, _ in CATEGORIES],
                                                 [w for _, w in CATEGORIES])[0]
        if fine is None and "罚款" in category:
            fine = round(self.rng.choice([0.2, 0.5, 1, 2, 3, 5, 8, 10]), 2)
        subject_id = company.uscc if isinstance(company, Company) else company.id_number
        self.rows["penalties"].append({
            "行政处罚决定书文号": number, "行政相对人名称": company.name,
            "行政相对人类别": "法人及非法人组织" if isinstance(company, Company) else "自然人",
            "统一社会信用代码": subject_id, "法定代表人": legal_rep,
            "违法行为类型": violation or self.rng.choice(agency.violations or ["其他违法行为"]),
            "违法事实": "经查，当事人存在上述违法行为。", "处罚依据": "依据相关法律法规",
            "处罚类别": category, "处罚内容": f"{category}" + (f"{fine}万元" if fine else ""),
            "罚款金额（万元）": "" if fine is None else f"{fine}", "处罚决定日期": decided,
            "公示截止期": "", "处罚机关": agency.name, "处罚机关统一社会信用代码": agency.uscc,
            "数据来源单位": agency.name,
        })
        return number

    def penalty_without_id(self, name: str, agency: Agency, decided: dt.date,
                           legal_rep: str = "") -> None:
        """A 警告 naming its subject only by name: the loader must resolve it (关联补正)."""
        self.serial += 1
        row = dict.fromkeys(HEADERS["penalties"], "")
        row.update({"行政处罚决定书文号": f"德城市监罚〔{decided.year}〕N{self.serial}号",
                    "行政相对人名称": name, "行政相对人类别": "法人及非法人组织",
                    "法定代表人": legal_rep,
                    "违法行为类型": "虚假宣传", "处罚类别": "警告", "处罚内容": "警告",
                    "处罚决定日期": decided.isoformat(), "处罚机关": agency.name,
                    "处罚机关统一社会信用代码": agency.uscc, "数据来源单位": agency.name})
        self.rows["penalties"].append(row)

    def listing(self, subject: Company | Person, list_type: str, listed: dt.date,
                authority: str | None = None, removed: dt.date | None = None,
                update: bool = False) -> str:
        self.serial += 1
        list_id = f"MD{listed.year}{self.serial:08d}"
        (self.updates if update else self.rows)["listings"].append({
            "list_id": list_id, "subject_name": subject.name,
            "subject_id": subject.uscc if isinstance(subject, Company) else subject.id_number,
            "list_type": list_type, "authority": authority or LIST_AUTHORITIES[list_type],
            "basis": "依据相关规定认定",
            "case_no": f"（{listed.year}）鲁14执{self.serial}号",
            "amount": f"{self.rng.randrange(1, 500)}", "listed_on": listed,
            "removed_on": removed or "", "removal_reason": "已履行" if removed else "",
        })
        return list_id

    def judgment(self, debtor: Company | Agency | Person, creditor: Company | None,
                 filed: dt.date, due: dt.date, fulfilled: dt.date | None, amount: float) -> str:
        self.serial += 1
        case_no = f"（{filed.year}）鲁14{self.rng.randrange(1, 99):02d}执{self.serial}号"
        debtor_id = debtor.id_number if isinstance(debtor, Person) else debtor.uscc
        self.rows["judgments"].append({
            "case_no": case_no, "court": "德州市中级人民法院", "debtor_id": debtor_id,
            "debtor_name": debtor.name, "creditor_id": creditor.uscc if creditor else "",
            "creditor_name": creditor.name if creditor else "", "amount": f"{amount}",
            "filed_on": filed, "due_on": due, "fulfilled_on": fulfilled or "",
        })
        return case_no

    def contract(self, agency: Agency, counterparty: Company, signed: dt.date,
                 due: dt.date | None = None, fulfilled: dt.date | None = None,
                 gov_default: bool = False, kind: str | None = None) -> str:
        self.serial += 1
        number = f"DZCG-{signed.year}-{self.serial:07d}"
        self.rows["contracts"].append({
            "contract_no": number, "kind": kind or self.rng.choice(CONTRACT_KINDS),
            "agency_uscc": agency.uscc, "counterparty_id": counterparty.uscc,
            "title": f"{agency.name[:-1] if agency.name.endswith('局') else agency.name}"
                     f"{self.rng.choice(PROJECTS)}项目",
            "amount": f"{self.rng.randrange(5, 2000)}", "signed_on": signed,
            "due_on": due or "", "fulfilled_on": fulfilled or "",
            "status": "政府方违约" if gov_default else ("已履约" if fulfilled else "履行中"),
            "gov_default": "是" if gov_default else "否",
        })
        return number


def _county_agencies(city: City) -> tuple[dict[str, list[Agency]], list[Agency]]:
    government = city.agency("德州市人民政府", "371400")
    municipal = [city.agency(f"德州市{suffix}", "371400", government.uscc, violations)
                 for suffix, violations in AUTHORITIES]
    by_county: dict[str, list[Agency]] = {}
    for code, name in COUNTIES.items():
        county_gov = city.agency(f"德州市{name}人民政府", code, government.uscc)
        by_county[code] = [county_gov] + [
            city.agency(f"德州市{name}{suffix}", code, county_gov.uscc, violations)
            for suffix, violations in AUTHORITIES
        ]
    return by_county, municipal


def _authority_for(city: City, by_county: dict[str, list[Agency]], region: str,
                   municipal: list[Agency]) -> Agency:
    return city.rng.choice(by_county[region][1:] if region in by_county else municipal)


def generate(out: Path, subjects: int = 20000, seed: int = 371400,
             as_of: dt.date | None = None) -> dict[str, int]:
    """Write the bundle and truth.json into `out`; returns rows written per file."""
    if not MIN_SUBJECTS <= subjects <= MAX_SUBJECTS:
        raise ValueError(f"the demo city has {MIN_SUBJECTS:,} to {MAX_SUBJECTS:,} subjects")
    as_of = as_of or dt.date.today()
    city = City(seed, as_of)
    by_county, municipal = _county_agencies(city)
    all_agencies = municipal + [a for agencies in by_county.values() for a in agencies]

    _plant_cases(city, by_county, municipal)
    _background(city, subjects, by_county, municipal, all_agencies)
    _bad_rows(city, by_county)
    counts = _write(city, out)
    truth = {"seed": seed, "subjects": subjects, "asOf": as_of.isoformat(),
             "cases": city.truth, "badRows": city.bad}
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=2,
                                               default=str), encoding="utf-8")
    return counts


def _background(city: City, subjects: int, by_county: dict[str, list[Agency]],
                municipal: list[Agency], all_agencies: list[Agency]) -> None:
    rng = city.rng
    planted = len(city.rows["legal_persons"]) + len(city.rows["natural_persons"])
    remaining = max(subjects - planted, 0)
    n_people = int(remaining * 0.4)
    n_companies = remaining - n_people
    people = [city.person() for _ in range(n_people)]
    companies: list[Company] = []
    for _ in range(n_companies):
        roll = rng.random()
        prefix = "91" if roll < 0.75 else "92" if roll < 0.93 else "93"
        companies.append(city.company(prefix=prefix))
    for company in companies:
        rep = rng.choice(people)
        city.relation(rep.id_number, company.uscc, "LEGAL_REPRESENTATIVE")
        if company.kind != "ENTERPRISE":
            continue
        holders = rng.choice((1, 2, 2, 3))
        shares = [rng.randrange(5, 60) for _ in range(holders)]
        scale = min(1.0, 95 / sum(shares))
        owners: list[str] = [rep.id_number]
        for index, share in enumerate(shares):
            if index == 0:
                owner = rep.id_number
            elif rng.random() < 0.2 and companies:
                owner = rng.choice(companies).uscc
            else:
                owner = rng.choice(people).id_number
            if owner == company.uscc or (index and owner in owners):
                continue
            owners.append(owner)
            city.relation(owner, company.uscc, "SHAREHOLDER", ratio=round(share * scale / 100, 4))
        if rng.random() < 0.3:
            city.relation(rng.choice(people).id_number, company.uscc,
                          rng.choice(["DIRECTOR", "SUPERVISOR", "MANAGER"]),
                          role=rng.choice(["执行董事", "监事", "总经理"]))
    for _ in range(len(people) // 10):
        a, b = rng.sample(people, 2)
        city.relation(a.id_number, b.id_number, "FAMILY",
                      kind=rng.choice(["配偶", "父母", "子女", "兄弟姐妹"]))
    # officials serving in agencies
    officials = rng.sample(people, min(len(people), len(all_agencies) * 3))
    for index, person in enumerate(officials):
        agency = all_agencies[index % len(all_agencies)]
        city.rows["officials"].append({
            "id_number": person.id_number, "name": person.name, "agency_uscc": agency.uscc,
            "position": rng.choice(["科员", "副科长", "科长", "副局长"]),
            "rank": rng.choice(["一级科员", "四级主任科员", "二级主任科员"]),
            "start_date": city.day(4000, 200), "end_date": "",
        })
    # records
    for _ in range(int(subjects * 0.5)):
        company = rng.choice(companies)
        agency = _authority_for(city, by_county, company.region, municipal)
        city.penalty(company, agency, city.day(2200))
    for _ in range(int(subjects * 0.5)):
        company = rng.choice(companies)
        agency = _authority_for(city, by_county, company.region, municipal)
        city.serial += 1
        decided = city.day(2500)
        city.rows["licenses"].append({
            "decision_no": f"德{agency.name[:2]}许字〔{decided.year}〕{city.serial}号",
            "document_name": "准予行政许可决定书", "subject_name": company.name,
            "subject_id": company.uscc, "license_category": "普通",
            "certificate_name": rng.choice(["食品经营许可证", "排污许可证", "道路运输经营许可证",
                                            "建筑施工许可证"]),
            "license_no": f"JY{rng.randrange(10**13, 10**14)}", "content": "准予许可",
            "decided_on": decided, "valid_from": decided,
            "valid_to": add_months(decided, 60), "authority": agency.name,
            "authority_uscc": agency.uscc, "status": "有效",
        })
    for _ in range(int(subjects * 0.02)):
        subject = rng.choice(companies)
        list_type = rng.choices([t for t, _ in LIST_TYPES], [w for _, w in LIST_TYPES])[0]
        removed = city.day(300) if rng.random() < 0.3 else None
        listed = city.day(1500, 400) if removed else city.day(1500)
        city.listing(subject, list_type, listed, removed=removed)
    for _ in range(int(subjects * 0.05)):
        debtor = rng.choice(companies)
        creditor = rng.choice(companies)
        filed = city.day(1800, 200)
        due = filed + dt.timedelta(days=90)
        fulfilled = due - dt.timedelta(days=rng.randrange(1, 60)) if rng.random() < 0.7 else None
        city.judgment(debtor, creditor, filed, due, fulfilled, rng.randrange(1, 300))
    for _ in range(int(subjects * 0.02)):
        agency = rng.choice(all_agencies)
        signed = city.day(1500, 100)
        due = signed + dt.timedelta(days=rng.randrange(60, 365))
        city.contract(agency, rng.choice(companies), signed, due,
                      due if due < city.as_of else None)
    for _ in range(int(subjects * 0.1)):
        company = rng.choice(companies)
        city.serial += 1
        made = city.day(1500)
        city.rows["commitments"].append({
            "commitment_id": f"CN{made.year}{city.serial:08d}", "subject_id": company.uscc,
            "kind": rng.choice(COMMITMENT_KINDS), "content": "本单位承诺所提供材料真实有效",
            "made_on": made, "due_on": add_months(made, 12),
            "fulfilled": rng.choice(["是", "是", "否"]), "authority": "德州市行政审批服务局",
        })


def _plant_cases(city: City, by_county: dict[str, list[Agency]],
                 municipal: list[Agency]) -> None:
    """Cases with known answers; each is described in truth.json."""
    d = city.day
    market = by_county["371402"][1]  # 德城区市场监督管理局
    env = by_county["371402"][2]
    tax = by_county["371402"][3]

    # Ownership: two paths, 40 % × 50 % + 30 % × 20 % = 26 %.
    owner = city.person("371402")
    a, b, c = (city.company("371402") for _ in range(3))
    city.relation(owner.id_number, a.uscc, "SHAREHOLDER", 0.40)
    city.relation(a.uscc, c.uscc, "SHAREHOLDER", 0.50)
    city.relation(owner.id_number, b.uscc, "SHAREHOLDER", 0.30)
    city.relation(b.uscc, c.uscc, "SHAREHOLDER", 0.20)
    city.truth.append({"pattern": "ownership_two_paths", "company": c.uscc,
                       "owner": owner.id_number, "expectedShare": 0.26,
                       "expected": "beneficial owner at 0.26 through two paths"})

    # Ownership with a cycle: X 60 % of D; D 50 % of E; E 10 % of D. X in E = 0.6 × 0.5.
    x = city.person("371403")
    d_co, e_co = city.company("371403"), city.company("371403")
    city.relation(x.id_number, d_co.uscc, "SHAREHOLDER", 0.60)
    city.relation(d_co.uscc, e_co.uscc, "SHAREHOLDER", 0.50)
    city.relation(e_co.uscc, d_co.uscc, "SHAREHOLDER", 0.10)
    city.truth.append({"pattern": "ownership_cycle", "company": e_co.uscc,
                       "owner": x.id_number, "expectedShare": 0.30,
                       "expected": "cycle ignored; effective share 0.30"})

    # State ownership: 国资委 100 % of an SOE, which holds 80 % of its subsidiary.
    sasac = city.agency("德州市人民政府国有资产监督管理委员会", "371400")
    soe = city.company("371400", name="德州市城市建设投资发展集团有限公司")
    sub = city.company("371400", name="德州市城投水务有限公司")
    city.relation(sasac.uscc, soe.uscc, "SHAREHOLDER", 1.0)
    city.relation(soe.uscc, sub.uscc, "SHAREHOLDER", 0.80)
    city.truth.append({"pattern": "state_ownership", "company": sub.uscc, "owner": sasac.uscc,
                       "expectedShare": 0.80, "expected": "state owner at 0.80"})

    # Declared actual controller without shares; suspected controller with 60 % via a chain.
    declared = city.person("371424")
    k_co = city.company("371424")
    city.relation(declared.id_number, k_co.uscc, "ACTUAL_CONTROLLER")
    city.truth.append({"pattern": "declared_controller", "company": k_co.uscc,
                       "owner": declared.id_number, "expected": "ACTUAL_CONTROLLER basis"})
    suspect = city.person("371425")
    holding, target = city.company("371425"), city.company("371425")
    city.relation(suspect.id_number, holding.uscc, "SHAREHOLDER", 0.80)
    city.relation(holding.uscc, target.uscc, "SHAREHOLDER", 0.75)
    city.relation(suspect.id_number, target.uscc, "LEGAL_REPRESENTATIVE")
    city.truth.append({"pattern": "suspected_controller", "company": target.uscc,
                       "owner": suspect.id_number, "expectedShare": 0.60,
                       "expected": "suspected actual controller (effective share > 0.5)"})

    # Risky controller behind a clean company (association risk across domains and regions).
    controller = city.person("371426")
    clean = city.company("371426")
    risky = city.company("371602")  # 滨州
    risky2 = city.company("130902")  # 沧州
    city.relation(controller.id_number, clean.uscc, "ACTUAL_CONTROLLER")
    city.relation(controller.id_number, risky.uscc, "LEGAL_REPRESENTATIVE")
    city.relation(controller.id_number, risky2.uscc, "LEGAL_REPRESENTATIVE")
    city.listing(risky, "严重失信主体", d(200, 30), authority="滨州市发展和改革委员会")
    city.penalty(risky, env, d(150, 10), category="责令停产停业", violation="超标排放大气污染物")
    city.penalty(risky2, tax, d(120, 10), category="罚款", fine=30, violation="逃避缴纳税款")
    city.truth.append({"pattern": "risky_controller", "company": clean.uscc,
                       "via": controller.id_number, "risky": [risky.uscc, risky2.uscc],
                       "expected": "clean company with own score 0, association risk HIGH or "
                                   "SEVERE, crossDomain and crossRegion, top contributor "
                                   "reached through the controller"})

    # A hub: a registration agent who is supervisor of many companies; paths through it are cut.
    agent = city.person("371402")
    hub_companies = [city.company("371402") for _ in range(220)]
    for company in hub_companies:
        city.relation(agent.id_number, company.uscc, "SUPERVISOR", role="监事")
    city.listing(hub_companies[0], "严重失信主体", d(100, 10))
    city.truth.append({"pattern": "hub_cut", "company": hub_companies[1].uscc,
                       "hub": agent.id_number,
                       "expected": "the agent's degree exceeds the cap: paths through it cut"})

    # Repeat offenders.
    r1 = city.company("371422", industry=("食品制造业", "食品"))
    for months in (2, 7, 14):
        city.penalty(r1, market, city.as_of - dt.timedelta(days=30 * months), category="罚款",
                     fine=2, violation="销售不符合食品安全标准的食品")
    city.truth.append({"pattern": "repeat_R1", "company": r1.uscc,
                       "expected": "FOCUS: 3 一般 penalties in food_drug within 24 months"})
    r2 = city.company("371423")
    for index, agency in enumerate([market, env, tax, market, env]):
        city.penalty(r2, agency, city.as_of - dt.timedelta(days=60 + 90 * index),
                     category="罚款", fine=1)
    city.truth.append({"pattern": "repeat_R2", "company": r2.uscc,
                       "expected": "FOCUS: 5 penalties in any domains within 24 months"})
    r3 = city.company("371427", industry=("食品制造业", "食品"))
    r3_rep = city.person("371427")
    city.relation(r3_rep.id_number, r3.uscc, "LEGAL_REPRESENTATIVE")
    for months in (1, 5, 9):
        city.penalty(r3, market, city.as_of - dt.timedelta(days=30 * months), category="罚款",
                     fine=3, violation="销售不符合食品安全标准的食品")
    city.penalty(r3, market, city.as_of - dt.timedelta(days=20), category="吊销许可证件",
                 violation="销售不符合食品安全标准的食品")
    city.truth.append({"pattern": "repeat_R3", "company": r3.uscc,
                       "legalRepresentative": r3_rep.id_number,
                       "expected": "SEVERE_PROPOSED: R1 plus a 严重 penalty"})
    shell_person = city.person("371428")
    shells = [city.company("371428") for _ in range(2)]
    for shell in shells:
        city.relation(shell_person.id_number, shell.uscc, "LEGAL_REPRESENTATIVE")
        for months in (3, 10):
            city.penalty(shell, env, city.as_of - dt.timedelta(days=30 * months),
                         category="罚款", fine=1)
    city.truth.append({"pattern": "repeat_R4_shell", "person": shell_person.id_number,
                       "companies": [s.uscc for s in shells],
                       "expected": "FOCUS on the person and both companies"})
    _plant_escalation_cases(city, market, env, r3)

    # Government integrity.
    debtor_agency = by_county["371481"][4]  # 乐陵市住房和城乡建设局
    builder = city.company("371481")
    city.judgment(debtor_agency, builder, d(700, 400), city.as_of - dt.timedelta(days=200),
                  None, 380)
    city.truth.append({"pattern": "G1_agency_debtor", "agency": debtor_agency.uscc,
                       "superior": by_county["371481"][0].uscc,
                       "expected": "unfulfilled judgment past due; traced to the superior"})
    defaulting = by_county["371482"][0]  # 禹城市人民政府
    investor = city.company("371482")
    city.contract(defaulting, investor, d(900, 500), city.as_of - dt.timedelta(days=120), None,
                  gov_default=True, kind="招商引资")
    city.truth.append({"pattern": "G2_government_default", "agency": defaulting.uscc,
                       "counterparty": investor.uscc, "expected": "招商引资承诺不兑现"})
    procurement = by_county["371425"][1]
    official = city.person("371425")
    spouse = city.person("371425")
    city.rows["officials"].append({
        "id_number": official.id_number, "name": official.name,
        "agency_uscc": procurement.uscc, "position": "副局长", "rank": "四级调研员",
        "start_date": d(3000, 1500), "end_date": "",
    })
    # every tie older than the contract, so that it is live when the contract is signed
    city.relation(official.id_number, spouse.id_number, "FAMILY", kind="配偶",
                  start=d(6000, 3000))
    relative_co = city.company("371425")
    city.relation(spouse.id_number, relative_co.uscc, "LEGAL_REPRESENTATIVE",
                  start=d(3000, 1000))
    city.relation(spouse.id_number, relative_co.uscc, "SHAREHOLDER", 0.70, start=d(3000, 1000))
    conflict_contract = city.contract(procurement, relative_co, d(400, 60),
                                      city.as_of + dt.timedelta(days=60), None,
                                      kind="政府采购")
    city.truth.append({"pattern": "G3_conflict_of_interest", "official": official.id_number,
                       "agency": procurement.uscc, "company": relative_co.uscc,
                       "contract": conflict_contract, "expected": "spouse's company won"})
    restricted = city.company("371426")
    city.listing(restricted, "政府采购严重违法失信", d(500, 300),
                 authority="德州市财政局")
    restricted_contract = city.contract(by_county["371426"][1], restricted, d(250, 100),
                                        kind="政府采购")
    city.truth.append({"pattern": "G4_restricted_supplier", "supplier": restricted.uscc,
                       "contract": restricted_contract,
                       "expected": "signed while the supplier had an active severe listing"})
    listed_official = city.person("371423")
    city.rows["officials"].append({
        "id_number": listed_official.id_number, "name": listed_official.name,
        "agency_uscc": by_county["371423"][3].uscc, "position": "科长", "rank": "一级主任科员",
        "start_date": d(3000, 1000), "end_date": "",
    })
    city.listing(listed_official, "失信被执行人", d(300, 30))
    city.truth.append({"pattern": "G5_official_records", "official": listed_official.id_number,
                       "expected": "official with an active 失信被执行人 listing"})
    _plant_clean_agency(city, by_county)

    _plant_resolution(city, by_county, municipal)


def _plant_resolution(city: City, by_county: dict[str, list[Agency]],
                      municipal: list[Agency]) -> None:
    """Penalties naming their subject without an id (关联补正): each attached only when the
    evidence singles out one subject — the name, a region it names, the legal representative,
    the authority's region — and namesakes nothing tells apart rejected as ambiguous."""
    market = by_county["371402"][1]  # 德州市德城区市场监督管理局
    city_market = municipal[0]  # 德州市市场监督管理局: its region holds every county

    def d(back: int) -> dt.date:
        return city.as_of - dt.timedelta(days=back)

    def case(pattern: str, company: Company, decided_by: str) -> None:
        city.truth.append({"pattern": pattern, "company": company.uscc,
                           "expected": f"penalty without id attached (decided by {decided_by})",
                           "decidedBy": decided_by})

    target = city.company("371402", name="德州市德城区鑫源食品有限公司")
    city.penalty_without_id("德州市德城区鑫源食品有限责任公司", market, d(100))
    case("resolution_correction", target, "name")
    twin_a = city.company("371402", name="德州市宏达商贸有限公司")
    twin_b = city.company("371403", name="山东省德州市宏达商贸有限责任公司")
    city.penalty_without_id("宏达商贸有限公司", city_market, d(100))
    city.truth.append({"pattern": "resolution_ambiguous", "companies": [twin_a.uscc, twin_b.uscc],
                       "expected": "rejected: unresolved subject: ambiguous"})
    yucheng = city.company("371482", name="禹城市恒通物流有限公司")
    city.company("371425", name="齐河县恒通物流有限公司")
    city.penalty_without_id("禹城恆通物流有限公司", city_market, d(90))  # traditional 恆
    case("resolution_region_prefix", yucheng, "region prefix")
    represented = []
    for county, name, rep in (("371424", "德州市瑞丰化工有限公司", "张建国"),
                              ("371427", "德州市瑞丰化工有限责任公司", "李秀英")):
        company = city.company(county, name=name)
        city.relation(city.person(county, rep).id_number, company.uscc, "LEGAL_REPRESENTATIVE")
        represented.append(company)
    city.penalty_without_id("瑞丰化工有限公司", city_market, d(80), legal_rep="李秀英")
    case("resolution_legal_rep", represented[1], "legal representative")
    local = city.company("371423", name="德州市金穗农业科技有限公司")
    city.company("371428", name="德州市金穗农业科技有限责任公司")
    city.penalty_without_id("金穗农业科技有限公司", by_county["371423"][1], d(70))
    case("resolution_authority_region", local, "authority region")

    # Monitoring: a company to watch whose 60 % shareholder is listed 失信被执行人 only in the
    # update bundle; its own address and phone, so no shared contact brings other records near.
    watched = city.company("371402", address="德州市德城区天衢东路信用监测示范园1号",
                           phone="0534-1000001")
    holder = city.company("371402", address="德州市德城区天衢东路信用监测示范园2号",
                          phone="0534-1000002")
    city.relation(holder.uscc, watched.uscc, "SHAREHOLDER", 0.60)
    listed = city.listing(holder, "失信被执行人", city.as_of, update=True)
    city.truth.append({"pattern": "monitoring_watch", "watch": watched.uscc,
                       "neighbour": holder.uscc, "update": "update", "listing": listed,
                       "expected": "watch the company and run the monitor: no alert; load "
                                   "update/ and run again: NEAR_RECORD (the listing, 1 hop) "
                                   "and RISK_RISE (0 → 72) on the watched company"})


def _plant_clean_agency(city: City, by_county: dict[str, list[Agency]]) -> None:
    """An agency with no integrity finding although each pattern nearly applies: a judgment
    paid before its due date, a contract fulfilled on time, a supplier whose severe listing was
    removed before the signing, and an official's brother whose directorship of the winner
    ended before the contract was signed (the conflict that must not be found)."""
    d = city.day
    clean = city.agency("德州市陵城区审计局", "371403", by_county["371403"][0].uscc)
    creditor = city.company("371403")
    due = city.as_of - dt.timedelta(days=300)
    city.judgment(clean, creditor, due - dt.timedelta(days=90), due,
                  due - dt.timedelta(days=10), 45)
    head = city.person("371403")
    city.rows["officials"].append({
        "id_number": head.id_number, "name": head.name, "agency_uscc": clean.uscc,
        "position": "局长", "rank": "二级调研员", "start_date": d(3000, 1500), "end_date": "",
    })
    brother = city.person("371403")
    city.relation(head.id_number, brother.id_number, "FAMILY", kind="兄弟姐妹",
                  start=d(9000, 6000))
    winner = city.company("371403")
    signed = city.as_of - dt.timedelta(days=150)
    city.relation(brother.id_number, winner.uscc, "LEGAL_REPRESENTATIVE", start=d(3000, 2000),
                  end=city.as_of - dt.timedelta(days=400))
    ended = city.contract(clean, winner, signed, signed + dt.timedelta(days=60),
                          signed + dt.timedelta(days=55), kind="政府采购")
    city.truth.append({"pattern": "G3_ended_before_signing", "official": head.id_number,
                       "agency": clean.uscc, "company": winner.uscc, "contract": ended,
                       "expected": "no conflict: the brother's legal representation ended "
                                   "before the contract was signed"})
    reformed = city.company("371403")
    city.listing(reformed, "失信被执行人", d(900, 700),
                 removed=city.as_of - dt.timedelta(days=400))
    city.contract(clean, reformed, signed, signed + dt.timedelta(days=30),
                  signed + dt.timedelta(days=30), kind="政府采购")
    city.truth.append({"pattern": "G_clean_agency", "agency": clean.uscc,
                       "supplier": reformed.uscc,
                       "expected": "integrity score 100 with no finding; the supplier, removed "
                                   "from its list before the signing, passes procurementCheck"})


def _plant_escalation_cases(city: City, market: Agency, env: Agency, r3: Company) -> None:
    """屡罚不改 beyond R1–R4 (a): the shell swap, propagation, the window's edge, a removed
    listing and a re-offence after a credit repair."""
    def back(days: int) -> dt.date:
        return city.as_of - dt.timedelta(days=days)

    food = ("食品制造业", "食品")
    controller = city.person("371427")
    city.relation(controller.id_number, r3.uscc, "ACTUAL_CONTROLLER")
    city.truth.append({"pattern": "repeat_propagation", "company": r3.uscc,
                       "actualController": controller.id_number,
                       "confirmOn": (city.as_of + dt.timedelta(days=30)).isoformat(),
                       "expected": "after confirmEscalation of repeat_R3 (not before), its "
                                   "legal representative and actual controller at FOCUS"})

    owner = city.person("371481")
    old = city.company("371481", status="吊销，未注销", established=back(days=3000))
    new = city.company("371481", established=back(days=200))
    city.relation(owner.id_number, old.uscc, "LEGAL_REPRESENTATIVE", start=back(days=3000),
                  end=back(days=300))
    city.relation(owner.id_number, new.uscc, "LEGAL_REPRESENTATIVE", start=back(days=200))
    unpaid = city.penalty(old, env, back(days=500), category="罚款", fine=8,
                          violation="超标排放大气污染物")
    city.truth.append({"pattern": "repeat_R4_successor", "person": owner.id_number,
                       "old": old.uscc, "new": new.uscc, "unpaid": [unpaid],
                       "expected": "FOCUS (R4) on the person, the revoked company with an "
                                   "unpaid fine and the new company"})

    stale = city.company("371482", industry=food)
    for months in (26, 27, 28):
        city.penalty(stale, market, back(days=30 * months), category="罚款", fine=2,
                     violation="销售不符合食品安全标准的食品")
    city.truth.append({"pattern": "repeat_outside_window", "company": stale.uscc,
                       "escalatedAsOf": back(days=183).isoformat(),
                       "expected": "FOCUS (R1) as of escalatedAsOf; no escalation at asOf: "
                                   "run again then, it is LIFTED"})

    delisted = city.company("371403", industry=food)
    for months in (2, 4, 6):
        city.penalty(delisted, market, back(days=30 * months), category="罚款", fine=2,
                     violation="未取得食品经营许可从事食品经营")
    listing = city.listing(delisted, "失信被执行人", back(days=300), removed=back(days=15))
    city.truth.append({"pattern": "repeat_listing_removed", "company": delisted.uscc,
                       "listing": listing, "proposedAsOf": back(days=30).isoformat(),
                       "expected": "SEVERE_PROPOSED (R1 + R3) as of proposedAsOf; the listing "
                                   "removed, the proposal is withdrawn at asOf: FOCUS (R1)"})

    repaired = city.company("371424")
    first = city.penalty(repaired, market, back(days=400), category="罚款", fine=1)
    again = city.penalty(repaired, market, back(days=60), category="罚款", fine=1)
    city.truth.append({"pattern": "repeat_after_repair", "company": repaired.uscc,
                       "repaired": first, "repairedOn": back(days=200).isoformat(),
                       "reoffence": again,
                       "repairBlockedUntil": add_months(back(days=60), 12).isoformat(),
                       "expected": "once the repair of `repaired` is granted on repairedOn, "
                                   "the penalty after it puts the company at FOCUS (R5) and "
                                   "bars repair until repairBlockedUntil"})


def _bad_rows(city: City, by_county: dict[str, list[Agency]]) -> None:
    """A few per cent of rows with every defect the loader must reject, each described."""
    rng = city.rng
    companies = [r for r in city.rows["legal_persons"] if r["kind"] != "机关"]
    people = city.rows["natural_persons"]
    market = by_county["371402"][1]
    count = max(3, len(companies) // 400)

    def add(file: str, row: dict[str, Any], reason: str) -> None:
        city.rows[file].append(row)
        # the row's line in its file (the header is line 1): the rejects file must name it
        city.bad.append({"file": file, "reason": reason, "line": len(city.rows[file]) + 1})

    def bad_check(code: str) -> str:
        alphabet = ORG_ALPHABET
        return code[:-1] + alphabet[(alphabet.index(code[-1]) + 1) % len(alphabet)]

    for _ in range(count):
        base = dict(rng.choice(companies))
        add("legal_persons", {**base, "uscc": bad_check(city.uscc("91", "371402")),
                              "name": base["name"] + "分店"}, "bad check digit")
        add("legal_persons", {**base, "uscc": city.uscc("91", "371402")[:-2],
                              "name": base["name"] + "二店"}, "bad length")
        valid = city.uscc("91", "371402")
        add("legal_persons", {**base, "uscc": valid[:11] + "I" + valid[12:],
                              "name": base["name"] + "三店"}, "bad characters")
        add("legal_persons", {**base, "uscc": city.uscc("91", "371402"), "name": ""},
            "missing required field")
        add("legal_persons", {**base, "uscc": city.uscc("91", "371402"),
                              "name": base["name"] + "四店", "established": "2021-02-30"},
            "impossible date")
        add("legal_persons", {**base, "uscc": city.uscc("91", "371402"),
                              "name": base["name"] + "五店",
                              "established": city.as_of + dt.timedelta(days=40)},
            "future date")
        add("legal_persons", {**base, "uscc": city.uscc("91", "371402"),
                              "name": base["name"] + "六店", "registered_capital": "-50"},
            "negative amount")
        add("legal_persons", {**base, "uscc": city.uscc("91", "371402"),
                              "name": base["name"] + "七店", "registered_capital": "五十万"},
            "non-numeric amount")
        person = dict(rng.choice(people))
        number = city.id_number("371402")
        add("natural_persons", {**person, "id_number": number[:-1] + (
            "0" if number[-1] != "0" else "1")}, "bad check digit")
        a, b = rng.sample(companies, 2)
        add("relations", {"from_id": a["uscc"], "to_id": b["uscc"], "type": "SHAREHOLDER",
                          "ratio": "135%", "role": "", "kind": "", "start_date": "",
                          "end_date": ""}, "ratio outside 0–100%")
        add("relations", {"from_id": a["uscc"], "to_id": b["uscc"], "type": "合伙人关系",
                          "ratio": "", "role": "", "kind": "", "start_date": "",
                          "end_date": ""}, "unknown relation type")
        add("relations", {"from_id": city.uscc("91", "371499"), "to_id": b["uscc"],
                          "type": "SHAREHOLDER", "ratio": "10%", "role": "", "kind": "",
                          "start_date": "", "end_date": ""}, "relation to an unknown subject")
        add("listings", {"list_id": f"BAD{city.serial}{rng.randrange(10**6)}",
                         "subject_name": a["name"], "subject_id": a["uscc"],
                         "list_type": "黑名单甲类", "authority": "", "basis": "", "case_no": "",
                         "amount": "", "listed_on": city.as_of - dt.timedelta(days=10),
                         "removed_on": "", "removal_reason": ""}, "unknown list type")
        city.serial += 1
        key = f"德城市监罚〔{city.as_of.year}〕D{city.serial}号"
        row: dict[str, Any] = {h: "" for h in HEADERS["penalties"]}
        row.update({"行政处罚决定书文号": key, "行政相对人名称": a["name"],
                    "行政相对人类别": "法人及非法人组织", "统一社会信用代码": a["uscc"],
                    "违法行为类型": "虚假宣传", "处罚类别": "罚款", "罚款金额（万元）": "1",
                    "处罚决定日期": city.as_of - dt.timedelta(days=30),
                    "处罚机关": market.name, "处罚机关统一社会信用代码": market.uscc})
        add("penalties", row, "duplicate key (the earlier row is rejected)")
        city.rows["penalties"].append(dict(row, **{"罚款金额（万元）": "2"}))
        add("judgments", {"case_no": f"（{city.as_of.year}）鲁14执坏{city.serial}号",
                          "court": "", "debtor_id": a["uscc"], "debtor_name": a["name"],
                          "creditor_id": "", "creditor_name": "", "amount": "abc",
                          "filed_on": "", "due_on": "", "fulfilled_on": ""},
            "non-numeric amount")
    after = len(city.rows["licenses"]) + 2  # written by `_write` below the last licence
    city.bad.append({"file": "licenses", "reason": "row with too many columns", "line": after})
    city.bad.append({"file": "licenses", "reason": "row with too few columns",
                     "line": after + 1})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _rows(city: City, name: str) -> Iterator[list[str]]:
    for row in city.rows[name]:
        yield [_cell(row.get(h)) for h in HEADERS[name]]


def _write(city: City, out: Path) -> dict[str, int]:
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for name in HEADERS:
        if name == "commitments":
            with (out / "commitments.jsonl").open("w", encoding="utf-8") as handle:
                for row in city.rows[name]:
                    handle.write(json.dumps({h: _cell(row.get(h)) for h in HEADERS[name]},
                                            ensure_ascii=False) + "\n")
            counts[name] = len(city.rows[name])
            continue
        # 双公示 penalties come as GB18030 with the national Chinese headers; the registry
        # export carries a BOM; the rest is plain UTF-8.
        encoding = {"penalties": "gb18030", "legal_persons": "utf-8-sig"}.get(name, "utf-8")
        with (out / f"{name}.csv").open("w", encoding=encoding, newline="",
                                        errors="replace") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADERS[name])
            writer.writerows(_rows(city, name))
            if name == "licenses":
                handle.write("X1,too,many,columns,,,,,,,,,,,extra,extra\r\n")
                handle.write("X2,too few\r\n")
        counts[name] = len(city.rows[name]) + (2 if name == "licenses" else 0)
    update = out / "update"
    update.mkdir(exist_ok=True)
    for name, rows in city.updates.items():
        with (update / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADERS[name])
            writer.writerows([_cell(row.get(h)) for h in HEADERS[name]] for row in rows)
        counts[f"update/{name}"] = len(rows)
    return counts
