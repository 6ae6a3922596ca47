"""``quick_init`` makes objects exactly as the dataclass would, and refuses what it cannot."""

from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
import typing
from dataclasses import InitVar, dataclass, field

import pytest

from desktop.core.analysis import RecordAnalysis
from desktop.core.dataset import Record
from desktop.core.findings import Finding, Severity
from desktop.core.frozen import quick_init
from desktop.core.tokens import ExampleTokens
from desktop.core.validation import ExampleFacts


@quick_init
@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int = 2
    label: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class PlainPoint:
    x: int
    y: int = 2
    label: str | None = field(default=None, compare=False)


def test_objects_are_made_as_the_dataclass_makes_them() -> None:
    assert inspect.signature(Point) == inspect.signature(PlainPoint)
    point = Point(1, label="a")
    assert (point.x, point.y, point.label) == (1, 2, "a")
    assert Point(x=3, y=4) == Point(3, 4, "ignored in comparisons")
    assert hash(Point(3, 4)) == hash(Point(3, 4, "b"))
    assert repr(point) == "Point(x=1, y=2, label='a')"
    assert dataclasses.replace(point, y=5) == Point(1, 5)
    assert pickle.loads(pickle.dumps(point)) == point
    assert copy.copy(point) == point


def test_its_annotations_resolve_in_the_class_module() -> None:
    assert typing.get_type_hints(Point.__init__) == typing.get_type_hints(PlainPoint.__init__)
    assert typing.get_type_hints(Finding.__init__)["severity"] is Severity


def test_objects_stay_frozen() -> None:
    point = Point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Point(1, 2, "a", "extra")  # type: ignore[call-arg]


def test_the_app_classes_keep_their_signatures() -> None:
    for cls in (Record, RecordAnalysis, ExampleFacts, ExampleTokens, Finding):
        fields = dataclasses.fields(cls)
        parameters = list(inspect.signature(cls).parameters.values())
        assert [p.name for p in parameters] == [f.name for f in fields]
        for parameter, each in zip(parameters, fields, strict=True):
            expected = (
                inspect.Parameter.empty if each.default is dataclasses.MISSING else each.default
            )
            assert parameter.default is expected or parameter.default == expected


def test_classes_it_cannot_serve_are_refused() -> None:
    @dataclass(slots=True)
    class NotFrozen:
        x: int

    @dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclass(frozen=True, slots=True)
    class Factory:
        x: list[int] = field(default_factory=list)

    @dataclass(frozen=True, slots=True)
    class KeywordOnly:
        x: int = field(kw_only=True)

    @dataclass(frozen=True, slots=True)
    class NotInInit:
        x: int = field(default=0, init=False)

    @dataclass(frozen=True, slots=True)
    class InitOnly:
        x: int
        scale: InitVar[int] = 1

    @dataclass(frozen=True, slots=True)
    class PostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    for cls in (NotFrozen, NoSlots, Factory, KeywordOnly, NotInInit, InitOnly, PostInit):
        with pytest.raises(TypeError):
            quick_init(cls)
