"""MLflow's web UI rendering Cairn's GenAI data (issue 21), in headless
Chromium: the experiment's datasets tab lists an evaluation dataset and shows
its records, the judges tab lists a registered scorer, the review tab shows a
review queue with its trace, and the evaluation-runs tab lists a run of
mlflow.genai.evaluate. The data is logged by the real client. Reuses
compat/test_ui.py's fixtures (one browser page per module; every page fails
on an uncaught error, a console error or an unexpected 4xx/5xx). Runs on
Cairn and, with CAIRN_TARGET=mlflow (make test-ui-mlflow), on MLflow's own
server. Screenshots go to compat/results/ui*/."""
import json
import os

import pytest

import mlflow
from conftest import TARGET, reset_mlflow_state, unique

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("the GenAI pages need the mlflow 3.x client", allow_module_level=True)

test_ui = pytest.importorskip("test_ui")   # Playwright: only in the 3.x venv
from test_ui import seeded, traces_served, ui  # noqa: E402,F401  (fixtures)
from test_ui_traces import _see  # noqa: E402  (a text visible, or a screenshot)

pytestmark = pytest.mark.skipif(not os.access(test_ui.CHROMIUM, os.X_OK),
                                reason=f"no chromium at {test_ui.CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def genai(server, ui, traces_served):
    """An experiment with traces, an evaluation dataset, a registered judge, a
    label schema, a review queue holding a trace, and an evaluation run."""
    from mlflow.genai import datasets as gd
    from mlflow.genai import label_schemas as ls
    from mlflow.genai import review_queues as rq
    from mlflow.genai.label_schemas import InputPassFail
    from mlflow.genai.scorers import Guidelines, scorer

    reset_mlflow_state(server.url)
    os.environ["MLFLOW_ENABLE_ASYNC_TRACE_LOGGING"] = "false"
    os.environ.setdefault("MLFLOW_GENAI_EVAL_MAX_WORKERS", "2")
    exp = mlflow.create_experiment(unique("ui-genai"))
    mlflow.set_experiment(experiment_id=exp)

    @mlflow.trace
    def answer(question):
        return {"What is a cairn?": "A pile of stones", "Where are cairns?": "On hills"}[question]

    answer("What is a cairn?")
    trace_id = mlflow.get_last_active_trace_id()
    ds = gd.create_dataset(name="ui-qa-dataset", experiment_id=exp)
    ds.merge_records([
        {"inputs": {"question": "What is a cairn?"}, "expectations": {"expected_response": "A pile of stones"}},
        {"inputs": {"question": "Where are cairns?"}, "expectations": {"expected_response": "On mountains"}},
    ])
    Guidelines(name="polite-judge", guidelines=["The answer is polite"]).register(experiment_id=exp)
    schema = ls.create_label_schema("Is it helpful?", type="feedback", input=InputPassFail("Helpful", "Unhelpful"),
                                    experiment_id=exp)
    queue = rq.create_review_queue("UI review sprint", queue_type="custom", users=["reviewer"],
                                   schema_ids=[schema.schema_id], experiment_id=exp)
    rq.add_items_to_review_queue(queue.queue_id, item_ids=[trace_id])

    @scorer
    def exact_match(outputs, expectations):
        return outputs == expectations["expected_response"]

    result = mlflow.genai.evaluate(data=ds, predict_fn=answer, scorers=[exact_match])
    run_name = mlflow.get_run(result.run_id).info.run_name
    reset_mlflow_state(server.url)
    return {"exp": exp, "dataset": ds.dataset_id, "trace_id": trace_id, "run_name": run_name}


def test_datasets_tab_lists_the_dataset_and_its_records(ui, genai):
    ui.visit(f"/experiments/{genai['exp']}/datasets")
    _see(ui, "genai-datasets", "ui-qa-dataset")
    ui.text("ui-qa-dataset").click()
    _see(ui, "genai-dataset-records", "What is a cairn?", "On mountains")
    ui.finish("genai-datasets")


def test_judges_tab_lists_the_registered_scorer(ui, genai):
    """MLflow lists the judge. Cairn's server-info says it has no AI gateway, so
    the UI shows its no-gateway page there (DIFFERENCES.md); the judges the page
    would list are fetched from the page itself, as the UI fetches them."""
    ui.visit(f"/experiments/{genai['exp']}/judges")
    if TARGET == "mlflow":
        _see(ui, "genai-judges", "polite-judge")
    else:
        _see(ui, "genai-judges", "Create and manage judges")
    listed = ui.page.evaluate("""async (exp) => {
        const r = await fetch(`ajax-api/3.0/mlflow/scorers/list?experiment_id=${exp}`);
        return [r.status, await r.json()];
    }""", genai["exp"])
    assert listed[0] == 200
    scorers = listed[1]["scorers"]
    assert [s["scorer_name"] for s in scorers] == ["polite-judge"]
    assert json.loads(scorers[0]["serialized_scorer"])["builtin_scorer_pydantic_data"]["guidelines"] == [
        "The answer is polite"]
    ui.finish("genai-judges")


def test_review_tab_shows_the_queue(ui, genai):
    ui.visit(f"/experiments/{genai['exp']}/review-queue")
    _see(ui, "genai-review", "UI review sprint", "Default")
    ui.text("UI review sprint").click()
    _see(ui, "genai-review-queue", "What is a cairn?")
    ui.finish("genai-review")


def test_evaluation_runs_tab_lists_the_run(ui, genai):
    ui.visit(f"/experiments/{genai['exp']}/evaluation-runs")
    _see(ui, "genai-evaluation-runs", genai["run_name"])
    ui.finish("genai-evaluation-runs")
