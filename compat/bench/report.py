"""Renders bench results: the text table and an SVG bar chart of the ratios."""
import html
import math


def _num(v, unit=""):
    if v is None:
        return "-"
    if abs(v) >= 100:
        s = f"{v:,.0f}"
    elif abs(v) >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return s + unit


def rows(res):
    """(workload, unit, mlflow, cairn, ratio, target, ceiling, vs ceiling, cairn SQL ms/req, errors, verdict)"""
    out = []
    for w in res["workloads"]:
        if w.get("skipped"):
            out.append((w["label"], "", "-", "-", "-", "", "-", "-", "-", "", "skipped: " + w["skipped"]))
            continue
        ratio, tgt = w.get("ratio"), w.get("target_ratio")
        ok = ratio is not None and tgt is not None and ratio >= tgt
        vs = "-"
        if w.get("share") is not None:
            if w["kind"] == "write":
                vs = f"{w['share'] * 100:.0f}%"
                if w.get("share_target"):
                    ok = ok and w["share"] >= w["share_target"]
            else:
                vs = f"{w['share']:.2f}x SQL"
                if w.get("share_target"):
                    ok = ok and w["share"] <= w["share_target"]
        if w.get("abs_target_ms"):
            ok = ok and w["cairn"] <= w["abs_target_ms"]
        errs = f"{w['mlflow_errors']}/{w['cairn_errors']}"
        if w["cairn_errors"]:
            ok = False
        out.append((w["label"], w["unit"], _num(w["mlflow"]), _num(w["cairn"]),
                    _num(ratio, "x") if ratio else "-", f">={tgt}x" if tgt else "", _num(w.get("ceiling")), vs,
                    _num(w.get("cairn_sql_ms_per_req")), errs, "ok" if ok else "MISS"))
    b = res.get("burst", {})
    if b.get("mlflow") and b.get("cairn"):
        # during / right after the burst against MLflow (>= 10x); after vs settled: the plan's
        # sensitivity to stale statistics (<= 1.5x); ceiling column: the same search after ANALYZE
        bm, bc = b["mlflow"], b["cairn"]
        for key, label in (("during_ms", "runs/search during a write burst"),
                           ("after_ms", "runs/search right after the burst")):
            ratio = bm[key] / bc[key] if bc[key] else None
            share = bc[key] / bc["settled_ms"] if bc.get("settled_ms") else None
            ok = ratio is not None and ratio >= 10 and (key == "during_ms" or (share or 9) <= 1.5)
            out.append((label, "ms p50", _num(bm[key]), _num(bc[key]), _num(ratio, "x") if ratio else "-", ">=10x",
                        _num(bc.get("settled_ms")), f"{share:.2f}x settled" if share else "-", "", "0/0",
                        "ok" if ok else "MISS"))
    mem = res.get("memory", {})
    m, c = mem.get("mlflow", {}), mem.get("cairn", {})
    for key, label, limit in (("idle_kb", "RSS idle", 10), ("peak_kb", "RSS peak (under load)", 64),
                              ("after_history_kb", "RSS after full history read", None)):
        mv, cv = m.get(key), c.get(key)
        if mv is None or cv is None:
            continue
        ratio = mv / cv if cv else None
        ok = ratio is not None and ratio >= 40
        if limit:
            ok = ok and cv / 1024 <= limit
        if key == "after_history_kb" and c.get("idle_kb"):
            ok = ok and (cv - c["idle_kb"]) / 1024 <= 64
        lim = f"<={limit} MB" if limit else "+<=64 MB"
        out.append((label, "MB", _num(mv / 1024), _num(cv / 1024), _num(ratio, "x") if ratio else "-", ">=40x",
                    lim, "", "", "", "ok" if ok else "MISS"))
    cs = res.get("cold_start", {})
    if cs.get("cairn") and cs.get("mlflow"):
        for key, label in (("health_ms", "cold start to first 200 (/health)"),
                           ("api_ms", "cold start to first 200 (experiments/get)")):
            mv, cv = cs["mlflow"][key], cs["cairn"][key]
            out.append((label, "ms", _num(mv), _num(cv), _num(mv / cv, "x"), "", "<=100 ms", "", "", "",
                        "ok" if cv <= 100 else "MISS"))
    return out


HEAD = ("workload", "unit", "MLflow", "Cairn", "Cairn/MLflow", "target", "PG ceiling", "Cairn vs ceiling",
        "Cairn SQL ms/req", "errors M/C", "")


