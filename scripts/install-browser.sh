#!/bin/sh
# Install Debian's chromium + chromium-driver for the browser test (tests/service/test_browser.py).
# Quiet, non-interactive, and never fails: when the install is impossible (not root, no apt-get,
# no package source) the browser test skips with the reason instead.
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: /usr/bin/chromium missing and cannot apt-get install it (need root + apt-get); the browser test will skip" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null 2>&1 \
    && apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null 2>&1; then
    echo "install-browser: installed $(/usr/bin/chromium --version 2>/dev/null)" >&2
else
    echo "install-browser: apt-get install chromium chromium-driver failed; the browser test will skip" >&2
fi
exit 0
