"""The model registry through the real mlflow client (3.x and 2.x): registered
models, versions, tags, aliases, stages, search, prompts, loading models:/
URIs, and concurrent version allocation. Failure cases assert the client's
error_code; a few raw-HTTP checks pin statuses the client hides.
"""
import concurrent.futures
import os
import threading
import warnings

import pandas as pd
import pytest
import requests

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from conftest import unique

MLFLOW_MAJOR = int(mlflow.__version__.split(".")[0])
API = "/api/2.0/mlflow"

warnings.filterwarnings("ignore", category=FutureWarning)   # stages are deprecated, still served


def error_code(excinfo):
    return excinfo.value.error_code


def post(base_url, path, body):
    return requests.post(base_url + API + path, json=body, timeout=15)


def versions_of(client, name):
    return sorted(int(mv.version) for mv in client.search_model_versions(f"name = '{name}'"))


class AddN(mlflow.pyfunc.PythonModel):
    def __init__(self, n):
        self.n = n

    def predict(self, context, model_input, params=None):
        return model_input.apply(lambda c: c + self.n)


def log_addn(n, path="addn"):
    kwargs = {"name": path} if MLFLOW_MAJOR >= 3 else {"artifact_path": path}
    return mlflow.pyfunc.log_model(python_model=AddN(n), **kwargs)


def artifacts_served(base_url):
    """The load tests need the artifact proxy; skip them (only) where it 404s."""
    r = requests.get(base_url + "/api/2.0/mlflow-artifacts/artifacts", params={"path": ""}, timeout=15)
    return r.status_code != 404


# ------------------------------------------------------------ registered models
def test_create_get_registered_model(client):
    name = unique("rm")
    rm = client.create_registered_model(name, tags={"team": "a", "k": "v"}, description="first")
    assert rm.name == name
    assert rm.description == "first"
    assert rm.tags == {"team": "a", "k": "v"}
    assert rm.creation_timestamp > 0
    got = client.get_registered_model(name)
    assert got.name == name and got.tags == {"team": "a", "k": "v"}
    assert got.latest_versions == []
    with pytest.raises(MlflowException) as e:
        client.create_registered_model(name)
    assert error_code(e) == "RESOURCE_ALREADY_EXISTS"
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(unique("missing"))
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"


def test_registered_model_bad_names(client, base_url):
    for bad in ("a/b", "a:b", "..", "   "):
        with pytest.raises(MlflowException) as e:
            client.create_registered_model(bad)
        assert error_code(e) == "INVALID_PARAMETER_VALUE", bad
    r = post(base_url, "/registered-models/create", {"name": unique("x"), "tags": [{"key": "../x", "value": "1"}]})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    r = post(base_url, "/registered-models/create", {})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_duplicate_name_is_400_and_nothing_half_written(client, base_url):
    name = unique("dup")
    client.create_registered_model(name, tags={"a": "1"})
    r = post(base_url, "/registered-models/create", {"name": name, "tags": [{"key": "b", "value": "2"}]})
    assert r.status_code == 400
    assert r.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert client.get_registered_model(name).tags == {"a": "1"}


def test_update_rename_delete(client):
    name, new = unique("ren"), unique("ren2")
    client.create_registered_model(name, tags={"t": "1"})
    for i in range(2):
        client.create_model_version(name, f"s3://bucket/m{i}", tags={"i": str(i)})
    client.set_registered_model_alias(name, "champ", "2")
    rm = client.update_registered_model(name, description="desc")
    assert rm.description == "desc"
    client.rename_registered_model(name, new)
    assert client.get_registered_model(new).description == "desc"
    # versions, tags and aliases follow the rename
    assert client.get_model_version(new, "1").source == "s3://bucket/m0"
    assert client.get_model_version(new, "2").tags == {"i": "1"}
    assert client.get_model_version_by_alias(new, "champ").version == "2"
    assert client.get_registered_model(new).tags == {"t": "1"}
    assert client.get_registered_model(new).aliases == {"champ": "2"}
    with pytest.raises(MlflowException) as e:
        client.get_registered_model(name)
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    # renaming onto a taken name
    other = unique("other")
    client.create_registered_model(other)
    with pytest.raises(MlflowException) as e:
        client.rename_registered_model(new, other)
    assert error_code(e) == "RESOURCE_ALREADY_EXISTS"
    assert client.get_model_version(new, "1").name == new
    # delete takes the versions with it and frees the name
    client.delete_registered_model(new)
    with pytest.raises(MlflowException) as e:
        client.get_model_version(new, "1")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.delete_registered_model(new)
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    client.create_registered_model(new)
    assert client.create_model_version(new, "s3://bucket/x").version == "1"


