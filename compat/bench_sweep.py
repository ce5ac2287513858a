"""make bench-sweep: cairn-sweep side by side with FLAML (same time budget), Optuna TPE over
the same search space (the same number of trials cairn-sweep ran, bounded by twice the budget)
and scikit-learn's HalvingRandomSearchCV (HistGradientBoosting, max_iter 10 -> 300, factor 3,
64 candidates), on the same data and the same validation: 5-fold stratified CV on
breast_cancer and digits; a fixed stratified holdout (20 % letter, 10 % synth100k) on the
larger sets. One thread each, one system at a time. Best validation accuracy and wall time;
for letter and synth100k also the time cairn-sweep took to reach FLAML's best score.

Environment: BENCH_SWEEP_SETS (default breast_cancer,digits,letter,synth100k),
BENCH_SWEEP_BUDGETS (seconds, default 60,300), CAIRN_SWEEP (default build/cairn-sweep).
Results: a table on stdout, JSON in compat/bench/results/sweep-<time>.json."""
import json
import os
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
        path = os.path.join(tmp, f"{name}.folds")
        with open(path, "w") as f:
            f.write("fold\n" + "".join(f"{v}\n" for v in fold))
        return {"fold": fold, "folds_path": path}
    tr, va = train_test_split(np.arange(len(df)), test_size=holdout, random_state=0, stratify=y)
    fold = np.full(len(df), -1)
    fold[va] = 0
    paths = {}
    for part, idx in (("train", tr), ("valid", va)):
        paths[part] = os.path.join(tmp, f"{name}-{part}.csv")
        df.iloc[np.sort(idx)].to_csv(paths[part], index=False)
    return {"fold": fold, "train_path": paths["train"], "valid_path": paths["valid"],
            "train_idx": np.sort(tr), "valid_idx": np.sort(va)}


def run_cairn(path, target, sp, budget, tmp):
    out_dir = os.path.join(tmp, f"cairn-{budget}")
    cmd = [SWEEP, "--target", target, "--budget", f"{budget}s", "--parallel", "1", "--seed", "0",
           "--output-dir", out_dir]
    if "folds_path" in sp:
        cmd += ["--data", path, "--folds", sp["folds_path"]]
    else:
        cmd += ["--data", sp["train_path"], "--valid", sp["valid_path"]]
    t0 = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    wall = time.monotonic() - t0
    if out.returncode != 0:
        raise RuntimeError(f"cairn-sweep exited {out.returncode}: {out.stderr[-2000:]}")
    trials = [json.loads(l) for l in open(os.path.join(out_dir, "sweep", "trials.jsonl"))]
    done = [t for t in trials if t["state"] == "completed"]
    best = max(t["accuracy"] for t in done)
    curve, b = [], -1
    for t in sorted(done, key=lambda t: t["wall_clock_time"]):
        if t["accuracy"] > b:
            b = t["accuracy"]
            curve.append((t["wall_clock_time"], b))
    return {"best": best, "wall": wall, "trials": len(trials), "curve": curve}


def X_y(df, target):
    return df.drop(columns=[target]), df[target].astype(str).to_numpy(dtype=object)


def run_flaml(df, target, sp, budget):
    from flaml import AutoML
    from sklearn.model_selection import PredefinedSplit
    X, y = X_y(df, target)
    automl = AutoML()
    kw = dict(task="classification", metric="accuracy", time_budget=budget, n_jobs=1, seed=0, verbose=0,
              estimator_list=["lgbm", "rf", "extra_tree", "lrl1", "lrl2", "kneighbor"], retrain_full=False)
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if "folds_path" in sp:
            automl.fit(X, y, eval_method="cv", split_type=PredefinedSplit(sp["fold"]), **kw)
        else:
            automl.fit(X.iloc[sp["train_idx"]], y[sp["train_idx"]], X_val=X.iloc[sp["valid_idx"]],
                       y_val=y[sp["valid_idx"]], eval_method="holdout", **kw)
    return {"best": 1 - automl.best_loss, "wall": time.monotonic() - t0, "learner": automl.best_estimator}


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


