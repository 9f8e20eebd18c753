"""Property-based: any bytes / any YAML mapping gives a result or the project's own error, never
another exception."""

import copy

import yaml
from conftest import UNIT_PARAMS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fashiongan import params
from fashiongan.data.idx import parse_idx
from fashiongan.errors import ConfigError, DataError

HEADERS = st.sampled_from(
    [b"", b"\x00\x00\x08\x01", b"\x00\x00\x08\x03", b"\x00\x00\x09\x03", b"\x01\x00\x08\x01"]
)


@settings(max_examples=300, deadline=None)
@given(header=HEADERS, dims=st.lists(st.integers(0, 40), max_size=3), body=st.binary(max_size=3000))
def test_idx_parser_returns_an_array_or_a_data_error(header, dims, body):
    raw = header + b"".join(d.to_bytes(4, "big") for d in dims) + body
    try:
        array = parse_idx(raw, "fuzz")
    except DataError as e:
        assert str(e).startswith("fuzz: ") and "\n" not in str(e)
    else:
        assert array.dtype.name == "uint8"


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    section=st.sampled_from(sorted(UNIT_PARAMS)),
    key=st.text(min_size=1, max_size=12),
    value=scalars,
    replace_existing=st.booleans(),
    index=st.integers(0, 100),
)
def test_config_loader_returns_a_config_or_a_config_error(
    raw_params, section, key, value, replace_existing, index
):
    raw = copy.deepcopy(raw_params)
    if section == "seed" or not isinstance(raw[section], dict):
        raw[section] = value
    elif replace_existing:  # an existing key, chosen by a drawn index so that a failure replays
        raw[section][sorted(raw[section])[index % len(raw[section])]] = value
    else:
        raw[section][key] = value
    try:
        params.parse(yaml.safe_load(yaml.safe_dump(raw)))
    except ConfigError as e:
        assert "\n" not in str(e)


# YAML's own syntax and tags, which random text seldom spells: a tag over a scalar it cannot hold
# (`!!int` over nothing, a 13th month) fails inside the YAML library's constructors
YAML_PIECES = st.lists(
    st.sampled_from(
        [
            *"ab:- \n\t[]{}!&*?|>'\"%#,.0123456789eE+~",
            "!!float ",
            "!!int ",
            "!!timestamp ",
            "!!binary ",
            "!!set ",
            "<<: ",
            "&a ",
            "*a",
            "seed: ",
            "%YAML 1.1\n",
            "---\n",
            "2001-13-45",
            "0x",
            "0o",
            "1e999",
            ".nan",
        ]
    ),
    max_size=40,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(document=st.one_of(st.text(max_size=200), YAML_PIECES))
def test_any_yaml_text_gives_a_config_or_a_config_error(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("p") / "params.yaml"
    path.write_text(document)
    try:
        params.load(path)
    except ConfigError as e:
        assert "\n" not in str(e)
