"""make bench-train: every cairn-train algorithm against its scikit-learn
counterpart with the same hyperparameters, one thread each, the same 5-fold
assignment (written once to a file, read by both), three seeds.

Prints a table (mean accuracy / R² difference cairn − sklearn, its standard
error, fit-time ratio sklearn / cairn per dataset) and writes JSON under
compat/bench/results/. For gbdt on the 5,000+ row sets it also fits LightGBM
(one thread, the same folds and hyperparameters) as a second reference: the
state of the art for histogram boosting, printed in its own table. Fit times exclude CSV parsing and feature scaling on
both sides (cairn reports the algorithm's fit; scikit-learn's estimator is
timed on pre-scaled folds where cairn scales too).

    .venv/bin/python compat/bench_train.py [--datasets iris,letter] [--algos rf,mlp] [--seeds 0,1,2]
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

for _v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402
from sklearn.dummy import DummyClassifier, DummyRegressor  # noqa: E402
from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, HistGradientBoostingClassifier,  # noqa: E402
                              HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge  # noqa: E402
from sklearn.model_selection import KFold, StratifiedKFold  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.environ.get("CAIRN_TRAIN") or os.path.join(REPO, "build/cairn-train")
DATA = os.path.join(REPO, "tests/data")
RESULTS = os.path.join(REPO, "compat/bench/results")
GEN_DIR = os.path.join(REPO, "build/bench-data")

CLS = ["dummy", "logreg", "gbdt", "rf", "extra_trees", "mlp", "knn", "gaussian_nb"]
REG = ["dummy", "linear", "ridge", "gbdt", "rf", "extra_trees", "mlp", "knn"]
# name: (file, target, regression?, algorithms, seeds, per-dataset parameter overrides)
DATASETS = {
    "iris": ("iris.csv", "target", False, CLS, 3, {}),
    "wine": ("wine.csv", "target", False, CLS, 3, {}),
    "breast_cancer": ("breast_cancer.csv", "target", False, CLS, 3, {}),
    "digits": ("digits.csv", "target", False, CLS, 3, {}),
    "diabetes": ("diabetes.csv", "target", True, REG, 3, {}),
    # 20,000 × 16, 26 classes (mlbench LetterRecognition; tests/data/convert_mlbench.py)
    "letter": ("letter.csv", "lettr", False, ["logreg", "gbdt", "rf", "extra_trees", "mlp", "knn", "gaussian_nb"], 3,
               {"mlp": {"max_iter": 50}}),
    # generated at bench time (not committed): 100,000 × 20, 3 classes
    "synth100k": ("@synth100k", "y", False, ["logreg", "gbdt", "rf", "mlp", "gaussian_nb"], 1,
                  {"rf": {"n_estimators": 20}, "mlp": {"max_iter": 10}}),
}
# cairn hyperparameters (scikit-learn names where they exist) and the defaults both sides use
DEFAULTS = {
    "logreg": {"C": 1.0, "max_iter": 100, "tol": 1e-4},
    "gbdt": {"n_estimators": 100, "learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 20, "max_bin": 255},
    "rf": {"n_estimators": 100},
    "extra_trees": {"n_estimators": 100},
    "mlp": {"hidden_layer_sizes": 100, "max_iter": 200},
    "knn": {"n_neighbors": 5},
}
LGBM_MIN_ROWS = 5000   # the LightGBM reference runs on the sets the fit-time target is about
try:
    import lightgbm  # noqa: E402
except ImportError:    # pinned in the venv's lock; without it the reference table is left out
    lightgbm = None
SCALED = {"logreg", "mlp", "knn"}   # cairn standardises features for these; sklearn gets StandardScaler


def sklearn_estimator(algo, regression, params, seed):
    p = params
    if algo == "dummy":
        return DummyRegressor() if regression else DummyClassifier(strategy="prior")
    if algo == "linear":
        return LinearRegression()
    if algo == "ridge":
        return Ridge(alpha=1.0)
    if algo == "logreg":
        return LogisticRegression(C=p["C"], max_iter=p["max_iter"], tol=p["tol"])
    if algo == "gbdt":
        kw = dict(max_iter=p["n_estimators"], learning_rate=p["learning_rate"], max_leaf_nodes=p["num_leaves"],
                  min_samples_leaf=p["min_data_in_leaf"], max_bins=p["max_bin"], l2_regularization=0.0,
                  early_stopping=False, random_state=seed)
        return HistGradientBoostingRegressor(**kw) if regression else HistGradientBoostingClassifier(**kw)
    if algo in ("rf", "extra_trees"):
        cls = {("rf", False): RandomForestClassifier, ("rf", True): RandomForestRegressor,
               ("extra_trees", False): ExtraTreesClassifier, ("extra_trees", True): ExtraTreesRegressor}
        return cls[algo, regression](n_estimators=p["n_estimators"], random_state=seed, n_jobs=1)
    if algo == "mlp":
        kw = dict(hidden_layer_sizes=(p["hidden_layer_sizes"],), max_iter=p["max_iter"], random_state=seed)
        if regression:   # cairn standardises the target inside; the same model in sklearn terms
            return TransformedTargetRegressor(MLPRegressor(**kw), transformer=StandardScaler())
        return MLPClassifier(**kw)
    if algo == "knn":
        kw = dict(n_neighbors=p["n_neighbors"], algorithm="brute")
        return KNeighborsRegressor(**kw) if regression else KNeighborsClassifier(**kw)
    if algo == "gaussian_nb":
        return GaussianNB()
    raise ValueError(algo)


def dataset_path(name, spec):
    fname = spec[0]
    if not fname.startswith("@"):
        return os.path.join(DATA, fname)
    os.makedirs(GEN_DIR, exist_ok=True)
    path = os.path.join(GEN_DIR, "synth100k.csv")
    if not os.path.exists(path):
        X, y = make_classification(n_samples=100_000, n_features=20, n_informative=10, n_redundant=4, n_classes=3,
                                   class_sep=0.8, flip_y=0.02, random_state=0)
        df = pd.DataFrame(np.round(X, 5), columns=[f"f{i}" for i in range(20)])
        df["y"] = y
        df.to_csv(path, index=False)
    return path


def write_folds(path, y, regression, seed):
    kf = KFold(5, shuffle=True, random_state=seed) if regression else StratifiedKFold(5, shuffle=True,
                                                                                        random_state=seed)
    fold = np.empty(len(y), dtype=int)
    for k, (_, te) in enumerate(kf.split(np.zeros(len(y)), y)):
        fold[te] = k
    with open(path, "w") as f:
        f.write("fold\n" + "".join(f"{v}\n" for v in fold))


def read_folds(path):
    return pd.read_csv(path)["fold"].to_numpy()


def run_sklearn(algo, X, y, fold, regression, params, seed):
    scores, times = [], []
    for k in range(fold.max() + 1):
        tr, te = fold != k, fold == k
        Xtr, Xte = X[tr], X[te]
        if algo in SCALED:
            sc = StandardScaler().fit(Xtr)
            Xtr, Xte = sc.transform(Xtr), sc.transform(Xte)
        est = sklearn_estimator(algo, regression, params, seed)
        t0 = time.perf_counter()
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(Xtr, y[tr])
        times.append(time.perf_counter() - t0)
        scores.append(est.score(Xte, y[te]))
    return scores, times


def run_lightgbm(X, y, fold, regression, params, seed):
    """LightGBM with cairn's gbdt hyperparameters (LightGBM's names), one thread. The timed part is
    what the other two time: binning (Dataset construction) and boosting."""
    ncls = 0
    if not regression:   # LightGBM wants labels 0 .. K-1
        classes, y = np.unique(y, return_inverse=True)
        ncls = len(classes)
    p = dict(objective="regression" if regression else "binary" if ncls == 2 else "multiclass",
             learning_rate=params["learning_rate"], num_leaves=params["num_leaves"],
             min_data_in_leaf=params["min_data_in_leaf"], max_bin=params["max_bin"], lambda_l2=0.0,
             num_threads=1, deterministic=True, seed=seed, verbose=-1)
    if ncls > 2:
        p["num_class"] = ncls
    scores, times = [], []
    for k in range(fold.max() + 1):
        tr, te = fold != k, fold == k
        t0 = time.perf_counter()
        booster = lightgbm.train(p, lightgbm.Dataset(X[tr], y[tr]), num_boost_round=params["n_estimators"])
        times.append(time.perf_counter() - t0)
        pred = booster.predict(X[te])
        if regression:
            resid = y[te] - pred
            scores.append(1 - float(resid @ resid) / float(((y[te] - y[te].mean()) ** 2).sum()))
        else:
            lab = pred.argmax(1) if ncls > 2 else (pred > 0.5).astype(int)
            scores.append(float((lab == y[te]).mean()))
    return scores, times


FOLD_RE = re.compile(r"^fold (\d+): (\w+)=([-0-9.eE+naif]+) fit ([0-9.eE+-]+) s$")


def run_cairn(algo, csv, target, folds_path, params, seed):
    cmd = [TRAIN, "fit", "--data", csv, "--target", target, "--algo", algo, "--folds", folds_path, "--no-refit",
           "--seed", str(seed), "--threads", "1"]
    for k, v in params.items():
        cmd += ["--param", f"{k}={v}"]
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {out.returncode}\n{out.stderr}")
    scores, times = [], []
    for line in out.stdout.splitlines():
        m = FOLD_RE.match(line)
        if m:
            scores.append(float(m.group(3)))
            times.append(float(m.group(4)))
    return scores, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", default=",".join(DATASETS))
    ap.add_argument("--algos", default=None)
    ap.add_argument("--seeds", default=None, help="override every dataset's seeds, e.g. 0")
    args = ap.parse_args()
    if not os.access(TRAIN, os.X_OK):
        sys.exit(f"{TRAIN} is not built (make build)")
    only = set(args.algos.split(",")) if args.algos else None
    rows, t_start = [], time.time()
    tmp = tempfile.mkdtemp(prefix="cairn-bench-train-")
    for name in args.datasets.split(","):
        spec = DATASETS[name]
        _, target, regression, algos, nseeds, overrides = spec
        csv = dataset_path(name, spec)
        df = pd.read_csv(csv)
        y = df[target].to_numpy()
        X = df.drop(columns=[target]).to_numpy(dtype=float)
        seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else list(range(nseeds))
        for algo in algos:
            if only and algo not in only:
                continue
            params = dict(DEFAULTS.get(algo, {}), **overrides.get(algo, {}))
            res = {"dataset": name, "algo": algo, "n": len(y), "p": X.shape[1], "params": params, "seeds": seeds,
                   "metric": "r2" if regression else "accuracy", "sklearn": [], "cairn": [],
                   "sklearn_fit_s": [], "cairn_fit_s": []}
            for seed in seeds:
                fpath = os.path.join(tmp, f"{name}-{seed}.folds")
                if not os.path.exists(fpath):
                    write_folds(fpath, y, regression, seed)
                fold = read_folds(fpath)
                s, t = run_sklearn(algo, X, y, fold, regression, params, seed)
                c, tc = run_cairn(algo, csv, target, fpath, params, seed)
                if len(c) != len(s):
                    raise RuntimeError(f"{name}/{algo}: cairn reported {len(c)} folds, expected {len(s)}")
                res["sklearn"] += s; res["cairn"] += c
                res["sklearn_fit_s"] += t; res["cairn_fit_s"] += tc
                if algo == "gbdt" and len(y) >= LGBM_MIN_ROWS and lightgbm:
                    lg, tl = run_lightgbm(X, y, fold, regression, params, seed)
                    res.setdefault("lightgbm", []).extend(lg)
                    res.setdefault("lightgbm_fit_s", []).extend(tl)
            sk, ca = np.array(res["sklearn"]), np.array(res["cairn"])
            res["sklearn_mean"], res["cairn_mean"] = float(sk.mean()), float(ca.mean())
            res["diff"] = float(ca.mean() - sk.mean())
            res["stderr"] = float(np.sqrt(sk.var(ddof=1) / len(sk) + ca.var(ddof=1) / len(ca))) if len(sk) > 1 else 0.0
            res["sklearn_fit_mean_s"] = float(np.mean(res["sklearn_fit_s"]))
            res["cairn_fit_mean_s"] = float(np.mean(res["cairn_fit_s"]))
            res["speedup"] = res["sklearn_fit_mean_s"] / max(res["cairn_fit_mean_s"], 1e-6)
            if "lightgbm" in res:
                res["lightgbm_mean"] = float(np.mean(res["lightgbm"]))
                res["lightgbm_fit_mean_s"] = float(np.mean(res["lightgbm_fit_s"]))
                res["lightgbm_speedup"] = res["lightgbm_fit_mean_s"] / max(res["cairn_fit_mean_s"], 1e-6)
            tol = 0.01 if regression else 0.005
            res["quality_ok"] = bool(abs(res["diff"]) <= tol or (len(y) < 5000 and abs(res["diff"]) <= res["stderr"]))
            rows.append(res)
            print(f"  {name:14s} {algo:12s} done", file=sys.stderr, flush=True)
    print_table(rows)
    os.makedirs(RESULTS, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = {"generated": stamp, "wall_s": time.time() - t_start, "sklearn_version": sklearn.__version__,
           "lightgbm_version": lightgbm.__version__ if lightgbm else None,
           "numpy_version": np.__version__, "machine": platform.machine(), "cpu_count": os.cpu_count(),
           "threads": 1, "folds": 5, "results": rows}
    for path in (os.path.join(RESULTS, f"train-{stamp}.json"), os.path.join(RESULTS, "train-latest.json")):
        with open(path, "w") as f:
            json.dump(out, f, indent=1)
    print(f"\nwrote {os.path.relpath(os.path.join(RESULTS, f'train-{stamp}.json'), REPO)} "
          f"({time.time() - t_start:.0f} s)")


def print_rows(hdr, lines):
    print(hdr)
    print("-" * len(hdr))
    for line in lines:
        print(line)


def print_table(rows):
    print_rows(f"{'dataset':14s} {'algo':12s} {'metric':8s} {'sklearn':>8s} {'cairn':>8s} {'diff':>8s} {'±se':>7s} "
               f"{'ok':>3s} {'sk fit s':>9s} {'cairn s':>9s} {'speedup':>8s}",
               [f"{r['dataset']:14s} {r['algo']:12s} {r['metric']:8s} {r['sklearn_mean']:8.4f} {r['cairn_mean']:8.4f} "
                f"{r['diff']:+8.4f} {r['stderr']:7.4f} {'yes' if r['quality_ok'] else 'NO':>3s} "
                f"{r['sklearn_fit_mean_s']:9.4f} {r['cairn_fit_mean_s']:9.4f} {r['speedup']:7.1f}x" for r in rows])
    lg = [r for r in rows if "lightgbm" in r]
    if lg:
        print("\ngbdt against LightGBM (one thread, same folds and hyperparameters)")
        print_rows(f"{'dataset':14s} {'lgbm':>8s} {'cairn':>8s} {'sklearn':>8s} {'lgbm s':>9s} {'cairn s':>9s} "
                   f"{'sk s':>9s} {'lgbm/cairn':>11s}",
                   [f"{r['dataset']:14s} {r['lightgbm_mean']:8.4f} {r['cairn_mean']:8.4f} {r['sklearn_mean']:8.4f} "
                    f"{r['lightgbm_fit_mean_s']:9.4f} {r['cairn_fit_mean_s']:9.4f} {r['sklearn_fit_mean_s']:9.4f} "
                    f"{r['lightgbm_speedup']:10.1f}x" for r in lg])

if __name__ == "__main__":
    main()
