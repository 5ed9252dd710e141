#!/bin/sh
# island entry script: the POSIX-sh successor of the seed's seed.sh.
#
#   sh entry.sh ISLAND_ID DEBUG_FLAG SERVER_ID [START_TIME]
#
# 1. writes the island's libfaketime clock file (the seed's start time, "@..." = that date at the
#    moment the server process starts, then running on);
# 2. registers the island with the management server (curl, retries with backoff); when that is
#    impossible the container fails loudly, so the island is marked failed instead of running
#    unregistered;
# 3. execs the game server from the mounted code directory ($SERVER_COMMAND).
#
# The token (ISLAND_TOKEN, from the island's Secret) is taken out of the environment first, so no
# helper and not the game server inherits it, and it reaches curl in a header file (mode 600, in
# a private directory removed before the server starts), never on curl's command line, which any
# process on the node can read in /proc/*/cmdline.
#
# Environment (set by the Pod manifest): curlServer, ISLAND_TOKEN, ISLAND_PORTS, NODE_IP,
# FAKETIME_TIMESTAMP_FILE, SERVER_COMMAND; optional REGISTER_ATTEMPTS (default 12),
# REGISTER_TIMEOUT (seconds per attempt, default 5), REGISTER_MAX_DELAY (default 10): about
# two minutes in all, so a management server busy with a launch burst is waited for.
set -eu

die() { printf 'island-entry: %s\n' "$*" >&2; exit 1; }

[ $# -ge 3 ] || die "usage: entry.sh ISLAND_ID DEBUG_FLAG SERVER_ID [START_TIME]"
ISLAND_ID=$1
DEBUG_FLAG=$2
SERVER_ID=$3
START_TIME=${4:-}
case $ISLAND_ID in ''|*[!0-9]*) die "island id must be a number, got '$ISLAND_ID'" ;; esac

: "${curlServer:?curlServer (the registration address) is not set in the pod}"
: "${ISLAND_TOKEN:?ISLAND_TOKEN is not set in the pod (its island's Secret, island-ssh-token-ID)}"
# a plain shell variable is not exported: from here on the token is in no process's environment
island_token=$ISLAND_TOKEN
unset ISLAND_TOKEN
# a line break would end the header and start another one (header injection)
cr=$(printf '\r')
case $island_token in *"
"*|*"$cr"*) die "ISLAND_TOKEN holds a line break; a token is one line" ;; esac
CLOCK_FILE=${FAKETIME_TIMESTAMP_FILE:-/tmp/server-faketime.rc}
ATTEMPTS=${REGISTER_ATTEMPTS:-12}
MAX_DELAY=${REGISTER_MAX_DELAY:-10}
PER_TRY=${REGISTER_TIMEOUT:-5}

# Only the game server runs under libfaketime; our own helpers (curl, sleep) keep real time.
# (sleep under FAKETIME_DONT_FAKE_MONOTONIC=1 can fail, see DESIGN.md.)
real() { env -u LD_PRELOAD "$@"; }

if [ -n "$START_TIME" ]; then
    printf '@%s\n' "$START_TIME" > "$CLOCK_FILE"
else
    printf '+0\n' > "$CLOCK_FILE"
fi
echo "island-entry: island $ISLAND_ID clock file $CLOCK_FILE = $(cat "$CLOCK_FILE")"

# The Authorization header goes to curl as a file (curl -H @FILE): printf is a shell builtin, so
# the token is never in an argv; the directory is ours alone (mktemp -d is mode 700).
secret_dir=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/island-entry.XXXXXX") || die "cannot make a private temp directory"
trap 'rm -rf "$secret_dir"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
header_file=$secret_dir/authorization
(umask 077 && printf 'Authorization: Bearer %s\n' "$island_token" > "$header_file") || die "cannot write $header_file"
island_token=

url="${curlServer%/}/api/islands/$ISLAND_ID/register"
case $url in http://*|https://*) ;; *) url="http://$url" ;; esac
attempt=1
delay=1
while :; do
    # The HTTP status comes from curl's -w, after a marker: judged by it, not by searching curl's
    # words (a port or an island id such as 403 in the URL is no refusal). 000: no HTTP answer.
    out=$(real curl -sS --max-time "$PER_TRY" -X POST -w '\nHTTP_STATUS=%{http_code}' \
            -H @"$header_file" \
            --data-urlencode "node_ip=${NODE_IP:-}" \
            --data-urlencode "ports=${ISLAND_PORTS:-}" \
            --data-urlencode "pod_name=${HOSTNAME:-}" \
            --data-urlencode "server_id=$SERVER_ID" \
            "$url" 2>&1) || true
    rest=${out##*HTTP_STATUS=}            # the status, then curl's own error if it printed one
    status=${rest%"${rest#???}"}
    out=$(printf '%s' "${out%HTTP_STATUS=*}${rest#???}" | tr '\n' ' ')
    case $status in
        2??) echo "island-entry: registered island $ISLAND_ID at $url"; break ;;
        408|429) out="HTTP $status $out" ;;      # busy: worth another try
        4??) die "registration refused by $url: HTTP $status $out" ;;  # a refusal does not change
        000) ;;
        *) out="HTTP $status $out" ;;
    esac
    if [ "$attempt" -ge "$ATTEMPTS" ]; then
        die "registration to $url failed after $attempt attempts: $out"
    fi
    echo "island-entry: registration attempt $attempt failed ($out); retrying in ${delay}s" >&2
    real sleep "$delay"
    attempt=$((attempt + 1))
    delay=$((delay * 2))
    [ "$delay" -le "$MAX_DELAY" ] || delay=$MAX_DELAY
done

rm -rf "$secret_dir"   # exec replaces this shell: the EXIT trap would not run
trap - EXIT HUP INT TERM
: "${SERVER_COMMAND:?SERVER_COMMAND (what to run from the code directory) is not set in the pod}"
echo "island-entry: starting: $SERVER_COMMAND (debug=$DEBUG_FLAG server_id=$SERVER_ID)"
# SERVER_COMMAND comes from the operator's config, not from a user: it is meant to be a command line.
eval "exec $SERVER_COMMAND \"\$ISLAND_ID\" \"\$DEBUG_FLAG\" \"\$SERVER_ID\""
