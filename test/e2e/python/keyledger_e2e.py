"""Shared set-up of the Python SDK e2e scripts (run by test/e2e/python/*.e2e.spec.ts).

The scripts get everything from the environment the spec sets:
  KEYLEDGER_TENANT_ID, KEYLEDGER_CLIENT_ID, KEYLEDGER_CLIENT_SECRET  the principal
  KEYLEDGER_AUTHORITY   identity, e.g. https://localhost:9443
  KEYLEDGER_CA_FILE     the development CA (also REQUESTS_CA_BUNDLE)
  KEYLEDGER_VAULT_URLS  comma-separated vault URLs, e.g. https://dev.vault.localhost:8443,https://localhost:8443
  KEYLEDGER_SUFFIX      appended to object names so runs never collide
Each check prints one line `CHECK <url> <name>`; the last line is `RESULT {json}`. Any failure
raises, prints the traceback and exits non-zero.
"""
import json
import os
import sys

import localhost_dns  # noqa: E402

localhost_dns.install()

from azure.identity import ClientSecretCredential  # noqa: E402

CA_FILE = os.environ["KEYLEDGER_CA_FILE"]
os.environ.setdefault("REQUESTS_CA_BUNDLE", CA_FILE)
SUFFIX = os.environ.get("KEYLEDGER_SUFFIX", "py")
VAULT_URLS = [u for u in os.environ["KEYLEDGER_VAULT_URLS"].split(",") if u]

checks = []
challenges = []


def credential():
    return ClientSecretCredential(
        os.environ["KEYLEDGER_TENANT_ID"],
        os.environ["KEYLEDGER_CLIENT_ID"],
        os.environ["KEYLEDGER_CLIENT_SECRET"],
        authority=os.environ["KEYLEDGER_AUTHORITY"],
        disable_instance_discovery=True,
        connection_verify=CA_FILE,
    )


def client_options(url):
    """The SDK's default challenge verification on a vault or Managed HSM host name; off on a bare host (localhost, IP)."""
    host = url.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    options = {"connection_verify": CA_FILE, "raw_response_hook": _record_challenge(url)}
    if ".vault." not in host and ".managedhsm." not in host:
        options["verify_challenge_resource"] = False
    return options


def _record_challenge(url):
    def hook(response):
        http = response.http_response
        if http.status_code == 401:
            challenges.append({"url": url, "wwwAuthenticate": http.headers.get("WWW-Authenticate", "")})

    return hook


def check(url, name):
    checks.append(f"{url} {name}")
    print(f"CHECK {url} {name}", flush=True)


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def finish(**extra):
    print("RESULT " + json.dumps({"checks": checks, "challenges": challenges, **extra}), flush=True)
    sys.exit(0)