def table(res):
    rs = [HEAD] + rows(res)
    widths = [max(len(str(r[i])) for r in rs) for i in range(len(HEAD))]
    right = {2, 3, 4, 6, 7, 8}

    def fmt(r):
        return "| " + " | ".join(str(v).rjust(widths[i]) if i in right else str(v).ljust(widths[i])
                                 for i, v in enumerate(r)) + " |"
    lines = [fmt(rs[0]), "|" + "|".join(("-" * (w + 1) + ":") if i in right else "-" * (w + 2)
                                         for i, w in enumerate(widths)) + "|"]
    lines += [fmt(r) for r in rs[1:]]
    pg = res.get("postgres", {})
    head = (f"Cairn vs MLflow {res.get('mlflow_version', '3.17.2')} ({res['profile']} profile, "
            f"{res['params']['rounds']} round(s) x {res['params']['duration']} s, git {res.get('git', '?')}, "
            f"{res.get('date', '')}); PostgreSQL {pg.get('server_version', '?')} shared_buffers="
            f"{pg.get('shared_buffers', '?')} synchronous_commit={pg.get('synchronous_commit', '?')} "
            f"fsync={pg.get('fsync', '?')}; load avg at end {', '.join(f'{x:.1f}' for x in res.get('load', []))}")
    notes = ("Ratios: writes Cairn/MLflow throughput, reads and memory MLflow/Cairn. Ceilings: pgbench on the same "
             "cluster in the same run (log-metric txn tps, 1000-row INSERT rows/s, hand-written search/history "
             "SQL latency). Writes show Cairn as % of the ceiling, reads as multiples of the SQL time.")
    floor = res.get("ceilings", {}).get("search_filter_floor", {}).get("latency_ms")
    filt = next((w for w in res["workloads"] if w.get("id") == "search_filter" and not w.get("skipped")), None)
    if floor and filt and filt.get("mlflow"):
        notes += (f" Filtered search floor (pgbench: the runs the filter keeps, their order value and experiment,"
                  f" counted; no page): {_num(floor)} ms; 10x MLflow needs {_num(filt['mlflow'] / 10)} ms.")
    return "\n".join([head, ""] + lines + ["", notes])


def svg(res):
    """Horizontal bars: Cairn's advantage over MLflow per workload (log scale), target marks."""
    items = []
    for w in res["workloads"]:
        if not w.get("skipped") and w.get("ratio"):
            items.append((w["label"], w["ratio"], w.get("target_ratio") or 10))
    mem = res.get("memory", {})
    for key, label in (("idle_kb", "RSS idle"), ("peak_kb", "RSS peak"), ("after_history_kb", "RSS after history")):
        mv, cv = mem.get("mlflow", {}).get(key), mem.get("cairn", {}).get(key)
        if mv and cv:
            items.append((label, mv / cv, 40))
    cs = res.get("cold_start", {})
    if cs.get("cairn") and cs.get("mlflow"):
        items.append(("cold start", cs["mlflow"]["api_ms"] / cs["cairn"]["api_ms"], 20))
    left, bar_w, row_h = 330, 520, 22
    top = 40
    h = top + row_h * len(items) + 40
    vmax = max([r for _, r, _ in items] + [100])
    scale = lambda v: left + bar_w * math.log10(max(v, 0.1) * 10) / math.log10(vmax * 10)  # noqa: E731
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + bar_w + 80}" height="{h}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="10" y="20" font-size="14" font-weight="bold">Cairn vs MLflow ({html.escape(res["profile"])}'
           f', git {html.escape(res.get("git", "?"))}): times better, log scale; | = target</text>']
    for tick in (1, 10, 100, 1000, 10000):
        if tick <= vmax * 10:
            x = scale(tick)
            out.append(f'<line x1="{x:.1f}" y1="{top - 5}" x2="{x:.1f}" y2="{h - 30}" stroke="#ddd"/>'
                       f'<text x="{x:.1f}" y="{h - 15}" text-anchor="middle">{tick}x</text>')
    for i, (label, ratio, target) in enumerate(items):
        y = top + i * row_h
        color = "#2a7" if ratio >= target else "#d63"
        out.append(f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{html.escape(label)}</text>'
                   f'<rect x="{left}" y="{y + 3}" width="{max(1.0, scale(ratio) - left):.1f}" height="{row_h - 6}" '
                   f'fill="{color}"/><text x="{scale(ratio) + 4:.1f}" y="{y + 14}">{ratio:.1f}x</text>'
                   f'<line x1="{scale(target):.1f}" y1="{y + 1}" x2="{scale(target):.1f}" y2="{y + row_h - 1}" '
                   'stroke="#000" stroke-width="2"/>')
    out.append("</svg>\n")
    return "\n".join(out)
