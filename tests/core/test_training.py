"""Training inputs, the training frame built in SQL, and picking the best model."""

import numpy as np
import pytest

from core.data.features import sample_frame, training_csv, training_frame
from core.jobs.runner import pick_best
from core.jobs.store import BoardRow
from core.ml.params import TRAINING_ORDER, TURBO, TrainingError, check_params
from core.vocabulary import FEATURES, ID, TARGET
from tests.jobs_support import load_clients, real_frame


def test_defaults_are_five_folds_the_turbo_set_and_auc():
    params = check_params(version="1")
    assert params.folds == 5 and params.version == "1.0" and params.metric == "AUC"
    assert set(params.models) == set(TURBO) and params.sample_size is None
    assert not params.fix_imbalance


def test_models_run_cheapest_first_and_aliases_are_accepted():
    params = check_params(version="2.3", models=" LR, nb ,lr", metric="precision", sample_size=0)
    assert params.models == ("nb", "lr")
    assert list(params.models) == sorted(params.models, key=TRAINING_ORDER.index)
    assert params.metric == "Prec." and params.sample_size is None


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"folds": 1}, "folds must be a whole number from 2 to 10, not 1"),
        ({"folds": 11}, "folds must be a whole number from 2 to 10, not 11"),
        ({"folds": "five"}, "folds must be a whole number from 2 to 10, not 'five'"),
        ({"version": "1.25"}, "more than one decimal"),
        ({"version": "-1"}, "must be a positive number"),
        ({"models": []}, "models: choose at least one model"),
        ({"models": "lr,xgboost"}, "models: unknown model id xgboost"),
        ({"models": ["ridge", "svm"]}, "give no probabilities"),
        ({"metric": "speed"}, "metric 'speed' is not one of AUC, Accuracy"),
        ({"sample_size": 50}, "sample size must be a whole number of at least 200"),
        ({"sample_size": "lots"}, "sample size must be a whole number of at least 200"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_field(changes, message):
    values = {"folds": 5, "version": "1.0", "models": ["lr"], **changes}
    with pytest.raises(TrainingError) as caught:
        check_params(**values)
    assert message in str(caught.value)
    assert len(caught.value.problems) == 1


def test_every_problem_is_listed_at_once():
    with pytest.raises(TrainingError) as caught:
        check_params(folds=0, version="x", models=[], metric="?")
    assert len(caught.value.problems) == 4


def test_the_frame_is_the_loaded_data_pivoted_back(engine):
    load_clients(engine, 300)
    frame = training_frame(engine)
    expected = real_frame().iloc[:300].reset_index(drop=True)
    assert list(frame.columns) == [ID, *FEATURES, TARGET]
    assert frame.equals(expected.astype(np.int64))
    assert training_frame(engine, limit=5).equals(frame.iloc[:5])
    csv = training_csv(engine).decode().splitlines()
    assert csv[0] == ",".join([ID, *FEATURES, TARGET]) and len(csv) == 301


def test_an_empty_database_gives_an_empty_frame(engine):
    assert training_frame(engine).empty


def test_samples_are_reproducible_and_in_id_order():
    frame = real_frame().iloc[:1000]
    first, second = sample_frame(frame, 300, seed=1), sample_frame(frame, 300, seed=1)
    assert first.equals(second) and len(first) == 300
    assert first[ID].is_monotonic_increasing
    assert not first.equals(sample_frame(frame, 300, seed=2))
    assert sample_frame(frame, None, seed=1) is frame and sample_frame(frame, 5000, seed=1) is frame


def row(model_id: str, auc: float | None, position: int, state: str = "done") -> BoardRow:
    return BoardRow("j", model_id, model_id.upper(), position, state, {"AUC": auc})


def test_the_best_model_gives_probabilities():
    board = [row("ridge", 0.80, 0), row("lr", 0.75, 1), row("nb", 0.78, 2), row("dt", None, 3)]
    best, note = pick_best(board, "AUC")
    assert best.model_id == "nb"
    assert "RIDGE scored highest on AUC but gives no probabilities" in note
    best, note = pick_best([row("lr", 0.7, 0), row("nb", 0.7, 1)], "AUC")
    assert best.model_id == "lr" and note is None  # a tie goes to the first trained
    assert pick_best([row("lr", None, 0, "failed")], "AUC") == (None, None)
