"""The building blocks pipeline.schema is written in: an error that is already the user's whole line, numbers that
refuse true/false, a model that refuses unknown keys, and a part's Options dataclass as a config field."""
from __future__ import annotations

from dataclasses import fields
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt
from pydantic_core import PydanticCustomError


def custom(line: str) -> PydanticCustomError:
    """An error whose message is already the whole line the user sees."""
    return PydanticCustomError("convgraph", line)


def _no_bool(value):
    if isinstance(value, bool):
        raise PydanticCustomError("bool_not_number", "a boolean is not a number")
    return value


Number = Annotated[float, BeforeValidator(_no_bool)]
NonNegative = Annotated[float, BeforeValidator(_no_bool), Field(ge=0)]
Positive = Annotated[float, BeforeValidator(_no_bool), Field(gt=0)]


def AtLeast(n: int):  # noqa: N802 - reads as a type
    return Annotated[StrictInt, Field(ge=n)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def options_of(dataclass: type):
    """A part's Options dataclass as a config field: ints must be ints (not true/false), unknown keys refused."""
    ints = {f.name for f in fields(dataclass) if f.type in (int, "int")}

    def check(data):
        for key in ints & set(data if isinstance(data, dict) else ()):
            if isinstance(data[key], bool) or not isinstance(data[key], int):
                raise PydanticCustomError("option_int", "give an integer", {"field": key, "value": data[key]})
        return data

    dataclass.__pydantic_config__ = {"extra": "forbid"}
    return Annotated[dataclass, BeforeValidator(check)]
