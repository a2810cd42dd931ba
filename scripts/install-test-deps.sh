#!/usr/bin/env bash
# Installs the Debian packages the tests use: chromium for the dashboard's
# browser test (internal/admin) and strace, which injects fsync failures into
# a running node (test/e2e crash tests). Does nothing for what is already
# installed. Needs root (or sudo) and apt; `make test` runs it through
# `make test-deps`. Set CHROMIUM to use another browser binary.
#
# Where they cannot be installed (no apt-get, not root and no sudo, apt-get
# fails), it says so in one line and exits 0: the tests that need them are
# then skipped. With METASRV_TEST_DEPS=required, as in CI, it exits 1
# instead, and those tests fail rather than skip.
set -euo pipefail

pkgs=()
skipped=()
if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
	pkgs+=(chromium fonts-dejavu-core)
	skipped+=("the dashboard browser test (internal/admin)")
fi
if ! command -v strace >/dev/null 2>&1; then
	pkgs+=(strace)
	skipped+=("the fsync failure test (test/e2e TestCrashFsyncFails)")
fi
[ ${#pkgs[@]} -eq 0 ] && exit 0

# cannot says why the packages cannot be installed and what to do, then
# exits: 1 if they are required, else 0 and the tests skip.
cannot() {
	local list
	list=$(printf '%s, ' "${skipped[@]}")
	if [ "${METASRV_TEST_DEPS:-}" = required ]; then
		echo "install-test-deps: cannot install ${pkgs[*]}: $1; METASRV_TEST_DEPS=required: install them (apt-get install ${pkgs[*]}, as root)" >&2
		exit 1
	fi
	echo "install-test-deps: cannot install ${pkgs[*]}: $1; skipping ${list%, }; to run them: apt-get install ${pkgs[*]} as root (or CHROMIUM=/path/to/chromium)" >&2
	exit 0
}

command -v apt-get >/dev/null 2>&1 || cannot "no apt-get here"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || cannot "not root and no sudo"
	sudo=(sudo)
	# Without a terminal to ask for a password on, fail instead of waiting.
	[ -t 0 ] || sudo=(sudo -n)
fi

echo "install-test-deps: installing ${pkgs[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -q && "${sudo[@]}" apt-get install -y -q --no-install-recommends "${pkgs[@]}"; } >"$log" 2>&1; then
	tail -n 30 "$log" >&2
	cannot "apt-get failed (its last lines are above)"
fi