def test_registered_model_tags(client):
    name = unique("tags")
    client.create_registered_model(name)
    client.set_registered_model_tag(name, "k", "v")
    client.set_registered_model_tag(name, "k", "v2")
    client.set_registered_model_tag(name, "other", "x")
    assert client.get_registered_model(name).tags == {"k": "v2", "other": "x"}
    client.delete_registered_model_tag(name, "k")
    client.delete_registered_model_tag(name, "never-set")   # silently fine, as MLflow
    assert client.get_registered_model(name).tags == {"other": "x"}
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_tag(unique("missing"), "k", "v")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"


# ------------------------------------------------------------ model versions
def test_model_version_crud(client):
    name = unique("mv")
    client.create_registered_model(name)
    mv = client.create_model_version(name, "s3://bucket/path/model", tags={"a": "1"},
                                     description="d1", run_link="http://link")
    assert mv.version == "1"
    assert mv.status == "READY"
    assert mv.current_stage == "None"
    assert mv.source == "s3://bucket/path/model"
    assert mv.tags == {"a": "1"}
    assert mv.description == "d1"
    assert mv.run_link == "http://link"
    assert mv.creation_timestamp == mv.last_updated_timestamp
    assert client.get_registered_model(name).last_updated_timestamp >= mv.creation_timestamp
    got = client.get_model_version(name, "1")
    assert (got.version, got.source, got.tags) == ("1", mv.source, {"a": "1"})
    assert client.get_model_version_download_uri(name, "1") == "s3://bucket/path/model"

    upd = client.update_model_version(name, "1", description="d2")
    assert upd.description == "d2"
    client.set_model_version_tag(name, "1", "b", "2")
    client.delete_model_version_tag(name, "1", "a")
    client.delete_model_version_tag(name, "1", "never-set")
    assert client.get_model_version(name, "1").tags == {"b": "2"}

    assert client.create_model_version(name, "s3://bucket/2").version == "2"
    client.delete_model_version(name, "2")
    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "2")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.delete_model_version(name, "2")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    # numbers are never reused
    assert client.create_model_version(name, "s3://bucket/3").version == "3"
    assert versions_of(client, name) == [1, 3]


def test_model_version_errors(client, base_url):
    name = unique("mverr")
    with pytest.raises(MlflowException) as e:
        client.create_model_version(name, "s3://bucket/x")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    client.create_registered_model(name)
    with pytest.raises(MlflowException) as e:
        client.get_model_version(name, "7")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    r = requests.get(base_url + API + "/model-versions/get", params={"name": name, "version": "abc"}, timeout=15)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.set_model_version_tag(name, "7", "k", "v")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("source", [
    "/etc/passwd",
    "file:///etc",
    "file:///tmp/../etc/passwd",
    "s3://bucket/../../x",
    "s3://bucket/a/%2E%2E/b",
    "runs:/0123456789abcdef0123456789abcdef/model",      # no run_id given
    "models:/m-0123456789abcdef0123456789abcdef",         # no model_id given
    "mlflow-artifacts:/1/abc/artifacts/model",            # not inside a run
    "http://169.254.169.254/latest",                      # a host the server would contact
])
def test_bad_sources_refused(client, base_url, source):
    name = unique("src")
    client.create_registered_model(name)
    r = post(base_url, "/model-versions/create", {"name": name, "source": source})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert versions_of(client, name) == []
    # and the next good version is still 1: nothing was allocated
    assert client.create_model_version(name, "s3://bucket/ok").version == "1"


def test_model_version_from_model_version_uri(client):
    src, dst = unique("src"), unique("dst")
    client.create_registered_model(src)
    client.create_model_version(src, "s3://bucket/orig")
    client.create_registered_model(dst)
    mv = client.create_model_version(dst, f"models:/{src}/1")
    assert mv.source == f"models:/{src}/1"
    assert client.get_model_version_download_uri(dst, mv.version) == "s3://bucket/orig"


