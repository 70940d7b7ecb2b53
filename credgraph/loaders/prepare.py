"""Turning validated bundle rows into graph writes (or rejects that say why).

Each `prepare_*` takes one parsed row and returns a `Prepared` write, or raises `RowRejected`.
Identifiers are resolved here: USCCs are checked, ID numbers become opaque keys at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import islice
from typing import Any, TypeVar

from credgraph.graph.model import (
    KINSHIP,
    RELATIONS,
    SEVERITY_ALIASES,
    SUBJECT_KIND_ZH,
    Endpoint,
    PartyRole,
    RecordKind,
    RecordStatus,
    RelationType,
    Severity,
    SubjectKind,
    converse_kinship,
    relation_type,
)
from credgraph.loaders.derive import Deriver
from credgraph.loaders.sources import keep_absent, missing_inputs
from credgraph.loaders.subjects import legal_person_props, natural_person_props
from credgraph.queries.resolution import LEGAL, Lookup
from credgraph.rules import Rules
from credgraph.schema.identifiers import (
    USCC_LENGTH,
    IdentifierError,
    is_person_number,
    normalise,
    parse_id_number,
    parse_org_code,
    parse_uscc,
)
from credgraph.schema.names import NameNormaliser, person_name_norm
from credgraph.schema.privacy import (
    Privacy,
    is_near_id_number,
    is_person_key,
    mask_id_number,
    scrub,
)
from credgraph.schema.rows import (
    MISSING,
    BundleRow,
    CommitmentRow,
    ContractRow,
    JudgmentRow,
    LegalPersonRow,
    LicenseRow,
    ListingRow,
    NaturalPersonRow,
    OfficialRow,
    PenaltyRow,
    RelationRow,
    display_value,
    text_fields,
)

T = TypeVar("T")

# References a validating process remembers: a 1M-subject city's subjects fit (≈ 0.8 KB each
# with their parsed codes, ≈ 1.2 GB when full); when full, the older half is forgotten, so the
# subjects of the rows at hand stay.
REMEMBERED_REFS = 1_500_000
STICKY_STATUSES = [RecordStatus.REPAIRED.value, RecordStatus.DISPUTED.value,
                   RecordStatus.REVOKED.value]


class RowRejected(Exception):
    def __init__(self, column: str, value: object, reason: str) -> None:
        super().__init__(reason)
        self.column = column
        self.value = display_value(value)
        self.reason = reason


@dataclass
class SubjectRef:
    """A subject a row points at: its graph key and what to create if it is not there yet."""

    key: str
    person: bool
    agency: bool = False
    stub: dict[str, Any] = field(default_factory=dict)


def party_row(ref: SubjectRef, role: PartyRole) -> dict[str, Any]:
    return {"id": ref.key, "role": role, "person": ref.person, "agency": ref.agency,
            "stub": ref.stub}


@dataclass(frozen=True)
class Unresolved:
    """A record's party named without a usable id: to be resolved by name (关联补正)."""

    column: str
    role: PartyRole
    lookup: Lookup
    problem: str  # what was wrong with the id


@dataclass
class Prepared:
    """One write: `data` goes into an UNWIND batch; `refs` must exist (or be stubbed)."""

    data: dict[str, Any]
    refs: list[tuple[str, SubjectRef]] = field(default_factory=list)  # (column, ref)
    must_exist: bool = False  # relations: unknown refs reject the row instead of stubbing
    # (column, ref, endpoint) each ref must satisfy, and the reason given when one does not
    expect: list[tuple[str, SubjectRef, Endpoint]] = field(default_factory=list)
    expect_reason: str = ""
    relation: RelationType | None = None
    superior: str | None = None
    resolve: Unresolved | None = None
    # the columns of its derived values (a penalty's severity, a licence's status, a contract's
    # default) the row's file lacks: a stored record derives them again from what it stores
    # in their place (`sources.with_stored`)
    derived_from: frozenset[str] | None = None
    stored: bool = False  # a record already in the graph (`BundleLoader._weigh_stored`)
    # field → the header its value came from, where not the file's first header of the field
    # (`rows.row_columns`): what a reject or correction of the row names
    columns: dict[str, str] | None = None

    def attach(self, ref: SubjectRef, role: PartyRole) -> None:
        """The party found by name joins the record, first as if the row had named it."""
        self.data["parties"].insert(0, party_row(ref, role))
        self.data["partyKeys"].insert(0, [ref.key, role])


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


