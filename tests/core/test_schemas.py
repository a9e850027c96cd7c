"""The client input model: one table of good and bad inputs, and frames of clients."""

import numpy as np
import pandas as pd
import pytest

from core.data.dataset import DataError, parse_csv
from core.serving.schemas import (
    ClientFeatures,
    InputError,
    describe_value,
    features_frame,
    validate_client,
)
from core.vocabulary import FEATURES, ID

CLIENT = dict(
    zip(
        FEATURES,
        [20000, 2, 2, 1, 24, 2, 2, -1, -1, -2, -2, 3913, 3102, 689, 0, 0, 0, 0, 689, 0, 0, 0, 0],
        strict=True,
    )
)


def without(name: str) -> dict:
    return {k: v for k, v in CLIENT.items() if k != name}


GOOD = {
    "canonical names": CLIENT,
    "snake_case names": {k.lower(): v for k, v in CLIENT.items()},
    "a CSV row as text": {k: str(v) for k, v in CLIENT.items()},
    "whole floats": {k: float(v) for k, v in CLIENT.items()},
    "extra columns ignored": {**CLIENT, "ID": 7, "default": 1, "note": "x"},
    "undocumented codes": {**CLIENT, "EDUCATION": 0, "MARRIAGE": 0, "PAY_1": -2},
    "credit balance": {**CLIENT, "BILL_AMT1": -165_580},
    "upper bounds": {**CLIENT, "AGE": 120, "PAY_6": 9, "LIMIT_BAL": 100_000_000},
}


@pytest.mark.parametrize("case", GOOD)
def test_good_inputs_are_accepted_as_whole_numbers(case):
    given = GOOD[case]
    expected = {k.upper(): int(float(v)) for k, v in given.items() if k.upper() in FEATURES}
    assert validate_client(given).as_dict() == expected


BAD = [
    # (input, field, message)
    ({**CLIENT, "LIMIT_BAL": "abc"}, "LIMIT_BAL", "'abc' is not a whole number"),
    ({**CLIENT, "AGE": 30.5}, "AGE", "30.5 is not a whole number"),
    ({**CLIENT, "SEX": True}, "SEX", "True is not a whole number"),
    ({**CLIENT, "PAY_AMT2": [1]}, "PAY_AMT2", "[1] is not a whole number"),
    ({**CLIENT, "SEX": 3}, "SEX", "3 is outside 1..2"),
    ({**CLIENT, "EDUCATION": -1}, "EDUCATION", "-1 is outside 0..6"),
    ({**CLIENT, "AGE": 17}, "AGE", "17 is outside 18..120"),
    ({**CLIENT, "PAY_3": 10}, "PAY_3", "10 is outside -2..9"),
    ({**CLIENT, "PAY_AMT1": -1}, "PAY_AMT1", "-1 is outside 0..100000000"),
    ({**CLIENT, "LIMIT_BAL": 0}, "LIMIT_BAL", "0 is outside 1..100000000"),
    (without("MARRIAGE"), "MARRIAGE", "missing value"),
    ({**CLIENT, "BILL_AMT4": None}, "BILL_AMT4", "missing value"),
    ({**CLIENT, "BILL_AMT4": float("nan")}, "BILL_AMT4", "missing value"),
    ({**without("AGE"), "age": 200}, "AGE", "200 is outside 18..120"),
]


@pytest.mark.parametrize("data, field, message", BAD)
def test_each_bad_field_is_named_with_what_is_wrong(data, field, message):
    with pytest.raises(InputError) as caught:
        validate_client(data)
    assert [(p.field, p.message) for p in caught.value.problems] == [(field, message)]
    assert str(caught.value).startswith(f"{field} (")


def test_every_bad_field_is_reported_in_column_order():
    data = {**without("AGE"), "PAY_AMT6": -5, "SEX": "x"}
    with pytest.raises(InputError) as caught:
        validate_client(data)
    assert [p.field for p in caught.value.problems] == ["SEX", "AGE", "PAY_AMT6"]


def test_the_model_is_typed_and_documented_for_the_api():
    schema = ClientFeatures.model_json_schema()
    assert schema["required"] == FEATURES
    assert schema["properties"]["AGE"] == {
        "description": "age in years",
        "maximum": 120,
        "minimum": 18,
        "title": "AGE",
        "type": "integer",
    }
    assert validate_client(ClientFeatures(**CLIENT)).as_dict() == CLIENT


@pytest.mark.parametrize(
    "name, value, words",
    [
        ("SEX", 2, "female"),
        ("EDUCATION", 0, "undocumented (0)"),
        ("PAY_1", -2, "no consumption"),
        ("PAY_2", 3, "3 months late"),
        ("PAY_AMT1", 12000, "12,000"),
        ("BILL_AMT1", -5, "-5"),
    ],
)
def test_values_in_words(name, value, words):
    assert describe_value(name, value) == words


def test_a_frame_of_integers_is_validated_and_gets_ids():
    frame = features_frame(pd.DataFrame([CLIENT, CLIENT]))
    assert list(frame.columns) == [ID, *FEATURES] and frame[ID].tolist() == [1, 2]


def test_a_frame_with_snake_case_floats_and_ids_is_accepted():
    given = pd.DataFrame([{k.lower(): float(v) for k, v in CLIENT.items()}]).assign(id=[9])
    frame = features_frame(given)
    assert frame[ID].tolist() == [9] and frame["LIMIT_BAL"].dtype == np.int64


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"AGE": [30, None]}, "line 3, column AGE: missing value"),
        ({"SEX": [1, "x"]}, "line 3, column SEX: 'x' is not a number"),
        ({"SEX": [1, 5]}, "line 3, column SEX: 5 is outside 1..2"),
        ({"PAY_1": [0.5, 0]}, "line 2, column PAY_1: 0.5 is not a whole number"),
    ],
)
def test_bad_cells_of_a_frame_are_named_by_line_and_column(change, expected):
    frame = pd.DataFrame([CLIENT, CLIENT])
    for name, values in change.items():
        frame[name] = values
    with pytest.raises(DataError) as caught:
        features_frame(frame)
    assert str(caught.value) == expected


def test_a_frame_missing_columns_says_which():
    with pytest.raises(DataError, match="missing columns: AGE"):
        features_frame(pd.DataFrame([without("AGE")]))


def test_every_client_of_the_real_data_is_valid(real_data):
    frame = parse_csv(real_data)
    for client in frame[FEATURES].to_dict(orient="records"):
        validate_client(client)
    assert len(features_frame(frame)) == 24_000
