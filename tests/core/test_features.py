"""Clients' features read back from the database, and typical values, on SQLite and Postgres."""

from core.data.features import TYPICAL, client_features, sample_features, typical_of, typical_values
from core.data.loader import load_frame
from core.vocabulary import FEATURES, ID
from tests.trained import real_frame


def test_a_loaded_client_comes_back_with_its_23_features(engine):
    frame = real_frame().iloc[:500]
    load_frame(engine, frame, "credit.csv")
    expected = {name: int(frame.at[41, name]) for name in FEATURES}
    assert client_features(engine, int(frame.at[41, ID])) == expected
    assert client_features(engine, 99_999) is None


def test_a_sample_is_repeatable_and_in_the_data_sets_shape(engine):
    load_frame(engine, real_frame().iloc[:500], "credit.csv")
    sample = sample_features(engine, rows=50)
    assert list(sample.columns) == [ID, *FEATURES] and len(sample) == 50
    assert sample[ID].tolist() == sample_features(engine, rows=50)[ID].tolist()
    original = real_frame().set_index(ID).loc[sample[ID], FEATURES].reset_index(drop=True)
    assert sample[FEATURES].equals(original)


def test_typical_values_come_from_the_data_or_the_real_files_medians(engine):
    assert typical_values(engine) == TYPICAL
    assert sample_features(engine).empty
    load_frame(engine, real_frame().iloc[:2000], "credit.csv")
    assert typical_values(engine) == typical_of(real_frame().iloc[:2000])


def test_typical_values_of_the_real_file_are_the_fallback():
    assert typical_of(real_frame()) == TYPICAL
