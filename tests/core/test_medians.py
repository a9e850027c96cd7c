"""The Payments page's medians under broad filters: estimated on Postgres from a random
sample, with intervals that hold the exact median; exact on request, with few matching
clients, and on SQLite.

The thresholds are scaled down (tests.conftest.SCALED_MEDIANS) so that the 24,000 real
clients behave like a large portfolio.
"""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

import frames
from core import explore
from core.data.loader import load_file
from core.db.schema import median_sample
from core.explore.filters import Filters
from core.settings import get_settings
from tests.conftest import REAL_DATA, SCALED_MEDIANS

BROAD = [Filters(sex=(2,)), Filters(age=(25, 45)), Filters(education=(2,), defaulted=False)]
MEASURES = {"bill": "bill_amt", "paid": "pay_amt"}


@pytest.fixture(scope="module")
def real(estimating_postgres):
    """(engine, clients, payments) of the real data, summarised with scaled-down medians."""
    return (estimating_postgres, *frames.read_tables(estimating_postgres))


@pytest.fixture
def scaled(settings_env, real):
    settings_env(**SCALED_MEDIANS)
    return real


def sample_rows(engine, filters: Filters, draws: int) -> pd.DataFrame:
    """The sampled clients that an estimate reads: the first `draws`, matching `filters`."""
    table = median_sample
    statement = select(table).where(table.c.draw < draws, filters.where(table))
    with engine.connect() as connection:
        return pd.DataFrame(connection.execute(statement).mappings().all())


def order_statistic(values: pd.Series, fraction: float) -> float:
    """Postgres's percentile_disc: the first value whose cumulative share reaches it."""
    ordered = values.dropna().sort_values().reset_index(drop=True)
    rank = max(1, -(-round(fraction * len(ordered) * 1e9) // int(1e9)))  # ceil, float-safe
    return float(ordered[rank - 1])


def test_the_sample_is_a_random_draw_numbered_from_zero(scaled):
    engine, clients, _ = scaled
    with engine.connect() as connection:
        draws = connection.execute(select(median_sample.c.draw)).scalars().all()
        ages = connection.execute(select(median_sample.c.age).order_by(median_sample.c.draw))
        ages = pd.Series(ages.scalars().all())
    assert sorted(draws) == list(range(8_000))
    # Random, not the first clients: its ages look like everyone's, in every part of it.
    for part in (ages[:2_000], ages[-2_000:]):
        assert part.mean() == pytest.approx(clients["age"].mean(), abs=0.6)


@pytest.mark.parametrize("filters", BROAD, ids=lambda f: f.describe())
def test_broad_filters_get_the_samples_order_statistics(scaled, filters):
    engine, clients, payments = scaled
    with engine.connect() as connection:
        plan = explore.plan_median_sample(connection, filters)
    assert plan is not None
    assert plan.matching == explore.figures(engine, filters).clients
    estimate = explore.payment_medians(engine, filters)
    rows = sample_rows(engine, filters, plan.draws)
    spread = plan.half_width
    assert 0 < spread < 0.05
    for _, month in estimate.iterrows():
        m = int(month["month"])
        assert month["median_clients"] == rows[f"bill_{m}"].count()
        for measure in MEASURES:
            values = rows[f"{measure}_{m}"]
            assert month[f"median_{measure}"] == order_statistic(values, 0.5)
            assert month[f"{measure}_low"] == order_statistic(values, 0.5 - spread)
            assert month[f"{measure}_high"] == order_statistic(values, 0.5 + spread)
    # About MEDIAN_SAMPLE_TARGET matching clients, of many more.
    assert 2_500 < estimate["median_clients"].max() < 3_500 < plan.matching


@pytest.mark.parametrize("filters", BROAD, ids=lambda f: f.describe())
def test_the_intervals_hold_the_exact_medians(scaled, filters):
    engine, clients, payments = scaled
    estimate = explore.payment_medians(engine, filters)
    exact = frames.payment_medians(clients, payments, filters)
    inside = 0
    for measure in MEASURES:
        low, high = estimate[f"{measure}_low"], estimate[f"{measure}_high"]
        assert (low < high).all()
        inside += ((low <= exact[f"median_{measure}"]) & (exact[f"median_{measure}"] <= high)).sum()
        error = (estimate[f"median_{measure}"] - exact[f"median_{measure}"]).abs()
        assert (error / exact[f"median_{measure}"]).max() < 0.1
    assert inside >= 10  # of 12, at 95% each


@pytest.mark.parametrize("filters", BROAD, ids=lambda f: f.describe())
def test_exact_medians_on_request(scaled, filters):
    engine, clients, payments = scaled
    pd.testing.assert_frame_equal(
        explore.payment_medians(engine, filters, exact=True),
        frames.payment_medians(clients, payments, filters),
    )


def test_few_matching_clients_get_exact_medians(scaled):
    engine, clients, payments = scaled
    narrow = Filters(sex=(1,), education=(1,), age=(30, 40))
    assert explore.figures(engine, narrow).clients <= get_settings().exact_median_clients
    pd.testing.assert_frame_equal(
        explore.payment_medians(engine, narrow),
        frames.payment_medians(clients, payments, narrow),
    )


def test_sqlite_always_computes_exact_medians(settings_env, tmp_path):
    from core.db.engine import make_engine

    settings_env(**SCALED_MEDIANS)
    engine = make_engine(f"sqlite:///{tmp_path / 'credit.db'}")
    load_file(engine, REAL_DATA.read_bytes(), "credit.csv")
    explore.refresh_summaries(engine)
    clients, payments = frames.read_tables(engine)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(median_sample)) == 0
    for filters in BROAD:
        pd.testing.assert_frame_equal(
            explore.payment_medians(engine, filters),
            frames.payment_medians(clients, payments, filters),
        )
    engine.dispose()
