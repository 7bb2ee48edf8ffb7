"""Fixtures: the dev stack's configuration and one recorded run of the program with it."""

import pytest

from support.mock_program import Run, run_program, stack_file_config


@pytest.fixture(scope="session")
def dev_config() -> tuple[dict[str, str], set[str]]:
    return stack_file_config("dev")


@pytest.fixture(scope="session")
def dev_run(dev_config) -> Run:
    config, secrets = dev_config
    return run_program(config, secrets)
