"""The default job on the whole real data set (minutes on two cores): marked slow.

Run it with `pytest -m slow`.
"""

import pytest

from core import jobs
from core.data.loader import load_file
from core.db.engine import make_engine
from core.ml.params import TURBO
from core.ml.registry import get_version
from tests.jobs_support import wait_for

# It waits up to 900 s for the job: more than the suite's 600 s per-test timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]


@pytest.fixture
def full_sqlite(tmp_path, real_data):
    engine = make_engine(f"sqlite:///{tmp_path / 'credit.db'}")
    load_file(engine, real_data, "credit.csv")
    yield engine
    jobs.stop_local_worker(engine)
    engine.dispose()


def test_default_settings_on_the_real_data_reach_an_auc_of_0_78(full_sqlite):
    job_id = jobs.submit(full_sqlite, {"version": "1.0"}, None)
    job = wait_for(full_sqlite, job_id, timeout=900)
    assert job.state == "finished", job.error
    assert job.folds == 5 and job.models_total == len(TURBO) and job.rows == 24_000
    assert job.best_score >= 0.78
    info = get_version(full_sqlite, "1.0")
    assert info.evaluation["holdout_rows"] == 7_200
    assert info.evaluation["roc"]["auc"] >= 0.75