def test_copy_model_version(client):
    src, dst = unique("copysrc"), unique("copydst")
    client.create_registered_model(src)
    client.create_model_version(src, "s3://bucket/c", tags={"x": "y"}, description="dd")
    mv = client.copy_model_version(f"models:/{src}/1", dst)
    assert mv.name == dst and mv.version == "1"
    assert mv.tags == {"x": "y"}
    assert client.get_model_version_download_uri(dst, "1") == "s3://bucket/c"
    assert client.copy_model_version(f"models:/{src}/1", dst).version == "2"


# ------------------------------------------------------------ aliases
def test_aliases(client, base_url):
    name = unique("alias")
    client.create_registered_model(name)
    for i in range(3):
        client.create_model_version(name, f"s3://bucket/{i}")
    client.set_registered_model_alias(name, "champion", "1")
    mv = client.get_model_version_by_alias(name, "champion")
    assert mv.version == "1" and mv.aliases == ["champion"]
    client.set_registered_model_alias(name, "champion", "3")   # moves, never duplicates
    client.set_registered_model_alias(name, "challenger", "3")
    assert client.get_model_version_by_alias(name, "champion").version == "3"
    assert sorted(client.get_model_version(name, "3").aliases) == ["challenger", "champion"]
    assert client.get_model_version(name, "1").aliases == []
    assert client.get_registered_model(name).aliases == {"champion": "3", "challenger": "3"}
    client.delete_registered_model_alias(name, "challenger")
    client.delete_registered_model_alias(name, "never-set")
    assert client.get_registered_model(name).aliases == {"champion": "3"}
    # deleting the version drops its aliases
    client.delete_model_version(name, "3")
    assert client.get_registered_model(name).aliases == {}
    r = requests.get(base_url + API + "/registered-models/alias", params={"name": name, "alias": "champion"},
                     timeout=15)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(name, "nope")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.set_registered_model_alias(name, "x", "99")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.get_model_version_by_alias(unique("missing"), "x")
    assert error_code(e) == "RESOURCE_DOES_NOT_EXIST"


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V22", "a b", "a.b", "x" * 256, ""])
def test_invalid_alias_names(base_url, client, alias):
    name = unique("badalias")
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/x")
    r = post(base_url, "/registered-models/alias", {"name": name, "alias": alias, "version": "1"})
    assert r.status_code == 400
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert client.get_registered_model(name).aliases == {}


def test_latest_alias_is_highest_version(base_url, client):
    name = unique("latest")
    client.create_registered_model(name)
    for i in range(3):
        client.create_model_version(name, f"s3://bucket/{i}")
    r = requests.get(base_url + API + "/registered-models/alias", params={"name": name, "alias": "latest"},
                     timeout=15)
    assert r.status_code == 200 and r.json()["model_version"]["version"] == "3"


# ------------------------------------------------------------ stages
def test_stages_archive_and_latest_versions(client, base_url):
    name = unique("stage")
    client.create_registered_model(name)
    for i in range(4):
        client.create_model_version(name, f"s3://bucket/{i}")
    client.transition_model_version_stage(name, "1", "production")
    client.transition_model_version_stage(name, "2", "Staging")
    mv = client.transition_model_version_stage(name, "3", "Production", archive_existing_versions=True)
    assert mv.current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"
    assert client.get_model_version(name, "2").current_stage == "Staging"
    latest = {mv.current_stage: mv.version for mv in client.get_latest_versions(name)}
    assert latest == {"Archived": "1", "Staging": "2", "Production": "3", "None": "4"}
    assert [mv.version for mv in client.get_latest_versions(name, stages=["production"])] == ["3"]
    rm = client.get_registered_model(name)
    assert sorted(mv.version for mv in rm.latest_versions) == ["1", "2", "3", "4"]
    with pytest.raises(MlflowException) as e:
        client.transition_model_version_stage(name, "4", "Bogus")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"
    # the GET form the client falls back to
    r = requests.get(base_url + API + "/registered-models/get-latest-versions",
                     params={"name": name, "stages": "Staging"}, timeout=15)
    assert r.status_code == 200
    assert [mv["version"] for mv in r.json()["model_versions"]] == ["2"]


@pytest.mark.cairn_only
def test_archive_into_inactive_stage_is_400(client, base_url):
    # MLflow answers 500 INTERNAL_ERROR (a retried status) for this input
    name = unique("arch")
    client.create_registered_model(name)
    client.create_model_version(name, "s3://bucket/x")
    r = post(base_url, "/model-versions/transition-stage",
             {"name": name, "version": "1", "stage": "Archived", "archive_existing_versions": True})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"


