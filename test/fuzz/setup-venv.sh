#!/usr/bin/env bash
# Creates .venv-fuzz/ at the repository root with the newest schemathesis from PyPI, for the
# fuzz runner (test/fuzz/run.ts). Separate from .venv-sdk so schemathesis' dependencies
# (hypothesis, jsonschema, …) never constrain the Azure SDKs. Idempotent: re-running upgrades.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-fuzz
# Python 3.11's ast module is not thread-safe (CPython gh-106905: "AST constructor recursion depth
# mismatch" under schemathesis' parallel workers): prefer the newest interpreter there is.
python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.14 python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 python3; do
    if "$candidate" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then python=$candidate; break; fi
  done
  [ -n "$python" ] || python=python3
fi
if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
  echo "python3 has no venv module: install python3-venv (apt-get install python3-venv)" >&2
  exit 1
fi
want=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
have=$([ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' || true)
[ "$have" = "$want" ] || { rm -rf "$venv"; "$python" -m venv "$venv"; }
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
# Unpinned on purpose, like .venv-sdk: the newest schemathesis finds the most.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade schemathesis
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -Ei '^(schemathesis|hypothesis) '
