#!/usr/bin/env bash
# apt-get for the test command's installers (Mono, DLPack's header, Python's venv and pip),
# one at a time: `make test` runs some of them side by side, and apt takes its locks without
# waiting (a second apt-get fails with "Could not get lock"). Runs apt-get under a lock file
# of our own, with sudo where not root, and waits for another process's apt lock too.
set -euo pipefail
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
exec flock "${TMPDIR:-/tmp}/mml-apt.lock" $sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get -o DPkg::Lock::Timeout=600 "$@"
