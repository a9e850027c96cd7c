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


def test_the_training_frame_pages_by_offset_and_streams_as_the_same_csv(engine):
    from core.data.features import training_csv, training_csv_chunks, training_frame

    load_frame(engine, real_frame().iloc[:300], "credit.csv")
    whole = training_frame(engine)
    page = training_frame(engine, limit=40, offset=100)
    assert page.equals(whole.iloc[100:140].reset_index(drop=True))
    assert training_frame(engine, limit=10, offset=300).empty
    chunks = list(training_csv_chunks(engine, chunk_size=64))
    assert len(chunks) == 1 + 5  # the header, then 300 rows in chunks of 64
    assert b"".join(chunks) == training_csv(engine)
