#!/usr/bin/env bash
# Creates .venv-sdk/ at the repository root with the newest Azure SDKs for Python from PyPI,
# for the Python e2e specs (test/e2e/python/). Idempotent: re-running upgrades the packages.
# Needs python3 >= 3.9 with the venv module (Debian/Ubuntu: apt-get install python3-venv).
set -euo pipefail
cd "$(dirname "$0")/../../.."
venv=.venv-sdk
python=${PYTHON:-python3}
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv
  else
    echo "python3 has no venv module: install python3-venv (apt-get install python3-venv)" >&2
    exit 1
  fi
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# Unpinned on purpose: the e2e specs check Keyledger against the newest SDKs Microsoft ships.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade \
  azure-identity azure-keyvault-secrets azure-keyvault-keys azure-keyvault-certificates azure-keyvault-administration
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -Ei '^(azure-(identity|keyvault-[a-z]+|core)|cryptography) '
