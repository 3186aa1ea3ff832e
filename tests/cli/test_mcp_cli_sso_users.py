"""`mcp-cli login --sso` (device grant) and `mcp-cli user …` against a real gunicorn+gevent gateway whose
identity provider is the real local OIDC provider (tests/support/oidc_provider.py)."""

from __future__ import annotations

import re
import subprocess
import threading
import time

import pytest
import requests

from tests.support.cli import ADMIN_PASSWORD, MCP_CLI, Cli
from tests.support.oidc_provider import ADMINS, OTHERS, PORTAL_CLIENT_SECRET, VIEWERS, OidcProvider
from tests.support.server import GatewayServer, listening_socket
from tests.support.waiting import wait_for

CODE_LINE = re.compile(r"open (\S+) and enter the code (\S+)")


@pytest.fixture(scope="module")
def idp():
    with OidcProvider() as provider:
        yield provider


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, idp):
    tmp = tmp_path_factory.mktemp("cli-sso")
    listener = listening_socket("127.0.0.1")  # the IdP's redirect URI names the port before the gateway starts
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    server = GatewayServer(
        str(tmp / "gateway.db"),
        listener=listener,
        VAULT_LOCAL_PATH=str(tmp / "secrets.json"),
        WEB_CONCURRENCY="1",
        **idp.gateway_settings(url),
    ).start()
    yield server
    server.stop()


@pytest.fixture
def cli(tmp_path, idp):
    idp.device = True
    return Cli(tmp_path)


class DeviceLogin:
    """`mcp-cli login --sso` running, its stderr read on a thread so the test can wait for the code."""

    def __init__(self, cli: Cli, addr: str) -> None:
        self.proc = subprocess.Popen(
            [MCP_CLI, "login", "--sso", "--addr", addr],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.env(),
        )
        self.err: list[str] = []
        self._reader = threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True)
        self._reader.start()

    def user_code(self) -> tuple[str, str]:
        def shown():
            if self.proc.poll() is not None and not self._reader.is_alive():
                raise AssertionError(f"mcp-cli ended early: {''.join(self.err)}")
            found = CODE_LINE.search("".join(self.err))
            return found.groups() if found else None

        return wait_for(shown, timeout=30, what="the device code on stderr")

    def finish(self) -> tuple[int, str, str]:
        # stderr belongs to the reader thread; communicate() would race it for the last lines.
        self.proc.wait(timeout=60)
        out = self.proc.stdout.read()
        self.proc.stdout.close()
        self._reader.join(5)
        self.proc.stderr.close()
        stderr = "".join(self.err)
        assert "Traceback" not in stderr, stderr
        return self.proc.returncode, out, stderr


def sso_login(cli: Cli, gateway, idp, person, *, approve: bool = True) -> tuple[int, str, str]:
    login = DeviceLogin(cli, gateway.url)
    uri, code = login.user_code()
    assert uri == idp.issuer + "/device"
    idp.approve_device(code, person, approved=approve)
    return login.finish()


def test_login_sso_runs_the_device_grant_and_an_admin_group_member_gets_an_admin_session(cli, gateway, idp):
    code, out, err = sso_login(cli, gateway, idp, idp.person("grace", groups=[ADMINS]))
    assert code == 0, err
    assert out == "" and "Logged in to" in err and "as grace (role admin)" in err
    users = {u["username"]: u for u in cli.json("user", "list")}
    assert users["grace"]["source"] == "sso" and users["grace"]["role"] == "admin"
    # The IdP's tokens went to the gateway once and are nowhere else: not printed, cached or logged.
    cached = cli.cache_file.read_text()
    for token in idp.issued_id_tokens + list(idp.access_tokens):
        assert token not in cached and token not in err and token not in gateway.log
    assert PORTAL_CLIENT_SECRET not in gateway.log


def test_a_viewer_group_member_gets_a_viewer_session_that_cannot_change_anything(cli, gateway, idp):
    code, _, err = sso_login(cli, gateway, idp, idp.person("vera", groups=[VIEWERS]))
    assert code == 0 and "(role viewer)" in err, err
    assert "vera" in cli.ok("user", "list").stdout
    refused = cli.run("user", "add", "--username", "eve", input="a long enough password\n")
    assert refused.returncode == 1 and "has role 'viewer'; this needs role 'admin'" in refused.stderr


def test_a_person_in_no_group_is_refused_with_the_reason(cli, gateway, idp):
    code, _, err = sso_login(cli, gateway, idp, idp.person("olaf", groups=[OTHERS]))
    assert code == 1 and "refused the SSO sign-in" in err and "none of the groups" in err
    assert not cli.cache_file.exists()


def test_a_denied_device_sign_in_ends_with_a_clear_message(cli, gateway, idp):
    code, _, err = sso_login(cli, gateway, idp, idp.person("grace", groups=[ADMINS]), approve=False)
    assert code == 1 and "denied at the identity provider" in err


def test_an_idp_without_the_device_grant_is_a_clear_message_and_a_non_zero_exit(cli, gateway, idp):
    idp.device = False
    result = cli.run("login", "--sso", "--addr", gateway.url)
    assert result.returncode == 1
    assert "does not offer the device authorization grant" in result.stderr


