"""Option value types shared by subcommands: a value argparse rejects is a usage error (one
line, exit 2) before anything touches the database, instead of a failure deep in a command.

Where a contract constrains the value, the option's type is read off the contract's field
(``contract_value``), so the CLI and the contract cannot drift apart, and the message says what
was given and what the contract allows. Pattern and version ids are checked by the contracts'
rule too (``PATTERN_ID``, ``VERSION_ID``): a malformed id is a usage error, a well-formed one
the database does not know a failure (exit 1). Options that are each valid but wrong together
are checked once all are parsed (``check_usage``), with the same kind of message.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable, Sequence
from types import NoneType, UnionType
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel, TypeAdapter

from contracts.model_execution_record import MAX_ID_CHARS, PatternId
from contracts.model_pattern_version import SEMVER

T = TypeVar("T")

_KINDS: dict[type, str] = {int: "a whole number", float: "a number", str: "text"}
_BOUNDS: dict[type, Callable[[Any], str]] = {
    Ge: lambda c: f">= {_number(c.ge)}",
    Gt: lambda c: f"> {_number(c.gt)}",
    Le: lambda c: f"<= {_number(c.le)}",
    Lt: lambda c: f"< {_number(c.lt)}",
    MinLen: lambda c: f"of at least {c.min_length} character{'s' * (c.min_length != 1)}",
    MaxLen: lambda c: f"of at most {c.max_length} characters",
}


def _number(bound: float) -> str:
    """``0.5``, ``0``, ``10000000``: as written in a contract, without ``.0`` or exponents."""
    return f"{bound:f}".rstrip("0").rstrip(".") if isinstance(bound, float) else str(bound)


class OptionValue(Generic[T]):
    """An argparse ``type=``: ``parse`` turns the text into the value or raises ``ValueError``
    (pydantic's ``ValidationError`` is one), reported as ``must be {allowed}, got '...'``."""

    def __init__(self, parse: Callable[[str], T], allowed: str) -> None:
        self.parse = parse
        self.allowed = allowed

    def __call__(self, text: str) -> T:
        try:
            return self.parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {self.allowed}, got {text!r}") from None


def _constrained(kind: type[T], constraints: Sequence[object]) -> OptionValue[T]:
    """``kind`` within ``constraints`` (annotated_types bounds, as pydantic keeps a field's),
    validated by pydantic itself, so exactly what a contract with them accepts."""
    unknown = [c for c in constraints if type(c) not in _BOUNDS]
    if kind not in _KINDS or unknown:
        raise TypeError(f"no option type for {kind.__name__} constrained by {unknown}")
    annotated: Any = Annotated[(kind, *constraints)] if constraints else kind
    adapter: TypeAdapter[T] = TypeAdapter(annotated)
    bounds = " and ".join(_BOUNDS[type(c)](c) for c in constraints)
    return OptionValue(adapter.validate_strings, f"{_KINDS[kind]} {bounds}".strip())


def at_least(minimum: int) -> OptionValue[int]:
    """The type of a count option: a whole number no smaller than ``minimum``."""
    return _constrained(int, [Ge(minimum)])


def contract_value(model: type[BaseModel], field: str) -> OptionValue[Any]:
    """The type of an option that fills ``model.field``: the field's type (``None`` aside)
    and constraints."""
    info = model.model_fields[field]
    annotation = info.annotation
    if get_origin(annotation) in (Union, UnionType):  # an optional field: X | None
        (annotation,) = (arg for arg in get_args(annotation) if arg is not NoneType)
    if not isinstance(annotation, type):
        raise TypeError(f"{model.__name__}.{field}: no option type for {annotation}")
    return _constrained(annotation, info.metadata)


def keyword_or(keyword: str, value: OptionValue[T]) -> OptionValue[T | None]:
    """``keyword`` (meaning None: the contract's own default, e.g. ``auto``) or ``value``."""

    def parse(text: str) -> T | None:
        return None if text == keyword else value.parse(text)

    return OptionValue(parse, f"{keyword!r} or {value.allowed}")


_PATTERN_ID_RULE = f"no '@', no whitespace, 1 to {MAX_ID_CHARS} characters"
_PATTERN_IDS: TypeAdapter[str] = TypeAdapter(PatternId)

PATTERN_ID: OptionValue[str] = OptionValue(
    _PATTERN_IDS.validate_python, f"a pattern id ({_PATTERN_ID_RULE})"
)
"""The type of every argument naming a pattern: the contracts' own rule (``PatternId``), so an
id ``register`` would refuse never reaches a command, where it would only be not found."""


def split_version(text: str) -> tuple[str | None, str]:
    """``x.y.z`` or ``PATTERN@x.y.z``: (the pattern if named, the version); ``ValueError``
    when either part is malformed."""
    pattern, at, version = text.rpartition("@")
    if not SEMVER.fullmatch(version):
        raise ValueError(f"not a version number: {version!r}")
    return (PATTERN_ID.parse(pattern) if at else None), version


def _version_id(text: str) -> str:
    if split_version(text)[0] is None:
        raise ValueError(f"no pattern in {text!r}")
    return text


VERSION_ID: OptionValue[str] = OptionValue(
    _version_id, f"PATTERN@x.y.z (PATTERN: {_PATTERN_ID_RULE})"
)
"""The type of an argument that must name one version (``lineage diff``: a bare pattern id
names no single config to compare)."""

PATTERN_OR_VERSION_ID: OptionValue[str] = OptionValue(
    lambda text: VERSION_ID.parse(text) if "@" in text else PATTERN_ID.parse(text),
    f"PATTERN or PATTERN@x.y.z (PATTERN: {_PATTERN_ID_RULE})",
)
"""The type of an argument naming a version or, by its pattern, the pattern's current one."""


def add_actor(parser: argparse.ArgumentParser, contract: type[BaseModel]) -> None:
    """``--actor``, who the audit log names: the OS user unless given, and what
    ``contract.actor`` allows."""
    parser.add_argument(
        "--actor",
        type=contract_value(contract, "actor"),
        default=getpass.getuser(),
        help="who (default: OS user)",
    )


UsageCheck = Callable[[argparse.Namespace], str | None]


def check_usage(parser: argparse.ArgumentParser, check: UsageCheck) -> None:
    """Options each valid alone but not together: once every option is parsed, ``main`` calls
    ``check``, and what it returns (if anything) is ``parser``'s usage error."""

    def verify(args: argparse.Namespace) -> None:
        problem = check(args)
        if problem is not None:
            parser.error(problem)

    parser.set_defaults(check_usage=verify)
