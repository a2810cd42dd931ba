#!/usr/bin/env bash
# Installs the Debian packages the tests use: chromium for the dashboard's
# browser test (internal/admin) and strace, which injects fsync failures into
# a running node (test/e2e crash tests). Does nothing for what is already
# installed. Needs root (or sudo) and apt; `make test` runs it through
# `make test-deps`. Set CHROMIUM to use another browser binary.
set -euo pipefail

pkgs=()
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
	pkgs+=(chromium fonts-dejavu-core)
fi
command -v strace >/dev/null 2>&1 || pkgs+=(strace)
[ ${#pkgs[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-test-deps: no apt-get here; install ${pkgs[*]} yourself (CHROMIUM=/path/to/chromium for another browser)" >&2
	exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-test-deps: run as root, or install them: apt-get install ${pkgs[*]}" >&2
		exit 1
	fi
	sudo="sudo"
fi

echo "install-test-deps: installing ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { $sudo apt-get update -q && $sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	echo "install-test-deps: apt-get install ${pkgs[*]} failed" >&2
	exit 1
fi
