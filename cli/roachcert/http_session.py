"""HTTP sessions that take their settings from the run's environment, never the process's.

requests reads `os.environ` on every request of a session that trusts the environment: the proxies
(HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY), the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) and
`~/.netrc` (whose password would replace the Cloud API's Bearer header). A run given an environment of
its own would use the process's proxy and CA bundle, and never its own. `RunSession` reads the same
variables from the run's mapping, with requests' and urllib's meanings, and never reads `~/.netrc`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from roachcert.errors import RoachcertError

if TYPE_CHECKING:  # the stubs' names for what requests merges
    from requests.sessions import _Cert, _Settings, _TextMapping, _Verify


def _get(environ: Mapping[str, str], name: str) -> str:
    """A proxy variable as curl and urllib read it: the lower-case name first."""
    return (environ.get(name) or environ.get(name.upper()) or "").strip()


def _bypassed(url: str, no_proxy: str) -> bool:
    """Whether NO_PROXY sends `url` direct, as curl and urllib read it: `*`, a host or domain (`.example.com` or
    `example.com`, optionally with `:port`), an IP address or a CIDR network."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return False
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
            continue
        name, _, port = entry.lstrip(".").partition(":")
        if port and _port(url) != port:
            continue
        if host == name or host.endswith("." + name):
            return True
    return False


def _port(url: str) -> str:
    try:
        return str(urlsplit(url).port or "")
    except ValueError:  # out of range: requests refuses the URL itself, in its own words
        return ""


def proxies_for(url: str, environ: Mapping[str, str]) -> dict[str, str]:
    """The proxies requests would take from `environ` for `url` (none when NO_PROXY bypasses it)."""
    if _bypassed(url, _get(environ, "no_proxy")):
        return {}
    found = {scheme: _get(environ, f"{scheme}_proxy") for scheme in ("http", "https")}
    found["all"] = _get(environ, "all_proxy")
    return {scheme: proxy for scheme, proxy in found.items() if proxy}


class RunSession(requests.Session):
    """A `requests.Session` whose proxies and CA bundle come from the run's environment."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__()
        self.trust_env = False  # nothing from os.environ, nor from ~/.netrc
        self.environ = environ

    def merge_environment_settings(
        self,
        url: str | bytes | None,
        proxies: _TextMapping | None,
        stream: bool | None,
        verify: _Verify | None,
        cert: _Cert | None,
    ) -> _Settings:
        merged = dict(proxies or {})
        target = url.decode("utf-8", "replace") if isinstance(url, bytes) else url or ""
        for scheme, proxy in proxies_for(target, self.environ).items():
            merged.setdefault(scheme, proxy)
        if verify is True or verify is None:
            for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
                bundle = self.environ.get(name)
                if bundle:
                    if not os.path.exists(bundle):  # requests would raise a bare OSError
                        raise RoachcertError(f"{name} names {bundle}, which does not exist")
                    verify = bundle
                    break
        return super().merge_environment_settings(url, merged, stream, verify, cert)
