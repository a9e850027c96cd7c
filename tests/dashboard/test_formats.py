"""The shared formatter: one way to write money, shares, counts, times and codes."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dashboard import formats

NOON_IN_TAIPEI = datetime(2026, 12, 2, 15, 45, tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.parametrize(
    ("function", "value", "shown"),
    [
        (formats.money, 1234, "NT$ 1,234"),
        (formats.money, 1_763_500.4, "NT$ 1,763,500"),
        (formats.money, -1234, "−NT$ 1,234"),
        (formats.money, -0.2, "NT$ 0"),
        (formats.money, 0, "NT$ 0"),
        (formats.money, None, "—"),
        (formats.money, float("nan"), "—"),
        (formats.percent, 0.2532, "25.3%"),
        (formats.percent, 0.5, "50.0%"),
        (formats.percent, -0.05, "−5.0%"),
        (formats.percent, None, "—"),
        (formats.count, 24000, "24,000"),
        (formats.count, 7, "7"),
        (formats.count, -1500, "−1,500"),
        (formats.count, None, "—"),
        (formats.number, 0.73249, "0.732"),
        (formats.number, -0.1, "−0.100"),
        (formats.number, None, "—"),
        (formats.timestamp, datetime(2026, 12, 2, 7, 45, tzinfo=UTC), "2 Dec 2026, 07:45 UTC"),
        (formats.timestamp, datetime(2026, 12, 2, 7, 45), "2 Dec 2026, 07:45 UTC"),
        (formats.timestamp, NOON_IN_TAIPEI, "2 Dec 2026, 07:45 UTC"),
        (formats.timestamp, None, "—"),
        (formats.day, datetime(2026, 1, 9, 23, 0, tzinfo=UTC), "9 Jan 2026"),
        (formats.day, None, "—"),
        (formats.text, None, "—"),
        (formats.text, float("nan"), "—"),
        (formats.text, "", "—"),
        (formats.text, "lr", "lr"),
    ],
)
def test_each_value_is_written_for_people(function, value, shown):
    assert function(value) == shown


@pytest.mark.parametrize(
    ("column", "code", "word"),
    [
        ("SEX", 1, "male"),
        ("sex", 2, "female"),
        ("EDUCATION", 1, "graduate school"),
        ("EDUCATION", 3, "high school"),
        ("MARRIAGE", 1, "married"),
        ("marriage", 2, "single"),
        ("PAY_1", -2, "no consumption"),
        ("PAY_3", -1, "paid duly"),
        ("PAY_6", 0, "revolving credit"),
        ("PAY_2", 1, "1 month late"),
        ("PAY_2", 2, "2 months late"),
        ("SEX", 9, "code 9"),
        ("SEX", None, "—"),
    ],
)
def test_codes_become_words(column, code, word):
    assert formats.coded(column, code) == word


def test_a_rate_names_the_clients_it_is_taken_over():
    assert formats.rate_of(0.5, 2) == "50% of 2"
    assert formats.rate_of(0.2212, 24000, digits=1) == "22.1% of 24,000"


def test_groups_under_the_threshold_are_small():
    assert formats.small(formats.SMALL_GROUP - 1)
    assert not formats.small(formats.SMALL_GROUP)
    assert not formats.small(None)
    assert str(formats.SMALL_GROUP) in formats.SMALL_GROUP_NOTE


def test_version_choices_tell_versions_apart():
    from core.ml.registry import VersionSummary

    def version(number: str, auc: float | None, champion: bool, minute: int) -> VersionSummary:
        return VersionSummary(
            version=number, job_id=None, model_id="lr", model_name="Logistic Regression",
            metric="AUC", params={}, metrics={} if auc is None else {"AUC": auc}, folds=2,
            rows=3000, library_versions={}, sha256="", is_champion=champion,
            created_at=datetime(2026, 12, 2, 8, minute, tzinfo=UTC),
        )  # fmt: skip

    assert formats.version_choice(version("1.0", 0.71404, True, 1)) == (
        "1.0 · Logistic Regression · AUC 0.714 · 2 Dec 2026, 08:01 UTC · ★ champion"
    )
    assert formats.version_choice(version("1.1", None, False, 2)) == (
        "1.1 · Logistic Regression · AUC — · 2 Dec 2026, 08:02 UTC"
    )
