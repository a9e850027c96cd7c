"""Filters: normalisation, the URL query-string form both ways, and the bound WHERE clause.

Whether the WHERE clause selects the right clients is checked against pandas on real
databases in test_queries.py.
"""

import re

import pytest
from sqlalchemy.dialects import sqlite

from core.db.schema import Client
from core.explore.filters import FilterError, Filters, from_query, id_from_query

clients = Client.__table__


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, Filters()),
        ({"sex": "2"}, Filters(sex=(2,))),
        ({"education": "3,1"}, Filters(education=(1, 3))),
        ({"education": "0,5,6"}, Filters(education=(0, 5, 6))),  # the unknown codes count
        ({"marriage": "0"}, Filters(marriage=(0,))),
        ({"age": "25-40"}, Filters(age=(25, 40))),
        ({"limit": "10000-500000"}, Filters(limit_bal=(10_000, 500_000))),
        ({"defaulted": "yes"}, Filters(defaulted=True)),
        ({"defaulted": "No"}, Filters(defaulted=False)),
        ({"sex": "1,2"}, Filters()),  # every code is the same as no filter
        ({"sex": ["2"]}, Filters(sex=(2,))),  # every value of a parameter, as in a URL
        ({"page": "3", "client": "7"}, Filters()),  # not ours
        (
            {"sex": "2", "education": "1,2", "marriage": "1", "age": "30-45", "defaulted": "no"},
            Filters(sex=(2,), education=(1, 2), marriage=(1,), age=(30, 45), defaulted=False),
        ),
    ],
)
def test_from_query(query, expected):
    assert from_query(query) == (expected, [])


@pytest.mark.parametrize(
    ("query", "kept", "problem"),
    [
        ({"sex": "3"}, Filters(), "sex='3' was ignored: sex: 3 is not a code (known: 1, 2)"),
        ({"sex": "female"}, Filters(), "sex: 'female' is not a whole number"),
        ({"age": "40"}, Filters(), "age: '40' is not a range like 25-40"),
        ({"age": "40-25"}, Filters(), "age: 40-25 starts above where it ends"),
        ({"age": "5-25"}, Filters(), "age: 5-25 is outside 18-120"),
        ({"limit": "a-b"}, Filters(), "limit: 'a' is not a whole number"),
        ({"defaulted": "maybe"}, Filters(), "defaulted: 'maybe' is not yes or no"),
        ({"sex": "2", "age": "x"}, Filters(sex=(2,)), "age='x' was ignored"),
        # Hostile links: each value ignored and named, nothing raised.
        (
            {"sex": ["1", "2"]},
            Filters(sex=(2,)),
            "sex appears 2 times in the link: the last one counts, '1' ignored",
        ),
        ({"sex": " "}, Filters(), "sex=' ' was ignored: it is empty"),
        ({"sex": "²"}, Filters(), "sex: '²' is not a whole number"),  # "²".isdigit() is True
        ({"age": "١٢-٤٠"}, Filters(), "age: '١٢' is not a whole number"),  # int() takes it
        ({"limit": "1_000-2_000"}, Filters(), "limit: '1_000' is not a whole number"),
        ({"education": "+1"}, Filters(), "education: '+1' is not a whole number"),
        ({"age": "-5-20"}, Filters(), "age: '' is not a whole number"),
        ({"sex": "-1"}, Filters(), "sex: -1 is not a code"),
        (
            {"age": "9" * 10_000 + "-20"},
            Filters(),
            "age: '9999999999999999999999999999999999999999'... (10,000 characters) is not",
        ),
        ({"sex": "9" * 19}, Filters(), "sex: '9999999999999999999' is not a whole number"),
        ({"limit": "1-" + "9" * 18}, Filters(), "limit: 1-999999999999999999 is outside"),
        (
            {"sex": "<script>alert(1)</script>"},
            Filters(),
            "sex: '<script>alert(1)</script>' is not a whole number",
        ),
        ({"defaulted": "yes\x00"}, Filters(), "defaulted: 'yes\\x00' is not yes or no"),
        ({"marriage": "1\n2"}, Filters(), "marriage: '1\\n2' is not a whole number"),
    ],
)
def test_from_query_keeps_what_it_can_and_names_what_it_ignored(query, kept, problem):
    filters, problems = from_query(query)
    assert filters == kept
    assert len(problems) == 1 and problem in problems[0]