def run_optuna(df, target, sp, n_trials, budget):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    X, y = X_y(df, target)
    fold = sp["fold"]

    def objective(trial):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cv_score(sk_space(trial, X.shape[1]), X, y, fold)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    t0 = time.monotonic()
    study.optimize(objective, n_trials=n_trials, timeout=2 * budget)
    return {"best": study.best_value, "wall": time.monotonic() - t0, "trials": len(study.trials)}


def run_halving(df, target, sp, budget):
    from scipy.stats import loguniform, randint
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingRandomSearchCV, PredefinedSplit
    X, y = X_y(df, target)
    space = {"learning_rate": loguniform(0.01, 0.5), "max_leaf_nodes": randint(4, 65),
             "min_samples_leaf": randint(2, 65), "l2_regularization": loguniform(1e-4, 10)}
    search = HalvingRandomSearchCV(HistGradientBoostingClassifier(early_stopping=False, random_state=0), space,
                                   n_candidates=64, factor=3, resource="max_iter", min_resources=10, max_resources=300,
                                   cv=PredefinedSplit(sp["fold"]), random_state=0, n_jobs=1, refit=False)
    t0 = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
    return {"best": float(search.best_score_), "wall": time.monotonic() - t0}


def reach_time(curve, score):
    for t, b in curve:
        if b >= score - 1e-12:
            return t
    return None


def main():
    sets = os.environ.get("BENCH_SWEEP_SETS", "breast_cancer,digits,letter,synth100k").split(",")
    budgets = [int(b) for b in os.environ.get("BENCH_SWEEP_BUDGETS", "60,300").split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in sets:
            path, target, holdout = dataset(name)
            df = pd.read_csv(path)
            sp = split(df, target, holdout, tmp, name)
            for budget in budgets:
                row = {"dataset": name, "budget_s": budget, "rows": len(df),
                       "validation": "5-fold CV" if holdout is None else f"{int(holdout * 100)}% holdout"}
                print(f"{name} @ {budget}s: cairn-sweep", flush=True)
                row["cairn"] = run_cairn(path, target, sp, budget, tmp)
                print(f"{name} @ {budget}s: FLAML", flush=True)
                row["flaml"] = run_flaml(df, target, sp, budget)
                print(f"{name} @ {budget}s: Optuna TPE ({row['cairn']['trials']} trials)", flush=True)
                row["optuna"] = run_optuna(df, target, sp, row["cairn"]["trials"], budget)
                if budget == budgets[0]:
                    print(f"{name}: HalvingRandomSearchCV", flush=True)
                    row["halving"] = run_halving(df, target, sp, budget)
                row["cairn_time_to_flaml_best_s"] = reach_time(row["cairn"]["curve"], row["flaml"]["best"])
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k != "cairn"} | {
                    "cairn": {k: v for k, v in row["cairn"].items() if k != "curve"}}), flush=True)
    os.makedirs(os.path.join(REPO, "compat/bench/results"), exist_ok=True)
    out = os.path.join(REPO, "compat/bench/results", time.strftime("sweep-%Y%m%d-%H%M%S.json"))
    with open(out, "w") as f:
        json.dump({"threads": 1, "rows": rows}, f, indent=1)
    print("\n| set | budget | cairn-sweep best (trials, wall) | FLAML best | Optuna TPE best (trials, wall) | "
          "HalvingRandomSearchCV best (wall) | cairn − FLAML (pts) | cairn reaches FLAML's best at |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        c, f, o, h = r["cairn"], r["flaml"], r["optuna"], r.get("halving")
        reach = r["cairn_time_to_flaml_best_s"]
        print(f"| {r['dataset']} | {r['budget_s']} s | {c['best']:.4f} ({c['trials']}, {c['wall']:.0f} s) | "
              f"{f['best']:.4f} ({f['learner']}) | {o['best']:.4f} ({o['trials']}, {o['wall']:.0f} s) | "
              + (f"{h['best']:.4f} ({h['wall']:.0f} s)" if h else "–")
              + f" | {100 * (c['best'] - f['best']):+.2f} | "
              + (f"{reach:.1f} s ({reach / r['budget_s']:.2f} of the budget)" if reach is not None else "not reached")
              + " |")
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