# ------------------------------------------------------------ search
def test_search_registered_models(client):
    prefix = unique("srch")
    names = [f"{prefix}-{c}" for c in "abcde"]
    for i, n in enumerate(names):
        client.create_registered_model(n, tags={"parity": "even" if i % 2 == 0 else "odd"})
    found = client.search_registered_models(f"name LIKE '{prefix}-%'")
    assert [m.name for m in found] == names
    upper = prefix.upper()
    assert [m.name for m in client.search_registered_models(f"name ILIKE '{upper}-%'")] == names
    assert client.search_registered_models(f"name LIKE '{upper}-%'") == []
    assert [m.name for m in client.search_registered_models(f"name = '{names[2]}'")] == [names[2]]
    even = client.search_registered_models(f"name LIKE '{prefix}%' AND tags.parity = 'even'")
    assert [m.name for m in even] == [names[0], names[2], names[4]]
    desc = client.search_registered_models(f"name LIKE '{prefix}%'", order_by=["name DESC"])
    assert [m.name for m in desc] == names[::-1]
    # pagination
    seen, token = [], None
    while True:
        page = client.search_registered_models(f"name LIKE '{prefix}%'", max_results=2, page_token=token)
        assert len(page) <= 2
        seen += [m.name for m in page]
        token = page.token
        if not token:
            break
    assert seen == names
    with pytest.raises(MlflowException) as e:
        client.search_registered_models("creation_timestamp > 1")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.search_registered_models("name = unquoted")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.search_registered_models(order_by=["creation_timestamp"])
    assert error_code(e) == "INVALID_PARAMETER_VALUE"


def test_search_model_versions(client):
    name = unique("svers")
    client.create_registered_model(name)
    for i in range(5):
        client.create_model_version(name, f"s3://bucket/{name}/{i}", tags={"i": str(i)})
    assert versions_of(client, name) == [1, 2, 3, 4, 5]
    asc = client.search_model_versions(f"name = '{name}'", order_by=["version_number ASC"])
    assert [mv.version for mv in asc] == ["1", "2", "3", "4", "5"]
    big = client.search_model_versions(f"name = '{name}' AND version_number >= 4")
    assert sorted(mv.version for mv in big) == ["4", "5"]
    tagged = client.search_model_versions(f"name = '{name}' AND tags.i = '2'")
    assert [mv.version for mv in tagged] == ["3"]
    by_src = client.search_model_versions(f"source_path = 's3://bucket/{name}/3'")
    assert [mv.version for mv in by_src] == ["4"]
    page = client.search_model_versions(f"name = '{name}'", max_results=2, order_by=["version_number DESC"])
    assert [mv.version for mv in page] == ["5", "4"] and page.token
    page2 = client.search_model_versions(f"name = '{name}'", max_results=2, order_by=["version_number DESC"],
                                         page_token=page.token)
    assert [mv.version for mv in page2] == ["3", "2"]
    with pytest.raises(MlflowException) as e:
        client.search_model_versions("version_number = 1.5")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as e:
        client.search_model_versions("source_path IN ('a')")
    assert error_code(e) == "INVALID_PARAMETER_VALUE"


def test_search_model_versions_by_run_id(tracking_uri, client):
    name = unique("byrun")
    client.create_registered_model(name)
    mlflow.set_experiment(unique("exp"))
    run_ids = []
    for _ in range(2):
        with mlflow.start_run() as r:
            run_ids.append(r.info.run_id)
        client.create_model_version(name, f"runs:/{r.info.run_id}/model", run_id=r.info.run_id)
    found = client.search_model_versions(f"run_id IN ('{run_ids[0]}', '{run_ids[1]}')")
    assert sorted(mv.run_id for mv in found) == sorted(run_ids)
    assert [mv.run_id for mv in client.search_model_versions(f"run_id = '{run_ids[1]}'")] == [run_ids[1]]