@pytest.mark.parametrize(
    "filters",
    [
        Filters(),
        Filters(sex=(1,)),
        Filters(education=(0, 4, 5, 6), marriage=(0, 3)),
        Filters(age=(21, 21), limit_bal=(10_000, 10_000)),
        Filters(defaulted=True),
        Filters(sex=(2,), education=(2,), marriage=(2,), age=(30, 40), defaulted=False),
    ],
)
def test_query_string_round_trip(filters):
    assert from_query(filters.to_query()) == (filters, [])


def test_to_query_is_short_and_readable():
    filters = Filters(sex=(2,), education=(2, 1), age=(25, 40), limit_bal=(1, 9), defaulted=True)
    assert filters.to_query() == {
        "sex": "2",
        "education": "1,2",
        "age": "25-40",
        "limit": "1-9",
        "defaulted": "yes",
    }
    assert Filters().to_query() == {}


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Filters(education=(3, 1, 1)), Filters(education=(1, 3))),
        (Filters(marriage=[0, 1, 2, 3]), Filters()),
        (Filters(age=[25, 40]), Filters(age=(25, 40))),
    ],
)
def test_equal_selections_are_equal_filters(a, b):
    assert a == b and hash(a) == hash(b) and a.to_query() == b.to_query()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Filters(sex=(0,)), "sex: 0 is not a code (known: 1, 2)"),
        (lambda: Filters(education=(7,)), "education: 7 is not a code"),
        (lambda: Filters(age=(50, 40)), "age: 50-40 starts above where it ends"),
        (lambda: Filters(limit_bal=(0, 10)), "limit: 0-10 is outside 1-100,000,000"),
        (lambda: Filters(defaulted="yes"), "defaulted: 'yes' is not yes, no or all"),
    ],
)
def test_bad_filters_are_refused_with_the_filter_named(make, message):
    with pytest.raises(FilterError, match=re.escape(message)):
        make()


@pytest.mark.parametrize(
    ("filters", "sql", "params"),
    [
        (Filters(), "1 = 1", {}),
        (Filters(sex=(2,)), "clients.sex IN (__[POSTCOMPILE_sex_1])", {"sex_1": [2]}),
        (Filters(age=(25, 40)), "clients.age BETWEEN ? AND ?", {"age_1": 25, "age_2": 40}),
        (
            Filters(education=(0, 5), limit_bal=(1000, 2000), defaulted=False),
            "clients.education IN (__[POSTCOMPILE_education_1]) "
            "AND clients.limit_bal BETWEEN ? AND ? AND clients.defaulted = 0",
            {"education_1": [0, 5], "limit_bal_1": 1000, "limit_bal_2": 2000},
        ),
    ],
)
def test_where_clause_binds_every_value(filters, sql, params):
    compiled = filters.where(clients).compile(dialect=sqlite.dialect())
    assert str(compiled) == sql
    assert compiled.params == params


def test_where_clause_applies_to_any_table_with_the_clients_columns():
    from core.db.schema import ClientSummary

    where = Filters(education=(1,)).where(ClientSummary.__table__)
    assert "client_summary.education IN" in str(where.compile(dialect=sqlite.dialect()))


@pytest.mark.parametrize(
    ("filters", "words"),
    [
        (Filters(), "all clients"),
        (Filters(sex=(2,), age=(25, 40)), "female; age 25-40"),
        (Filters(education=(0, 1)), "undocumented (0) or graduate school"),
        (
            Filters(limit_bal=(10_000, 50_000), defaulted=True),
            "credit limit 10,000-50,000; defaulted",
        ),
    ],
)
def test_describe(filters, words):
    assert filters.describe() == words


@pytest.mark.parametrize(
    ("query", "found", "problem"),
    [
        ({}, None, None),
        ({"client": "7"}, 7, None),
        ({"client": " 12 "}, 12, None),
        ({"client": ["3", "8"]}, 8, "client appears 2 times in the link: the last one counts"),
        ({"client": ""}, None, "client='' was ignored: it is empty"),
        ({"client": "²"}, None, "client='²' was ignored: it is not a whole number"),
        ({"client": "١٢"}, None, "client='١٢' was ignored: it is not a whole number"),
        ({"client": "0"}, None, "client='0' was ignored: ids run from 1 to 1,000"),
        ({"client": "-4"}, None, "client='-4' was ignored: ids run from 1 to 1,000"),
        ({"client": "1001"}, None, "client='1001' was ignored: ids run from 1 to 1,000"),
        ({"client": "9" * 10_000}, None, "... (10,000 characters) was ignored: it is not"),
        ({"client": "\x00"}, None, "client='\\x00' was ignored"),
    ],
)
def test_id_from_query_takes_whole_numbers_in_range_and_names_the_rest(query, found, problem):
    number, problems = id_from_query(query, "client", 1_000)
    assert number == found
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0]
