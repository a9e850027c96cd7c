"""Two versions trained by real jobs: the challenger compared with the champion on their
holdout and on the recent scored window, or not at all when their holdouts share too few
clients; the model card holds every section with the
registry's numbers; the CLI writes it."""

import pytest
from sqlalchemy import update

from core.cli import main
from core.db.engine import make_engine
from core.db.schema import ModelVersion
from core.ml.card import SECTIONS, CardError, model_card, number
from core.ml.challenger import SAME, ComparisonError, compare
from core.ml.registry import ChampionError, get_version, set_champion
from core.ml.trust import version_trust
from core.serving.scoring import score
from tests.champion_support import CHALLENGER, CHAMPION, trained_copy
from tests.jobs_support import real_frame

pytestmark = pytest.mark.integration


@pytest.fixture
def trained(tmp_path):
    engine = make_engine(trained_copy(tmp_path))
    yield engine
    engine.dispose()


def test_the_challenger_against_the_champion_on_the_holdout_and_the_recent_window(trained):
    clients = real_frame().iloc[3_000:3_400]
    score(trained, clients, version=CHAMPION, source="cli")
    comparison = compare(trained, CHALLENGER, CHAMPION)
    assert comparison.basis == SAME
    stored = get_version(trained, CHALLENGER).evaluation
    auc = comparison.holdout["auc"]
    assert auc["challenger"]["value"] == pytest.approx(stored["roc"]["auc"], abs=1e-4)
    assert auc["challenger"]["low"] < auc["challenger"]["value"] < auc["challenger"]["high"]
    assert comparison.holdout["rows"] == stored["holdout_rows"]
    recent = comparison.recent
    assert recent["rows"] == 400 and comparison.recent_note is None
    swaps = recent["swaps"]
    assert swaps["to_default"] + swaps["to_not_default"] + swaps["unchanged"] == 400
    assert {row["attribute"] for row in comparison.fairness} == {
        "sex",
        "age band",
        "education",
        "marital status",
    }


def test_versions_whose_holdouts_share_too_few_clients_are_not_compared(trained):
    champion = get_version(trained, CHAMPION).evaluation
    moved = dict(champion["holdout_clients"])
    moved["ID"] = [i + 1_000_000 for i in moved["ID"]]  # no client in common
    with trained.begin() as connection:
        connection.execute(
            update(ModelVersion)
            .where(ModelVersion.version == CHAMPION)
            .values(evaluation={**champion, "holdout_clients": moved})
        )
    with pytest.raises(ComparisonError, match="share 0 clients.*refitted on every client"):
        compare(trained, CHALLENGER, CHAMPION, recent=False)
    # promotion asks for a reason, and says why
    with pytest.raises(ChampionError, match="cannot be compared: their holdouts share 0"):
        set_champion(trained, CHALLENGER)
    set_champion(trained, CHALLENGER, reason="other sample: judged on cross-validation")
    assert get_version(trained, CHALLENGER).is_champion


def test_versions_saved_before_holdout_clients_were_stored_are_compared_on_rebuilt_ones(
    trained,
):
    before = compare(trained, CHALLENGER, CHAMPION, recent=False)
    for version in (CHALLENGER, CHAMPION):
        evaluation = get_version(trained, version).evaluation
        del evaluation["holdout_clients"]
        with trained.begin() as connection:
            connection.execute(
                update(ModelVersion)
                .where(ModelVersion.version == version)
                .values(evaluation=evaluation)
            )
    after = compare(trained, CHALLENGER, CHAMPION, recent=False)
    assert after.basis == SAME and after.holdout["auc"] == before.holdout["auc"]
    assert after.holdout["swaps"] == before.holdout["swaps"]


def test_the_card_holds_every_section_with_the_registrys_numbers(trained):
    set_champion(trained, CHALLENGER, reason="the tree ranks defaulters better")
    card = model_card(trained, CHALLENGER)
    info = get_version(trained, CHALLENGER)
    trust = version_trust(trained, CHALLENGER)
    headings = [line[3:] for line in card.splitlines() if line.startswith("## ")]
    assert headings == list(SECTIONS)
    calibration = trust.calibration
    for value in ("brier", "ece", "mean_predicted", "observed_rate"):
        assert f"| {number(calibration[value])} |" in card
    for name, value in info.metrics.items():
        assert f"| {name} | {number(value)} |" in card
    assert f"| {number(info.evaluation['holdout']['AUC'])} |" in card
    first = calibration["curve"][0]
    assert f"| 0.0-0.1 | {number(first['predicted'])} |" in card
    male = trust.fairness["attributes"]["SEX"]["groups"][0]
    assert f"| sex | {male['group']} | {male['clients']:,} |" in card
    top = max(info.evaluation["importance"].items(), key=lambda item: abs(item[1]))
    assert f"| {top[0]} | {number(top[1])} |" in card
    assert "the tree ranks defaulters better" in card and "| 1.1 | 1.0 |" in card
    assert info.sha256 in card and "signed with this deployment's key" in card
    assert "| Source sha256 |" in card and "credit.csv" in card
    for library, version in info.library_versions.items():
        assert f"| {library} | {version} |" in card


def test_the_html_card_is_a_page_with_a_chart_and_escaped_values(trained):
    set_champion(trained, CHALLENGER, reason="<script>alert(1)</script>")
    page = model_card(trained, CHALLENGER, "html")
    assert page.startswith("<!DOCTYPE html>") and page.count("<h2>") == len(SECTIONS)
    assert "<svg" in page and "<script>" not in page and "&lt;script&gt;" in page
    with pytest.raises(CardError, match="format 'pdf'"):
        model_card(trained, CHALLENGER, "pdf")


def test_the_cli_writes_the_card(trained, tmp_path, settings_env, capsys):
    settings_env(DATABASE_URL=str(trained.url))
    out = tmp_path / "card.html"
    assert main(["card", "--version", "1.1", "--format", "html", "--out", str(out)]) == 0
    assert "<h1>Model card: version 1.1" in out.read_text()
    assert "wrote the html model card of version 1.1" in capsys.readouterr().out
    assert main(["card", "--version", "1.0"]) == 0
    assert capsys.readouterr().out.startswith("# Model card: version 1.0")
    assert main(["card", "--version", "7.0"]) == 1
    assert "no model version 7.0" in capsys.readouterr().err
    assert main(["card", "--version", "1.0", "--out", str(tmp_path / "no" / "x.md")]) == 1
    assert "--out" in capsys.readouterr().err
