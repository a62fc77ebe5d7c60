"""The validation-message helper: each kind of problem reads ``field: what (got value); fix: how``, exactly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass

from validation.messages import COMMON_FIXES, MAX_VALUE_CHARS, Describer, field_path

ROOT = Path(__file__).resolve().parents[2]
PLAIN = Describer(subject="(thing)", default_fix="see thing.schema.json")


def error(kind: str, loc: tuple[int | str, ...], msg: str, value: Any = None) -> dict[str, Any]:
    """An error dict as ``ValidationError.errors()`` yields it (the helper reads type, loc, msg, input)."""
    return {"type": kind, "loc": loc, "msg": msg, "input": value}


@pytest.mark.parametrize(
    ("loc", "prefix", "text"),
    [
        (("tags", 1, "path"), "", "tags[1].path"),
        (("sources", "s7", "[key]"), "", "sources.s7 (key)"),
        (("linger_s",), "runner", "runner.linger_s"),
        ((0,), "setpoints", "setpoints[0]"),
        ((), "", ""),
        ((), "runner", "runner"),
    ],
)
def test_a_field_path_reads_like_the_file(loc: tuple[int | str, ...], prefix: str, text: str) -> None:
    assert field_path(loc, prefix) == text


def test_a_pydantic_problem_names_field_value_and_the_common_fix() -> None:
    problem = error("greater_than", ("tags", 1, "max_interval_s"), "Input should be greater than 0", 0)
    assert PLAIN.lines(problem) == [
        "tags[1].max_interval_s: Input should be greater than 0 (got 0); fix: use a larger number"
    ]


def test_the_callers_fix_wins_over_the_common_one_and_the_default_covers_the_rest() -> None:
    site = Describer(subject="(site)", default_fix="see tenants/schema.json", fixes={"list_type": "write a YAML list"})
    assert site.fix("list_type") == "write a YAML list"
    assert site.fix("float_parsing") == COMMON_FIXES["float_parsing"] == "write a number"
    assert site.fix("url_parsing") == "see tenants/schema.json"
    assert site.describe([error("url_parsing", ("api", "url"), "Input should be a valid URL", "x")]) == [
        "api.url: Input should be a valid URL (got 'x'); fix: see tenants/schema.json"
    ]


def test_an_unknown_field_reads_the_same_in_both_pydantic_spellings() -> None:
    tag_map = Describer(
        subject="(tag map)",
        default_fix="see tag-map.schema.json",
        fixes={"extra_forbidden": "check tag-map.schema.json"},
    )
    model = error("extra_forbidden", ("gateways",), "Extra inputs are not permitted", ["gw2"])
    data_class = error("unexpected_keyword_argument", ("tags", 1, "adress"), "Unexpected keyword argument", "x")
    assert tag_map.describe([model, data_class]) == [
        "gateways: is not a known field (got ['gw2']); fix: check tag-map.schema.json",
        "tags[1].adress: is not a known field (got 'x'); fix: check tag-map.schema.json",
    ]


def test_a_missing_field_shows_no_value() -> None:
    assert PLAIN.lines(error("missing", ("gateway",), "Field required", {"site": "plantA"})) == [
        "gateway: Field required; fix: add it"
    ]


def test_a_problem_without_a_field_is_named_by_the_subject() -> None:
    assert PLAIN.lines(error("model_type", (), "Input should be a valid dictionary", [1])) == [
        "(thing): Input should be a valid dictionary (got [1]); fix: write a mapping of the fields"
    ]


def test_a_field_validator_gets_the_value_it_refused_in_front_of_each_of_its_lines() -> None:
    refused = error("value_error", ("network", "cidr"), "Value error, not a block; fix: a\nnot private; fix: b", "1/33")
    assert PLAIN.lines(refused) == [
        "network.cidr: '1/33' not a block; fix: a",
        "network.cidr: '1/33' not private; fix: b",
    ]
    after_colon = Describer(subject="(site)", default_fix="see tenants/schema.json", value_separator=": ")
    assert after_colon.lines(refused)[0] == "network.cidr: '1/33': not a block; fix: a"


def test_a_model_validator_names_its_own_values_so_its_input_is_not_shown() -> None:
    nested = error("value_error", ("setpoints", 0), "Value error, min 90.0 is above max 80.0; fix: swap them", {"x": 1})
    named = error("value_error", ("network",), "Value error, nat_gateways 3 exceeds az_count 2; fix: lower it", {})
    root = error("value_error", (), "Value error, home_region is not in data_regions; fix: add it\nsecond; fix: b", {})
    assert PLAIN.describe([nested, named, root]) == [
        "setpoints[0]: min 90.0 is above max 80.0; fix: swap them",
        "network: nat_gateways 3 exceeds az_count 2; fix: lower it",
        "home_region is not in data_regions; fix: add it",
        "second; fix: b",
    ]


def test_a_prefix_places_the_problems_inside_a_larger_input() -> None:
    problems = [
        error("greater_than", ("linger_s",), "Input should be greater than 0", -1),
        error("value_error", (), "Value error, max_s 1 is below initial_s 5; fix: raise max_s", {}),
    ]
    assert PLAIN.describe(problems, prefix="runner") == [
        "runner.linger_s: Input should be greater than 0 (got -1); fix: use a larger number",
        "runner: max_s 1 is below initial_s 5; fix: raise max_s",
    ]


def test_a_long_value_is_cut_so_the_problem_stays_readable() -> None:
    (line,) = PLAIN.lines(error("extra_forbidden", ("tag_map",), "Extra inputs are not permitted", {"k": "v" * 500}))
    value = line.removeprefix("tag_map: is not a known field (got ").removesuffix(
        "); fix: remove it or correct its spelling"
    )
    assert len(value) == MAX_VALUE_CHARS and value.startswith("{'k': 'vvv") and value.endswith("...")


def test_an_error_dict_without_its_input_still_reads() -> None:
    problem = {"type": "int_parsing", "loc": ("az_count",), "msg": "Input should be a valid integer"}
    assert PLAIN.lines(problem) == ["az_count: Input should be a valid integer; fix: write a whole number"]


# Real pydantic errors, from a model and a dataclass like the site model's and the tag map's.
@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class _Tag:
    path: str

    @field_validator("path")
    @classmethod
    def _four_segments(cls, value: str) -> str:
        if value.count("/") != 3:
            raise ValueError("is not area/line/cell/tag; fix: write e.g. filling/line1/filler/temperature")
        return value


class _Map(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: Annotated[str, Field(pattern=r"^[a-z]+$")]
    tags: list[_Tag] = Field(min_length=1)
    low: float = 0.0
    high: float = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> _Map:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}; fix: swap them")
        return self


def test_real_pydantic_errors_of_models_and_dataclasses() -> None:
    with pytest.raises(ValidationError) as caught:
        _Map.model_validate({"site": "Plant A", "tags": [{"path": "a/b"}, {"path": "a/b/c/d", "unit": "degC"}]})
    assert PLAIN.describe(caught.value.errors()) == [
        "site: String should match pattern '^[a-z]+$' (got 'Plant A'); fix: write a value matching the pattern shown",
        "tags[0].path: 'a/b' is not area/line/cell/tag; fix: write e.g. filling/line1/filler/temperature",
        "tags[1].unit: is not a known field (got 'degC'); fix: remove it or correct its spelling",
    ]
    with pytest.raises(ValidationError) as caught:
        _Map.model_validate({"site": "plant", "tags": [{"path": "a/b/c/d"}], "low": 5})
    assert PLAIN.describe(caught.value.errors()) == ["low 5.0 is above high 1.0; fix: swap them"]


def test_the_module_needs_nothing_beyond_the_standard_library() -> None:
    # It ships to gateways beside edge/: importing it must not pull in pydantic or any other package.
    probe = (
        "import sys; before = set(sys.modules); import validation.messages; "
        "print(sorted(m for m in set(sys.modules) - before if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['validation', 'validation.messages']"
