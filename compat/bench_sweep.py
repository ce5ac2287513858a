"""make bench-sweep: cairn-sweep side by side with FLAML (same time budget), Optuna TPE over the same
search space (exactly the number of trials cairn-sweep completed within the budget in that row, however
long they take; its wall time is reported) and scikit-learn's HalvingRandomSearchCV (HistGradientBoosting,
max_iter 10 -> 300, factor 3, 64 candidates; same time budget), on the same data and the same validation:
5-fold stratified CV on breast_cancer and digits; a fixed stratified holdout (20 % letter, 10 % synth100k)
on the larger sets.

cairn-sweep enforces --budget itself (only trials that ended within it count); FLAML and Halving each run
in their own process whose clock starts once it has read the data, report every model they evaluate as
they go, and are killed at the budget — their result is the best model found by then. Optuna runs in the
same way without a time limit of its own, but is stopped at BENCH_SWEEP_OPTUNA_CAP times the budget (default
2; "60:2,300:1.5" per budget) so that the whole bench fits in an evening: its cell then reads "k of N
trials". One thread each. Per data set and budget, two phases: cairn-sweep alongside
HalvingRandomSearchCV, then FLAML alongside Optuna (which needs cairn-sweep's trial count),
BENCH_SWEEP_JOBS (default 2) systems at a time on the 2 cores. The load average before and after each row
is recorded. Also: the wall time of 100 trials on digits (--parallel 2). Best validation accuracy and
wall time; for each row also the time cairn-sweep took to reach FLAML's best score, where its budget
went (trials per learner and sample size), and the issue's targets, met or missed.

Environment: BENCH_SWEEP_SETS (default breast_cancer,digits,letter,synth100k), BENCH_SWEEP_BUDGETS
(seconds, default 60,300), BENCH_SWEEP_ROWS (an explicit order, e.g. "digits:60,hundred,letter:300"),
BENCH_SWEEP_SYSTEMS (default cairn,flaml,optuna,halving; cairn always runs), BENCH_SWEEP_JOBS,
BENCH_SWEEP_OPTUNA_CAP, CAIRN_SWEEP (default build/cairn-sweep). Results: a table on stdout, JSON in
compat/bench/results/sweep-<time>.json (rewritten after each row)."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests/data")
SWEEP = os.environ.get("CAIRN_SWEEP") or os.path.join(REPO, "build/cairn-sweep")
SETS = {"breast_cancer": ("breast_cancer.csv", "target", None), "digits": ("digits.csv", "target", None),
        "letter": ("letter.csv", "lettr", 0.2), "synth100k": ("@synth100k", "y", 0.1)}


def dataset(name):
    fname, target, holdout = SETS[name]
    if fname.startswith("@"):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_train import dataset_path
        path = dataset_path(name, (fname,))
    else:
        path = os.path.join(DATA, fname)
    return path, target, holdout


def split(df, target, holdout, tmp, name):
    """5-fold stratified CV folds, or a stratified holdout as train/valid files."""
    from sklearn.model_selection import StratifiedKFold, train_test_split
    y = df[target].astype(str).to_numpy(dtype=object)
    if holdout is None:
        fold = np.empty(len(df), dtype=int)
        for k, (_, te) in enumerate(StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y)):
            fold[te] = k
        if tmp is None:
            return {"fold": fold, "folds_path": None}
        path = os.path.join(tmp, f"{name}.folds")
        with open(path, "w") as f:
            f.write("fold\n" + "".join(f"{v}\n" for v in fold))
        return {"fold": fold, "folds_path": path}
    tr, va = train_test_split(np.arange(len(df)), test_size=holdout, random_state=0, stratify=y)
    fold = np.full(len(df), -1)
    fold[va] = 0
    paths = {"train": None, "valid": None}
    for part, idx in (("train", tr), ("valid", va)) if tmp is not None else ():
        paths[part] = os.path.join(tmp, f"{name}-{part}.csv")
        df.iloc[np.sort(idx)].to_csv(paths[part], index=False)
    return {"fold": fold, "train_path": paths["train"], "valid_path": paths["valid"],
            "train_idx": np.sort(tr), "valid_idx": np.sort(va)}


def run_cairn(path, target, sp, budget, tmp):
    """cairn-sweep enforces --budget itself (an over-time trial is killed at it); only trials that ended
    within the budget count. It is killed at three times the budget should it ever overrun."""
    out_dir = os.path.join(tmp, f"cairn-{budget}")
    cmd = [SWEEP, "--target", target, "--budget", f"{budget}s", "--parallel", "1", "--seed", "0",
           "--output-dir", out_dir]
    if "folds_path" in sp:
        cmd += ["--data", path, "--folds", sp["folds_path"]]
    else:
        cmd += ["--data", sp["train_path"], "--valid", sp["valid_path"]]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _, errs = proc.communicate(timeout=3 * budget + 60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, errs = proc.communicate()
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"cairn-sweep exited {proc.returncode}: {errs[-2000:]}")
    trials = [json.loads(l) for l in open(os.path.join(out_dir, "sweep", "trials.jsonl"))]
    done = [t for t in trials if t["state"] == "completed" and t["wall_clock_time"] <= budget]
    full = max(t["sample_size"] for t in trials)
    learners = {}
    for t in done:   # where the budget went: trials per learner and sample size
        k = f"{t['learner']}@{t['sample_size']}"
        learners[k] = learners.get(k, 0) + 1
    best = max(t["accuracy"] for t in done)
    curve, b = [], -1
    for t in sorted(done, key=lambda t: t["wall_clock_time"]):
        if t["accuracy"] > b:
            b = t["accuracy"]
            curve.append((t["wall_clock_time"], b))
    top = max(done, key=lambda t: t["accuracy"])
    return {"best": best, "wall": wall, "trials": len(done), "started": len(trials), "curve": curve,
            "learner": f"{top['learner']}@{top['sample_size']}", "trials_by_learner": learners,
            "largest_sample_trials": sum(1 for t in done if t["sample_size"] == full)}


class Reporter:
    """A comparator's worker process writes one JSON line per evaluated model (seconds since its search
    started, validation score), flushed at once, so the best model found so far survives a kill."""

    def __init__(self, path):
        self.f = open(path, "a")
        self.t0 = time.monotonic()
        self.write({"start": True})

    def write(self, rec):
        self.f.write(json.dumps(rec) + "\n")
        self.f.flush()

    def score(self, value, **extra):
        self.write({"t": time.monotonic() - self.t0, "score": float(value), **extra})


def run_limited(system, name, budget, tmp, n_trials=0, limit=None):
    """Starts `system` on data set `name` in its own process (bench_sweep.py --worker); the clock starts
    when the worker has read the data; at `limit` seconds (default: the budget) the worker's process
    group is killed and the best score reported by then is the result."""
    limit = limit or budget
    rep = os.path.join(tmp, f"{system}-{name}-{budget}.jsonl")
    if os.path.exists(rep):
        os.unlink(rep)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", system, name, str(budget), str(n_trials), rep]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    t_start, killed = None, False
    while True:
        rc = proc.poll()
        if t_start is None and os.path.exists(rep) and os.path.getsize(rep) > 0:
            t_start = time.monotonic()
        if rc is not None:
            break
        if t_start is not None and time.monotonic() - t_start >= limit:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            killed = True
            break
        time.sleep(0.05)
    wall = time.monotonic() - t_start if t_start is not None else 0.0
    errs = proc.stderr.read()
    recs = [json.loads(l) for l in open(rep)] if os.path.exists(rep) else []
    scores = [r for r in recs if "score" in r and r["t"] <= limit]
    if not killed and proc.returncode != 0:
        raise RuntimeError(f"{system} worker exited {proc.returncode}: {errs[-2000:]}")
    res = {"best": max((r["score"] for r in scores), default=None), "wall": wall, "killed": killed,
           "models": len(scores),
           "best_within_budget": max((r["score"] for r in scores if r["t"] <= budget), default=None)}
    if scores:
        top = max(scores, key=lambda r: r["score"])
        res.update({k: v for k, v in top.items() if k not in ("t", "score")})
    done = [r for r in recs if r.get("done")]
    if done:
        res.update({k: v for k, v in done[0].items() if k != "done"})
    return res


def X_y(df, target):
    return df.drop(columns=[target]), df[target].astype(str).to_numpy(dtype=object)


def run_flaml(df, target, sp, budget, rep):
    from flaml import AutoML
    from sklearn.model_selection import PredefinedSplit
    X, y = X_y(df, target)
    automl = AutoML()
    log = rep.path + ".flaml"
    kw = dict(task="classification", metric="accuracy", time_budget=budget, n_jobs=1, seed=0, verbose=0,
              estimator_list=["lgbm", "rf", "extra_tree", "lrl1", "lrl2", "kneighbor"], retrain_full=False,
              log_file_name=log, mlflow_logging=False)
    import threading

    def follow():   # FLAML writes (and flushes) a log line per improvement: relay it
        seen = 0
        while True:
            time.sleep(0.1)
            if not os.path.exists(log):
                continue
            lines = open(log).read().split("\n")
            for l in lines[seen:-1]:
                r = json.loads(l)
                if "validation_loss" in r:
                    rep.score(1 - r["validation_loss"], learner=r["learner"], sample_size=r["sample_size"])
            seen = max(seen, len(lines) - 1)

    threading.Thread(target=follow, daemon=True).start()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "folds_path" in sp:
            automl.fit(X, y, eval_method="cv", split_type=PredefinedSplit(sp["fold"]), **kw)
        else:
            automl.fit(X.iloc[sp["train_idx"]], y[sp["train_idx"]], X_val=X.iloc[sp["valid_idx"]],
                       y_val=y[sp["valid_idx"]], eval_method="holdout", **kw)
    rep.score(1 - automl.best_loss, learner=automl.best_estimator)
    rep.write({"done": True})


def cv_score(est, X, y, fold):
    from sklearn.model_selection import PredefinedSplit, cross_val_score
    return float(np.mean(cross_val_score(est, X, y, cv=PredefinedSplit(fold), n_jobs=1)))


def sk_space(trial, p):
    """cairn-sweep's default classification space, in scikit-learn estimators."""
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import ExtraTreesClassifier, HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    algo = trial.suggest_categorical("algo", ["dummy", "logreg", "gaussian_nb", "knn", "gbdt", "rf", "extra_trees", "mlp"])
    if algo == "dummy":
        return DummyClassifier()
    if algo == "logreg":
        return make_pipeline(StandardScaler(), LogisticRegression(C=trial.suggest_float("C", 1e-3, 1e3, log=True),
                             class_weight=trial.suggest_categorical("class_weight", [None, "balanced"]), max_iter=200))
    if algo == "gaussian_nb":
        return GaussianNB(var_smoothing=trial.suggest_float("var_smoothing", 1e-12, 1e-2, log=True))
    if algo == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(trial.suggest_int("n_neighbors", 1, 50, log=True),
                             weights=trial.suggest_categorical("weights", ["uniform", "distance"])))
    if algo == "gbdt":
        return HistGradientBoostingClassifier(
            max_iter=trial.suggest_int("n_estimators", 4, 1000, log=True),
            max_leaf_nodes=trial.suggest_int("num_leaves", 4, 256, log=True),
            learning_rate=trial.suggest_float("learning_rate", 0.01, 1, log=True),
            min_samples_leaf=trial.suggest_int("min_data_in_leaf", 2, 128, log=True),
            max_features=trial.suggest_float("feature_fraction", 0.4, 1.0),
            l2_regularization=trial.suggest_float("lambda_l2", 1e-3, 100, log=True), early_stopping=False, random_state=0)
    if algo in ("rf", "extra_trees"):
        cls = RandomForestClassifier if algo == "rf" else ExtraTreesClassifier
        mf = trial.suggest_categorical(f"{algo}_max_features", ["sqrt", "log2", 0.5, 1.0])
        return cls(n_estimators=trial.suggest_int(f"{algo}_n_estimators", 4, 512, log=True), max_features=mf,
                   min_samples_leaf=trial.suggest_int(f"{algo}_min_samples_leaf", 1, 32, log=True), n_jobs=1, random_state=0)
    sizes = {"32": (32,), "64": (64,), "128": (128,), "64,32": (64, 32)}
    return make_pipeline(StandardScaler(), MLPClassifier(
        sizes[trial.suggest_categorical("hidden_layer_sizes", list(sizes))],
        alpha=trial.suggest_float("alpha", 1e-6, 0.1, log=True),
        learning_rate_init=trial.suggest_float("learning_rate_init", 1e-4, 0.05, log=True),
        max_iter=trial.suggest_int("max_iter", 20, 300, log=True), random_state=0))


