# Sourced by ./quickstart and ./run-tests: make sure .venv exists and holds this checkout.
# Usage: ensure_venv EXTRAS   (EXTRAS: "" or "[test]")
set -eu

REPO="$(cd "$(dirname "$0")" && pwd)"
VENV="$REPO/.venv"

ensure_venv() {
    extras="$1"
    python="${PYTHON:-python3}"
    if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
        echo "sdactors needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
        exit 1
    fi
    stamp="$VENV/.installed$extras"
    if [ ! -x "$VENV/bin/python" ]; then
        "$python" -m venv "$VENV"
    fi
    # Reinstall when pyproject.toml changed since the last install.
    if [ ! -f "$stamp" ] || [ "$REPO/pyproject.toml" -nt "$stamp" ]; then
        echo "setting up $VENV (once; the log is in $VENV/install.log) ..." >&2
        if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
               "$VENV/bin/python" -m pip install -e "$REPO$extras"; } >"$VENV/install.log" 2>&1; then
            tail -n 30 "$VENV/install.log" >&2
            echo "installing sdactors failed; the whole log is in $VENV/install.log" >&2
            exit 1
        fi
        # Byte-compile now: where PYTHONDONTWRITEBYTECODE is set, every sd start would
        # otherwise compile every module again.
        "$VENV/bin/python" -m compileall -q "$REPO/events" "$REPO/projections" "$REPO/sdactors" \
            >>"$VENV/install.log" 2>&1 || true
        touch "$stamp"
    fi
}
