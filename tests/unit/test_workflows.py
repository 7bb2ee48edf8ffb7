"""The GitHub workflows: a pull request's code never runs with credentials that can change anything."""

import re
from pathlib import Path

import pytest
import yaml

from support.mock_program import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
WRITE_SECRETS = {"KUBECONFIG", "PULUMI_ACCESS_TOKEN"}
READ_SECRETS = {"KUBECONFIG_READONLY", "PULUMI_ACCESS_TOKEN_READONLY", "GITHUB_TOKEN"}
SAME_REPOSITORY = "github.event.pull_request.head.repo.full_name == github.repository"
SECRET = re.compile(r"\bsecrets\s*(?:\.\s*(\w+)|(\[))")


def load(path: Path) -> dict:
    """A workflow; PyYAML reads the key ``on`` as True."""
    workflow = yaml.safe_load(path.read_text())
    workflow["on"] = workflow.pop(True)
    return workflow


def triggers(workflow: dict) -> dict:
    on = workflow["on"]
    return {on: None} if isinstance(on, str) else dict.fromkeys(on) if isinstance(on, list) else on


def strings(value) -> list[str]:
    """Every key and value of a job, wherever an expression may hide."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return [value] if isinstance(value, str) else []


def secrets(job: dict) -> set[str]:
    names = set()
    for text in strings(job):
        for name, indexed in SECRET.findall(text):
            assert not indexed, f"a secret chosen by expression ({text}) cannot be checked"
            names.add(name)
    assert job.get("secrets") != "inherit", "secrets: inherit passes every secret on"
    return names


def environments(job: dict) -> set[str]:
    """The environment names a job runs in, its matrix expanded."""
    environment = job.get("environment")
    if environment is None:
        return set()
    name = environment["name"] if isinstance(environment, dict) else environment
    names = {name}
    for key, values in (job.get("strategy", {}).get("matrix") or {}).items():
        pattern = re.compile(r"\$\{\{\s*matrix\." + re.escape(key) + r"\s*\}\}")
        names = {pattern.sub(str(value), n) for n in names for value in values}
    assert all("${{" not in n for n in names), names
    return names


JOBS = [pytest.param(path.name, workflow, job, id=f"{path.stem}.{name}")
        for path in WORKFLOWS for workflow in [load(path)] for name, job in workflow["jobs"].items()]


def test_every_workflow_is_checked():
    assert {path.name for path in WORKFLOWS} >= {"preview.yml", "deploy.yml", "tests.yml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_no_workflow_runs_untrusted_code_with_the_base_repositorys_secrets(path):
    """pull_request_target and workflow_run hand a fork's change the secrets of this repository."""
    assert not {"pull_request_target", "workflow_run"} & set(triggers(load(path)))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_every_workflow_limits_its_token(path):
    workflow = load(path)
    assert workflow.get("permissions", {}).get("contents") == "read", "the default token may write"
    assert all(level in ("read", "none") or (path.name, scope) == ("preview.yml", "pull-requests")
               for scope, level in workflow["permissions"].items()), workflow["permissions"]


@pytest.mark.parametrize("file,workflow,job", JOBS)
def test_pull_request_jobs_get_only_read_only_secrets_behind_an_approval(file, workflow, job):
    if "pull_request" not in triggers(workflow):
        return
    used = secrets(job)
    assert not used & WRITE_SECRETS, f"{file} hands a pull request {used & WRITE_SECRETS}"
    assert used <= READ_SECRETS, used
    assert not environments(job) & {"staging", "prod"}
    if used - {"GITHUB_TOKEN"}:
        assert " ".join(str(job.get("if", "")).split()) == SAME_REPOSITORY, "forks must not reach the environment"
        assert environments(job) and all(name.startswith("preview-") for name in environments(job))


def test_previews_use_read_only_credentials_in_protected_environments():
    workflow = load(ROOT / ".github" / "workflows" / "preview.yml")
    (job,) = workflow["jobs"].values()
    assert secrets(job) == READ_SECRETS
    assert environments(job) == {"preview-staging", "preview-prod"}
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}


@pytest.mark.parametrize("file,workflow,job", JOBS)
def test_write_secrets_are_only_used_on_a_push_to_main(file, workflow, job):
    if not secrets(job) & WRITE_SECRETS:
        return
    assert triggers(workflow) == {"push": {"branches": ["main"]}}, f"{file} may deploy from elsewhere"
    assert environments(job) == {"staging", "prod"}


def test_the_deploy_workflow_holds_the_write_secrets():
    (job,) = load(ROOT / ".github" / "workflows" / "deploy.yml")["jobs"].values()
    assert secrets(job) == WRITE_SECRETS