def run_optuna(df, target, sp, n_trials, rep):
    """Exactly n_trials TPE trials (cairn-sweep's count in the row), no time limit of its own: its wall
    time is what the table reports (the bench kills it only at BENCH_SWEEP_OPTUNA_CAP x the budget)."""
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = X_y(df, target)
    fold = sp["fold"]

    def objective(trial):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cv_score(sk_space(trial, X.shape[1]), X, y, fold)

    def report(study, trial):
        if trial.value is not None:
            rep.score(trial.value, learner=trial.params.get("algo"))

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(objective, n_trials=n_trials, callbacks=[report])
    rep.write({"done": True, "trials": len(study.trials)})


def run_halving(df, target, sp, budget, rep):
    """HalvingRandomSearchCV; its scorer reports every candidate's mean validation score as it is
    measured (the splits of one candidate are scored one after the other with n_jobs=1)."""
    from scipy.stats import loguniform, randint
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, PredefinedSplit
    X, y = X_y(df, target)
    cv = PredefinedSplit(sp["fold"])
    k, pending = cv.get_n_splits(), []

    def scorer(est, Xv, yv):
        acc = float(np.mean(est.predict(Xv) == yv))
        pending.append(acc)
        if len(pending) == k:
            rep.score(float(np.mean(pending)), learner=f"HistGB max_iter={est.max_iter}")
            pending.clear()
        return acc

    space = {"learning_rate": loguniform(0.01, 0.5), "max_leaf_nodes": randint(4, 65),
             "min_samples_leaf": randint(2, 65), "l2_regularization": loguniform(1e-4, 10)}
    search = HalvingRandomSearchCV(HistGradientBoostingClassifier(early_stopping=False, random_state=0), space,
                                   n_candidates=64, factor=3, resource="max_iter", min_resources=10, max_resources=300,
                                   cv=cv, scoring=scorer, random_state=0, n_jobs=1, refit=False,
                                   return_train_score=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
    rep.write({"done": True})


def worker(system, name, budget, n_trials, rep_path):
    path, target, holdout = dataset(name)
    df = pd.read_csv(path)
    sp = split(df, target, holdout, None, name)
    rep = Reporter(rep_path)
    if system == "flaml":
        rep.path = rep_path
        run_flaml(df, target, sp, budget, rep)
    elif system == "optuna":
        run_optuna(df, target, sp, n_trials, rep)
    else:
        run_halving(df, target, sp, budget, rep)


def reach_time(curve, score):
    for t, b in curve:
        if b >= score - 1e-12:
            return t
    return None


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def in_parallel(jobs, tasks):
    """Runs the (key, thunk) tasks `jobs` at a time; returns {key: result}."""
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = {k: ex.submit(f) for k, f in tasks}
        return {k: f.result() for k, f in futs.items()}


def hundred(tmp, meta):
    """The wall time of 100 trials on digits (5-fold CV, --parallel 2)."""
    print("digits: 100 trials, --parallel 2", flush=True)
    cmd = [SWEEP, "--data", os.path.join(DATA, "digits.csv"), "--target", "target", "--cv", "5",
           "--max-trials", "100", "--parallel", "2", "--seed", "0", "--output-dir", os.path.join(tmp, "h")]
    load = os.getloadavg()
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    trials = [json.loads(l) for l in open(os.path.join(tmp, "h", "sweep", "trials.jsonl"))]
    meta["digits_100_trials"] = {"wall_s": time.monotonic() - t0, "trials": len(trials),
                                 "best": max(t["accuracy"] for t in trials if t["state"] == "completed"),
                                 "load_before": load, "load_after": os.getloadavg()}
    print(json.dumps(meta["digits_100_trials"]), flush=True)


def targets(r):
    """The issue's targets for a row: at 60 s, cairn >= Optuna, >= Halving, >= FLAML - 0.3 points; at 300 s
    on letter and synth100k, FLAML's score reached within a third of FLAML's time."""
    c, out = r["cairn"]["best"], []
    if r["budget_s"] == 60:
        for k, label, slack in (("optuna", "Optuna", 0), ("halving", "Halving", 0), ("flaml", "FLAML-0.3", 0.003)):
            o = r.get(k)
            if o and o["best"] is not None:
                out.append(f"{label} {'met' if c >= o['best'] - slack - 1e-12 else 'MISSED'}")
    elif r["dataset"] in ("letter", "synth100k") and r.get("flaml") and r["flaml"]["best"] is not None:
        t = r.get("cairn_time_to_flaml_best_s")
        out.append(f"1/3 time {'met' if t is not None and t <= r['budget_s'] / 3 else 'MISSED'}")
    return ", ".join(out) or "–"


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        return worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
    sets = os.environ.get("BENCH_SWEEP_SETS", "breast_cancer,digits,letter,synth100k").split(",")
    budgets = [int(b) for b in os.environ.get("BENCH_SWEEP_BUDGETS", "60,300").split(",")]
    # the rows in order: every set at the first budget, then the 100-trial run, then the next budget
    # (BENCH_SWEEP_ROWS="digits:60,hundred,letter:300,…" gives the order explicitly)
    order = os.environ.get("BENCH_SWEEP_ROWS")
    if order:
        plan = [tuple(x.split(":")) if ":" in x else (x, None) for x in order.split(",")]
    else:
        plan = [(n, b) for b in budgets[:1] for n in sets]
        if os.environ.get("BENCH_SWEEP_HUNDRED", "1") == "1":
            plan.append(("hundred", None))
        plan += [(n, b) for b in budgets[1:] for n in sets]
    systems = set(os.environ.get("BENCH_SWEEP_SYSTEMS", "cairn,flaml,optuna,halving").split(",")) | {"cairn"}
    jobs = int(os.environ.get("BENCH_SWEEP_JOBS", "2"))
    # Optuna is stopped at this many times the budget ("2", or per budget: "60:2,300:1.5")
    caps = {}
    for part in os.environ.get("BENCH_SWEEP_OPTUNA_CAP", "2").split(","):
        b, _, f = part.rpartition(":")
        caps[int(b) if b else None] = float(f)
    rows = []
    os.makedirs(os.path.join(REPO, "compat/bench/results"), exist_ok=True)
    out = os.path.join(REPO, "compat/bench/results", time.strftime("sweep-%Y%m%d-%H%M%S.json"))
    meta = {"threads": 1, "jobs": jobs, "optuna_cap_x_budget": {str(k): v for k, v in caps.items()}, "uptime_start": uptime(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    print(meta["uptime_start"], flush=True)
    loaded = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, budget in plan:
            if name == "hundred":
                hundred(tmp, meta)
                continue
            budget = int(budget)
            if name not in loaded:
                path, target, holdout = dataset(name)
                df = pd.read_csv(path)
                loaded[name] = (path, target, holdout, len(df), split(df, target, holdout, tmp, name))
                del df
            path, target, holdout, nrows, sp = loaded[name]
            row = {"dataset": name, "budget_s": budget, "rows": nrows,
                   "validation": "5-fold CV" if holdout is None else f"{int(holdout * 100)}% holdout",
                   "load_before": os.getloadavg(), "uptime_before": uptime()}
            # phase 1: cairn-sweep and HalvingRandomSearchCV; phase 2: FLAML and Optuna (which runs the
            # number of trials cairn-sweep completed within the budget, however long they take, up to
            # BENCH_SWEEP_OPTUNA_CAP x the budget)
            print(f"{time.strftime('%H:%M:%S')} {name} @ {budget}s: cairn-sweep"
                  + (", HalvingRandomSearchCV" if "halving" in systems else ""), flush=True)
            tasks = [("cairn", lambda: run_cairn(path, target, sp, budget, tmp))]
            if "halving" in systems:
                tasks.append(("halving", lambda: run_limited("halving", name, budget, tmp)))
            row.update(in_parallel(jobs, tasks))
            tasks = []
            if "flaml" in systems:
                tasks.append(("flaml", lambda: run_limited("flaml", name, budget, tmp)))
            if "optuna" in systems:
                n, cap = row["cairn"]["trials"], caps.get(budget, caps.get(None, 2))
                row["optuna_cap_s"] = cap * budget
                tasks.append(("optuna", lambda: run_limited("optuna", name, budget, tmp, n, cap * budget) | {"n_trials": n}))
            if tasks:
                print(f"{time.strftime('%H:%M:%S')} {name} @ {budget}s: " + ", ".join(k for k, _ in tasks), flush=True)
                row.update(in_parallel(jobs, tasks))
            if row.get("flaml") and row["flaml"]["best"] is not None:
                row["cairn_time_to_flaml_best_s"] = reach_time(row["cairn"]["curve"], row["flaml"]["best"])
            row["load_after"] = os.getloadavg()
            row["targets"] = targets(row)
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "cairn"} | {
                "cairn": {k: v for k, v in row["cairn"].items() if k != "curve"}}), flush=True)
            with open(out, "w") as f:
                json.dump(meta | {"rows": rows}, f, indent=1)
    meta["uptime_end"] = uptime()
    with open(out, "w") as f:
        json.dump(meta | {"rows": rows}, f, indent=1)
    table(meta, rows)
    print(f"\nJSON: {out}")


