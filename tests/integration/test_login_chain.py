"""docker login, push and pull through each registry line work for the configured users and nobody else."""

import base64
import json
import time

import pytest

from components.signing_keys import JWKS_FILE
from providers.docker_client import DockerV2ClientProvider
from support.keys import certificate_pem, new_key, private_key_pem
from tests.integration.clients import (
    client_props,
    forged_claims,
    jwt_parts,
    kid_of,
    registry_get,
    registry_host,
    request_token,
    sign_jwt,
    signing_secret,
    token_for,
    write_oci_image,
)


def test_anonymous_access_is_challenged_with_the_token_realm_and_service(registry, env_json):
    response = registry_get(registry, None)
    assert response.status_code == 401
    challenge = response.headers["Www-Authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'realm="{env_json["token_realm"]}"' in challenge
    assert f'service="{env_json["service"]}"' in challenge


def test_a_configured_user_pushes_and_pulls_with_skopeo(registry, user, skopeo, tmp_path):
    host = registry_host(registry)
    source = tmp_path / "source"
    digest = write_oci_image(source, "v1", f"hello from registry {registry['line']}\n".encode())
    login = skopeo.login(host, user["username"], user["password"])
    assert login.returncode == 0, login.stderr
    auth = ["--authfile", str(skopeo.authfile)]
    skopeo.run("copy", *auth, "--dest-tls-verify=false", f"oci:{source}:v1", f"docker://{host}/test/hello:1")
    inspected = json.loads(skopeo.run("inspect", *auth, "--tls-verify=false", f"docker://{host}/test/hello:1").stdout)
    assert inspected["Digest"] == digest
    pulled = tmp_path / "pulled"
    skopeo.run("copy", *auth, "--src-tls-verify=false", f"docker://{host}/test/hello:1", f"oci:{pulled}:v1")
    assert (pulled / "blobs" / "sha256" / digest.split(":")[1]).exists()


def test_a_member_token_carries_the_requested_access(env_json, user):
    header, claims = jwt_parts(token_for(env_json, user["username"], user["password"]))
    assert header["alg"] == "RS256"
    assert (claims["sub"], claims["aud"], claims["iss"]) == (user["username"], env_json["service"], env_json["issuer"])
    assert claims["access"] == [{"type": "repository", "name": "test/hello", "actions": ["pull", "push"]}]


@pytest.mark.parametrize("who", ["wrong password", "unknown user", "disabled user", "outside the group"])
def test_no_token_and_no_login_for(who, registry, env_json, user, strangers, skopeo):
    username, password = strangers.get(who) or {
        "wrong password": (user["username"], user["password"] + "x"),
        "unknown user": ("nobody-here", "whatever-password"),
    }[who]
    assert request_token(env_json, username, password).status_code == 401
    login = skopeo.login(registry_host(registry), username, password)
    assert login.returncode != 0 and "invalid username/password" in login.stderr


@pytest.fixture(scope="module")
def trusted_key(local_env, stack, kube):
    """A key we hold, imported into the realm as a passive RS256 key and so trusted by the registries once
    `pulumi up` has re-derived the certificate Secret: it signs tokens that differ from a valid one in one way."""
    key = new_key()
    admin, realm = local_env.admin(), local_env.settings.realm.name
    admin.call("POST", f"/{realm}/components", json={
        "name": "integration-test-key", "providerId": "rsa", "providerType": "org.keycloak.keys.KeyProvider",
        "parentId": admin.call("GET", f"/{realm}").json()["id"],
        "config": {"priority": ["1"], "enabled": ["true"], "active": ["false"], "algorithm": ["RS256"],
                   "privateKey": [private_key_pem(key)], "certificate": [certificate_pem(key, realm)]}})
    stack.up()
    assert kid_of(key) in signing_secret(kube, local_env.settings.namespace)[JWKS_FILE]
    local_env.wait_for_registries()  # the other line's copy rolls after the stack's registry
    return key


def test_a_correctly_forged_token_is_accepted(registry, env_json, trusted_key):
    """The control for the cases below: only their one defect makes them fail."""
    token = sign_jwt({"alg": "RS256", "typ": "JWT", "kid": kid_of(trusted_key)}, forged_claims(env_json), trusted_key)
    assert registry_get(registry, token).status_code == 200


def test_tokens_with_one_defect_are_refused(registry, env_json, trusted_key):
    header = {"alg": "RS256", "typ": "JWT", "kid": kid_of(trusted_key)}
    stranger = new_key()
    header_part, _, signature = sign_jwt(header, forged_claims(env_json), trusted_key).split(".")
    escalated = forged_claims(env_json, access=[{"type": "registry", "name": "catalog", "actions": ["*"]}])
    escalated_part = base64.urlsafe_b64encode(json.dumps(escalated).encode()).rstrip(b"=").decode()
    cases = {
        "another service": sign_jwt(header, forged_claims(env_json, aud="another-service"), trusted_key),
        "another issuer": sign_jwt(header, forged_claims(env_json, iss=env_json["keycloak_url"] + "/realms/other"),
                                   trusted_key),
        "another key with its own kid": sign_jwt({**header, "kid": kid_of(stranger)}, forged_claims(env_json),
                                                 stranger),
        "another key under the trusted kid": sign_jwt(header, forged_claims(env_json), stranger),
        "tampered payload": f"{header_part}.{escalated_part}.{signature}",
        "expired": sign_jwt(header, forged_claims(env_json, exp=int(time.time()) - 60, nbf=int(time.time()) - 600),
                            trusted_key),
    }
    statuses = {case: registry_get(registry, token).status_code for case, token in cases.items()}
    assert statuses == {case: 401 for case in cases}


def test_a_token_keycloak_issued_for_another_service_is_refused(registry, env_json, admin, user):
    props = client_props(admin, env_json["realm"], "another-service")
    provider = DockerV2ClientProvider()
    created = provider.create(props)
    try:
        response = request_token(env_json, user["username"], user["password"], service="another-service")
        assert response.status_code == 200
        token = response.json()["token"]
        assert jwt_parts(token)[1]["aud"] == "another-service"
        assert registry_get(registry, token).status_code == 401
    finally:
        provider.delete(created.id, props)
