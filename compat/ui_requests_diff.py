"""Compares what the UI asked of two servers, page by page: the requests*.json
files compat/test_ui.py and the suites that reuse its fixtures write
(compat/results/ui/ for cairn-server, compat/results/ui-mlflow/ for MLflow's
own server; each file compared with its namesake). Prints each page's
replies found on one side only; exit status 1 when a reply that is an error
(4xx/5xx) on one server is not the same error on the other.

    python3 compat/ui_requests_diff.py [cairn.json mlflow.json]
"""
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
    if len(argv) >= 3:
        return compare(argv[1], argv[2])
    bad = 0
    files = sorted(glob.glob(os.path.join(HERE, "results", "ui", "requests*.json")))
    if not files:
        print("no compat/results/ui/requests*.json: run compat/test_ui*.py first")
        return 1
    for a_path in files:
        b_path = os.path.join(HERE, "results", "ui-mlflow", os.path.basename(a_path))
        print(f"== {os.path.basename(a_path)}")
        if not os.path.exists(b_path):
            print(f"missing {b_path}: run the same suite with CAIRN_TARGET=mlflow")
            bad += 1
            continue
        bad += compare(a_path, b_path)
    return 1 if bad else 0


def compare(a_path, b_path):
    with open(a_path) as f:
        a = json.load(f)
    with open(b_path) as f:
        b = json.load(f)
    # replies are compared over the whole suite: which page a late reply lands on is timing
    def flat(d):
        out = {}
        for page, entries in d.items():
            for e in entries:
                if " /static-files/" not in e:
                    out.setdefault(e, []).append(page)
        return out
    fa, fb = flat(a), flat(b)
    bad = 0
    for side, mine, theirs in (("cairn only ", fa, fb), ("mlflow only", fb, fa)):
        for e in sorted(set(mine) - set(theirs)):
            method, path, status = e.rsplit(" ", 2)
            same = sorted({o.rsplit(" ", 1)[1] for o in theirs if o.startswith(f"{method} {path} ")})
            error = int(status) >= 400
            bad += error
            print(f"{side}: {e}{'   <-- an error on one server only' if error else ''}"
                  f"{'   (other server: ' + ', '.join(same) + ')' if same else ''}   pages: {', '.join(sorted(set(mine[e])))}")
    print(f"{bad} replies that are errors on one server only" if bad else "no error reply on one server only")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
