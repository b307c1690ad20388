"""The module fixture of the Ray tests: Ray, and every CLI run it starts, in a network namespace
of their own (as root, e.g. CI). Ray 2.60 listens on every address of its namespace, which then
is only lo. Use: ``from ray_netns import private_network  # noqa: F401`` (autouse)."""
import pytest
from netns import PrivateNetwork


@pytest.fixture(scope="module", autouse=True)
def private_network():
    with PrivateNetwork() as net:
        yield net
