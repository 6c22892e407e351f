#!/usr/bin/env bash
# What the browser tests (tests/browser/) need: Debian's Chromium and Python's Playwright, pointed at it.
# Idempotent: installs only what is missing, then proves Chromium starts headless and renders a page
# through Playwright. Fails loudly (non-zero, one line saying what to do) otherwise.
#   scripts/browser_setup.sh            # from the project root; uses .venv/bin/python
# Playwright's own browser download (`playwright install`) is never used: it needs a CDN.
set -euo pipefail

PLAYWRIGHT_VERSION="1.65.2"
CHROMIUM="${MMCREW_CHROMIUM:-/usr/bin/chromium}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

fail() { echo "browser_setup: $*" >&2; exit 1; }

[ -x "$PYTHON" ] || fail "no Python at $PYTHON; run 'make setup' first (or set PYTHON=)"

# Chromium, and a CJK font so Chinese text renders as glyphs rather than boxes
missing=()
[ -x "$CHROMIUM" ] || missing+=(chromium)
dpkg -s fonts-wqy-zenhei >/dev/null 2>&1 || missing+=(fonts-wqy-zenhei)
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    command -v apt-get >/dev/null || fail "missing ${missing[*]} and there is no apt-get; install them (or set MMCREW_CHROMIUM)"
    echo "browser_setup: installing ${missing[*]} (Debian packages)"
    $SUDO apt-get update -qq || fail "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        || fail "apt-get install ${missing[*]} failed"
    [ -x "$CHROMIUM" ] || fail "chromium was installed but $CHROMIUM does not exist; set MMCREW_CHROMIUM"
fi

have="$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("playwright"))' 2>/dev/null || true)"
if [ "$have" != "$PLAYWRIGHT_VERSION" ]; then
    echo "browser_setup: installing playwright==$PLAYWRIGHT_VERSION (was: ${have:-absent})"
    "$PYTHON" -m pip install -q "playwright==$PLAYWRIGHT_VERSION" || fail "pip install playwright==$PLAYWRIGHT_VERSION failed"
fi

# self-test: Chromium starts under Playwright and renders a page (no network: a data: URL)
MMCREW_CHROMIUM="$CHROMIUM" "$PYTHON" - <<'EOF' || fail "Chromium did not start under Playwright (see above)"
import os
from playwright.sync_api import sync_playwright

args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=os.environ["MMCREW_CHROMIUM"], args=args, headless=True, timeout=30000)
    page = browser.new_page()
    page.set_content("<p id=x>中文 ok</p>")
    text = page.text_content("#x")
    version = browser.version
    browser.close()
if text != "中文 ok":
    raise SystemExit(f"Chromium rendered {text!r}, not the test page")
print(f"browser_setup: ok (Chromium {version}, playwright {__import__('importlib.metadata').metadata.version('playwright')})")
EOF
