"""Header variants and row validation of data files: one table of cases each."""

import pytest

from core.data.dataset import DataError, map_header, parse_csv
from core.vocabulary import FEATURES, ID, TARGET

PYCARET_HEADER = ",".join([*FEATURES, TARGET])
ROW = "20000,2,2,1,24,2,2,-1,-1,-2,-2,3913,3102,689,0,0,0,0,689,0,0,0,0,1"
ROW2 = (
    "90000,2,2,2,34,0,0,0,0,0,0,29239,14027,13559,14331,14948,15549,1518,1500,1000,1000,1000,5000,0"
)


def uci_names(target: str) -> list[str]:
    return ["ID", *["PAY_0" if c == "PAY_1" else c for c in FEATURES], target]


def csv_file(header: str, *rows: str) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


HEADERS = {
    "pycaret": PYCARET_HEADER,
    "uci": ",".join(uci_names("default payment next month")),
    "dotted": ",".join(uci_names("default.payment.next.month")),
    "x_and_y": ",".join([*[f"X{i}" for i in range(1, 24)], "Y"]),
    "snake_case": PYCARET_HEADER.lower(),
    "quoted": ",".join(f'"{c}"' for c in PYCARET_HEADER.split(",")),
}


@pytest.mark.parametrize("variant", HEADERS)
def test_every_known_header_variant_gives_the_same_frame(variant):
    header = HEADERS[variant]
    with_id = header.startswith("ID")
    rows = [f"{i + 7},{r}" if with_id else r for i, r in enumerate([ROW, ROW2])]
    frame = parse_csv(csv_file(header, *rows))
    assert list(frame.columns) == [ID, *FEATURES, TARGET]
    assert frame["LIMIT_BAL"].tolist() == [20000, 90000]
    assert frame["PAY_1"].tolist() == [2, 0] and frame[TARGET].tolist() == [1, 0]
    assert frame[ID].tolist() == ([7, 8] if with_id else [1, 2])


def test_the_real_file_loads_with_its_quirks(real_data):
    frame = parse_csv(real_data)
    assert len(frame) == 24000 and frame[ID].tolist()[:3] == [1, 2, 3]
    assert frame["EDUCATION"].min() == 0 and frame["BILL_AMT6"].min() < 0
    assert frame["PAY_AMT5"].max() > 100_000  # "1.00E+05" cells are read as numbers
    assert 0.21 < frame[TARGET].mean() < 0.23


def test_a_byte_order_mark_is_allowed():
    assert len(parse_csv(b"\xef\xbb\xbf" + csv_file(PYCARET_HEADER, ROW))) == 1


def test_target_can_be_optional_for_scoring():
    header = ",".join(FEATURES)
    frame = parse_csv(csv_file(header, ROW.rsplit(",", 1)[0]), require_target=False)
    assert TARGET not in frame.columns and len(frame) == 1


def test_blank_lines_are_skipped_and_lines_still_counted():
    bad = ROW.replace("2,2,1,24", "2,2,1,abc", 1)
    with pytest.raises(DataError) as caught:
        parse_csv(csv_file(PYCARET_HEADER, ROW, "", bad))
    assert str(caught.value.problems[0]) == "line 4, column AGE: 'abc' is not a number"


BAD_FILES = [
    ("empty", b"", "the file is empty"),
    ("blank", b"\n\n  \n", "the file is empty"),
    ("header only", csv_file(PYCARET_HEADER), "the file has a header but no data rows"),
    (
        "wrong header",
        csv_file("LIMIT,SEX,AGE,colour", "1,2,3,4"),
        "line 1: header not recognised; missing columns: LIMIT_BAL, EDUCATION",
    ),
    (
        "unknown column named",
        csv_file(PYCARET_HEADER + ",colour", ROW + ",red"),
        "unknown columns: colour",
    ),
    (
        "ambiguous columns",
        csv_file("PAY_0," + PYCARET_HEADER, "0," + ROW),
        "'PAY_0' and 'PAY_1' are both PAY_1",
    ),
    (
        "text in a number column",
        csv_file(PYCARET_HEADER, ROW.replace("20000", "lots", 1)),
        "line 2, column LIMIT_BAL: 'lots' is not a number",
    ),
    (
        "impossible sex",
        csv_file(PYCARET_HEADER, ROW.replace("20000,2", "20000,3", 1)),
        "line 2, column SEX: 3 is outside 1..2",
    ),
    (
        "impossible status",
        csv_file(PYCARET_HEADER, ROW2, ROW.replace(",24,2,", ",24,12,", 1)),
        "line 3, column PAY_1: 12 is outside -2..9",
    ),
    (
        "negative payment",
        csv_file(PYCARET_HEADER, ROW.replace(",689,0,0,0,0,1", ",-689,0,0,0,0,1")),
        "line 2, column PAY_AMT2: -689 is outside 0..100000000",
    ),
    (
        "fraction",
        csv_file(PYCARET_HEADER, ROW.replace(",24,", ",24.5,", 1)),
        "line 2, column AGE: 24.5 is not a whole number",
    ),
    (
        "missing cell",
        csv_file(PYCARET_HEADER, ROW.replace(",24,", ",,", 1)),
        "line 2, column AGE: missing value",
    ),
    (
        "short row",
        csv_file(PYCARET_HEADER, ROW, ROW.rsplit(",", 2)[0]),
        "line 3: 22 fields, fewer than the header's 24",
    ),
    (
        "long row",
        csv_file(PYCARET_HEADER, ROW + ",5"),
        "line 2: 25 fields, more than the header's 24",
    ),
    (
        "duplicate ids",
        csv_file(HEADERS["uci"], "5," + ROW, "6," + ROW2, "5," + ROW2),
        "line 4, column ID: id 5 already appears on line 2",
    ),
    ("zero id", csv_file(HEADERS["uci"], "0," + ROW), "line 2, column ID: 0 is outside"),
    (
        "not utf-8",
        csv_file(PYCARET_HEADER, ROW) + "caf\xe9\n".encode("latin-1"),
        "line 3: byte 0xE9 is not UTF-8 text",
    ),
]


@pytest.mark.parametrize(
    "data, message", [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES]
)
def test_bad_files_are_refused_saying_what_and_where(data, message):
    with pytest.raises(DataError) as caught:
        parse_csv(data)
    assert message in str(caught.value)


def test_problems_are_capped_but_counted():
    rows = [ROW.replace("20000,2", "20000,7", 1)] * 50
    with pytest.raises(DataError) as caught:
        parse_csv(csv_file(PYCARET_HEADER, *rows))
    assert caught.value.total == 50 and len(caught.value.problems) == 20
    assert "... and 30 more problems" in str(caught.value)


def test_header_mapping_is_case_and_space_insensitive():
    names = [f" {c.lower()} " for c in [*FEATURES, TARGET]]
    assert set(map_header(names).values()) == {*FEATURES, TARGET}
