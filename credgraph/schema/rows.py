"""One pydantic model per data-bundle file (SPEC §5), with English and Chinese header aliases.

The aliases declared here are the only header table: readers map a file's headers through
`header_map`, and every parse error names the column and the value.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from functools import cache
from typing import Annotated, Any, ClassVar

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from credgraph.schema.identifiers import in_number_notation, looks_like_id_number, normalise
from credgraph.schema.privacy import (
    is_near_id_number,
    mask_id_number,
    mask_number_notation,
    scrub,
)
from credgraph.schema.values import parse_amount, parse_bool, parse_date, parse_ratio


def _scalar(value: object) -> object:
    """A cell's value; a JSON Lines object or list where one value belongs is refused rather
    than stored as its Python spelling ("{'zh': '王五'}")."""
    if isinstance(value, dict | list):
        kind = "an object" if isinstance(value, dict) else "a list"
        raise ValueError(f"expected one value, got {kind}")
    return value


# Control characters no one writes (a NUL, a form feed from a source system's field dump);
# tabs and line breaks in free text are kept.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(text: str) -> str:
    """Text rid of control characters (a NUL, a form feed), tabs and line breaks kept: what
    the loader and the API's free-text arguments store."""
    return text if text.isprintable() else _CONTROL.sub("", text)


def _cell(value: object) -> str | None:
    """A cell as text less control characters; None for no value."""
    if type(value) is not str:  # a cell is text; JSON Lines and XLSX give other values too
        if _scalar(value) is None:
            return None
        value = str(value)
    return printable(value)


def _text(value: object) -> str | None:
    """Text as written: a name's （集团）, a case number's （2024）鲁14执 are shown and looked up
    as the source wrote them (matching folds widths on its own, `names.py`) — less control
    characters."""
    text = _cell(value)
    return (text.strip() or None) if text is not None else None


def _code(value: object) -> str | None:
    """A code written in text (a region, a phone number, a type): full-width forms folded
    (３７１４０２ is 371402), so equal codes compare equal."""
    text = _cell(value)
    if text is None:
        return None
    if not text.isascii():  # ASCII is its own NFKC form; most codes are ASCII
        text = unicodedata.normalize("NFKC", text)
    return text.strip() or None


# Spaces, hyphens, dashes, dots and brackets people put between a phone number's digits.
_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015.()]")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Area code with its 0 (010 and 02x: three digits, eight after; the rest four, seven or eight).
_LANDLINE = re.compile(r"(010|02[0-9])([0-9]{8})|(0[3-9][0-9]{2})([0-9]{7,8})")
_SERVICE = ("400", "800")  # nationwide service numbers: no area code to restore


def _phone(value: object) -> str | None:
    """联系电话 in one spelling, so that one number shared by two subjects (共用联系方式) is
    found however each source typed it: a mobile as its 11 digits, a landline as area code,
    hyphen, number (0534-2345678, 010-12345678), with spaces, brackets, +86 / 0086 (86 before a
    mobile, or before an area code and number: 86-512-57771234) and a 0 typed before a mobile
    gone. Anything else (extensions, two numbers, 400
    numbers, a number without its area code) stays as written — but an ID number in the
    column (a shifted column, the wrong field filled in) is personal data, not a phone: the
    row is refused, as an amount column holding one is."""
    text = _bounded_code(value)
    if text is None:
        return None
    if scrub(text) != text:
        raise ValueError("an ID number where a phone belongs")
    digits = _PHONE_SEPARATORS.sub("", text)
    for country in ("+86", "0086", "86"):
        rest = digits[len(country):]
        if not digits.startswith(country) or len(rest) < 10:
            continue
        if _MOBILE.fullmatch(rest) or rest.startswith("0"):
            digits = rest
        elif not rest.startswith(_SERVICE) and (country != "86"
                                                or _LANDLINE.fullmatch("0" + rest)):
            digits = "0" + rest  # the area code's 0 goes after the country code
        break
    if digits.startswith("0") and _MOBILE.fullmatch(digits[1:]):
        digits = digits[1:]
    if _MOBILE.fullmatch(digits):
        return digits
    landline = _LANDLINE.fullmatch(digits)
    if landline:
        area, number = (landline[1], landline[2]) if landline[1] else (landline[3], landline[4])
        return f"{area}-{number}"
    return text


