"""The model card of a version, generated from the registry (never written by hand):
intended use and limits, data, training, metrics, calibration, fairness, feature
importance, champion history and the artifact's checksum, as Markdown or HTML.

`card_sections` builds the card as data (titles, paragraphs, tables); `model_card`
renders it. Both read only.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from core.clock import aware
from core.data.status import load_history
from core.ml.registry import (
    ArtifactError,
    SignatureError,
    champion_history,
    check_artifact,
    get_version,
)
from core.ml.trust import version_trust
from core.settings import SettingsError
from core.vocabulary import MONTH_LABELS, PROTECTED

FORMATS = ("md", "html")
PARTS = ["holdout", "confusion", "threshold", "holdout_rows", "importance", "importance_kind"]
PARTS += ["serving"]
SECTIONS = (
    "Intended use and limits",
    "Data",
    "Training",
    "Metrics",
    "Calibration",
    "Fairness by group",
    "Feature importance",
    "Champion history",
    "Artifact",
)
INTENDED_USE = (
    "Estimates the probability that a credit-card client defaults on next month's payment, "
    "from the 23 features of the UCI 'default of credit card clients' data set (Taiwan, "
    "2005): limit, sex, education, marital status, age, six months of repayment status, "
    "bills and payments. For analysts ranking clients and setting limits and collections, "
    "with a person deciding."
)
LIMITS = (
    "Not for automatic decisions about a person without review. Trained on one bank's "
    "clients in 2005: clients, products or economic conditions unlike those make its "
    "scores unreliable. The probabilities are only as true as the calibration below says; "
    "groups flagged under the four-fifths rule need a person's judgement."
)


@dataclass
class Section:
    """One section: a title, paragraphs and tables ((headers, rows)), an optional chart
    (an SVG string, shown in HTML only)."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[list[str], list[list]]] = field(default_factory=list)
    svg: str | None = None


class CardError(ValueError):
    """An unknown card format."""


def model_card(engine: Engine, version: str, format: str = "md") -> str:
    """The model card of `version` as Markdown ("md") or a standalone HTML page ("html").

    VersionError for an unknown version, CardError for another format.
    """
    if format not in FORMATS:
        raise CardError(f"format {format!r} is not one of {', '.join(FORMATS)}")
    title, sections = card_sections(engine, version)
    return to_markdown(title, sections) if format == "md" else to_html(title, sections)


def card_sections(engine: Engine, version: str) -> tuple[str, list[Section]]:
    """(the card's title, its SECTIONS in order) for `version`, from the registry."""
    info = get_version(engine, version, parts=PARTS)
    trust = version_trust(engine, info.version)
    title = f"Model card: version {info.version}, {info.model_name}"
    sections = [
        intended_use(info, trust),
        data_section(engine, info, trust),
        training_section(engine, info),
        metrics_section(info),
        calibration_section(trust),
        fairness_section(trust),
        importance_section(info),
        history_section(engine, info),
        artifact_section(engine, info),
    ]
    return title, sections