# ------------------------------------------------------------ register_model and loading
def test_register_model_from_run_and_load(tracking_uri, client, base_url):
    if not artifacts_served(base_url):
        pytest.skip("artifact endpoints answer 404")
    name = unique("reg")
    mlflow.set_experiment(unique("exp"))
    with mlflow.start_run() as run:
        log_addn(1)
    mv1 = mlflow.register_model(f"runs:/{run.info.run_id}/addn", name)
    assert mv1.version == "1" and mv1.status == "READY"
    assert mv1.run_id == run.info.run_id
    with mlflow.start_run() as run2:
        info = log_addn(2)
    mv2 = mlflow.register_model(info.model_uri, name)
    assert mv2.version == "2"
    df = pd.DataFrame({"a": [1, 2]})

    client.set_registered_model_alias(name, "champion", "2")
    assert list(mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(df)["a"]) == [3, 4]
    assert list(mlflow.pyfunc.load_model(f"models:/{name}/1").predict(df)["a"]) == [2, 3]
    client.transition_model_version_stage(name, "1", "Production")
    assert list(mlflow.pyfunc.load_model(f"models:/{name}/Production").predict(df)["a"]) == [2, 3]
    assert list(mlflow.pyfunc.load_model(f"models:/{name}/latest").predict(df)["a"]) == [3, 4]
    # moving the alias changes what loads
    client.set_registered_model_alias(name, "champion", "1")
    assert list(mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(df)["a"]) == [2, 3]
    if MLFLOW_MAJOR >= 3:
        assert mv2.run_id == run2.info.run_id
        assert client.get_model_version_download_uri(name, "2").startswith("mlflow-artifacts:")


def test_log_model_with_registered_model_name(tracking_uri, client, base_url):
    if not artifacts_served(base_url):
        pytest.skip("artifact endpoints answer 404")
    name = unique("logreg")
    mlflow.set_experiment(unique("exp"))
    kwargs = {"name": "m"} if MLFLOW_MAJOR >= 3 else {"artifact_path": "m"}
    with mlflow.start_run():
        mlflow.pyfunc.log_model(python_model=AddN(10), registered_model_name=name, **kwargs)
    assert versions_of(client, name) == [1]
    out = mlflow.pyfunc.load_model(f"models:/{name}/1").predict(pd.DataFrame({"a": [0]}))
    assert list(out["a"]) == [10]


# ------------------------------------------------------------ concurrency
def test_concurrent_create_model_version(client, tracking_uri):
    name = unique("conc")
    client.create_registered_model(name)
    start = threading.Barrier(16)

    def create(i):
        c = MlflowClient(tracking_uri)
        start.wait()
        return int(c.create_model_version(name, f"s3://bucket/{i}").version)

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        got = list(pool.map(create, range(16)))
    assert sorted(got) == list(range(1, 17))
    assert versions_of(client, name) == list(range(1, 17))


# ------------------------------------------------------------ prompts (MLflow 3 keeps them in the registry)
@pytest.mark.mlflow3
def test_prompts_register_load_alias_search(tracking_uri, client):
    import mlflow.genai
    name = unique("prompt").replace("-", "_")
    p1 = mlflow.genai.register_prompt(name, "Hello {{name}}!", commit_message="first")
    assert p1.version == 1
    p2 = mlflow.genai.register_prompt(name, "Hi {{name}}, welcome.")
    assert p2.version == 2
    assert mlflow.genai.load_prompt(f"prompts:/{name}/1").template == "Hello {{name}}!"
    assert mlflow.genai.load_prompt(name, version=2).format(name="Ada") == "Hi Ada, welcome."
    mlflow.genai.set_prompt_alias(name, "production", 1)
    assert mlflow.genai.load_prompt(f"prompts:/{name}@production").version == 1
    found = mlflow.genai.search_prompts(f"name = '{name}'")
    assert [p.name for p in found] == [name]
    # prompts never show up as models
    assert client.search_registered_models(f"name = '{name}'") == []
    assert client.search_model_versions(f"name = '{name}'") == []
    # and a model cannot take a prompt's name
    with pytest.raises(MlflowException) as e:
        client.create_registered_model(name)
    assert error_code(e) == "RESOURCE_ALREADY_EXISTS"


@pytest.mark.mlflow3
def test_prompt_source_must_be_placeholder(client, base_url):
    name = unique("psrc")
    r = post(base_url, "/registered-models/create",
             {"name": name, "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"}]})
    assert r.status_code == 200
    r = post(base_url, "/model-versions/create",
             {"name": name, "source": "s3://bucket/x",
              "tags": [{"key": "mlflow.prompt.is_prompt", "value": "true"},
                       {"key": "mlflow.prompt.text", "value": "hi"}]})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
