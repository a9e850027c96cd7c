"""Figure builders of the Clients and Payments pages, without Streamlit."""

import pandas as pd
import pytest

from core.explore.clients import ClientRecord, Figures
from dashboard import formats
from dashboard.charts import explore as figures

AGES = pd.DataFrame({"age": [25, 25, 30], "defaulted": [False, True, False], "clients": [10, 4, 7]})
RATES = pd.DataFrame(
    {
        "code": [1, 2],
        "label": ["male", "female"],
        "clients": [10, 30],
        "defaulted": [5, 3],
        "rate": [0.5, 0.1],
    }
)
LIMITS = pd.DataFrame({"band": [0, 50_000], "defaulted": [False, True], "clients": [3, 2]})
MONTHS = pd.DataFrame(
    {
        "month": [2, 1],
        "label": ["Aug 2005", "Sep 2005"],
        "clients": [4, 4],
        "total_bill": [400, 500],
        "total_paid": [40, 50],
        **{name: [1, 1] for name in ("paid duly", "revolving credit")},
        **{name: [0, 0] for name in ("1 month late", "2 months late", "3+ months late")},
        "no consumption": [2, 2],
        "median_bill": [100.0, 125.0],
        "median_paid": [10.0, 12.5],
        # Exact medians: each interval is the median, taken over every client counted.
        "bill_low": [100.0, 125.0],
        "bill_high": [100.0, 125.0],
        "paid_low": [10.0, 12.5],
        "paid_high": [10.0, 12.5],
        "median_clients": [4, 4],
    }
)
# The same medians estimated from 3 of the 4 clients, with their intervals.
ESTIMATED = MONTHS.assign(
    bill_low=[90.0, 120.0], bill_high=[104.0, 140.0], paid_low=[9.0, 12.0],
    paid_high=[11.0, 13.0], median_clients=[3, 3],
)  # fmt: skip
for group in ("no consumption", "paid duly", "revolving credit", "1 month late",
              "2 months late", "3+ months late"):  # fmt: skip
    MONTHS[f"share: {group}"] = MONTHS[group] / MONTHS["clients"]
MOVES = pd.DataFrame({"from_status": [-1, -1, 0], "to_status": [-1, 1, 0], "clients": [3, 1, 5]})


def test_age_distribution_stacks_outcomes():
    figure = figures.age_distribution(AGES)
    assert [trace.name for trace in figure.data] == ["did not default", "defaulted"]
    assert list(figure.data[0].x) == [25, 30] and list(figure.data[0].y) == [10, 7]
    assert list(figure.data[1].y) == [4] and figure.layout.barmode == "stack"


def test_limit_distribution_centres_bars_on_their_band():
    figure = figures.limit_distribution(LIMITS, 50_000)
    assert list(figure.data[0].x) == [25_000] and list(figure.data[1].x) == [75_000]


def test_default_rates_show_percentages_with_their_clients():
    figure = figures.default_rates(RATES, "sex")
    assert list(figure.data[0].y) == ["male", "female"]
    assert list(figure.data[0].x) == [0.5, 0.1]
    assert list(figure.data[0].text) == ["50.0% of 10", "10.0% of 30"]
    assert "%{customdata[0]:,} clients" in figure.data[0].hovertemplate
    assert figure.layout.title.text == "Default rate by sex"


def test_a_small_groups_rate_is_paler_hatched_and_marked():
    figure = figures.default_rates(RATES, "sex")  # 10 men: under 30; 30 women: not
    bars = figure.data[0]
    assert list(bars.marker.color) == [figures.SMALL_COLOUR, figures.RATE_COLOUR]
    assert list(bars.marker.pattern.shape) == ["/", ""]
    assert list(figure.layout.yaxis.ticktext) == ["male<br><i>small group</i>", "female"]
    assert figures.small_group_note(RATES) == formats.SMALL_GROUP_NOTE
    assert figures.small_group_note(RATES.assign(clients=[30, 31])) is None


def test_rate_labels_fit_above_the_bars():
    figure = figures.default_rates(RATES, "sex")
    bars = figure.data[0]
    assert bars.orientation == "h" and bars.textposition == "outside"
    assert figure.layout.xaxis.range[1] > max(RATES["rate"]) * 1.5


def test_payment_history_has_bill_paid_and_status():
    history = pd.DataFrame(
        {
            "month": [6, 5],
            "label": ["Apr 2005", "May 2005"],
            "status": [-1, 2],
            "bill_amt": [100, 200],
            "pay_amt": [100, 0],
            "status_label": ["paid duly", "2 months late"],
        }
    )
    record = ClientRecord({"id": 7}, history)
    figure = figures.payment_history(record)
    assert [trace.name for trace in figure.data] == ["bill", "paid", "repayment status"]
    assert list(figure.data[2].text) == ["paid duly", "2 months late"]
    assert figure.layout.title.text == "Client 7: six months of payments"
    # the status words sit on their own band above the bars, never over them
    bars, statuses = figure.layout.yaxis, figure.layout.yaxis2
    assert figure.data[2].yaxis == "y2" and statuses.overlaying is None
    assert bars.domain[1] < statuses.domain[0]


