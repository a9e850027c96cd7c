"""Reason codes (issue 14): grouped, at most four, sorted by effect, never a protected
attribute, the same for a file's rows as for one client's explanation."""

import numpy as np
import pandas as pd
import pytest

from core.serving.reasons import (
    COLUMNS,
    GROUPS,
    MAX_REASONS,
    batch_effects,
    reason_columns,
    reasons_from_effects,
    reasons_of,
)
from core.serving.scoring import explain, get_model
from core.vocabulary import BILLS, FEATURES, PAID, PROTECTED, STATUS
from tests.trained import real_frame, register

PROTECTED_WORDS = ("sex", "marital", "marriage", "age", "gender")


def effects(**values: float) -> dict[str, float]:
    return {name: values.get(name, 0.0) for name in FEATURES}


@pytest.mark.parametrize(
    "given, expected",
    [
        # the six statuses add up into one reason
        ({"PAY_1": 0.05, "PAY_2": 0.03, "PAY_6": 0.01}, [("late_payments", 0.09)]),
        (
            {"BILL_AMT1": 0.02, "BILL_AMT3": 0.02, "PAY_AMT2": 0.03, "LIMIT_BAL": 0.01},
            [("high_balances", 0.04), ("low_payments", 0.03), ("low_limit", 0.01)],
        ),
        # effects that pull down are not reasons, nor are groups netting to below zero
        ({"PAY_1": 0.05, "PAY_2": -0.06, "EDUCATION": 0.01}, [("education", 0.01)]),
        ({"LIMIT_BAL": -0.1}, []),
        # five groups pushing up: the four largest, largest first
        (
            {"PAY_1": 0.1, "BILL_AMT1": 0.02, "PAY_AMT1": 0.03, "LIMIT_BAL": 0.04,
             "EDUCATION": 0.01},
            [("late_payments", 0.1), ("low_limit", 0.04), ("low_payments", 0.03),
             ("high_balances", 0.02)],
        ),
    ],
)  # fmt: skip
def test_reasons_are_grouped_sorted_and_at_most_four(given, expected):
    found = reasons_from_effects(effects(**given)).reasons
    assert [(r.code, round(r.effect, 9)) for r in found] == expected
    assert len(found) <= MAX_REASONS


def test_protected_attributes_are_never_a_reason_but_are_said_apart():
    found = reasons_from_effects(effects(SEX=0.2, AGE=0.1, MARRIAGE=0.05, PAY_1=0.01))
    assert [r.code for r in found.reasons] == ["late_payments"]
    assert found.protected == pytest.approx(0.35)
    assert found.protected_note == (
        "Protected attributes (sex, marital status, age) contributed +35.0 pts; not a reason."
    )
    assert reasons_from_effects(effects(SEX=-0.2, PAY_1=0.01)).protected_note is None


def test_the_groups_cover_every_feature_but_the_protected_ones():
    grouped = [name for group in GROUPS for name in group.features]
    assert sorted(grouped) == sorted(set(FEATURES) - set(PROTECTED))
    assert set(STATUS) <= {*GROUPS[0].features} and set(BILLS) == {*GROUPS[1].features}
    assert set(PAID) == {*GROUPS[2].features}


def late_client(months: int = 3) -> dict:
    """A client paying duly, then late `months` months in the last three months."""
    client = {name: int(real_frame().at[0, name]) for name in FEATURES}
    client |= {f"PAY_{m}": (months if m <= 3 else -1) for m in range(1, 7)}
    return client


@pytest.mark.parametrize("model_id", ["lr", "dt"])
def test_a_client_late_three_months_gets_late_payments_first(engine, model_id):
    register(engine, "1.0", model_id)
    found = reasons_of(explain(engine, late_client(), "1.0"))
    assert found.reasons and found.reasons[0].code == "late_payments"


@pytest.mark.parametrize("model_id", ["lr", "dt"])
def test_a_files_effects_equal_each_clients_explanation(engine, model_id):
    register(engine, "1.0", model_id)
    model = get_model(engine, "1.0")
    frame = real_frame().iloc[:30].reset_index(drop=True)
    batch = batch_effects(model, frame)
    for row in (0, 7, 29):
        one = model.explain(frame.iloc[[row]])
        by_feature = dict(zip(one.effects["feature"], one.effects["effect"], strict=True))
        assert np.allclose(batch[row], [by_feature[name] for name in FEATURES], atol=1e-9)


@pytest.mark.parametrize("model_id", ["lr", "dt"])
def test_file_reason_columns_equal_each_clients_reasons_and_name_no_protected_attribute(
    engine, model_id
):
    """These models were trained with SEX, AGE and MARRIAGE."""
    register(engine, "1.0", model_id)
    model = get_model(engine, "1.0")
    frame = real_frame().iloc[:200].reset_index(drop=True)
    columns = reason_columns(model, frame)
    assert list(columns.columns) == COLUMNS
    effects_of = batch_effects(model, frame)
    for row in range(0, 200, 17):
        found = reasons_from_effects(dict(zip(FEATURES, effects_of[row], strict=True)))
        expected = [str(r) for r in found.reasons]
        assert columns.iloc[row].tolist() == expected + [""] * (4 - len(expected))
    text = " ".join(columns.to_numpy().ravel()).lower()
    assert not any(word in text for word in PROTECTED_WORDS)
    allowed = {group.text for group in GROUPS}
    cells = [cell for cell in columns.to_numpy().ravel() if cell]
    assert cells and all(cell.rsplit(" (", 1)[0] in allowed for cell in cells)


def test_no_rows_give_no_reasons(engine):
    register(engine, "1.0")
    empty = pd.DataFrame(columns=FEATURES, dtype=float)
    assert reason_columns(get_model(engine, "1.0"), empty).empty
