#!/usr/bin/env bash
# Creates .venv-az/ at the repository root with the newest Azure CLI from PyPI, for
# test/e2e/identity/azure-cli-login.e2e.spec.ts (`az login --use-device-code` against identity).
# Idempotent: re-running upgrades it. Needs python3 >= 3.10 with the venv module.
# About two minutes on a busy 2-core machine (azure-cli pulls ~150 packages).
set -euo pipefail
cd "$(dirname "$0")/../../.."
venv=.venv-az
python=${PYTHON:-python3}
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "python3 has no venv module: install python3-venv (apt-get install python3-venv)" >&2
  exit 1
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# Unpinned on purpose, like .venv-sdk: the spec checks Keyledger against the CLI Microsoft ships.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade azure-cli
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -Ei '^(azure-cli|azure-cli-core|msal) '
