"""Teams' signing keys are fetched off the event loop (issue 19, item 4): while Microsoft's
OpenID metadata endpoint is slow, an unauthenticated request waits alone, and /health and
every other request are served."""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import pytest

from tests.fakes.ms_identity import FakeIdentity
from tests.fakes.teams_payloads import BOT_APP_ID, channel_mention
from tests.teams.conftest import ServerFactory

pytestmark = pytest.mark.weaviate


def test_a_slow_metadata_endpoint_stalls_no_other_request(
    start: ServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeIdentity(apps={BOT_APP_ID: "x"}) as slow:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", slow.ca_bundle)
        slow.hold_metadata()
        server = start(openid_metadata_url=slow.openid_metadata_url)
        try:
            slow.wait_for_hit("openidconfiguration")  # the warm-up at start is waiting on it
            activity = channel_mention("Is the VPN mandatory?", service_url="https://127.0.0.1:9/")
            forged = slow.channel_token(BOT_APP_ID, activity["serviceUrl"], unknown_key=True)
            outcome: dict[str, Any] = {}
            sender = threading.Thread(
                target=lambda: outcome.update(status=server.send(activity, token=forged)[0]), daemon=True
            )
            sender.start()
            # Were the loop waiting on the metadata, this would not come back until the release.
            with urllib.request.urlopen(server.url + "/health", timeout=60) as response:
                assert response.status == 200
            assert sender.is_alive()  # the forged request is still waiting for the keys
        finally:
            slow.release_metadata()
        sender.join(timeout=60)
        assert outcome["status"] == 401  # then refused: its key is not among the published ones
