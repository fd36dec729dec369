import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from serving import running_server  # noqa: E402


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One real server on the default model for the whole session: (base_url, process)."""
    tmp = tmp_path_factory.mktemp("server")
    with running_server(tmp, env={"CODESPARK_WS_MAX_AGE_S": "3600"}) as s:
        yield s


@pytest.fixture(scope="session")
def base_url(server):
    return server[0]


@pytest.fixture()
def client(base_url):
    from openai import OpenAI

    return OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0, timeout=300)
