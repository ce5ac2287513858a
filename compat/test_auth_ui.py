"""MLflow's web UI behind --app-name basic-auth (issue 16), in headless Chromium.

A browser with no credentials, or with a wrong password, gets the 401 challenge
(WWW-Authenticate: Basic realm="mlflow") for the page, as on MLflow; a user's
basic-auth credentials open the UI, whose pages show the experiments, runs and
registered models the user may read and not the ones they may not; an admin
sees both. Screenshots go to compat/results/ui/auth-*.png.

CAIRN_TARGET=mlflow runs the same checks against MLflow's own basic-auth server.
"""
import os
import re

import pytest

sync_api = pytest.importorskip("playwright.sync_api")  # only in the 3.x venv

from conftest import unique  # noqa: E402
from test_auth import ADMIN_PW, API, PW, grant, setup_users  # noqa: E402
from test_auth import auth_server  # noqa: E402,F401  (the module's basic-auth server)

CHROMIUM = os.environ.get("CAIRN_CHROMIUM", "/usr/bin/chromium")
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "ui")
WAIT_MS = 20_000

pytestmark = [pytest.mark.mlflow3,
              pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK),
                                 reason=f"no chromium at {CHROMIUM} (apt-get install chromium)")]


@pytest.fixture(scope="module")
def world(auth_server):  # noqa: F811
    """Two experiments with a run each and two registered models; reader may read one of each."""
    admin = setup_users(auth_server.url)
    w = {}
    for side in ("seen", "hidden"):
        exp_name = unique(f"ui-{side}-exp")
        exp = admin.ok("POST", API + "/experiments/create", body={"name": exp_name})["experiment_id"]
        run_name = unique(f"ui-{side}-run")
        admin.ok("POST", API + "/runs/create", body={"experiment_id": exp, "start_time": 1, "run_name": run_name})
        rm = unique(f"ui-{side}-model")
        admin.ok("POST", API + "/registered-models/create", body={"name": rm})
        w[side] = {"exp": exp, "exp_name": exp_name, "run_name": run_name, "rm": rm}
    grant(admin, "reader", "experiment", w["seen"]["exp"], "READ")
    grant(admin, "reader", "registered_model", w["seen"]["rm"], "READ")
    return w


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield b
        b.close()


class Session:
    """One browser context logged in (or not) with HTTP Basic credentials."""

    def __init__(self, browser, base, credentials):
        kw = {"viewport": {"width": 1400, "height": 900}}
        if credentials:
            kw["http_credentials"] = {"username": credentials[0], "password": credentials[1]}
        self.ctx = browser.new_context(**kw)
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(WAIT_MS)
        self.base = base
        self.statuses = []
        self.page.on("response", lambda r: self.statuses.append((r.status, r.request.method, r.url))
                     if r.url.startswith(base) else None)

    def open(self, route=""):
        return self.page.goto(f"{self.base}/#{route}" if route else f"{self.base}/")

    def shows(self, text, timeout=WAIT_MS):
        self.page.get_by_text(text, exact=False).first.wait_for(state="visible", timeout=timeout)

    def absent(self, text):
        assert self.page.get_by_text(text, exact=False).count() == 0, f"{text!r} is on the page"

    def shot(self, name):
        os.makedirs(RESULTS, exist_ok=True)
        self.page.screenshot(path=os.path.join(RESULTS, f"auth-{name}.png"))

    def close(self):
        self.ctx.close()


@pytest.mark.parametrize("credentials", [None, ("reader", "not-the-password"), ("nobody-at-all", "x" * 12)],
                         ids=["anonymous", "wrong-password", "unknown-user"])
def test_ui_refuses_without_valid_credentials(auth_server, browser, credentials):  # noqa: F811
    s = Session(browser, auth_server.url, credentials)
    try:
        # Chromium gets the challenge; with no credentials, or after its credentials are challenged
        # again, it gives the navigation up
        try:
            resp = s.open()
            assert resp.status == 401, resp.status
        except sync_api.Error as e:
            assert "ERR_INVALID_AUTH_CREDENTIALS" in str(e), e
        page_statuses = [st for st, _m, u in s.statuses if u.rstrip("/") == auth_server.url]
        assert page_statuses and set(page_statuses) == {401}, s.statuses
        r = s.page.request.get(auth_server.url + "/")
        assert r.status == 401 and r.headers.get("www-authenticate") == 'Basic realm="mlflow"'
        assert "<div id=\"root\"" not in r.text() and "static-files" not in r.text()
        # nothing of the application was served to this browser: no API call answered
        assert not [u for st, _m, u in s.statuses if "/api/" in u and st == 200]
        # an API route the page would call is refused the same way
        r = s.page.request.get(auth_server.url + "/ajax-api/2.0/mlflow/experiments/search?max_results=10")
        assert r.status == 401
    finally:
        s.close()


def test_ui_shows_a_reader_only_what_they_may_read(auth_server, browser, world):  # noqa: F811
    s = Session(browser, auth_server.url, ("reader", PW["reader"]))
    try:
        resp = s.open()
        assert resp.status == 200
        s.page.locator("#root *").first.wait_for(timeout=60_000)
        # the experiment list: the readable experiment, not the other
        s.open("/experiments")
        s.shows(world["seen"]["exp_name"])
        s.page.wait_for_timeout(500)
        s.absent(world["hidden"]["exp_name"])
        s.shot("reader-experiments")
        # the readable experiment's runs
        s.open(f"/experiments/{world['seen']['exp']}/runs")
        s.shows(world["seen"]["run_name"])
        s.shot("reader-runs")
        # the registered models page: the readable model only
        s.open("/models")
        s.shows(world["seen"]["rm"])
        s.page.wait_for_timeout(500)
        s.absent(world["hidden"]["rm"])
        s.shot("reader-models")
        # every request the pages made carried the credentials: none was challenged
        assert not [u for st, _m, u in s.statuses if st == 401], [x for x in s.statuses if x[0] == 401]
        # the unreadable experiment: its data is refused (403) and its run never shown
        s.statuses.clear()
        s.open(f"/experiments/{world['hidden']['exp']}/runs")
        s.page.wait_for_timeout(3000)
        s.absent(world["hidden"]["run_name"])
        denied = [(st, u) for st, _m, u in s.statuses if st == 403]
        assert denied and any(re.search(r"/experiments/get|/runs/search|graphql", u) for _st, u in denied), \
            s.statuses
        s.shot("reader-hidden-experiment")
    finally:
        s.close()


def test_ui_shows_an_admin_everything(auth_server, browser, world):  # noqa: F811
    s = Session(browser, auth_server.url, ("admin", ADMIN_PW))
    try:
        assert s.open().status == 200
        s.open("/experiments")
        s.shows(world["seen"]["exp_name"])
        s.shows(world["hidden"]["exp_name"])
        s.open(f"/experiments/{world['hidden']['exp']}/runs")
        s.shows(world["hidden"]["run_name"])
        s.open("/models")
        s.shows(world["hidden"]["rm"])
        s.shot("admin-models")
        assert not [u for st, _m, u in s.statuses if st in (401, 403)]
    finally:
        s.close()