def table(meta, rows):
    def cell(r, budgeted=True):
        if not r:
            return "–"
        if r["best"] is None:
            return f"nothing within {r['wall']:.0f} s"
        return f"{r['best']:.4f} ({r['models']} models, {r['wall']:.0f} s{', killed' if r.get('killed') else ''})"

    def optuna(o):
        if not o:
            return "–"
        if o["best"] is None:
            return f"no trial finished in {o['wall']:.0f} s (cap)"
        return (f"{o['best']:.4f} ({o['models']}" + (f" of {o['n_trials']}" if o["models"] != o["n_trials"] else "")
                + f" trials, {o['wall']:.0f} s" + (", stopped at the cap" if o.get("killed") else "") + ")")

    print(f"\n{meta['uptime_start']}  →  {meta.get('uptime_end')}; {meta['jobs']} system(s) at a time")
    print("| set | budget | load (1 min) | cairn-sweep (trials, wall; best trial) | FLAML (learner) | "
          "Optuna TPE (trials, wall) | HalvingRandomSearchCV (models) | cairn − FLAML | cairn reaches FLAML's best at | targets |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, f, o, h = r["cairn"], r.get("flaml"), r.get("optuna"), r.get("halving")
        reach = r.get("cairn_time_to_flaml_best_s")
        print(f"| {r['dataset']} | {r['budget_s']} s | {r['load_before'][0]:.1f}–{r['load_after'][0]:.1f} | "
              f"{c['best']:.4f} ({c['trials']}, {c['wall']:.0f} s; {c['learner']}) | "
              + (f"{f['best']:.4f} ({f.get('learner')}{', killed' if f.get('killed') else ''})"
                 if f and f["best"] is not None else cell(f)) + " | "
              + optuna(o) + " | " + cell(h)
              + " | " + (f"{100 * (c['best'] - f['best']):+.2f}" if f and f["best"] is not None else "–") + " | "
              + (f"{reach:.1f} s ({reach / r['budget_s']:.2f} of the budget)" if reach is not None
                 else "not reached" if f else "–")
              + f" | {r['targets']} |")
    if "digits_100_trials" in meta:
        h = meta["digits_100_trials"]
        print(f"\ndigits, 100 trials, 5-fold CV, --parallel 2: {h['wall_s']:.1f} s wall, best {h['best']:.4f}, "
              f"load {h['load_before'][0]:.1f}–{h['load_after'][0]:.1f}")


if __name__ == "__main__":
    main()
