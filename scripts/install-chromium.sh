#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard's browser test
# (internal/admin). Does nothing when it is already installed. Needs root
# (or sudo) and apt; `make test` runs it through `make test-deps`.
# Set CHROMIUM to use another browser binary and skip the install.
set -euo pipefail

if [ -n "${CHROMIUM:-}" ] || command -v chromium >/dev/null 2>&1; then
	exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: no apt-get here; install Chromium yourself and set CHROMIUM=/path/to/chromium" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-chromium: run as root, or install it: apt-get install chromium" >&2
		exit 1
	fi
	sudo="sudo"
fi

echo "install-chromium: installing Debian's chromium (for the dashboard test)"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core; } >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "install-chromium: apt-get install chromium failed" >&2
	exit 1
fi
chromium --version 2>/dev/null
