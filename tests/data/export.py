"""Export the small scikit-learn datasets the trainer tests use as CSV.

Run once from the repository root:  .venv/bin/python tests/data/export.py
Writes iris.csv, wine.csv, breast_cancer.csv, digits.csv, diabetes.csv (target
column `target`, class labels as integers) and mixed.csv, a small synthetic
set with a categorical column, an ID column, a constant column and missing
values, for the featurizer.
"""
import os

import numpy as np
from sklearn import datasets

HERE = os.path.dirname(os.path.abspath(__file__))


def export(name, loader):
    df = loader(as_frame=True).frame
    df.to_csv(os.path.join(HERE, f"{name}.csv"), index=False, float_format="%.10g")


def mixed():
    rng = np.random.RandomState(0)
    n = 300
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 10, size=n)
    color = rng.choice(["red", "green", "blue"], size=n)
    score = 1.5 * x1 - 0.3 * x2 + np.where(color == "red", 1.0, np.where(color == "green", -1.0, 0.0))
    y = np.where(score + rng.normal(scale=0.5, size=n) > -1.5, "yes", "no")
    x1s = [f"{v:.6g}" for v in x1]
    for i in rng.choice(n, 20, replace=False):
        x1s[i] = ""
    colors = list(color)
    for i in rng.choice(n, 10, replace=False):
        colors[i] = ""
    with open(os.path.join(HERE, "mixed.csv"), "w") as f:
        f.write("id,x1,x2,color,const,label\n")
        for i in range(n):
            f.write(f"row{i},{x1s[i]},{x2[i]:.6g},{colors[i]},7,{y[i]}\n")


if __name__ == "__main__":
    export("iris", datasets.load_iris)
    export("wine", datasets.load_wine)
    export("breast_cancer", datasets.load_breast_cancer)
    export("digits", datasets.load_digits)
    export("diabetes", datasets.load_diabetes)
    mixed()