def test_login_needs_a_username_or_sso_not_both(cli, gateway):
    assert "give a USERNAME, or --sso" in cli.run("login", "--addr", gateway.url).stderr
    assert cli.run("login", "bob", "--sso", "--addr", gateway.url).returncode == 2


def test_user_commands_list_add_modify_delete_through_the_admin_api(cli, gateway, idp):
    cli.login(gateway.url)
    new_id = cli.ok(
        "user", "add", "--username", "carol", "--role", "viewer", input="carol's long password\n"
    ).stdout.strip()
    table = cli.ok("user", "list").stdout
    assert re.search(r"carol\s+viewer\s+local\s+yes", table), table
    cli.ok("user", "modify", "--id", new_id, "--role", "admin")
    cli.ok("user", "modify", "--id", new_id, "--enabled", "false")
    [carol] = [u for u in cli.json("user", "list") if u["id"] == new_id]
    assert (carol["role"], carol["enabled"]) == ("admin", False)
    cli.ok("user", "modify", "--id", new_id, "--password", "--enabled", "true", input="a brand new password\n")
    other = Cli(cli.home / "other")
    other.ok("login", "carol", "--addr", gateway.url, input="a brand new password\n")
    cli.ok("user", "delete", "--id", new_id)
    assert "carol" not in cli.ok("user", "list").stdout


def test_user_commands_refuse_bad_input_with_the_apis_message(cli, gateway, idp):
    cli.login(gateway.url)
    bad = cli.run("user", "add", "--username", "no spaces", input="long enough password\n")
    assert bad.returncode == 1 and "username may contain letters, digits and . _ @ - only" in bad.stderr
    short = cli.run("user", "add", "--username", "shorty", input="short\n")
    assert short.returncode == 1 and "password" in short.stderr and "HTTP 400" in short.stderr
    assert cli.run("user", "modify", "--id", "x").returncode == 2  # nothing to change
    missing = cli.run("user", "delete", "--id", "no-such-user")
    assert missing.returncode == 1 and "not found" in missing.stderr


def test_an_sso_user_cannot_be_given_a_local_password_or_a_role(cli, gateway, idp):
    sso = Cli(cli.home / "sso")
    assert sso_login(sso, gateway, idp, idp.person("hugo", groups=[VIEWERS]))[0] == 0
    cli.login(gateway.url)
    [hugo] = [u for u in cli.json("user", "list") if u["username"] == "hugo"]
    result = cli.run("user", "modify", "--id", hugo["id"], "--password", input="a local password for hugo\n")
    assert result.returncode == 1 and "signs in through single sign-on" in result.stderr and "HTTP 409" in result.stderr
    role = cli.run("user", "modify", "--id", hugo["id"], "--role", "admin")
    assert role.returncode == 1 and "role follows the identity provider" in role.stderr
    # Nor can anyone sign in as hugo with a password.
    assert (
        requests.post(gateway.url + "/api/v1/login", json={"username": "hugo", "password": "x"}, timeout=10).status_code
        == 401
    )


@pytest.mark.parametrize(
    "spoil, status, message",
    [
        ({"aud": "someone-else"}, 401, "meant for another client"),
        ({"iss": "https://evil.example"}, 401, "another issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, 401, "expired"),
        ({"impostor": True}, 401, "signature does not verify"),
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "bad-signature"],
)
def test_the_sso_exchange_refuses_bad_id_tokens_with_a_specific_401(gateway, idp, spoil, status, message):
    key = idp.impostor_key if spoil.pop("impostor", False) else None
    token = idp.id_token(idp.person("grace", groups=[ADMINS]), key=key, **spoil)
    response = requests.post(gateway.url + "/api/v1/login/sso", json={"id_token": token}, timeout=10)
    assert response.status_code == status and message in response.json()["message"], response.text
    assert "token" not in response.json() or response.json().get("error") == "sso_refused"


def test_the_sso_exchange_refuses_unsigned_and_hs256_tokens(gateway, idp):
    from joserfc import jwt
    from joserfc.jwk import OctKey

    claims = {"iss": idp.issuer, "aud": "janus-cli", "sub": "x", "exp": int(time.time()) + 60, "groups": [ADMINS]}
    hs256 = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(PORTAL_CLIENT_SECRET.encode()))
    _header, payload, _ = idp.id_token(**claims).split(".")
    unsigned = ".".join(["eyJhbGciOiJub25lIn0", payload, ""])
    for token in (hs256, unsigned):
        response = requests.post(gateway.url + "/api/v1/login/sso", json={"id_token": token}, timeout=10)
        assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    "body, message",
    [({}, "id_token"), ({"id_token": 5}, "id_token"), ({"id_token": "x", "extra": 1}, "unknown field")],
)
def test_a_malformed_sso_exchange_is_a_400_naming_the_field(gateway, body, message):
    response = requests.post(gateway.url + "/api/v1/login/sso", json=body, timeout=10)
    assert response.status_code == 400 and message in response.json()["message"]
    assert requests.post(gateway.url + "/api/v1/login/sso", data="[]", timeout=10).status_code == 400


def test_the_password_login_is_unchanged(cli, gateway):
    assert "(role admin)" in cli.ok("login", "admin", "--addr", gateway.url, input=ADMIN_PASSWORD + "\n").stderr
