"""MLflow's web UI rendering Cairn's traces with data, in headless Chromium:
the experiment's traces tab lists a trace logged by the real client, its
detail view shows the span tree, a span's inputs and outputs and the
trace's assessments, and the run page's traces tab lists the run's trace.
Reuses compat/test_ui.py's fixtures (one seeded server and browser page per
module; every page fails on an uncaught error, a console error or an
unexpected 4xx/5xx). Screenshots go to compat/results/ui/."""
import os
import re

import pytest

import mlflow
from conftest import reset_mlflow_state

test_ui = pytest.importorskip("test_ui")   # Playwright: only in the 3.x venv
from test_ui import seeded, traces_served, ui  # noqa: E402,F401  (fixtures)

pytestmark = pytest.mark.skipif(not os.access(test_ui.CHROMIUM, os.X_OK),
                                reason=f"no chromium at {test_ui.CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def ui_trace(server, ui, traces_served):
    """Two traces with nested spans (a retriever, a tool, an LLM), inputs/outputs
    and feedback (a bool, a number, "yes"/"no") in the seeded experiment, logged
    inside a run through the real client; the first also has an expectation."""
    reset_mlflow_state(server.url)
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    mlflow.set_experiment(experiment_id=ui.exp)

    @mlflow.trace(span_type="RETRIEVER")
    def find_docs(question):
        return ["doc about cairns", "doc about stones"]

    @mlflow.trace(span_type="TOOL")
    def lookup_glossary(term):
        return f"{term}: a human-made pile of stones"

    @mlflow.trace(span_type="LLM")
    def call_model(prompt):
        return "A cairn is a pile of stones."

    @mlflow.trace(name="answer_question", span_type="CHAIN")
    def answer(question):
        mlflow.update_current_trace(tags={"ui-check": "yes"})
        docs = find_docs(question)
        lookup_glossary("cairn")
        return call_model(f"{question} {docs}")

    tids = []
    with mlflow.start_run(run_name="ui-trace-run") as run:
        for question in ("Who builds cairns?", "What is a cairn?"):
            answer(question)
            tids.append(mlflow.get_last_active_trace_id())
    for tid, (correct, relevance, helpful) in zip(tids, FEEDBACK):
        mlflow.log_feedback(trace_id=tid, name="correctness", value=correct, rationale="matches the docs")
        mlflow.log_feedback(trace_id=tid, name="relevance", value=relevance)
        mlflow.log_feedback(trace_id=tid, name="helpful", value=helpful)
    tid = tids[-1]
    mlflow.log_expectation(trace_id=tid, name="expected_answer", value="a pile of stones")
    reset_mlflow_state(server.url)
    return {"trace_id": tid, "run_id": run.info.run_id}


# the two traces' feedback: correctness, relevance, helpful
FEEDBACK = [(False, 2, "no"), (True, 5, "yes")]


def _see(ui, name, *texts):
    """Each text visible on the page; a screenshot of the page when one is not."""
    for t in texts:
        try:
            ui.text(t)
        except Exception:
            os.makedirs(test_ui.RESULTS, exist_ok=True)
            ui.page.screenshot(path=os.path.join(test_ui.RESULTS, f"{name}-missing.png"))
            raise


def test_traces_tab_lists_the_trace(ui, ui_trace):
    ui.visit(f"/experiments/{ui.exp}/traces")
    _see(ui, "traces-with-data", "What is a cairn?", "A cairn is a pile of stones.")
    ui.finish("traces-with-data")


def test_trace_detail_spans_inputs_outputs_assessments(ui, ui_trace):
    ui.visit(f"/experiments/{ui.exp}/traces?selectedEvaluationId={ui_trace['trace_id']}")
    _see(ui, "trace-detail", "find_docs", "call_model", "A cairn is a pile of stones.", "correctness",
         "expected_answer")
    ui.finish("trace-detail")
    # a child span's own inputs and outputs
    ui.text("find_docs").click()
    _see(ui, "trace-detail-span", "doc about cairns")
    ui.finish("trace-detail-span")


def test_run_page_traces_tab(ui, ui_trace):
    """A run's Traces tab lists the run's traces; opening one shows its span tree and a span's outputs"""
    ui.visit(f"/experiments/{ui.exp}/runs/{ui_trace['run_id']}/traces")
    _see(ui, "run-traces", "What is a cairn?", "Who builds cairns?", "A cairn is a pile of stones.",
         "a pile of stones")
    ui.finish("run-traces")
    ui.text("What is a cairn?").click()
    ui.page.wait_for_function("id => location.hash.includes('selectedEvaluationId=' + id)", arg=ui_trace["trace_id"])
    _see(ui, "run-trace-open", "answer_question", "find_docs", "lookup_glossary", "call_model")
    ui.finish("run-trace-open")
    ui.text("lookup_glossary").click()
    _see(ui, "run-trace-span", "cairn: a human-made pile of stones")
    ui.finish("run-trace-span")


def _texts_in_order(ui, name, texts):
    """The page's text holds texts in this order, each on its own line (a table row read
    left to right, a chart's axis labels)."""
    pattern = r"\n\s*".join(re.escape(t) for t in texts)
    try:
        ui.page.wait_for_function("p => new RegExp(p).test(document.body.innerText)", arg=pattern)
    except Exception:
        os.makedirs(test_ui.RESULTS, exist_ok=True)
        ui.page.screenshot(path=os.path.join(test_ui.RESULTS, f"{name}-missing.png"))
        pytest.fail(f"no {texts} in order on the page:\n{ui.page.inner_text('body')[:3000]}")


def test_overview_quality_tab(ui, ui_trace):
    """The Overview tab's Quality view: each scorer's count and average, and the
    histogram of its values labelled as MLflow spells them"""
    ui.visit(f"/experiments/{ui.exp}/overview/quality")
    _see(ui, "overview-quality-data", "Quality Summary")
    relevance = [r for _, r, _ in FEEDBACK]
    _texts_in_order(ui, "overview-quality-data", ["Scorer", "Total Count", "Average Value"])
    _texts_in_order(ui, "overview-quality-data", ["relevance", "2", f"{sum(relevance) / 2:.2f}"])
    _texts_in_order(ui, "overview-quality-data", ["correctness", "2", "-"])
    # the values' histograms: booleans, strings in their JSON spelling, numbers as floats
    _texts_in_order(ui, "overview-quality-data", ["false", "true"])
    _texts_in_order(ui, "overview-quality-data", ['"no"', '"yes"'])
    _texts_in_order(ui, "overview-quality-data", [f"{float(v)}" for v in sorted(relevance)])
    _see(ui, "overview-quality-data", f"{sum(relevance) / 2:.2f} avg score")
    ui.finish("overview-quality-data")


def test_overview_tool_calls_tab(ui, ui_trace):
    ui.visit(f"/experiments/{ui.exp}/overview/tool-calls")
    _see(ui, "overview-tool-calls", "lookup_glossary")
    ui.finish("overview-tool-calls")