def _identifier(value: object) -> str | None:
    text = _code(value)
    return normalise(text) if text else None


MAX_TEXT = 4000


def _limited(text: str | None) -> str | None:
    if text is not None and len(text) > MAX_TEXT:
        raise ValueError(f"text of {len(text)} characters is longer than {MAX_TEXT}")
    return text


def _bounded(value: object) -> str | None:
    return _limited(_text(value))


def _bounded_code(value: object) -> str | None:
    return _limited(_code(value))


Text = Annotated[str | None, BeforeValidator(_bounded)]
Code = Annotated[str | None, BeforeValidator(_bounded_code)]
RequiredCode = Annotated[str, BeforeValidator(_bounded_code)]
RequiredText = Annotated[str, BeforeValidator(_bounded)]
Identifier = Annotated[str | None, BeforeValidator(_identifier)]
Phone = Annotated[str | None, BeforeValidator(_phone)]
RequiredIdentifier = Annotated[str, BeforeValidator(_identifier)]
Date = Annotated[dt.date | None, BeforeValidator(parse_date)]
RequiredDate = Annotated[dt.date, BeforeValidator(parse_date)]
Amount = Annotated[float | None, BeforeValidator(parse_amount)]
Ratio = Annotated[float | None, BeforeValidator(parse_ratio)]
Flag = Annotated[bool | None, BeforeValidator(parse_bool)]


def col(*names: str, required: bool = False) -> Any:
    """A column known by an English key and its Chinese standard names."""
    default = ... if required else None
    return Field(default, validation_alias=AliasChoices(*names), serialization_alias=names[0])


