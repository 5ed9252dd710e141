#!/bin/sh
# island entry script: the POSIX-sh successor of the seed's seed.sh.
#
#   sh entry.sh ISLAND_ID DEBUG_FLAG SERVER_ID [START_TIME]
#
# 1. writes the island's libfaketime clock file (the seed's start time, "@..." = that date at the
#    moment the server process starts, then running on; or a restarted island's clock, see below);
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
# FAKETIME_TIMESTAMP_FILE, SERVER_COMMAND; optional ISLAND_CODE_VERSION_FILE (the code's version
# file, sent as code_version), REGISTER_ATTEMPTS (default 12),
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

# -- the clock file (START_TIME, mirroring island_ssh.core.clock's ENTRY_ARG_PATTERNS) -------------
#   ""                     real time: "+0"
#   YYYY-MM-DD HH:MM:SS    the seed's start time: "@..." (that date when the server starts, running on);
#                          "@YYYY-MM-DD HH:MM:SS" is taken as it is
#   +O x1 / -O x1          O decimal seconds from real time, running: written as it is
#   =EPOCH                 frozen at EPOCH (whole seconds): that date in the local zone, plain
#   ~F T R                 a restart of a clock that read F at real time T, running at R (decimals):
#                          continues from F + (now - T)*R at speed R, written "+O xR", with O from
#                          libfaketime's start time S here (island(t) = S + (t - S)*R + O)
# S: this shell is the first preloaded process and the server keeps its libfaketime start when it
# is exec'd (measured, 0.9.10); a process sharing our segment under FAKETIME="+0 x10" reads
# S + (t - S)*10, so S = (10t - reading)/9.
is_decimal() { case $1 in ''|*[!0-9.]*|.*|*.|*.*.*) return 1 ;; esac; [ ${#1} -le 24 ]; }
case $(real date +%N) in *N*|'') now_format=+%s ;; *) now_format=+%s.%N ;; esac   # busybox: no %N
real_now() { real date "$now_format"; }
faketime_start() {
    [ -n "${LD_PRELOAD:-}" ] || { real_now; return; }
    t0=$(real_now)
    c=$(env -u FAKETIME_TIMESTAMP_FILE FAKETIME='+0 x10' FAKETIME_NO_CACHE=1 date +%s.%N 2>/dev/null) || c=
    t1=$(real_now)
    case $c in ''|*[!0-9.]*) real_now ;; *) awk -v a="$t0" -v b="$t1" -v c="$c" 'BEGIN { printf "%.6f\n", (5 * (a + b) - c) / 9 }' ;; esac
}
clock_refused() {
    die "start clock '$(printf '%s' "$START_TIME" | tr '\n\r' '  ')' not understood: $1; expected nothing, 'YYYY-MM-DD HH:MM:SS', '+O x1', '=EPOCH' or '~F T R'"
}
clock_content() {
    case $START_TIME in
        '') printf '+0\n' ;;
        [0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' '[0-9][0-9]:[0-9][0-9]:[0-9][0-9])
            printf '@%s\n' "$START_TIME" ;;
        @[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]' '[0-9][0-9]:[0-9][0-9]:[0-9][0-9])
            printf '%s\n' "$START_TIME" ;;
        [+-]*' x1')
            is_decimal "$(printf '%s' "${START_TIME%' x1'}" | cut -c2-)" || clock_refused "the offset is not a decimal"
            printf '%s\n' "$START_TIME" ;;
        =*)
            e=${START_TIME#=}
            case $e in ''|*[!0-9]*) clock_refused "the frozen time is not whole seconds" ;; esac
            [ ${#e} -le 10 ] && [ "$e" -le 2147483647 ] || clock_refused "the frozen time is past 2038-01-19"
            real date -d "@$e" '+%Y-%m-%d %H:%M:%S' ;;
        '~'*)
            set -f; old_ifs=$IFS; IFS=' '
            # shellcheck disable=SC2086 # split on spaces on purpose; globbing is off
            set -- ${START_TIME#'~'}
            IFS=$old_ifs; set +f
            [ $# -eq 3 ] && is_decimal "$1" && is_decimal "$2" && is_decimal "$3" || clock_refused "'~F T R' takes three decimals"
            case $3 in *[1-9]*) ;; *) clock_refused "the speed must be above 0" ;; esac
            start=$(faketime_start); now=$(real_now)
            awk -v f="$1" -v t="$2" -v r="$3" -v s="$start" -v now="$now" 'BEGIN {
                island = f + (now - t) * r
                if (island < 0 || island > 2147483647) exit 3
                o = f - s + (s - t) * r; sign = "+"; if (o < 0) { sign = "-"; o = -o }
                printf "%s%.6f x%s\n", sign, o, r }' || clock_refused "it runs the clock out of 1970 .. 2038" ;;
        *) clock_refused "unknown form" ;;
    esac
}
content=$(clock_content) || exit 1
printf '%s\n' "$content" > "$CLOCK_FILE" || die "cannot write the clock file $CLOCK_FILE"
echo "island-entry: island $ISLAND_ID clock file $CLOCK_FILE = $(cat "$CLOCK_FILE")"

# -- the code version (island_ssh.core.code_version): what code this island mounted ------------------
# The first line of $ISLAND_CODE_VERSION_FILE (islands.code_mount + islands.code_version_file), at
# most 512 bytes read, a trailing CR and spaces at both ends dropped: sent as it is when it is 1..128
# of A-Z a-z 0-9 . _ - + : / @ # with single spaces inside. No file or a blank first line: "" (no
# version, not an error). Anything else (NUL or other control bytes, quotes, $, backquotes, shell
# or YAML syntax, non-ASCII text, too long, a file we cannot read): the marker !unreadable, never
# the text itself. In a subshell under LC_ALL=C (byte ranges), which the server never inherits.
code_version() (
    LC_ALL=C
    f=${ISLAND_CODE_VERSION_FILE:-}
    [ -n "$f" ] && [ -e "$f" ] || exit 0
    [ -f "$f" ] && [ -r "$f" ] || { printf '!unreadable'; exit 0; }
    line=$(real head -c 512 "$f" | real tr '\000' '\001' | real head -n 1; printf .) || { printf '!unreadable'; exit 0; }
    line=${line%.}
    line=${line%"
"}
    line=${line%"$cr"}
    while :; do case $line in ' '*) line=${line# } ;; *' ') line=${line% } ;; *) break ;; esac; done
    [ -n "$line" ] || exit 0
    rest=$(printf '%s' "$line" | real tr -d 'A-Za-z0-9._+:/@# -')
    case $line in *'  '*) rest=x ;; esac
    if [ -z "$rest" ] && [ ${#line} -le 128 ]; then printf '%s' "$line"; else printf '!unreadable'; fi
)
code_version=$(code_version)
echo "island-entry: island $ISLAND_ID code version: ${code_version:-(no version file)}"

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
            --data-urlencode "code_version=$code_version" \
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
