"""calibration_verdicts: every version's verdict in one query, on SQLite and Postgres."""

from core.ml.trust import calibration_verdicts
from tests.queries import counting_queries
from tests.trained import register
from tests.trust_support import trust_evaluation


def test_each_version_has_its_verdict_read_in_one_query(engine):
    register(engine, "1.0", "lr", evaluation=trust_evaluation("lr", calibrated=True))
    register(engine, "1.1", "lr", evaluation=trust_evaluation("lr", calibrated=False))
    register(engine, "0.9", "lr")
    with counting_queries() as run:
        verdicts = calibration_verdicts(engine)
    assert verdicts == {"1.0": "calibrated", "1.1": "miscalibrated", "0.9": None}
    assert len(run.statements) == 1