ENDPOINT_NAMES = {Endpoint.PERSON: "a natural person", Endpoint.LEGAL_PERSON: "a legal person",
                  Endpoint.AGENCY: "an agency", Endpoint.SUBJECT: "a subject"}


def _person_named(name: str | None) -> dict[str, Any]:
    """A person stub's name as a record row gives it (perhaps none)."""
    return {"name": name or "", "nameNorm": person_name_norm(name) if name else None}


class Preparer:
    def __init__(self, rules: Rules, privacy: Privacy, normaliser: NameNormaliser,
                 today: dt.date) -> None:
        self.rules = rules
        self.privacy = privacy
        self.normalise = normaliser
        self.derive = Deriver(rules)
        self.today = today
        listings = rules.listings
        self.list_types: list[str] = list(listings.types)
        self.severe_lists: set[str] = set(listings.severe)
        self.judgment_domain = rules.domains.judgments
        self.contract_domain = rules.domains.contracts
        self.commitment_domain = rules.domains.commitments
        # A subject is pointed at by many rows; its key, encryption and stub are made once.
        self._refs: dict[tuple[str, str | None], SubjectRef | str] = {}
        self._methods: dict[str, Callable[[Any], Prepared]] = {
            "legal_persons": self.legal_person, "natural_persons": self.natural_person,
            "officials": self.official, "relations": self.relation, "penalties": self.penalty,
            "licenses": self.license, "listings": self.listing, "judgments": self.judgment,
            "contracts": self.contract, "commitments": self.commitment,
        }
        self._derived: dict[str, Callable[[Any], dict[str, Any]]] = {
            "penalties": self._penalty_derived, "licenses": self._licence_derived,
            "contracts": self._contract_derived,
        }

    def prepare(self, kind: str, row: BundleRow) -> Prepared:
        """The write for one row of a bundle file of this kind, its free text scrubbed first;
        what the file has no column for is only a default (`sources.keep_absent`), and what
        the kind derives from such a column is derived again from the stored record
        (`derived_from`)."""
        prepared = self._methods[kind](scrubbed(row))
        keep_absent(kind, row, prepared.data)
        if kind in self._derived:
            prepared.derived_from = missing_inputs(kind, row)
        return prepared

    # -- identifiers ------------------------------------------------------------------------
    def subject_ref(self, column: str, raw: str | None, name: str | None = None) -> SubjectRef:
        """A USCC, a raw ID number or an opaque key; raises RowRejected saying what is wrong."""
        if not raw:
            raise RowRejected(column, raw, MISSING)
        remembered = self._refs.get((raw, name))
        if remembered is None:
            if len(self._refs) >= REMEMBERED_REFS:
                for key in list(islice(self._refs, REMEMBERED_REFS // 2)):
                    del self._refs[key]
            remembered = self._refs[(raw, name)] = self._subject_ref(raw, name)
        if isinstance(remembered, str):
            raise RowRejected(column, raw, remembered)
        return remembered

    def _subject_ref(self, raw: str, name: str | None) -> SubjectRef | str:
        """The reference, or why the identifier is unusable."""
        text = normalise(raw)
        try:
            if is_person_key(text):
                return SubjectRef(text, person=True, stub=_person_named(name))
            if is_person_number(text) or (len(text) != 18 and is_near_id_number(text)):
                # a 15-digit or one-digit-off number is a person's: said so, not "bad USCC"
                number = parse_id_number(text, self.today)
                return SubjectRef(
                    self.privacy.person_key(number), person=True,
                    stub={**_person_named(name),
                          "idEnc": self.privacy.encrypt(number), "idMasked": mask_id_number(number),
                          "kind": SubjectKind.NATURAL_PERSON.value, "region": number.region,
                          "birthYear": number.birth_date.year, "gender": number.gender,
                          "stub": True},
                )
            code = parse_uscc(text)
        except IdentifierError as exc:
            return _identifier_reason(exc)
        kind = code.kind
        return SubjectRef(
            code.code, person=False, agency=kind is SubjectKind.AGENCY,
            stub={"name": name or "", "nameNorm": self.normalise(name, code.region) if name
                  else None,
                  "kind": kind.value, "region": code.region, "stub": True},
        )

    def not_future(self, row: BundleRow, *columns: str) -> None:
        for column in columns:
            value = getattr(row, column)
            if value is not None and value > self.today:
                raise RowRejected(column, value.isoformat(),
                                  f"future date {value.isoformat()} (after {self.today})")

    # -- subjects ---------------------------------------------------------------------------
    def legal_person(self, row: LegalPersonRow) -> Prepared:
        code = _checked("uscc", row.uscc, parse_org_code)
        self.not_future(row, "established")
        kind = _kind(row.kind) or code.kind
        region = row.region or code.region
        if not (len(region) == 6 and region.isdigit()):
            raise RowRejected("region", row.region, "region must be a 6-digit division code")
        data = legal_person_props(row, code, kind, self.normalise)
        data["props"]["region"] = region
        data["props"]["stub"] = None
        superior = (_checked("superior", row.superior, parse_org_code).code if row.superior
                    else None)
        return Prepared(data, superior=superior)

    def natural_person(self, row: NaturalPersonRow) -> Prepared:
        number = _checked("id_number", row.id_number, partial(parse_id_number, today=self.today))
        data = natural_person_props(row, number, self.privacy)
        data["props"]["stub"] = None
        return Prepared(data)

    def official(self, row: OfficialRow) -> Prepared:
        number = _checked("id_number", row.id_number, partial(parse_id_number, today=self.today))
        self.not_future(row, "start_date")
        agency = self.subject_ref("agency_uscc", row.agency_uscc)
        if agency.person:
            raise RowRejected("agency_uscc", row.agency_uscc, "the agency must be a USCC")
        person = natural_person_props(NaturalPersonRow(id_number=row.id_number, name=row.name),
                                      number, self.privacy)
        data = {
            **person,
            "agency": agency.key,
            "key": _iso(row.start_date) or "",
            "rel": {"position": row.position, "rank": row.rank,
                    "start": row.start_date, "end": row.end_date},
        }
        return Prepared(data, refs=[("agency_uscc", agency)], must_exist=True,
                        expect=[("agency_uscc", agency, Endpoint.AGENCY)],
                        expect_reason="SERVES_IN must go to an agency (机关)")

    def relation(self, row: RelationRow) -> Prepared:
        rtype = relation_type(row.type)
        if rtype is None:
            raise RowRejected("type", row.type, f"unknown relation type {row.type!r}")
        spec = RELATIONS[rtype]
        if spec.derived:
            raise RowRejected("type", row.type, f"{rtype.value} is derived, not loaded")
        self.not_future(row, "start_date")
        if row.start_date and row.end_date and row.end_date < row.start_date:
            raise RowRejected("end_date", row.end_date.isoformat(), "end date before start date")
        source = self.subject_ref("from_id", row.from_id)
        target = self.subject_ref("to_id", row.to_id)
        if source.key == target.key:
            raise RowRejected("to_id", row.to_id, "a relation from a subject to itself")
        swapped = spec.symmetric and target.key < source.key
        # the columns go with their ends: a reject names the cell the row wrote
        source_column, target_column = "from_id", "to_id"
        if swapped:
            source, target = target, source
            source_column, target_column = target_column, source_column
        props: dict[str, Any] = {"start": row.start_date, "end": row.end_date}
        if "ratio" in spec.properties:
            props["ratio"] = row.ratio
        named = row.type.strip()
        if "role" in spec.properties:
            # a title written as the type (董事长, 总经理) is the role a 职务 column would give
            props["role"] = row.role or (named if named in spec.aliases else spec.zh)
        if "position" in spec.properties:
            # a 任职 row's 职务 is the post's position, as the officials file's 职务 is
            props["position"] = row.role
        if "kind" in spec.properties:
            kind = row.kind or (named if named in KINSHIP else None)
            # stored from the other end: 张德福 父母 张三明 is 张三明 子女 张德福
            props["kind"] = converse_kinship(kind) if swapped else kind
        data = {"from": source.key, "to": target.key, "key": _iso(row.start_date) or "",
                "props": props}
        return Prepared(
            data, refs=[(source_column, source), (target_column, target)], must_exist=True,
            expect=[(source_column, source, spec.source), (target_column, target, spec.target)],
            expect_reason=f"{rtype.value} must go from {ENDPOINT_NAMES[spec.source]} to "
                          f"{ENDPOINT_NAMES[spec.target]}",
            relation=rtype)

    # -- records ----------------------------------------------------------------------------
    def _record(self, kind: RecordKind, key: str, props: dict[str, Any],
                parties: list[tuple[str, SubjectRef, PartyRole]], issuer: SubjectRef | None,
                date: dt.date | None) -> Prepared:
        props = {**props, "kind": kind.value, "date": date}
        data = {
            "id": key,
            "props": props,
            "status": props.pop("status"),
            "parties": [party_row(ref, role) for _, ref, role in parties],
            "partyKeys": [[ref.key, role] for _, ref, role in parties],
            "issuer": issuer.key if issuer else None,
            "issuerStub": issuer.stub if issuer else None,
            "issuerAgency": bool(issuer and issuer.agency),
        }
        return Prepared(data, refs=[(column, ref) for column, ref, _ in parties])

    def _issuer(self, raw: str | None, name: str | None) -> SubjectRef | None:
        if not raw:
            return None
        try:
            ref = self.subject_ref("authority_uscc", raw, name)
        except RowRejected:
            return None  # an unusable authority code only loses the ISSUED_BY link
        return None if ref.person else ref

    def _named_record(self, kind: RecordKind, key: str, props: dict[str, Any],
                      date: dt.date | None, issuer: SubjectRef | None, column: str,
                      raw: str | None, lookup: Lookup, role: PartyRole = PartyRole.SUBJECT,
                      others: tuple[tuple[str, SubjectRef, PartyRole], ...] = ()) -> Prepared:
        """A record whose party is given by its id — or, when the id is missing or invalid
        but the row names the party, left to be resolved by name (关联补正)."""
        try:
            party = self.subject_ref(column, raw, lookup.name or None)
            if lookup.kind == SubjectKind.NATURAL_PERSON.value and not party.person and raw:
                self._no_person_number(column, raw)
        except RowRejected as exc:
            if not lookup.name:
                raise
            problem = f"{exc.reason} ({exc.value})" if raw else "missing subject id"
            if raw and lookup.kind == SubjectKind.NATURAL_PERSON.value:
                problem = f"{self._person_number_problem(raw, exc.reason)} ({exc.value})"
            if lookup.kind == SubjectKind.NATURAL_PERSON.value or (raw and is_near_id_number(raw)):
                # a Chinese name does not single out a person (two 王伟): only his number does
                raise RowRejected(column, raw or lookup.name, "unresolved subject: a natural "
                                  f"person is found by the ID number, not by name; {problem}"
                                  ) from exc
            prepared = self._record(kind, key, props, list(others), issuer, date)
            typed = normalise(raw) if raw else ""
            if len(typed) == USCC_LENGTH:
                lookup = replace(lookup, mistyped=typed)
            prepared.resolve = Unresolved(column, role, lookup, problem)
            return prepared
        return self._record(kind, key, props, [(column, party, role), *others], issuer, date)

    def _person_number_problem(self, raw: str, reason: str) -> str:
        """What is wrong with a natural person's (自然人) id that is written as an ID number
        (digits, a final X): said of the ID number, as natural_persons says it — an impossible
        birth date (19900230) is not a USCC's bad check character, which the quality report
        then counted. Anything else (a company's code on a row miscalled 自然人) keeps
        `reason`."""
        text = normalise(raw)
        if not text.removesuffix("X").isdigit():
            return reason
        try:
            parse_id_number(raw, self.today)
        except IdentifierError as exc:
            return _identifier_reason(exc)
        return reason

    def _no_person_number(self, column: str, raw: str) -> None:
        """A natural person's (自然人) id that has an ID number's region and birth date but not
        its check digit, and reads as a USCC only because about one such mistyped number in 31
        passes the USCC check: the row says whose it is — his number mistyped, personal data,
        never a company's key (nor a stub subject keyed by it)."""
        if len(normalise(raw)) == 18 and is_near_id_number(raw):
            try:
                parse_id_number(raw, self.today)
            except IdentifierError as exc:
                raise RowRejected(column, raw, _identifier_reason(exc)) from exc

    def _lookup(self, name: str | None, category: str | None = None,
                issuer: SubjectRef | None = None, authority: str | None = None,
                legal_rep: str | None = None, legal_rep_id: str | None = None) -> Lookup:
        """What the row tells about the party beside its name: 行政相对人类别, the legal
        representative, the authority."""
        # only legal persons are found by name (关联补正); a person's record needs his number
        kind = SubjectKind.NATURAL_PERSON.value if "自然人" in (category or "") else LEGAL
        rep_key = None
        if legal_rep_id:
            try:
                rep_key = self.privacy.person_key(parse_id_number(legal_rep_id, self.today))
            except IdentifierError:
                rep_key = None  # an unusable number is no evidence; the name may still be
        return Lookup(name or "", kind, legal_rep, rep_key, issuer.key if issuer else None,
                      authority)

    def penalty(self, row: PenaltyRow) -> Prepared:
        self.not_future(row, "decided_on")
        props = {
            **self._penalty_derived(row),
            "title": row.violation_type or row.category, "authority": row.authority,
            "authorityUscc": _code(row.authority_uscc), "category": row.category,
            "content": row.content, "facts": row.facts, "basis": row.basis, "fine": row.fine,
            "confiscation": row.confiscation, "licenseAction": row.license_action,
            "validUntil": row.valid_until, "source": row.source,
            "sourceUscc": _code(row.source_uscc), "note": row.note, "subjectName": row.subject_name,
            "subjectCategory": row.subject_category, "legalRep": row.legal_rep,
        }
        issuer = self._issuer(row.authority_uscc, row.authority)
        lookup = self._lookup(row.subject_name, row.subject_category, issuer, row.authority,
                              row.legal_rep, row.legal_rep_id)
        return self._named_record(RecordKind.PENALTY, row.decision_no, props, row.decided_on,
                                  issuer, "subject_id", row.subject_id, lookup)

    def _penalty_derived(self, row: PenaltyRow) -> dict[str, Any]:
        """Severity, domain, publicity end and status, and which of the first three the
        department gave (a later file without the column keeps a given one)."""
        derive = self.derive
        severity = derive.severity(row.severity, row.category, row.content, row.fine,
                                   row.license_action)
        until = derive.publicity_until(row.decided_on, severity, row.publicity_until)
        return {
            "severity": severity, "publicityUntil": until,
            "domain": derive.domain(row.domain, row.authority, row.violation_type, row.facts),
            "status": derive.status(until, self.today),
            # true or absent: a derived value carries no flag
            "severityGiven": bool(row.severity
                                  and row.severity.strip() in SEVERITY_ALIASES) or None,
            "domainGiven": derive.given_domain(row.domain) is not None or None,
            "publicityGiven": row.publicity_until is not None or None,
        }

    def license(self, row: LicenseRow) -> Prepared:
        self.not_future(row, "decided_on")
        if row.valid_from and row.valid_to and row.valid_to < row.valid_from:
            raise RowRejected("valid_to", row.valid_to.isoformat(),
                              "有效期至 (valid_to) before 有效期自 (valid_from)")
        props = {
            # the certificate's and decision's names too: most licences are issued by a
            # 行政审批服务局 (相对集中许可), whose name says no field, and 许可类别 of the
            # national template is a legal type (普通, 特许 …), not a field
            "domain": self.derive.domain(None, row.authority, row.license_category,
                                         row.certificate_name, row.document_name),
            "severity": None, **self._licence_derived(row),
            "title": row.certificate_name or row.document_name or row.license_category,
            "authority": row.authority, "authorityUscc": _code(row.authority_uscc),
            "documentName": row.document_name, "licenseCategory": row.license_category,
            "certificateName": row.certificate_name, "licenseNo": row.license_no,
            "content": row.content, "validFrom": row.valid_from, "validTo": row.valid_to,
            "currentStatus": row.status, "subjectName": row.subject_name,
        }
        issuer = self._issuer(row.authority_uscc, row.authority)
        lookup = self._lookup(row.subject_name, issuer=issuer, authority=row.authority)
        return self._named_record(RecordKind.LICENSE, row.decision_no, props, row.decided_on,
                                  issuer, "subject_id", row.subject_id, lookup)

    def _licence_derived(self, row: LicenseRow) -> dict[str, Any]:
        """The status by 当前状态 and 有效期至 (`Deriver.licence_status`)."""
        return {"status": self.derive.licence_status(row.status, row.valid_to, self.today)}

    def listing(self, row: ListingRow) -> Prepared:
        # a 移出日期 ahead is a removal scheduled (a list kept for a fixed term): the listing is
        # in force until then, as every analysis reads `removedOn` against its own date
        self.not_future(row, "listed_on")
        list_type = row.list_type.strip()
        if list_type not in self.list_types and list_type.removesuffix("名单") in self.list_types:
            list_type = list_type.removesuffix("名单")  # 失信被执行人名单 is 失信被执行人
        if list_type not in self.list_types:
            raise RowRejected("list_type", row.list_type, f"unknown list type {list_type!r}")
        if row.removed_on and row.removed_on < row.listed_on:
            raise RowRejected("removed_on", row.removed_on.isoformat(),
                              "removal date before listing date")
        status = (RecordStatus.EXPIRED.value if row.removed_on and row.removed_on <= self.today
                  else RecordStatus.ACTIVE.value)
        props = {
            "domain": self._listing_domain(row, list_type),
            "severity": (Severity.SEVERE if list_type in self.severe_lists
                         else Severity.GENERAL).value,
            "status": status, "title": list_type, "listType": list_type,
            "authority": row.authority, "basis": row.basis, "caseNo": row.case_no,
            "amount": row.amount, "listedOn": row.listed_on, "removedOn": row.removed_on,
            "removalReason": row.removal_reason, "subjectName": row.subject_name,
        }
        lookup = self._lookup(row.subject_name, authority=row.authority)
        return self._named_record(RecordKind.LISTING, row.list_id, props, row.listed_on, None,
                                  "subject_id", row.subject_id, lookup)

    def _listing_domain(self, row: ListingRow, list_type: str) -> str:
        """A list type that names its field decides (失信被执行人 is a court's, whatever its
        认定依据 mentions); else the authority and basis, as for a penalty."""
        fallback = self.rules.domains.fallback
        by_type = self.derive.domain(None, list_type)
        return by_type if by_type != fallback else self.derive.domain(
            None, row.authority, row.basis, list_type)

    def judgment(self, row: JudgmentRow) -> Prepared:
        self.not_future(row, "filed_on", "fulfilled_on")
        if row.due_on and row.filed_on and row.due_on < row.filed_on:
            raise RowRejected("due_on", row.due_on.isoformat(), "due date before filing date")
        status = (RecordStatus.EXPIRED.value if row.fulfilled_on
                  else RecordStatus.ACTIVE.value)
        props = {
            "domain": self.judgment_domain, "severity": None, "status": status,
            "title": f"执行案件 {row.case_no}", "authority": row.court, "court": row.court,
            "amount": row.amount, "filedOn": row.filed_on, "dueOn": row.due_on,
            "fulfilledOn": row.fulfilled_on, "debtorName": row.debtor_name,
            "creditorName": row.creditor_name,
        }
        creditor = (("creditor_id",
                     self.subject_ref("creditor_id", row.creditor_id, row.creditor_name),
                     PartyRole.CREDITOR),) if row.creditor_id else ()
        lookup = self._lookup(row.debtor_name, authority=row.court)
        return self._named_record(RecordKind.JUDGMENT, row.case_no, props,
                                  row.filed_on or row.due_on, None, "debtor_id", row.debtor_id,
                                  lookup, PartyRole.DEBTOR, creditor)

    def contract(self, row: ContractRow) -> Prepared:
        self.not_future(row, "signed_on", "fulfilled_on")
        agency = self.subject_ref("agency_uscc", row.agency_uscc)
        if agency.person:
            raise RowRejected("agency_uscc", row.agency_uscc, "the agency must be a USCC")
        counterparty = self.subject_ref("counterparty_id", row.counterparty_id)
        props = {
            "domain": self.contract_domain, "severity": None, "status": RecordStatus.ACTIVE.value,
            "title": row.title, "authority": None, "contractKind": row.kind,
            "amount": row.amount, "signedOn": row.signed_on, "dueOn": row.due_on,
            "fulfilledOn": row.fulfilled_on, "performance": row.status,
            "govDefault": row.gov_default, **self._contract_derived(row),
            "agencyUscc": agency.key,
        }
        return self._record(RecordKind.CONTRACT, row.contract_no, props,
                            [("agency_uscc", agency, PartyRole.AGENCY),
                             ("counterparty_id", counterparty, PartyRole.COUNTERPARTY)],
                            agency, row.signed_on)

    def _contract_derived(self, row: ContractRow) -> dict[str, Any]:
        """Who the source says defaulted (相对方违约; not 甲方违约, the 采购人's, nor 未违约),
        not whether it has yet: the analyses count the default from the due date as of their
        own date, so a contract loaded before its due date and never sent again still counts
        once the date has passed. And performed by the source's word, on a day not given."""
        contracts = self.rules.contracts
        return {"subjectDefault": contracts.subject_default(row.status, row.gov_default),
                "fulfilledUndated": (row.fulfilled_on is None
                                     and contracts.says_fulfilled(row.status))}

    def derived(self, kind: str, row: BundleRow) -> dict[str, Any]:
        """What a row of a kind derives from several of its columns — for a penalty, licence
        or contract already stored, from the row with what it stores in place of the columns
        a later file lacks (`sources.with_stored`)."""
        return self._derived[kind](row)

    def commitment(self, row: CommitmentRow) -> Prepared:
        self.not_future(row, "made_on")
        subject = self.subject_ref("subject_id", row.subject_id)
        props = {
            "domain": self.commitment_domain, "severity": None, "status": RecordStatus.ACTIVE.value,
            "title": row.kind, "authority": row.authority, "commitmentKind": row.kind,
            "content": row.content, "madeOn": row.made_on, "dueOn": row.due_on,
            "fulfilled": row.fulfilled,
        }
        return self._record(RecordKind.COMMITMENT, row.commitment_id, props,
                            [("subject_id", subject, PartyRole.SUBJECT)], None, row.made_on)


def scrubbed(row: BundleRow) -> BundleRow:
    """The row with an ID number anywhere in its free text masked (SPEC §6): 双公示 exports
    write 当事人张三（身份证号码 …） into facts, notes and names. Identifier fields are left
    for `subject_ref`, which keys a person without keeping the number."""
    changes = {}
    for name in text_fields(type(row)):
        value = getattr(row, name)
        if isinstance(value, str) and (clean := scrub(value)) != value:
            changes[name] = clean
    return row.model_copy(update=changes) if changes else row


def _kind(text: str | None) -> SubjectKind | None:
    if not text:
        return None
    value = text.strip()
    if value.upper() in SubjectKind.__members__:
        return SubjectKind[value.upper()]
    for kind, name in SUBJECT_KIND_ZH.items():
        if name in value:
            return kind
    if "社会团体" in value or "民办非企业" in value or "基金会" in value:
        return SubjectKind.SOCIAL_ORG
    if "公司" in value or "企业" in value:
        return SubjectKind.ENTERPRISE
    return None


def _code(raw: str | None) -> str | None:
    """An authority's or source's code as the row gave it — an unusable one only loses its
    link — unless it holds an ID number (a person's, typed where the code belongs): masked."""
    return scrub(raw) if raw else raw


def _checked(column: str, raw: str, parse: Callable[[str], T]) -> T:
    """An identifier parsed, or the row rejected saying what is wrong with it."""
    try:
        return parse(raw)
    except IdentifierError as exc:
        raise RowRejected(column, raw, _identifier_reason(exc)) from None


# The reject reason of each kind of malformed identifier (the quality report counts them).
IDENTIFIER_REASONS = {"length": "bad length", "character": "bad characters",
                      "check_digit": "bad check digit", "date": "impossible birth date",
                      "number": "digits lost", "person": "an ID number"}


def _identifier_reason(exc: IdentifierError) -> str:
    return f"{IDENTIFIER_REASONS.get(exc.reason, exc.reason)}: {exc}"
