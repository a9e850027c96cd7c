"""Calibration benchmark: is the kept model's probability of default true, and what do
calibration and fairness cost a job? One run, the same data, three jobs.

    python bench/calibration.py [--folds 5] [--sample N] [--models lr,lightgbm,nb]

1. the default settings (no imbalance fix, so no calibration): the kept model's holdout
   ECE, target <= 0.02;
2. "fix class imbalance" (SMOTE; isotonic calibration is then on by default): the
   calibrated model's holdout ECE, target <= 0.02, and its AUC against the same model's
   uncalibrated AUC, target within 0.005;
3. the default settings without the protected attributes (SEX, AGE, MARRIAGE): the AUC
   they cost, and the four-fifths flags either way.
For each job: the seconds spent computing calibration and fairness (evaluation
"trust_seconds") over the job's wall time, target <= 5%.

BENCH_DATABASE_URL (default: a new SQLite file under /tmp) is loaded with CREDIT_DATA if
it has no clients. Jobs run on the local runner, as `python -m core train` runs them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchfigures import Figures, add_json_option
from core import jobs
from core.data.loader import load_file
from core.data.status import data_status
from core.db.engine import make_engine
from core.ml.fairness import flagged_groups
from core.ml.registry import get_version, next_version

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("CREDIT_DATA", ROOT.parent / "shared" / "data" / "credit.csv"))
MAX_ECE = 0.02
MAX_AUC_LOSS = 0.005
MAX_TRUST_SHARE = 0.05
RUNS = {
    "default settings": {},
    "fix imbalance (calibrated)": {"fix_imbalance": True},
    "default, protected left out": {"leave_out_protected": True},
}


def run_job(engine, params: dict) -> dict:
    """Train one version with `params` on the local runner; its figures."""
    version = next_version(engine)
    started = time.perf_counter()
    job_id = jobs.submit(engine, {**params, "version": version}, jobs.LocalRunner())
    while (job := jobs.get_job(engine, job_id)).active:
        time.sleep(0.5)
    wall = time.perf_counter() - started
    if job.state != "finished":
        raise SystemExit(f"job {job_id} {job.state}: {job.error}")
    evaluation = get_version(engine, version).evaluation
    calibration = evaluation["calibration"]
    return {
        "version": version,
        "model": job.best_model_name,
        "wall": wall,
        "job_seconds": job.seconds,
        "trust_seconds": evaluation["trust_seconds"],
        "auc": evaluation["roc"]["auc"],
        "ece": calibration["ece"],
        "brier": calibration["brier"],
        "mean_predicted": calibration["mean_predicted"],
        "observed_rate": calibration["observed_rate"],
        "method": calibration.get("method"),
        "uncalibrated": calibration.get("uncalibrated"),
        "flagged": flagged_groups(evaluation),
        "note": job.note,
    }


def report(name: str, result: dict) -> list[str]:
    share = result["trust_seconds"] / result["wall"]
    lines = [
        f"{name}: version {result['version']}, {result['model']}",
        f"  job {result['wall']:.1f} s; calibration + fairness {result['trust_seconds']:.2f} s "
        f"= {share:.2%} of the job (target <= {MAX_TRUST_SHARE:.0%}) "
        f"{'OK' if share <= MAX_TRUST_SHARE else 'MISSED'}",
        f"  holdout AUC {result['auc']:.4f}, Brier {result['brier']:.4f}, "
        f"ECE {result['ece']:.4f} (target <= {MAX_ECE}) "
        f"{'OK' if result['ece'] <= MAX_ECE else 'MISSED'}",
        f"  mean predicted {result['mean_predicted']:.4f} "
        f"vs observed {result['observed_rate']:.4f}",
    ]
    raw = result["uncalibrated"]
    if raw:
        loss = raw["auc"] - result["auc"]
        lines.append(
            f"  {result['method']} calibration: ECE {raw['ece']:.4f} -> {result['ece']:.4f}, "
            f"mean predicted {raw['mean_predicted']:.4f} -> {result['mean_predicted']:.4f}, "
            f"AUC {raw['auc']:.4f} -> {result['auc']:.4f} (loss {loss:+.4f}, target <= "
            f"{MAX_AUC_LOSS}) {'OK' if loss <= MAX_AUC_LOSS else 'MISSED'}"
        )
    lines.append(f"  four-fifths flags: {', '.join(result['flagged']) or 'none'}")
    if result["note"]:
        lines.append(f"  note: {result['note']}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sample", type=int, default=0, help="rows (0 = all)")
    parser.add_argument("--models", default="lr,lightgbm,nb")
    add_json_option(parser)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = make_engine(url)
    if data_status(engine).empty:
        print(f"loading {DATA}")
        load_file(engine, DATA.read_bytes(), str(DATA))
    common = {"folds": args.folds, "models": args.models, "sample_size": args.sample or None}
    results = {}
    try:
        for name, options in RUNS.items():
            results[name] = run_job(engine, {**common, **options})
            print("\n".join(report(name, results[name])), flush=True)
    finally:
        jobs.stop_local_worker(engine)
    plain, left_out = results["default settings"], results["default, protected left out"]
    print(
        f"leaving out SEX, AGE and MARRIAGE costs {plain['auc'] - left_out['auc']:+.4f} AUC "
        f"({plain['auc']:.4f} -> {left_out['auc']:.4f})"
    )
    figures = Figures("calibration")
    figures.add(
        "AUC without SEX, AGE and MARRIAGE",
        left_out["auc"],
        "",
        baseline=plain["auc"],
        baseline_what="AUC with them",
        lower_is_better=False,
    )
    figures.write(args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
