"""Home Assistant's REST API as an intent executor: `POST /api/services/<domain>/<service>` to act,
`GET /api/states/<entity_id>` to answer questions, authenticated with a long-lived access token."""

from __future__ import annotations

from typing import Any

import httpx

from ..errors import ConfigError, HomeControlError
from .executors import IntentResult, check, phrase_action, phrase_state
from .home import Device, Home
from .intents import Intent


class HomeAssistantExecutor:
    """Carries out intents on the devices' `entity_id`s in Home Assistant."""

    def __init__(self, home: Home, base_url: str, token: str, timeout_s: float = 5.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not base_url or not token:
            raise ConfigError("the Home Assistant executor needs voice.ha_url and voice.ha_token")
        missing = [d.id for d in home.devices if d.entity_id is None]
        if missing:
            raise ConfigError(f"devices without an entity_id cannot be controlled through Home Assistant: {missing}")
        self.home = home
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._client = httpx.Client(base_url=self.base_url, transport=transport,
                                    timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 3.0)),
                                    headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    def execute(self, intent: Intent) -> IntentResult:
        devices, refusal = check(self.home, intent)
        if refusal is not None:
            return refusal
        if intent.action == "query_state":
            states = {d.id: self._read(d) for d in devices}
            return IntentResult(True, phrase_state(self.home, intent, devices, states), states)
        for d in devices:
            domain, service, data = self._service_call(intent, d)
            self._request("POST", f"/api/services/{domain}/{service}", json={"entity_id": d.entity_id, **data})
        return IntentResult(True, phrase_action(self.home, intent, devices), {})

    @staticmethod
    def _service_call(intent: Intent, device: Device) -> tuple[str, str, dict[str, Any]]:
        domain = device.entity_id.split(".", 1)[0]
        if intent.action == "set_brightness":
            return "light", "turn_on", {"brightness_pct": intent.value}
        if intent.action == "set_temperature":
            return "climate", "set_temperature", {"temperature": intent.value}
        return domain, intent.action, {}

    def _read(self, device: Device) -> dict[str, Any]:
        """Home Assistant's state object mapped onto the simulated home's state keys."""
        body = self._request("GET", f"/api/states/{device.entity_id}")
        attrs = body.get("attributes") or {}
        raw = body.get("state")
        state: dict[str, Any] = {"on": raw not in ("off", "unavailable", "unknown", None)}
        if attrs.get("brightness") is not None:  # 0-255 in Home Assistant
            state["brightness"] = round(float(attrs["brightness"]) * 100 / 255)
        elif device.can("brightness"):
            state["brightness"] = 0
        if attrs.get("temperature") is not None:
            state["target_temperature"] = attrs["temperature"]
        if attrs.get("current_temperature") is not None:
            state["temperature"] = attrs["current_temperature"]
        elif device.type == "sensor":
            state["temperature"] = _float_or_none(raw)
        return state

    def _request(self, method: str, path: str, json: dict | None = None) -> Any:
        try:
            resp = self._client.request(method, path, json=json)
        except httpx.TimeoutException:
            raise HomeControlError(f"Home Assistant did not answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise HomeControlError(f"cannot reach Home Assistant at {self.base_url}: {exc}") from None
        if resp.status_code == 401:
            raise HomeControlError("Home Assistant rejected the access token (401)")
        if resp.status_code == 404:
            raise HomeControlError(f"Home Assistant has no {path} (404): check the entity_id")
        if resp.status_code >= 400:
            raise HomeControlError(f"Home Assistant answered {resp.status_code} to {method} {path}")
        try:
            return resp.json()
        except ValueError:
            raise HomeControlError(f"Home Assistant sent a non-JSON answer to {method} {path}") from None

    def close(self) -> None:
        self._client.close()


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