def number(value, digits: int = 4) -> str:
    """A figure as the card prints it: `digits` decimals, "n/a" for None."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or isinstance(value, int):
        return f"{value:,}" if not isinstance(value, bool) else str(value)
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def intended_use(info, trust) -> Section:
    section = Section(SECTIONS[0], [INTENDED_USE, LIMITS])
    warning = (trust.calibration or {}).get("warning")
    if warning:
        section.paragraphs.append(f"Warning: {warning}")
    return section


def data_section(engine: Engine, info, trust) -> Section:
    load = _load_at(engine, info.created_at)
    calibration = trust.calibration or {}
    rows = [
        ["Clients trained and validated on", number(info.rows)],
        ["Period", f"six months of payments, {MONTH_LABELS[6]} to {MONTH_LABELS[1]}"],
        ["Holdout clients", number(calibration.get("rows"))],
        ["Default rate (holdout clients)", number(calibration.get("observed_rate"))],
    ]
    if load is None:
        rows.append(["Source", "no load recorded before this version was trained"])
    else:
        rows += [
            ["Source", load.source],
            ["Source sha256", load.sha256 or "not recorded"],
            ["Loaded (UTC)", f"{load.loaded_at:%Y-%m-%d %H:%M}"],
            ["Clients loaded", number(load.clients)],
        ]
    return Section(SECTIONS[1], tables=[(["Data", "Value"], rows)])


def _load_at(engine: Engine, moment: datetime):
    """The newest load before `moment`: the data the version was trained on."""
    moment = aware(moment)
    for load in load_history(engine):
        if load.loaded_at <= moment:
            return load
    return None


def training_section(engine: Engine, info) -> Section:
    rows = [
        ["Model", f"{info.model_name} ({info.model_id})"],
        ["Chosen by", info.metric],
        ["Cross-validation folds", number(info.folds)],
    ]
    job = _job(engine, info.job_id)
    if job is not None:
        rows += [
            ["Training job", job.id],
            ["Models compared", ", ".join(job.models)],
            ["Sample size", number(job.sample_size) if job.sample_size else "all clients"],
            ["Fix class imbalance", "yes" if job.fix_imbalance else "no"],
            ["Calibration", job.calibrate],
            [
                "Protected attributes left out",
                ", ".join(PROTECTED) if job.leave_out_protected else "no",
            ],
            ["Seed", number(job.seed)],
        ]
    params = [[name, str(value)] for name, value in sorted(info.params.items())]
    libraries = [[name, value] for name, value in info.library_versions.items()]
    tables = [(["Training", "Value"], rows)]
    if params:
        tables.append((["Parameter", "Value"], params))
    tables.append((["Library", "Version"], libraries))
    return Section(SECTIONS[2], tables=tables)


def _job(engine: Engine, job_id: str | None):
    from core.jobs.store import JobError, get_job

    if job_id is None:
        return None
    try:
        return get_job(engine, job_id)
    except JobError:
        return None


def metrics_section(info) -> Section:
    holdout = info.evaluation.get("holdout", {})
    names = list(dict.fromkeys([*info.metrics, *holdout]))
    rows = [[name, number(info.metrics.get(name)), number(holdout.get(name))] for name in names]
    section = Section(SECTIONS[3], tables=[(["Metric", "Cross-validated", "Holdout"], rows)])
    confusion = info.evaluation.get("confusion")
    if confusion:
        threshold = info.evaluation.get("threshold", 0.5)
        section.paragraphs.append(
            f"At the threshold {threshold}: {confusion['tp']:,} defaulters flagged, "
            f"{confusion['fn']:,} missed, {confusion['fp']:,} others flagged, "
            f"{confusion['tn']:,} others passed (of {info.evaluation.get('holdout_rows', 0):,} "
            "holdout clients)."
        )
    return section


def calibration_section(trust) -> Section:
    report = trust.calibration
    if not report or "curve" not in report:
        return Section(SECTIONS[4], [f"Not computed: {trust.reason}"])
    rows = [
        ["Brier score", number(report["brier"])],
        ["Expected calibration error", number(report["ece"])],
        ["Mean predicted probability", number(report["mean_predicted"])],
        ["Observed default rate", number(report["observed_rate"])],
        ["Verdict", report["verdict"]],
    ]
    if "method" in report:
        rows.append(["Calibrated by", report["method"] or f"none ({report.get('note')})"])
    curve = [
        [
            f"{b['low']:.1f}-{b['high']:.1f}",
            number(b["predicted"]),
            number(b["observed"]),
            number(b["count"]),
        ]
        for b in report["curve"]
    ]
    return Section(
        SECTIONS[4],
        tables=[
            (["Calibration", "Value"], rows),
            (["Bin", "Mean predicted", "Observed rate", "Clients"], curve),
        ],
        svg=reliability_svg(report["curve"]),
    )


def reliability_svg(curve: list[dict], size: int = 240) -> str:
    """The reliability curve as a small inline SVG: observed against predicted, with the
    diagonal of perfect calibration."""
    pad = 30
    span = size - 2 * pad

    def point(x: float, y: float) -> str:
        return f"{pad + x * span:.1f},{size - pad - y * span:.1f}"

    kept = [b for b in curve if b["count"]]
    line = " ".join(point(b["predicted"], b["observed"]) for b in kept)
    dots = "".join(
        f'<circle cx="{point(b["predicted"], b["observed"]).split(",")[0]}" '
        f'cy="{point(b["predicted"], b["observed"]).split(",")[1]}" r="3"/>'
        for b in kept
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        'role="img" aria-label="reliability curve">'
        f'<rect x="{pad}" y="{pad}" width="{span}" height="{span}" fill="none" stroke="#999"/>'
        f'<line x1="{pad}" y1="{size - pad}" x2="{size - pad}" y2="{pad}" stroke="#bbb" '
        'stroke-dasharray="4"/>'
        f'<polyline points="{line}" fill="none" stroke="#1f77b4" stroke-width="2"/>'
        f'<g fill="#1f77b4">{dots}</g>'
        f'<text x="{size / 2}" y="{size - 8}" text-anchor="middle" font-size="11">'
        "mean predicted</text>"
        f'<text x="10" y="{size / 2}" font-size="11" transform="rotate(-90 10 {size / 2})" '
        'text-anchor="middle">observed default rate</text></svg>'
    )


def fairness_section(trust) -> Section:
    report = trust.fairness
    if not report:
        return Section(SECTIONS[5], [f"Not computed: {trust.reason or 'no groups stored'}"])
    headers = ["Attribute", "Group", "Clients", "Default rate", "Mean predicted", "AUC"]
    headers += ["TPR", "FPR", "Flagged share", "Ratio", "Note"]
    rows = []
    for attribute in report["attributes"].values():
        for g in attribute["groups"]:
            note = g.get("note") or ("under 0.8: flagged" if g.get("flagged") else "")
            rows.append(
                [
                    attribute["name"],
                    g["group"],
                    number(g["clients"]),
                    number(g["default_rate"]),
                    number(g["mean_predicted"]),
                    number(g["auc"]),
                    number(g["tpr"]),
                    number(g["fpr"]),
                    number(g["selection_rate"]),
                    number(g["ratio"]),
                    note,
                ]
            )
    intro = (
        f"On the holdout, at the threshold {report['threshold']}; the ratio is each group's "
        f"share {report['favourable']} to the most favoured group's, flagged under "
        f"{report['ratio_floor']} (the four-fifths rule); groups under "
        f"{report['min_clients']} clients or without a defaulter are not judged."
    )
    return Section(SECTIONS[5], [intro], [(headers, rows)])


def importance_section(info) -> Section:
    importance = info.evaluation.get("importance") or {}
    if not importance:
        return Section(SECTIONS[6], ["Not stored."])
    ranked = sorted(importance.items(), key=lambda item: -abs(item[1]))
    rows = [[name, number(value)] for name, value in ranked]
    kind = info.evaluation.get("importance_kind", "")
    return Section(SECTIONS[6], [f"Kind: {kind}."], [(["Feature", "Importance"], rows)])


def history_section(engine: Engine, info) -> Section:
    changes = [c for c in champion_history(engine) if info.version in (c.version, c.previous)]
    state = "is the champion" if info.is_champion else "is not the champion"
    section = Section(SECTIONS[7], [f"Version {info.version} {state}."])
    if changes:
        rows = [
            [f"{c.at:%Y-%m-%d %H:%M}", c.version, c.previous or "none", c.actor, c.reason or ""]
            for c in changes
        ]
        section.tables.append((["When (UTC)", "Champion", "Replaced", "By", "Reason"], rows))
    else:
        section.paragraphs.append("It has never been part of a champion change.")
    return section


def artifact_section(engine: Engine, info) -> Section:
    try:
        check_artifact(engine, info.version)
        signed = "signed with this deployment's key, checked now"
    except SignatureError as exc:
        signed = f"not signed with this deployment's key: {exc}"
    except ArtifactError as exc:
        signed = f"damaged: {exc}"
    except SettingsError as exc:
        signed = f"not checked: {exc}"
    serving = info.evaluation.get("serving") or {}
    rows = [
        ["sha256", info.sha256],
        ["Signature", signed],
        ["Created (UTC)", f"{info.created_at:%Y-%m-%d %H:%M}"],
        ["Served by", "compiled predictor" if serving.get("compiled") else "its pipeline"],
    ]
    return Section(SECTIONS[8], tables=[(["Artifact", "Value"], rows)])


# --- Rendering ----------------------------------------------------------------------------


def to_markdown(title: str, sections: list[Section]) -> str:
    """The card as Markdown: one `##` heading per section, pipe tables."""
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        for headers, rows in section.tables:
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + "|".join("---" for _ in headers) + "|")
            lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def _cell(value) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def to_html(title: str, sections: list[Section]) -> str:
    """The card as a standalone HTML page; every value escaped."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        "table{border-collapse:collapse;margin:0.5em 0}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
    ]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        parts += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        for headers, rows in section.tables:
            head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
                for row in rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        if section.svg:
            parts.append(section.svg)
    parts.append("</body></html>")
    return "\n".join(parts)
