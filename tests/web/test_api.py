"""The dashboard's JSON API over TestClient: auth, Host check, CSRF, uploads, settings, runs, documents."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from scriptdeck.web.testing import Stack

pytestmark = pytest.mark.timeout(60)


def wait_for(client: TestClient, run_id: str, states: tuple[str, ...] = ("finished", "failed", "error", "cancelled"),
             timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/runs/{run_id}").json()
        if run["state"] in states:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {run['state']}")


# -- auth -------------------------------------------------------------------------------------


def test_no_token_is_401_for_api_and_login_page_for_browsers(anon: TestClient) -> None:
    r = anon.get("/api/plugins")
    assert r.status_code == 401
    assert r.json()["field"] == "token"
    page = anon.get("/", headers={"accept": "text/html"})
    assert page.status_code == 401
    assert "Sign in" in page.text
    assert anon.get("/openapi.json").status_code == 401
    assert anon.get("/static/app.js").status_code == 401


def test_security_headers_on_every_response(anon: TestClient, client: TestClient) -> None:
    for response in (anon.get("/api/plugins"), client.get("/"), client.get("/api/plugins")):
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_wrong_token_is_401(anon: TestClient) -> None:
    assert anon.get("/api/plugins", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert anon.get("/api/plugins?token=nope").status_code == 401


@pytest.mark.parametrize("host", ["evil.example", "attacker.test:8765", "192.168.1.10"])
def test_foreign_host_header_is_refused(stack: Stack, host: str) -> None:
    with TestClient(stack.app, base_url=f"http://{host}", headers=stack.auth_headers) as c:
        r = c.get("/api/plugins")
    assert r.status_code == 403
    assert r.json()["field"] == "Host"


@pytest.mark.parametrize("host", ["localhost:8765", "127.0.0.1", "[::1]:8765"])
def test_loopback_host_headers_are_allowed(stack: Stack, host: str) -> None:
    with TestClient(stack.app, base_url="http://127.0.0.1", headers={**stack.auth_headers, "host": host}) as c:
        assert c.get("/api/plugins").status_code == 200


def test_login_url_sets_a_session_and_csrf_is_required_for_cookie_sessions(anon: TestClient, stack: Stack) -> None:
    r = anon.get(f"/?token={stack.token}")
    assert r.status_code == 303
    assert r.headers["location"] == "/"  # the token leaves the address bar
    assert "scriptdeck_session" in anon.cookies
    csrf = anon.cookies["scriptdeck_csrf"]
    assert anon.get("/api/plugins").status_code == 200  # the cookie is enough to read
    refused = anon.post("/api/plugins/reload")
    assert refused.status_code == 403
    assert refused.json()["field"] == "X-CSRF-Token"
    assert anon.post("/api/plugins/reload", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert anon.post("/api/plugins/reload", headers={"X-CSRF-Token": csrf}).status_code == 200


def test_login_form(anon: TestClient, stack: Stack) -> None:
    bad = anon.post("/login", data={"token": "wrong", "next": "/"})
    assert bad.status_code == 401
    good = anon.post("/login", data={"token": stack.token, "next": "//evil.example/"})
    assert good.status_code == 303
    assert good.headers["location"] == "/"  # never an open redirect
    assert anon.get("/api/plugins").status_code == 200


def test_token_is_stored_hashed(stack: Stack) -> None:
    stored = (stack.config.data_dir / "web-token.json").read_text()  # type: ignore[operator]
    assert stack.token not in stored
    assert json.loads(stored)["algorithm"] == "scrypt"


def test_non_loopback_bind_needs_a_token(tmp_path: Path) -> None:
    from scriptdeck.errors import UserError
    from scriptdeck.web.app import make_auth
    from scriptdeck.web.backend import WebConfig

    with pytest.raises(UserError, match=r"--host: refusing to listen on 0\.0\.0\.0"):
        make_auth(WebConfig(host="0.0.0.0", data_dir=tmp_path))
    auth, token = make_auth(WebConfig(host="0.0.0.0", token="configured", data_dir=tmp_path))
    assert token == "configured"
    assert auth.check_token("configured")


# -- uploads ----------------------------------------------------------------------------------


def test_upload_over_the_limit_is_413(tmp_path: Path, plugin_dir: Path) -> None:
    s = Stack(tmp_path / "small", [plugin_dir], max_upload_bytes=1024, connect=False, watch_interval=0)
    try:
        with TestClient(s.app, base_url="http://127.0.0.1", headers=s.auth_headers) as c:
            r = c.post("/api/document/open?filename=big.gcode", content=b"G1 X1\n" * 1000)
            assert r.status_code == 413
            assert r.json()["field"] == "file"
            assert "limit" in r.json()["error"]

            def chunks() -> Any:  # no Content-Length: counted while streaming
                for _ in range(100):
                    yield b"G1 X1\n" * 10

            r = c.post("/api/document/open?filename=big.gcode", content=chunks())
            assert r.status_code == 413
            assert c.get("/api/document").json()["loaded"] is False
    finally:
        s.close()


# -- plugins and settings ---------------------------------------------------------------------


def test_plugins_list_shows_broken_plugins_with_their_errors(client: TestClient) -> None:
    plugins = {p["id"]: p for p in client.get("/api/plugins").json()["plugins"]}
    assert plugins["Broken"]["status"] == "error"
    assert any("version" in e for e in plugins["Broken"]["errors"])
    assert plugins["Chooser"]["status"] == "ok"
    assert all(type(p["version"]) is int for p in plugins.values())  # an integer, as plugin.json has it


def test_icons_never_break(client: TestClient) -> None:
    for url in ("/api/plugins/Chooser/icon", "/api/plugins/Broken/icon", "/api/plugins/nope/icon",
                "/api/services/Chooser/add-a-chosen-comment/icon", "/api/icons/theme/no-such-icon-anywhere"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.headers["content-type"].startswith("image/")


def test_icon_outside_the_plugin_folder_is_not_served(client: TestClient, plugin_dir: Path) -> None:
    manifest = plugin_dir / "Chooser" / "plugin.json"
    data = json.loads(manifest.read_text())
    data["icon"] = "../../../../../../etc/passwd"
    manifest.write_text(json.dumps(data))
    client.post("/api/plugins/reload")
    r = client.get("/api/plugins/Chooser/icon")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/svg+xml"
    assert b"root:" not in r.content


def test_settings_round_trip_and_bad_values_name_the_field(client: TestClient) -> None:
    view = client.get("/api/services/status_steps/settings").json()
    assert view["values"] == {"steps": 3, "pause": 0.4}
    bad = client.put("/api/services/status_steps/settings", json={"values": {"steps": "many", "pause": 1.0}})
    assert bad.status_code == 400
    assert bad.json()["field"] == "steps"
    assert "expected an integer" in bad.json()["error"]
    # nothing half-saved: pause was valid but is not stored either
    assert client.get("/api/services/status_steps/settings").json()["values"]["pause"] == 0.4
    unknown = client.put("/api/services/status_steps/settings", json={"values": {"nope": 1}})
    assert unknown.status_code == 400 and unknown.json()["field"] == "nope"
    ok = client.put("/api/services/status_steps/settings", json={"values": {"steps": 5}})
    assert ok.status_code == 200 and ok.json()["values"]["steps"] == 5
    assert client.delete("/api/services/status_steps/settings").json()["values"]["steps"] == 3


def test_unknown_service_is_404(client: TestClient) -> None:
    r = client.get("/api/services/Nope/none/settings")
    assert r.status_code == 404
    assert r.json()["error"]


def test_disable_and_enable_fire_plugins_changed(client: TestClient, stack: Stack) -> None:
    seen: list[str] = []
    stack.host.events.subscribe(lambda e: seen.append(e["event"]))
    assert client.post("/api/plugins/Chooser/disable").json()["status"] == "disabled"
    assert "Chooser/add-a-chosen-comment" not in [s["id"] for s in client.get("/api/services").json()["services"]]
    assert client.post("/api/plugins/Chooser/enable").json()["status"] == "ok"
    assert seen.count("PluginsChanged") == 2


def test_plugin_files_changing_on_disk_refresh_the_list(client: TestClient, plugin_dir: Path) -> None:
    (plugin_dir / "late_arrival.py").write_text(
        '__script_id__ = "late_arrival"\n__script_title__ = "Late"\n'
        "class A:\n    def __init__(self, g, logger, settings):\n        pass\n"
        "    def run(self):\n        return True, {}\n__script_obj__ = A\n"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        ids = [p["id"] for p in client.get("/api/plugins").json()["plugins"]]
        if "late_arrival" in ids:
            break
        time.sleep(0.1)
    assert "late_arrival" in ids
    assert any(e["event"] == "PluginsChanged" for e in client.get("/api/events/recent").json()["events"])


# -- runs -------------------------------------------------------------------------------------


def test_run_an_automation_script_to_the_end(client: TestClient) -> None:
    r = client.post("/api/runs", json={"service": "status_steps", "settings": {"pause": 0.05}})
    assert r.status_code == 202, r.text
    run = wait_for(client, r.json()["id"])
    assert run["state"] == "finished"
    assert [h["status"] for h in run["status_history"]][:3] == ["step 1 of 3", "step 2 of 3", "step 3 of 3"]
    assert run["result"] == {"last_steps": 3}
    history = client.get(f"/api/history/{run['id']}").json()
    assert history["state"] == "finished"
    assert history["settings"]["pause"] == 0.05


def test_bad_run_settings_are_400_before_anything_starts(client: TestClient) -> None:
    r = client.post("/api/runs", json={"service": "status_steps", "settings": {"steps": 1.5}})
    assert r.status_code == 400
    assert r.json()["field"] == "steps"
    assert client.get("/api/history").json()["runs"] == []


def test_second_script_is_refused_naming_the_first_and_cancel_works(client: TestClient) -> None:
    first = client.post("/api/runs", json={"service": "busy_loop"}).json()
    second = client.post("/api/runs", json={"service": "status_steps"})
    assert second.status_code == 409
    assert "Busy loop" in second.json()["error"]
    terminal = client.post("/api/machine/send", json={"line": "M105"})
    assert terminal.status_code == 409  # the running script holds the lease
    assert client.post(f"/api/runs/{first['id']}/cancel").status_code == 200
    assert wait_for(client, first["id"])["state"] == "cancelled"


def test_action_needs_an_open_document(client: TestClient) -> None:
    r = client.post("/api/runs", json={"service": "Chooser/add-a-chosen-comment"})
    assert r.status_code == 409  # a fine request, the wrong moment: open a document first
    assert r.json()["field"] == "document"


def test_action_prompt_answered_over_the_api_changes_the_document(client: TestClient) -> None:
    client.post("/api/document/open?filename=job.gcode", content=b"G28\nG1 Z5\n")
    run = client.post("/api/runs", json={"service": "Chooser/add-a-chosen-comment", "settings": {"prefix": "pick"}}).json()
    deadline = time.monotonic() + 15
    prompts: list[dict[str, Any]] = []
    while not prompts and time.monotonic() < deadline:
        prompts = client.get("/api/prompts").json()["prompts"]
        time.sleep(0.05)
    assert prompts and prompts[0]["options"] == ["alpha", "beta", "gamma"]
    bad = client.post(f"/api/prompts/{prompts[0]['id']}", json={"answer": 7})
    assert bad.status_code == 400 and bad.json()["field"] == "answer"
    assert client.post(f"/api/prompts/{prompts[0]['id']}", json={"answer": 2}).status_code == 200
    assert wait_for(client, run["id"])["state"] == "finished"
    deadline = time.monotonic() + 5
    while client.get("/api/document").json()["revision"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    saved = client.post("/api/document/save", json={}).content
    assert saved.startswith(b"; pick gamma\nG28\n")
    assert client.get("/api/services/Chooser/add-a-chosen-comment/settings").json()["values"]["prefix"] == "pick"
    undone = client.post("/api/document/undo").json()
    assert undone["can_undo"] is False
    assert client.post("/api/document/save", json={}).content == b"G28\nG1 Z5\n"


# -- documents --------------------------------------------------------------------------------


def test_open_gcode_and_preview(client: TestClient) -> None:
    body = b"G28\nG1 Z0.2 F3000\nG1 X10 Y0 E1\nG1 X10 Y10 E2\nG1 Z0.4\nG1 X0 Y10 E3\n"
    doc = client.post("/api/document/open?filename=square.gcode", content=body).json()["document"]
    assert doc["loaded"] and doc["lines"] == 6
    preview = client.get("/api/document/preview").json()
    assert len(preview["layers"]) >= 2
    assert preview["layers"][0]["paths"]


def test_open_a_binary_file_is_refused_naming_the_upload(client: TestClient) -> None:
    r = client.post("/api/document/open?filename=b.gcode", content=b"G28\n\x00\x01\x02\x03binary\n")
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error.startswith("b.gcode: ") and "control byte" in error, error
    assert not client.get("/api/document").json()["loaded"]


def test_open_svg_through_the_format_plugin(client: TestClient) -> None:
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="20mm" height="20mm" viewBox="0 0 20 20"><path d="M2 2 L18 2 L18 18 Z"/></svg>'
    r = client.post("/api/document/open?filename=tri.svg", content=svg)
    assert r.status_code == 200, r.text
    assert r.json()["document"]["loaded"]
    assert client.get("/api/document/preview").json()["layers"]


def test_open_with_bad_format_settings_names_the_field(client: TestClient) -> None:
    r = client.post("/api/document/open?filename=p.csv&settings=" + json.dumps({"decimals": 99}), content=b"1,2\n")
    assert r.status_code == 400
    assert r.json()["field"] == "decimals"
    r = client.post("/api/document/open?filename=p.csv&settings=not-json", content=b"1,2\n")
    assert r.status_code == 400 and r.json()["field"] == "settings"


def test_unknown_extension_is_400(client: TestClient) -> None:
    r = client.post("/api/document/open?filename=photo.jpeg", content=b"\xff\xd8")
    assert r.status_code == 400
    assert r.json()["field"] == "format"


def test_save_as_csv_through_a_format(client: TestClient) -> None:
    client.post("/api/document/open?filename=a.gcode", content=b"G1 X1 Y2 Z0.2 E1\nG1 X3 Y4 E2\n")
    r = client.post("/api/document/save", json={"format": "csv", "filename": "points"})
    assert r.status_code == 200, r.text
    assert 'filename="points.csv"' in r.headers["content-disposition"]
    assert b"3" in r.content


# -- machine ----------------------------------------------------------------------------------


def test_terminal_round_trip_and_machine_state(client: TestClient) -> None:
    assert client.get("/api/machine").json()["state"] == "ready"
    sent = client.post("/api/machine/send", json={"line": "M114"}).json()
    assert any(line["direction"] == "out" and "M114" in line["line"] for line in sent["lines"])
    assert client.post("/api/machine/send", json={"line": ""}).status_code == 422


def test_print_the_open_document(client: TestClient) -> None:
    client.post("/api/document/open?filename=a.gcode", content=b"G28\nG1 X10 Y10\nG1 X20\n")
    job = client.post("/api/machine/print").json()
    assert job["total"] == 3
    deadline = time.monotonic() + 10
    while client.get("/api/machine").json()["job"]["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.get("/api/machine").json()["job"]["state"] == "done"


def test_the_terminal_is_free_again_after_a_script(client: TestClient) -> None:
    run = client.post("/api/runs", json={"service": "status_steps", "settings": {"pause": 0}}).json()
    assert wait_for(client, run["id"])["state"] == "finished"
    deadline = time.monotonic() + 5
    while client.get("/api/machine").json()["owner"] is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert client.post("/api/machine/send", json={"line": "M105"}).status_code == 200


def test_save_with_a_non_ascii_file_name(client: TestClient) -> None:
    client.post("/api/document/open?filename=a.gcode", content=b"G28\n")
    r = client.post("/api/document/save", json={"filename": "Würfel ሳ.gcode"})
    assert r.status_code == 200
    assert "filename*=UTF-8''" + quote("Würfel ሳ.gcode", safe="") in r.headers["content-disposition"]
    assert r.content == b"G28\n"


# -- request validation -----------------------------------------------------------------------


def test_settings_body_without_its_values_wrapper_is_422_naming_the_key(client: TestClient) -> None:
    r = client.put("/api/services/status_steps/settings", json={"steps": 5})
    assert r.status_code == 422
    assert r.json()["field"] == "steps"
    assert "unknown key" in r.json()["error"] and "values" in r.json()["error"]
    assert client.get("/api/services/status_steps/settings").json()["stored"] == {}
    beside = client.post("/api/services/status_steps/settings/validate", json={"values": {}, "step": 5})
    assert beside.status_code == 422 and beside.json()["field"] == "step"


@pytest.mark.parametrize(("path", "body", "typo"), [
    ("/api/runs", {"service": "status_steps", "setting": {"steps": 1}}, "setting"),
    ("/api/machine/connect", {"url": "virtual://", "baudrate": 115200}, "baudrate"),
    ("/api/machine/send", {"line": "M105", "after": 3}, "after"),
    ("/api/document/save", {"fromat": "csv"}, "fromat"),
    ("/api/prompts/nope", {"answer": True, "anwser": 1}, "anwser"),
])
def test_request_bodies_refuse_unknown_keys(client: TestClient, path: str, body: dict[str, Any], typo: str) -> None:
    r = client.post(path, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == typo
    assert r.json()["error"].startswith(f"{typo}: unknown key")


def test_malformed_json_names_line_and_column_not_a_field(client: TestClient) -> None:
    r = client.post("/api/runs", content=b'{"service": "status_steps",\n bad json}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json()["field"] is None
    assert r.json()["error"] == "invalid JSON at line 2, column 2: Expecting property name enclosed in double quotes"


def test_unknown_service_kind_is_422_listing_the_kinds(client: TestClient) -> None:
    r = client.get("/api/services?kind=bogus")
    assert r.status_code == 422
    assert r.json()["field"] == "kind"
    assert all(kind in r.json()["error"] for kind in ("automation", "action", "format", '"bogus"'))
    kinds = {s["kind"] for s in client.get("/api/services?kind=action").json()["services"]}
    assert kinds == {"action"}


def test_validate_reports_every_bad_value(client: TestClient) -> None:
    r = client.post("/api/services/status_steps/settings/validate",
                    json={"values": {"steps": "many", "pause": "long", "nope": 1}})
    assert r.status_code == 400
    body = r.json()
    assert body["field"] == "steps" and "expected an integer" in body["error"]  # the first, as before
    assert [e["field"] for e in body["errors"]] == ["steps", "pause", "nope"]
    assert "expected a number" in body["errors"][1]["error"]


def test_unknown_service_404_names_the_field(client: TestClient) -> None:
    r = client.get("/api/services/nope/settings")
    assert r.status_code == 404
    assert r.json() == {"error": "service_id: no service 'nope'", "field": "service_id"}
    run = client.post("/api/runs", json={"service": "nope"})
    assert run.status_code == 404 and run.json()["field"] == "service"


# -- print job state --------------------------------------------------------------------------


def _finished_print(client: TestClient) -> dict[str, Any]:
    client.post("/api/document/open?filename=a.gcode", content=b"G28\n")
    client.post("/api/machine/print")
    deadline = time.monotonic() + 10
    while (job := client.get("/api/machine").json()["job"])["state"] in ("running", "paused"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job


@pytest.mark.parametrize("action", ["pause", "resume", "cancel"])
def test_controlling_an_ended_job_is_409(client: TestClient, action: str) -> None:
    assert _finished_print(client)["state"] == "done"
    r = client.post(f"/api/machine/job/{action}")
    assert r.status_code == 409
    assert r.json() == {"error": f"job: the print job a.gcode already ended (done); nothing to {action}",
                        "field": "job"}


def test_printing_an_empty_document_is_409(client: TestClient) -> None:
    client.post("/api/document/new")
    r = client.post("/api/machine/print")
    assert r.status_code == 409
    assert r.json() == {"error": "document: the document has no lines to print", "field": "document"}
    assert client.get("/api/machine").json()["job"] is None


def test_rerun_of_a_service_that_is_gone_names_the_run(client: TestClient, plugin_dir: Path) -> None:
    run = client.post("/api/runs", json={"service": "status_steps", "settings": {"pause": 0}}).json()
    wait_for(client, run["id"])
    (plugin_dir / "status_steps.py").unlink()
    assert client.post("/api/plugins/reload").status_code == 200
    r = client.post(f"/api/history/{run['id']}/rerun")
    assert r.status_code == 404
    assert r.json()["field"] == "run_id" and "'status_steps'" in r.json()["error"]
