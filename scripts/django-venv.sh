#!/usr/bin/env bash
# Creates (idempotently) the Python virtualenv used by the Django import test of
# `hardened show --format django`, with the pinned versions of
# scripts/requirements-django.txt.
#
#   scripts/django-venv.sh            # venv at $REPO/.venv
#   HARDENED_VENV=/tmp/v scripts/django-venv.sh
#   PYTHON=python3.12 scripts/django-venv.sh
#
# Prints the venv path on the last line of stdout.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${HARDENED_VENV:-$repo/.venv}"
requirements="$repo/scripts/requirements-django.txt"
python="${PYTHON:-python3}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: $python not found; install Python 3.10+ or set PYTHON=..." >&2
    exit 1
fi

# A venv is reusable when its python runs and the installed versions match the pins.
stamp="$venv/.hardened-requirements"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$requirements" \
    && "$venv/bin/python" -c 'import django, corsheaders' >/dev/null 2>&1; then
    echo "venv up to date: $venv" >&2
    echo "$venv"
    exit 0
fi

if [ ! -x "$venv/bin/python" ]; then
    echo "creating venv: $venv" >&2
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
    --requirement "$requirements" >&2
"$venv/bin/python" -c 'import django, corsheaders; print("django", django.get_version())' >&2
cp "$requirements" "$stamp"
echo "$venv"