def test_monthly_charts():
    totals = figures.monthly_totals(MONTHS)
    assert list(totals.data[0].y) == [400, 500] and list(totals.data[1].y) == [40, 50]
    medians = figures.monthly_medians(MONTHS)
    assert list(medians.data[0].y) == [100.0, 125.0]
    assert medians.data[0].error_y.array is None
    assert medians.layout.title.text == "Median bill and payment per month"
    assert figures.medians_note(MONTHS) is None
    shares = figures.status_shares(MONTHS)
    assert len(shares.data) == 6 and list(shares.data[0].y) == [0.5, 0.5]


def test_estimated_medians_show_their_intervals_and_say_so():
    medians = figures.monthly_medians(ESTIMATED)
    bill, paid = medians.data
    assert list(bill.y) == [100.0, 125.0] and list(paid.y) == [10.0, 12.5]
    assert list(bill.error_y.array) == [4.0, 15.0]  # up to the high end
    assert list(bill.error_y.arrayminus) == [10.0, 5.0]  # down to the low end
    assert list(paid.error_y.array) == [1.0, 0.5]
    assert list(paid.error_y.arrayminus) == [1.0, 0.5]
    assert medians.layout.title.text.endswith("(estimated, with 95% intervals)")
    note = figures.medians_note(ESTIMATED)
    assert note.startswith("Medians estimated from a random sample: 3 of the 4 matching")


def test_transitions_are_shares_of_each_starting_status():
    figure = figures.transitions(MOVES)
    heatmap = figure.data[0]
    assert list(heatmap.x) == ["paid duly", "revolving credit", "1 month late"]
    assert [list(row) for row in heatmap.z[:2]] == [[0.75, 0, 0.25], [0, 1, 0]]
    assert [list(row) for row in heatmap.customdata[:2]] == [[3, 0, 1], [0, 5, 0]]
    assert "%{customdata:,} clients" in heatmap.hovertemplate


def test_transition_rows_say_their_clients_and_small_ones_are_veiled():
    many = pd.DataFrame({"from_status": [0, 0, 2], "to_status": [0, 2, 2], "clients": [40, 5, 3]})
    figure = figures.transitions(many)
    assert list(figure.data[0].y) == [
        "revolving credit (45 clients)",
        "2 months late (3 clients, small group)",
    ]
    veils = figure.layout.shapes
    assert len(veils) == 1 and (veils[0].y0, veils[0].y1) == (0.5, 1.5)  # the second row
    assert veils[0].fillcolor == figures.VEIL


@pytest.mark.parametrize(
    "build",
    [
        lambda e: figures.age_distribution(e),
        lambda e: figures.limit_distribution(e, 50_000),
        lambda e: figures.default_rates(e, "education"),
        lambda e: figures.monthly_totals(e),
        lambda e: figures.monthly_medians(e),
        lambda e: figures.status_shares(e),
        lambda e: figures.transitions(e),
    ],
)
def test_no_rows_give_an_empty_chart_that_says_so(build):
    figure = build(pd.DataFrame())
    assert figure.data == () and figure.layout.annotations[0].text == "no clients match"


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        (
            Figures(24_000, 35.4467, 0.22108, 167_876.4),
            {
                "Clients": "24,000",
                "Average age": "35.45",
                "Default rate": "22.1%",
                "Average credit limit": "NT$ 167,876",
            },
        ),
        (
            Figures(0, None, None, None),
            {"Clients": "0", "Average age": "—", "Default rate": "—", "Average credit limit": "—"},
        ),
    ],
)
def test_metric_values(shown, expected):
    assert figures.metric_values(shown) == expected


def test_client_rows_use_labels():
    page = pd.DataFrame(
        {
            "id": [1],
            "limit_bal": [20_000],
            "sex": [2],
            "education": [0],
            "marriage": [1],
            "age": [24],
            "defaulted": [True],
        }
    )
    rows = figures.client_rows(page)
    assert rows.iloc[0].tolist() == [1, 20_000, "female", "undocumented (0)", "married", 24, "yes"]
    assert list(rows.columns) == figures.CLIENT_COLUMNS
    assert list(rows.columns)[:2] == ["Client", "Credit limit (NT$)"]


def test_status_shares_of_a_few_clients_are_paler_and_marked():
    figure = figures.status_shares(MONTHS)  # 4 clients a month
    assert list(figure.data[0].marker.opacity) == [0.4, 0.4]
    assert list(figure.layout.xaxis.ticktext) == [
        "Aug 2005<br><i>small group</i>",
        "Sep 2005<br><i>small group</i>",
    ]
    assert "of %{customdata[1]:,} clients" in figure.data[0].hovertemplate
    assert figures.small_group_note(MONTHS) == formats.SMALL_GROUP_NOTE
    many = figures.status_shares(MONTHS.assign(clients=[400, 400]))
    assert list(many.data[0].marker.opacity) == [1, 1]


def test_starting_statuses_count_each_heatmap_row():
    rows = figures.starting_statuses(MOVES)
    assert rows.to_dict("list") == {"status": [-1, 0, 1], "clients": [4, 5, 0]}
    assert figures.starting_statuses(pd.DataFrame()).empty
