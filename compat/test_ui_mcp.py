"""MLflow's web UI rendering Cairn's MCP server registry (issue 12), in
headless Chromium: the MCP registry page (#/mcp-registry) lists the seeded
servers with their descriptions, latest versions and tags, and a server's
page shows its versions, aliases, tools and access endpoints. The data is
logged by the real client (MlflowClient's *_mcp_* methods). Reuses
compat/test_ui.py's fixtures (one browser page per module; every page fails
on an uncaught error, a console error or an unexpected 4xx/5xx). Runs on
Cairn and, with CAIRN_TARGET=mlflow (make test-ui-mlflow), on MLflow's own
server. Screenshots go to compat/results/ui*/."""
import os
from urllib.parse import quote

import pytest

import mlflow
from conftest import reset_mlflow_state, unique

if int(mlflow.__version__.split(".")[0]) < 3:
    pytest.skip("the MCP registry needs the mlflow 3.x client", allow_module_level=True)

test_ui = pytest.importorskip("test_ui")   # Playwright: only in the 3.x venv
from test_ui import seeded, ui  # noqa: E402,F401  (fixtures)
from test_ui_traces import _see  # noqa: E402  (a text visible, or a screenshot)

pytestmark = pytest.mark.skipif(not os.access(test_ui.CHROMIUM, os.X_OK),
                                reason=f"no chromium at {test_ui.CHROMIUM} (apt-get install chromium)")


@pytest.fixture(scope="module")
def registry(server, ui):
    """Two servers: one with three versions (one active), a tool, tags, an alias
    and an access endpoint; one with a draft version only."""
    from mlflow import MlflowClient
    from mlflow.entities.mcp_server import MCPStatus, MCPTool

    os.environ["MLFLOW_ENABLE_MCP_TOOL_DISCOVERY"] = "false"
    reset_mlflow_state(server.url)
    c = MlflowClient(server.url)
    slug = unique("stones")
    name = f"io.cairn-ui/{slug}"
    for v in ["1.0.0", "1.1.0", "2.0.0-beta.1"]:
        c.create_mcp_server_version(
            {"name": name, "version": v, "description": "Finds cairns on hillsides",
             "remotes": [{"type": "streamable-http", "url": "https://mcp.cairn.example/mcp"}]},
            source="https://github.com/cairn-example/stones",
            tools=[MCPTool(name="find_cairn", description="Locate the nearest cairn",
                           input_schema={"type": "object", "properties": {"hill": {"type": "string"}}})])
    c.update_mcp_server_version(name, "1.1.0", status=MCPStatus.ACTIVE)
    c.update_mcp_server(name, display_name="Cairn finder")
    c.set_mcp_server_tag(name, "team", "geology")
    c.set_mcp_server_alias(name, "stable", "1.1.0")
    c.create_mcp_access_endpoint(name, "https://gateway.cairn.example/stones", server_alias="latest")
    other = f"io.cairn-ui/{unique('pebbles')}"
    c.create_mcp_server_version({"name": other, "version": "0.1.0", "description": "Counts pebbles"}, tools=None)
    reset_mlflow_state(server.url)
    return {"name": name, "other": other}


def test_mcp_registry_lists_the_servers(ui, registry):
    ui.visit("/mcp-registry")
    _see(ui, "mcp-registry", "MCP Registry", "Cairn finder", "Finds cairns on hillsides", "Counts pebbles")
    ui.finish("mcp-registry")


def test_mcp_server_page_shows_versions_tools_and_endpoints(ui, registry):
    """The page opens on the highest version; the active one carries the "latest" and
    "stable" aliases, its access endpoint (through "latest") and its tool."""
    ui.visit(f"/mcp-registry/{quote(registry['name'], safe='')}")
    _see(ui, "mcp-server", "Cairn finder", "Finds cairns on hillsides", "team", "geology",
         "Viewing version 2.0.0-beta.1", "1.0.0", "stable", "https://mcp.cairn.example/mcp")
    ui.text("1.1.0").click()
    _see(ui, "mcp-server-version", "Viewing version 1.1.0", "https://gateway.cairn.example/stones")
    ui.page.get_by_role("tab", name="Tools").click()
    _see(ui, "mcp-server-tools", "find_cairn", "Locate the nearest cairn")
    ui.finish("mcp-server")
