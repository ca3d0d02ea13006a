"""The subset of QBO's query language the emulator understands (reference §8), with QBO's error codes."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

NAME_LISTS = {"vendor", "customer", "employee", "account", "class", "department", "term", "taxcode", "taxrate"}
# WHERE-filterable properties per entity (lower case); other entities accept any property.
FILTERABLE: dict[str, set[str]] = {
    "vendor": {"id", "displayname", "givenname", "middlename", "familyname", "companyname", "printoncheckname",
               "primaryemailaddr", "active", "balance", "metadata.createtime", "metadata.lastupdatedtime"},
    "customer": {"id", "displayname", "givenname", "familyname", "companyname", "primaryemailaddr", "active",
                 "metadata.createtime", "metadata.lastupdatedtime"},
    "employee": {"id", "displayname", "givenname", "familyname", "primaryemailaddr", "active",
                 "metadata.createtime", "metadata.lastupdatedtime"},
    "bill": {"id", "vendorref", "txndate", "apaccountref", "salestermref", "totalamt", "duedate", "docnumber",
             "balance", "metadata.createtime", "metadata.lastupdatedtime"},
    "account": {"id", "name", "fullyqualifiedname", "accounttype", "accountsubtype", "classification", "active",
                "currentbalance", "metadata.createtime", "metadata.lastupdatedtime", "acctnum"},
    "billpayment": {"id", "vendorref", "txndate", "totalamt", "docnumber", "paytype", "metadata.createtime",
                    "metadata.lastupdatedtime"},
    "vendorcredit": {"id", "vendorref", "txndate", "apaccountref", "totalamt", "docnumber", "balance",
                     "metadata.createtime", "metadata.lastupdatedtime"},
    "taxcode": {"id", "name", "active", "taxable", "taxgroup", "metadata.createtime", "metadata.lastupdatedtime"},
    "taxrate": {"id", "name", "active", "ratevalue", "metadata.createtime", "metadata.lastupdatedtime"},
}  # fmt: skip
# Entity names as they appear in URL segments and queries (lower case) -> as QBO spells them in bodies.
ENTITY_KINDS = {"vendor": "Vendor", "customer": "Customer", "employee": "Employee", "bill": "Bill",
                "account": "Account", "attachable": "Attachable", "term": "Term", "class": "Class",
                "department": "Department", "billpayment": "BillPayment", "vendorcredit": "VendorCredit",
                "taxcode": "TaxCode", "taxrate": "TaxRate"}  # fmt: skip
MAX_RESULTS_LIMIT = 1000
DEFAULT_MAX_RESULTS = 100

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<badstring>'.*)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),*])
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE | re.DOTALL,
)
_KEYWORDS = {"select", "from", "where", "and", "or", "orderby", "order", "by", "asc", "desc", "startposition",
             "maxresults", "in", "like", "count"}  # fmt: skip


class QueryError(Exception):
    """A query the emulator refuses, with QBO's code (4000 parse, 4001 validation)."""

    def __init__(self, code: str, message: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.message = message
        self.detail = detail


@dataclass
class Token:
    """One lexical token of a query."""

    kind: str
    text: str
    column: int


@dataclass
class Condition:
    """One WHERE condition."""

    prop: str
    op: str
    values: list[Any]


@dataclass
class Query:
    """A parsed statement."""

    entity: str
    count: bool = False
    columns: list[str] | None = None
    conditions: list[Condition] = field(default_factory=list)
    order_by: str | None = None
    descending: bool = False
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS


def tokenize(text: str) -> list[Token]:
    """Split a statement into tokens; an unbalanced quote is a 4000 parse error."""
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None:
            raise _parse_error(text[position:].strip()[:1], position + 1)
        kind = match.lastgroup or ""
        value = match.group(kind)
        column = match.start(kind) + 1
        if kind == "badstring":
            raise _parse_error(value.split()[0] if value.split() else value, column)
        tokens.append(Token(kind, value, column))
        position = match.end()
    return tokens


def _parse_error(found: str, column: int) -> QueryError:
    expected = 'Was expecting one of: <EOF> <AND> ... "maxresults" ... "orderby" ... "startposition" ...'
    return QueryError(
        "4000",
        "Error parsing query",
        f'QueryParserError: Encountered " <IDENTIFIER> "{found} "" at line 1, column {column}. {expected}',
    )


def unescape(literal: str) -> str:
    """The value of a quoted literal: `\\'` is a quote, `\\\\` a backslash."""
    inner = literal[1:-1]
    return re.sub(r"\\(.)", r"\1", inner, flags=re.DOTALL)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.index = 0

    def peek(self) -> Token | None:
        """The next token without consuming it."""
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self) -> Token:
        """Consume the next token."""
        token = self.peek()
        if token is None:
            raise _parse_error("<EOF>", 0)
        self.index += 1
        return token

    def keyword(self, *words: str) -> bool:
        """Consume a keyword if it is next."""
        token = self.peek()
        if token is not None and token.kind == "word" and token.text.lower() in words:
            self.index += 1
            return True
        return False

    def expect_keyword(self, word: str) -> None:
        """Consume a required keyword."""
        token = self.next()
        if token.kind != "word" or token.text.lower() != word:
            raise _parse_error(token.text, token.column)

    def expect_punct(self, char: str) -> None:
        """Consume a required punctuation mark."""
        token = self.next()
        if token.text != char:
            raise _parse_error(token.text, token.column)

    def identifier(self) -> str:
        """Consume a property or entity name."""
        token = self.next()
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise _parse_error(token.text, token.column)
        return token.text

    def integer(self) -> int:
        """Consume an integer literal."""
        token = self.next()
        if token.kind != "number" or "." in token.text:
            raise _parse_error(token.text, token.column)
        return int(token.text)

    def value(self) -> Any:
        """Consume a literal: quoted string, number or boolean."""
        token = self.next()
        if token.kind == "string":
            return unescape(token.text)
        if token.kind == "number":
            return Decimal(token.text)
        if token.kind == "word" and token.text.lower() in ("true", "false"):
            return token.text.lower() == "true"
        raise _parse_error(token.text, token.column)

    def parse(self) -> Query:
        """Parse the whole statement."""
        self.expect_keyword("select")
        count = False
        columns: list[str] | None = None
        if self.peek() is not None and self.peek().text == "*":  # type: ignore[union-attr]
            self.next()
        elif self.keyword("count"):
            self.expect_punct("(")
            self.expect_punct("*")
            self.expect_punct(")")
            count = True
        else:
            columns = [self.identifier()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.next()
                columns.append(self.identifier())
        self.expect_keyword("from")
        query = Query(entity=self.identifier().lower(), count=count, columns=columns)
        if self.keyword("where"):
            query.conditions.append(self.condition())
            while True:
                token = self.peek()
                if token is not None and token.kind == "word" and token.text.lower() == "or":
                    raise QueryError("4000", "Error parsing query", "QueryParserError: OR is not supported")
                if not self.keyword("and"):
                    break
                query.conditions.append(self.condition())
        while self.peek() is not None:
            if self.keyword("orderby") or (self.keyword("order") and self._by()):
                query.order_by = self.identifier()
                if self.keyword("desc"):
                    query.descending = True
                else:
                    self.keyword("asc")
            elif self.keyword("startposition"):
                query.start_position = max(1, self.integer())
            elif self.keyword("maxresults"):
                query.max_results = self.integer()
            else:
                token = self.next()
                if token.kind == "word" and token.text.lower() == "or":
                    raise QueryError("4000", "Error parsing query", "QueryParserError: OR is not supported")
                raise _parse_error(token.text, token.column)
        if query.max_results > MAX_RESULTS_LIMIT:
            raise QueryError(
                "4001",
                "Invalid query",
                f"QueryValidationError: value {query.max_results} is too large. Max allowed value is 1000",
            )
        return query

    def _by(self) -> bool:
        self.expect_keyword("by")
        return True

    def condition(self) -> Condition:
        """Parse one WHERE condition."""
        prop = self.identifier()
        token = self.next()
        if token.kind == "op":
            return Condition(prop, token.text, [self.value()])
        if token.kind == "word" and token.text.lower() == "in":
            self.expect_punct("(")
            values = [self.value()]
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.next()
                values.append(self.value())
            self.expect_punct(")")
            return Condition(prop, "in", values)
        if token.kind == "word" and token.text.lower() == "like":
            return Condition(prop, "like", [self.value()])
        raise _parse_error(token.text, token.column)


def parse_query(text: str) -> Query:
    """Parse a statement; raises QueryError (4000/4001) like QBO does."""
    query = _Parser(text.strip().rstrip(";")).parse()
    filterable = FILTERABLE.get(query.entity)
    for condition in query.conditions:
        prop = condition.prop.lower()
        if prop == "id" and condition.op not in ("=", "in"):
            detail = f"QueryValidationError: operator {condition.op} not supported for Id"
            raise QueryError("4001", "Invalid query", detail)
        if filterable is not None and prop not in filterable:
            raise QueryError(
                "4001", "Invalid query", f"QueryValidationError: property '{condition.prop}' is not queryable"
            )
    return query


def field_value(entity: dict[str, Any], prop: str) -> Any:
    """Read a (case-insensitive, dotted) property; refs compare by value, emails by Address."""
    current: Any = entity
    for part in prop.split("."):
        if not isinstance(current, dict):
            return None
        key = next((name for name in current if name.lower() == part.lower()), None)
        if key is None:
            return None
        current = current[key]
    if isinstance(current, dict):
        if "value" in current:
            return current["value"]
        if "Address" in current:
            return current["Address"]
        # AttachableRef.EntityRef.* walks a list below; dicts without a scalar are not comparable
    return current


def _comparable(value: Any) -> Any:
    """A sort key: digit strings (Ids) order as numbers, other text case-insensitively."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value) if re.fullmatch(r"-?\d+(\.\d+)?", value) else value.casefold()
        except InvalidOperation:
            return value.casefold()
    return value


def _operands(stored: Any, literals: list[Any]) -> tuple[Any, list[Any]] | None:
    """Stored value and literals in the stored property's type (§18.6 item 30), or None when they cannot compare.

    A text property compares as text, so `DocNumber = '123'` never matches `0123`; a number compares as a number,
    so `TotalAmt = '100'` matches 100.00; booleans compare only with booleans.
    """
    if isinstance(stored, bool):
        return (stored, literals) if all(isinstance(value, bool) for value in literals) else None
    if isinstance(stored, int | Decimal):
        numbers = []
        for value in literals:
            if isinstance(value, bool):
                return None
            try:
                numbers.append(Decimal(str(value)))
            except InvalidOperation:
                return None
        return Decimal(stored), numbers
    if isinstance(stored, str):
        texts = [str(value).casefold() if not isinstance(value, Decimal) else format(value, "f") for value in literals]
        return stored.casefold(), texts
    return None


def _like(value: Any, pattern: str) -> bool:
    if not isinstance(value, str):
        return False
    regex = "".join(".*" if char == "%" else re.escape(char) for char in pattern.casefold())
    return re.fullmatch(regex, value.casefold(), flags=re.DOTALL) is not None


def _values_of(entity: dict[str, Any], prop: str) -> list[Any]:
    # AttachableRef is a list: match if any element matches.
    head, _, rest = prop.partition(".")
    key = next((name for name in entity if name.lower() == head.lower()), None)
    if key is not None and isinstance(entity[key], list) and rest:
        return [field_value(item, rest) for item in entity[key] if isinstance(item, dict)]
    return [field_value(entity, prop)]


def matches(entity: dict[str, Any], condition: Condition) -> bool:
    """Whether an entity satisfies one WHERE condition (case-insensitive values)."""
    for raw in _values_of(entity, condition.prop):
        if raw is None:
            continue
        if condition.op == "like":
            if _like(raw, str(condition.values[0])):
                return True
            continue
        operands = _operands(raw, condition.values)
        if operands is None:
            continue
        left, rights = operands
        try:
            if condition.op in ("=", "in") and any(left == right for right in rights):
                return True
            if condition.op in ("!=", "<>") and left != rights[0]:
                return True
            if condition.op == "<" and left < rights[0]:
                return True
            if condition.op == ">" and left > rights[0]:
                return True
            if condition.op == "<=" and left <= rights[0]:
                return True
            if condition.op == ">=" and left >= rights[0]:
                return True
        except TypeError:
            continue
    return False


def run_query(query: Query, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Filter, order, page and shape rows into a QueryResponse object."""
    mentions_active = any(condition.prop.lower() == "active" for condition in query.conditions)
    selected = [
        row
        for row in rows
        if all(matches(row, condition) for condition in query.conditions)
        and (mentions_active or query.entity not in NAME_LISTS or row.get("Active", True))
    ]
    if query.count:
        return {"totalCount": len(selected)}
    order_key = query.order_by or "Id"

    def sort_key(row: dict[str, Any]) -> tuple[int, Any]:
        """Order rows by a property; missing values first."""
        value = _comparable(field_value(row, order_key))
        if value is None:
            return (0, "")
        return (1, value) if not isinstance(value, Decimal) else (2, value)

    selected.sort(key=sort_key, reverse=query.descending)
    page = selected[query.start_position - 1 : query.start_position - 1 + query.max_results]
    if not page:
        return {}
    if query.columns is not None:
        wanted = {column.lower() for column in query.columns} | {"id"}
        page = [{**{k: v for k, v in row.items() if k.lower() in wanted}, "sparse": True} for row in page]
    entity_name = _entity_name(query.entity, rows)
    return {entity_name: page, "startPosition": query.start_position, "maxResults": len(page)}


def _entity_name(entity: str, rows: list[dict[str, Any]]) -> str:
    return ENTITY_KINDS.get(entity, entity.capitalize())
