"""The API functions' environment: each handler reads its own variables, every problem is named at once."""

from __future__ import annotations

import json

import pytest
from api_world import environment

from factory_constructs.api.api_handler.settings import VARIABLES, AllowedCommand, parse_environment


@pytest.mark.parametrize("handler", sorted(VARIABLES))
def test_each_handler_starts_on_exactly_its_variables(handler: str) -> None:
    every = environment()
    settings = parse_environment(handler, {name: every[name] for name in VARIABLES[handler]})
    assert settings.handler == handler and settings.site_id == "plantA"


def test_the_values_settings_are_typed() -> None:
    settings = parse_environment("values", environment(MAX_RANGE_DAYS="7", PAGE_LIMIT_MAX="250"))
    assert (settings.max_range_days, settings.page_limit_max, settings.lines) == (7, 250, ("press/line1",))
    commands = parse_environment("commands", environment())
    assert commands.command_allow_list == (AllowedCommand("acme/plantA/press/line1/cell1/speed_sp", 0.0, 120.0),)


def test_every_missing_or_bad_variable_is_named_at_once() -> None:
    broken = environment(LINES='["press"]', MAX_RANGE_DAYS="0", PAGE_LIMIT_MAX="5000", SITE_ID="plant A")
    del broken["ATHENA_WORKGROUP"]
    with pytest.raises(ValueError) as raised:
        parse_environment("values", broken)
    assert str(raised.value) == (
        "values function misconfigured: SITE_ID='plant A' is not one path segment [A-Za-z0-9_.-]; fix: use the site "
        "file's id; ATHENA_WORKGROUP is not set; fix: set it on the values function; "
        'LINES=\'["press"]\': [\'press\'] not "area/line" strings; fix: list "area/line" strings only; '
        "MAX_RANGE_DAYS='0': is not a whole number from 1 to 3660; fix: set one; "
        "PAGE_LIMIT_MAX='5000': is not a whole number from 1 to 1000; fix: set one"
    )


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("{", "not JSON"),
        ('{"path": "x"}', "is a JSON dict, not a list"),
        ('[{"path": "a/b", "min": 0, "max": 1}]', "[0].path 'a/b' is not enterprise/site/area/line/cell/tag"),
        ('[{"path": "a/b/c/d/e/f", "min": 2, "max": 1}]', "[0] min 2 is above max 1"),
        ('[{"path": "a/b/c/d/e/f", "min": true, "max": 1}]', "are not both numbers"),
        ('[{"path": "a/b/c/d/e/f", "min": 0}]', '[0] is not an object with exactly "path", "min", "max"'),
        (json.dumps([{"path": "a/b/c/d/e/f", "min": 0, "max": 1}] * 2), "names a path twice"),
    ],
)
def test_a_bad_allow_list_says_what_is_wrong(value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_environment("commands", environment(COMMAND_ALLOW_LIST=value))


def test_an_unknown_handler_is_refused() -> None:
    with pytest.raises(ValueError, match="handler 'reports' is unknown; fix: use one of catalog"):
        parse_environment("reports", environment())