class BundleRow(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    file: ClassVar[str]
    key: ClassVar[str]
    # The fields naming the department a row comes from, first given wins (数据来源单位, else
    # the deciding authority): the quality report counts refused rows by it.
    departments: ClassVar[tuple[str, ...]] = ()


class LegalPersonRow(BundleRow):
    file = "legal_persons"
    key = "uscc"
    uscc: RequiredIdentifier = col("uscc", "统一社会信用代码", required=True)
    name: RequiredText = col("name", "名称", "主体名称", "企业名称", required=True)
    kind: Code = col("kind", "主体类别")
    region: Code = col("region", "行政区划代码")
    industry: Text = col("industry", "行业", "所属行业")
    status: Text = col("status", "登记状态")
    established: Date = col("established", "成立日期")
    registered_capital: Amount = col("registered_capital", "注册资本（万元）", "注册资本")
    address: Text = col("address", "住所", "地址")
    phone: Phone = col("phone", "联系电话")
    superior: Identifier = col("superior", "上级主管部门统一社会信用代码")


class NaturalPersonRow(BundleRow):
    file = "natural_persons"
    key = "id_number"
    id_number: RequiredIdentifier = col("id_number", "身份证号码", "证件号码", required=True)
    name: RequiredText = col("name", "姓名", required=True)
    phone: Phone = col("phone", "联系电话")
    address: Text = col("address", "住址")


class RelationRow(BundleRow):
    file = "relations"
    key = ""
    from_id: RequiredIdentifier = col("from_id", "关联方标识", required=True)
    to_id: RequiredIdentifier = col("to_id", "主体标识", required=True)
    type: RequiredCode = col("type", "关系类型", required=True)
    ratio: Ratio = col("ratio", "持股比例")
    role: Text = col("role", "职务")
    kind: Text = col("kind", "亲属关系")
    start_date: Date = col("start_date", "开始日期")
    end_date: Date = col("end_date", "结束日期")


class OfficialRow(BundleRow):
    file = "officials"
    key = ""
    id_number: RequiredIdentifier = col("id_number", "身份证号码", "证件号码", required=True)
    name: RequiredText = col("name", "姓名", required=True)
    agency_uscc: RequiredIdentifier = col(
        "agency_uscc", "任职单位统一社会信用代码", required=True
    )
    position: Text = col("position", "职务")
    rank: Text = col("rank", "职级")
    start_date: Date = col("start_date", "任职日期")
    end_date: Date = col("end_date", "离任日期")


class PenaltyRow(BundleRow):
    file = "penalties"
    key = "decision_no"
    departments = ("source", "authority")
    decision_no: RequiredText = col("decision_no", "行政处罚决定书文号", required=True)
    subject_name: RequiredText = col("subject_name", "行政相对人名称", required=True)
    subject_category: Text = col("subject_category", "行政相对人类别")
    subject_id: Identifier = col(
        "subject_id", "统一社会信用代码", "证件号码", "行政相对人代码_1（统一社会信用代码）"
    )
    legal_rep: Text = col("legal_rep", "法定代表人")
    legal_rep_id: Identifier = col("legal_rep_id", "法定代表人证件号码")
    violation_type: Text = col("violation_type", "违法行为类型")
    facts: Text = col("facts", "违法事实")
    basis: Text = col("basis", "处罚依据")
    category: RequiredText = col("category", "处罚类别", required=True)
    content: Text = col("content", "处罚内容")
    fine: Amount = col("fine", "罚款金额（万元）", "罚款金额")
    confiscation: Amount = col(
        "confiscation", "没收违法所得、没收非法财物的金额（万元）", "没收金额"
    )
    license_action: Text = col("license_action", "暂扣或吊销证照名称及编号")
    decided_on: RequiredDate = col("decided_on", "处罚决定日期", required=True)
    valid_until: Date = col("valid_until", "处罚有效期")
    publicity_until: Date = col("publicity_until", "公示截止期")
    authority: RequiredText = col("authority", "处罚机关", required=True)
    authority_uscc: Identifier = col("authority_uscc", "处罚机关统一社会信用代码")
    source: Text = col("source", "数据来源单位")
    source_uscc: Identifier = col("source_uscc", "数据来源单位统一社会信用代码")
    note: Text = col("note", "备注")
    domain: Code = col("domain", "领域")
    severity: Code = col("severity", "严重程度")


class LicenseRow(BundleRow):
    file = "licenses"
    key = "decision_no"
    departments = ("source", "authority")
    decision_no: RequiredText = col("decision_no", "行政许可决定书文号", "行政许可决定文书号",
                                    required=True)
    document_name: Text = col("document_name", "行政许可决定文书名称")
    subject_name: RequiredText = col("subject_name", "行政相对人名称", required=True)
    subject_id: Identifier = col("subject_id", "统一社会信用代码", "证件号码",
                                 "行政相对人代码_1（统一社会信用代码）")
    license_category: Text = col("license_category", "许可类别")
    certificate_name: Text = col("certificate_name", "许可证书名称")
    license_no: Text = col("license_no", "许可编号")
    content: Text = col("content", "许可内容")
    decided_on: RequiredDate = col("decided_on", "许可决定日期", required=True)
    valid_from: Date = col("valid_from", "有效期自")
    valid_to: Date = col("valid_to", "有效期至")
    authority: RequiredText = col("authority", "许可机关", required=True)
    authority_uscc: Identifier = col("authority_uscc", "许可机关统一社会信用代码")
    status: Text = col("status", "当前状态")
    # the 双公示 licence's 数据来源单位: the department its refused rows are counted by
    source: Text = col("source", "数据来源单位")


class ListingRow(BundleRow):
    file = "listings"
    key = "list_id"
    departments = ("authority",)
    list_id: RequiredText = col("list_id", "名单编号", required=True)
    # 行政相对人名称: SPEC §5 names a subject's name only so (the 双公示 field), and a list
    # exported beside the 双公示 files carries it too
    subject_name: RequiredText = col("subject_name", "主体名称", "名称", "行政相对人名称",
                                     required=True)
    subject_id: RequiredIdentifier = col(
        "subject_id", "主体标识", "统一社会信用代码", "证件号码", required=True
    )
    list_type: RequiredText = col("list_type", "名单类型", required=True)
    authority: Text = col("authority", "认定部门")
    basis: Text = col("basis", "认定依据")
    case_no: Text = col("case_no", "案号")
    amount: Amount = col("amount", "涉案金额（万元）", "涉案金额")
    listed_on: RequiredDate = col("listed_on", "列入日期", required=True)
    removed_on: Date = col("removed_on", "移出日期")
    removal_reason: Text = col("removal_reason", "移出原因")


class JudgmentRow(BundleRow):
    file = "judgments"
    key = "case_no"
    departments = ("court",)
    case_no: RequiredText = col("case_no", "案号", required=True)
    court: Text = col("court", "执行法院")
    debtor_id: RequiredIdentifier = col("debtor_id", "被执行人标识", required=True)
    debtor_name: Text = col("debtor_name", "被执行人名称", "被执行人")
    creditor_id: Identifier = col("creditor_id", "申请执行人标识")
    creditor_name: Text = col("creditor_name", "申请执行人名称", "申请执行人")
    amount: Amount = col("amount", "执行标的（万元）", "执行标的")
    filed_on: Date = col("filed_on", "立案日期")
    due_on: Date = col("due_on", "履行期限")
    fulfilled_on: Date = col("fulfilled_on", "履行日期")


class ContractRow(BundleRow):
    file = "contracts"
    key = "contract_no"
    departments = ("agency_uscc",)
    contract_no: RequiredText = col("contract_no", "合同编号", required=True)
    kind: Text = col("kind", "合同类型")
    agency_uscc: RequiredIdentifier = col(
        "agency_uscc", "政府方统一社会信用代码", required=True
    )
    counterparty_id: RequiredIdentifier = col("counterparty_id", "相对方标识", required=True)
    title: Text = col("title", "项目名称")
    amount: Amount = col("amount", "金额（万元）", "金额")
    signed_on: RequiredDate = col("signed_on", "签订日期", required=True)
    due_on: Date = col("due_on", "付款或履约期限")
    fulfilled_on: Date = col("fulfilled_on", "履约日期")
    status: Text = col("status", "履约状态")
    gov_default: Flag = col("gov_default", "政府方违约")


class CommitmentRow(BundleRow):
    file = "commitments"
    key = "commitment_id"
    departments = ("authority",)
    commitment_id: RequiredText = col("commitment_id", "承诺编号", required=True)
    subject_id: RequiredIdentifier = col("subject_id", "主体标识", "统一社会信用代码", "证件号码",
                                         required=True)
    kind: Text = col("kind", "承诺类型")
    content: Text = col("content", "承诺内容")
    made_on: RequiredDate = col("made_on", "承诺日期", required=True)
    due_on: Date = col("due_on", "履约期限")
    fulfilled: Flag = col("fulfilled", "是否履约")
    authority: Text = col("authority", "受理部门")


ROW_MODELS: dict[str, type[BundleRow]] = {
    model.file: model
    for model in (
        LegalPersonRow, NaturalPersonRow, RelationRow, OfficialRow, PenaltyRow, LicenseRow,
        ListingRow, JudgmentRow, ContractRow, CommitmentRow,
    )
}


def _header_key(header: str) -> str:
    """Headers compared without case, spaces, `_` or `-`, brackets unified: `Decision No`,
    `decision-no` and `decision_no` are one column, as are 注册资本(万元) and 注册资本（万元）."""
    text = unicodedata.normalize("NFKC", header).strip().lower()
    text = "".join(text.split()).replace("_", "").replace("-", "")
    return text.replace("(", "（").replace(")", "）")


def header_map(model: type[BundleRow], headers: list[str]) -> dict[str, str]:
    """Map a file's headers onto the model's field names; unknown headers are ignored. Several
    headers may feed one field (双公示 files carry 统一社会信用代码 for organisations and 证件号码
    for persons): the first non-empty one in a row wins, see `row_values`."""
    known: dict[str, str] = {}
    for name, field in model.model_fields.items():
        alias = field.validation_alias
        names = alias.choices if isinstance(alias, AliasChoices) else [name]
        for choice in names:
            known.setdefault(_header_key(str(choice)), name)
            known.setdefault(_header_key(str(choice)).replace("（", "(").replace("）", ")"), name)
    mapped: dict[str, str] = {}
    for header in headers:
        field_name = known.get(_header_key(header))
        if field_name:
            mapped[header] = field_name
    return mapped


def is_blank(value: object) -> bool:
    """An empty cell: none, or only spaces."""
    return value is None or (isinstance(value, str) and not value.strip())


def row_values(mapping: dict[str, str], raw: dict[str, Any]) -> dict[str, Any]:
    """A raw row by field name, taking for each field the first non-empty mapped cell."""
    values: dict[str, Any] = {}
    for header, field_name in mapping.items():
        value = raw.get(header)
        if field_name not in values or (is_blank(values[field_name]) and not is_blank(value)):
            values[field_name] = value
    return values


def row_columns(mapping: dict[str, str], raw: dict[str, Any],
                columns: dict[str, str]) -> dict[str, str]:
    """The header each field of a row was read from, where it is not the field's first one
    (`columns`): a 双公示 row's 证件号码 when its 统一社会信用代码 is empty — so that a problem
    with the value names the column that holds it. Empty for most rows; `mapping` need hold
    only the fields fed by several headers (`FileShape.shared`)."""
    read_from: dict[str, str] = {}
    for header, field_name in mapping.items():
        if field_name in read_from or is_blank(raw.get(header)):
            continue
        read_from[field_name] = header
    return {name: header for name, header in read_from.items() if columns.get(name) != header}


MISSING = "missing required field"


class FieldProblem(BaseModel):
    column: str
    value: str
    reason: str


# A lone surrogate (a JSON "\ud800" escape) is no character: it cannot be written as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def display_value(value: object) -> str:
    """A value fit for a rejects file or error: ID numbers masked, long text cut, what cannot
    be written as UTF-8 shown as U+FFFD."""
    text = "" if value is None else _SURROGATE.sub("\ufffd", str(value))
    if looks_like_id_number(text) or is_near_id_number(text):
        return mask_id_number(text)
    if in_number_notation(text):
        return mask_number_notation(text)
    # masked before it is cut: a number across the cut would keep its first digits unmasked
    shown = scrub(text)
    return shown if len(shown) <= 200 else shown[:200] + "…"


def department(model: type[BundleRow], values: dict[str, Any]) -> str | None:
    """The department a row names (raw or parsed values by field name) on one line, as a
    rejects file shows a value: ID numbers masked, long text cut; None when it names none."""
    for name in model.departments:
        value = values.get(name)
        if not is_blank(value) and not isinstance(value, dict | list):
            text = " ".join(str(value).split())
            return display_value("".join(c for c in text if c.isprintable()))
    return None


@cache
def text_fields(model: type[BundleRow]) -> tuple[str, ...]:
    """The fields holding text as written (names, addresses, facts, notes …), as opposed to
    identifiers, dates and numbers."""
    return tuple(name for name, info in model.model_fields.items()
                 if any(getattr(item, "func", None) in (_bounded, _bounded_code)
                        for item in info.metadata))


def row_key(model: type[BundleRow], value: object) -> str:
    """A row's key as the full parse reads it (a USCC folded and upper-cased, text stripped)
    without validating the rest of the row: the duplicate pre-pass must agree with the load."""
    try:
        return str(_key_adapter(model).validate_python(value))
    except ValidationError:
        return str(value).strip()


@cache
def _key_adapter(model: type[BundleRow]) -> TypeAdapter[Any]:
    info = model.model_fields[model.key]
    annotated: Any = Annotated[info.annotation, *info.metadata]
    return TypeAdapter(annotated)


def parse_row(
    model: type[BundleRow], values: dict[str, Any], columns: dict[str, str] | None = None
) -> BundleRow | list[FieldProblem]:
    """Validate one row given by field name; `columns` maps field names back to headers."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            column = (columns or {}).get(field, field)
            if error["type"] == "missing" or (
                error["type"] in {"string_type", "date_type"} and error.get("input") is None
            ):
                reason = MISSING
            else:
                reason = scrub(str(error["msg"]).removeprefix("Value error, "))
            problems.append(
                FieldProblem(column=column, value=display_value(values.get(field)), reason=reason)
            )
        return problems
