"""Reason codes (issue 14): grouped, at most four, sorted by effect, never a protected
attribute, the same for a file's rows as for one client's explanation; a model trained
without the protected attributes reports no protected contribution at all."""

import numpy as np
import pandas as pd
import pytest

from core.serving.files import score_csv_file
from core.serving.reasons import (
    COLUMNS,
    GROUPS,
    MAX_REASONS,
    MEMBERSHIP,
    MIN_EFFECT,
    batch_effects,
    reason_columns,
    reasons_from_effects,
    reasons_of,
)
from core.serving.scoring import explain, get_model, score
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


def telling_client(using, without, frame: pd.DataFrame) -> dict:
    """The client of `frame` whose protected attributes push the score of `using` up most,
    among those with a reason under `without`."""
    protected = batch_effects(using, frame)[:, [FEATURES.index(n) for n in PROTECTED]]
    reasoned = (batch_effects(without, frame) @ MEMBERSHIP > MIN_EFFECT).any(axis=1)
    row = int(np.where(reasoned, protected.sum(axis=1), -np.inf).argmax())
    return {name: int(frame.at[row, name]) for name in FEATURES}


def named_protected(texts) -> bool:
    joined = " ".join(texts).lower()
    return any(word in joined for word in PROTECTED_WORDS)


@pytest.mark.parametrize("model_id", ["lr", "dt"])
def test_a_model_without_the_protected_attributes_reports_no_protected_contribution(
    engine, model_id, tmp_path
):
    register(engine, "1.0", "lr")  # trained with SEX, AGE and MARRIAGE
    register(engine, "2.0", model_id, leave_out_protected=True)
    assert get_model(engine, "2.0").evaluation["left_out"] == list(PROTECTED)
    frame = real_frame().iloc[:300].reset_index(drop=True)
    late = frame.assign(PAY_1=3, PAY_2=3, PAY_3=3)  # so that something is a reason
    client = telling_client(get_model(engine, "1.0"), get_model(engine, "2.0"), late)
    allowed = {group.code for group in GROUPS}

    # the Score form's path: score, explain, reasons
    using = reasons_of(explain(engine, client, "1.0"))
    assert using.protected > 0 and using.protected_note.startswith("Protected attributes")
    assert {r.code for r in using.reasons} <= allowed
    assert not named_protected(r.text for r in using.reasons)  # said apart, not a reason
    assert score(engine, client, version="2.0", source="form").version == "2.0"
    without = reasons_of(explain(engine, client, "2.0"))
    assert without.protected == 0 and without.protected_note is None
    assert without.reasons and {r.code for r in without.reasons} <= allowed
    effects = explain(engine, client, "2.0").effects.set_index("feature")["effect"]
    assert (effects[list(PROTECTED)] == 0).all()

    # a file: no protected effect on any row, no protected attribute in any reason column
    model = get_model(engine, "2.0")
    batch = batch_effects(model, frame)
    assert not batch[:, [FEATURES.index(name) for name in PROTECTED]].any()
    path = tmp_path / "clients.csv"
    frame.to_csv(path, index=False)
    scored = score_csv_file(
        engine, path, tmp_path / "scored.csv", version="2.0", log_source=None, reasons=True
    )
    columns = pd.read_csv(scored.path, usecols=COLUMNS, keep_default_na=False)
    cells = [cell for cell in columns.to_numpy().ravel() if cell]
    assert cells and not named_protected(cells)
    assert columns.to_numpy().tolist() == reason_columns(model, frame).to_numpy().tolist()
