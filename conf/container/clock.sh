# island-clock: read (or write, then read) an island's libfaketime clock inside its server container.
#
#   kubectl exec -i POD -c altraserver -- env -u LD_PRELOAD sh -s -- MODE FILE [SPEC] < clock.sh
#   (or: sh -c "$(cat clock.sh)" island-clock MODE FILE [SPEC])
#
# The text of this file is sent with the exec (stdin; no command in it reads stdin), so nothing is
# installed in the image; MODE, FILE and SPEC are positional parameters: data, never evaluated.
# POSIX sh (dash, busybox ash).
#
# MODE  read   measure what the server reads
#       write  write FILE from SPEC, then measure
#       facts  what doctor needs (never an error about the clock)
# FILE  the clock file island_ssh writes (islands.faketime_file); the server must read this one
# SPEC  "offset +O R"   (O, R decimals, R > 0): file "+O xR": island(t) = S + (t - S)*R + O
#       "frozen EPOCH"  (whole seconds): file "YYYY-MM-DD HH:MM:SS" in the server's zone (frozen)
#
# The server is the lowest pid (not this shell) whose /proc/PID/maps maps a libfaketime shared
# memory segment /dev/shm/faketime_shm_N. The island reading is a new process under the server's
# preload and FAKETIME_* environment that shares that segment (FAKETIME_SHARED): it reads exactly
# what the server reads (libfaketime 0.9.10, measured), with FAKETIME_NO_CACHE=1 so it reads the
# file now. A calibration process (FAKETIME="+0 x10", no file, same segment) reads S + (t - S)*10,
# which gives S, the server's start time that speed factors pivot on: S = (10t - reading)/9 (x10
# rather than x2: the spawn's timing noise in t counts 1.1 times in S instead of twice).
#
# Output: anything, then a marker line, then key=value lines (one line each); a refusal is an
# `error=<code> <words>` line and exit 10 no-preload, 11 file-mismatch, 12 unwritable,
# 13 bad-spec (2: usage).
set -u

# Our helpers run without the preload (real time). This process may have started preloaded
# (kubectl exec gives the container's environment: the `env -u LD_PRELOAD` ClockProbe runs us
# under, or this shell itself, was), and then libfaketime made it a segment faketime_shm_$$; it is
# skipped below and removed at exit (0.9.10 leaves every preloaded process's segment behind, 8 KiB
# of the container's /dev/shm each), unless another process maps it (children of a dead process
# of the same pid may still share it).
own_segments() {
    [ -e "/dev/shm/faketime_shm_$$" ] || return 0
    for d in /proc/[0-9]*; do
        [ "${d#/proc/}" = "$$" ] && continue
        grep -q -E "/dev/shm/faketime_shm_$$( |\$)" "$d/maps" 2>/dev/null && return 0
    done
    rm -f "/dev/shm/faketime_shm_$$" "/dev/shm/sem.faketime_sem_$$"
}
trap own_segments EXIT
unset LD_PRELOAD FAKETIME FAKETIME_SHARED FAKETIME_TIMESTAMP_FILE FAKETIME_NO_CACHE FAKETIME_CACHE_DURATION \
    FAKETIME_DONT_RESET FAKETIME_DONT_FAKE_MONOTONIC 2>/dev/null
export LC_ALL=C

printf '%s%s%s\n' '--island-' 'clock-' 'v1--'   # built from pieces: no command text can match it

MODE=${1:-}
FILE=${2:-}
SPEC=${3:-}
say() { printf '%s=%s\n' "$1" "$(printf '%s' "$2" | tr '\n\r' '??')"; }
fail() { say error "$2 $3"; exit "$1"; }

case $MODE in read|write|facts) ;; *) fail 2 bad-spec "mode must be read, write or facts" ;; esac
case $FILE in /*) ;; *) fail 13 bad-spec "the clock file must be an absolute path" ;; esac

# -- the spec (checked before anything is touched) ------------------------------------------------
is_decimal() {  # digits, at most one dot with digits on both sides
    case $1 in ''|*[!0-9.]*|.*|*.|*.*.*) return 1 ;; esac
    [ ${#1} -le 24 ]
}
content=
if [ "$MODE" = write ]; then
    set -f
    old_ifs=$IFS IFS=' '
    # shellcheck disable=SC2086 # split on spaces on purpose; globbing is off
    set -- $SPEC
    IFS=$old_ifs
    set +f
    kind=${1:-}
    case $kind in
        offset)
            [ $# -eq 3 ] || fail 13 bad-spec "expected 'offset +O R'"
            o=$2 r=$3
            case $o in [+-]*) ;; *) fail 13 bad-spec "the offset must start with + or -" ;; esac
            is_decimal "${o#?}" || fail 13 bad-spec "the offset must be a decimal number of seconds"
            is_decimal "$r" || fail 13 bad-spec "the speed must be a decimal number"
            case $r in *[1-9]*) ;; *) fail 13 bad-spec "the speed must be above 0" ;; esac
            content="$o x$r" ;;
        frozen)
            [ $# -eq 2 ] || fail 13 bad-spec "expected 'frozen EPOCH'"
            e=$2
            case $e in ''|*[!0-9]*) fail 13 bad-spec "the frozen time must be whole seconds since 1970" ;; esac
            [ ${#e} -le 10 ] && [ "$e" -le 2147483647 ] || fail 13 bad-spec "the frozen time is past 2038-01-19"
            content=frozen ;;
        *) fail 13 bad-spec "expected 'offset +O R' or 'frozen EPOCH'" ;;
    esac
fi

# -- the processes --------------------------------------------------------------------------------
main= pid= shm= lib=
for d in /proc/[0-9]*; do
    p=${d#/proc/}
    [ "$p" = "$$" ] && continue
    [ -r "$d/maps" ] || continue
    if [ -z "$main" ] || [ "$p" -lt "$main" ]; then main=$p; fi
    if [ -z "$pid" ] || [ "$p" -lt "$pid" ]; then
        s=$(awk '$6 ~ /^\/dev\/shm\/faketime_shm_[0-9]+$/ { sub(/^\/dev\/shm/, "", $6); print $6; exit }' "$d/maps" 2>/dev/null)
        if [ -n "$s" ]; then pid=$p shm=$s; fi
    fi
done
maps_lib() { awk '$6 ~ /libfaketime[^\/]*\.so/ { print $6; exit }' "/proc/$1/maps" 2>/dev/null; }
if [ -z "$pid" ]; then  # an older libfaketime (no segment per process): the lowest preloaded process
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        [ "$p" = "$$" ] && continue
        if [ -n "$(maps_lib "$p")" ] && { [ -z "$pid" ] || [ "$p" -lt "$pid" ]; }; then pid=$p; fi
    done
fi

main_lib= main_dynamic=0 main_go=0 main_exe=
if [ -n "$main" ]; then
    main_lib=$(maps_lib "$main")
    grep -q -E '/ld-(linux|musl)[^/]*\.so' "/proc/$main/maps" 2>/dev/null && main_dynamic=1
    grep -q -F 'Go buildinf' "/proc/$main/exe" 2>/dev/null && main_go=1
    main_exe=$(readlink "/proc/$main/exe" 2>/dev/null)
fi
say main_pid "$main"
say main_exe "$main_exe"
say main_preload "$([ -n "$main_lib" ] && echo 1 || echo 0)"
say main_dynamic "$main_dynamic"
say main_go "$main_go"

# the server's own environment (NUL-separated: read through tr, one variable a line)
server_env() { tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null; }
env_value() { server_env | awk -v k="$1=" 'index($0, k) == 1 { print substr($0, length(k) + 1); exit }'; }
if [ -n "$pid" ]; then
    lib=$(maps_lib "$pid")
    clock_file=$(env_value FAKETIME_TIMESTAMP_FILE)
    cache=$(env_value FAKETIME_CACHE_DURATION)
    no_cache=$(env_value FAKETIME_NO_CACHE)
    tz_set=0; server_env | grep -q '^TZ=' && tz_set=1
    tz=$(env_value TZ)
else
    clock_file= cache= no_cache=
fi
say pid "$pid"
say shm "$shm"
say preload "$lib"
say clock_file "$clock_file"
say cache_duration "$cache"
say no_cache "$no_cache"

[ "$MODE" = facts ] && exit 0
[ -n "$pid" ] && [ -n "$lib" ] || fail 10 no-preload "no process in this container runs under libfaketime"
[ "$clock_file" = "$FILE" ] || fail 11 file-mismatch "the server (pid $pid) reads '${clock_file:-no clock file}', not '$FILE'"

# -- write ----------------------------------------------------------------------------------------
in_server_zone() { if [ "$tz_set" = 1 ]; then env TZ="$tz" "$@"; else "$@"; fi; }
if [ "$MODE" = write ]; then
    if [ "$content" = frozen ]; then
        content=$(in_server_zone date -d "@$e" '+%Y-%m-%d %H:%M:%S' 2>&1) \
            || fail 13 bad-spec "date cannot show $e: $content"
    fi
    [ -d "$FILE" ] && fail 12 unwritable "$FILE is a directory"
    dir=$(dirname -- "$FILE")
    tmp=$dir/.island-clock.$$
    if (printf '%s\n' "$content" > "$tmp") 2>/dev/null && mv -f -- "$tmp" "$FILE" 2>/dev/null; then
        :
    else
        rm -f -- "$tmp" 2>/dev/null
        # the directory refuses a temp file, or FILE is a mount point (mv: busy): write in place
        why=$( { printf '%s\n' "$content" > "$FILE"; } 2>&1 ) || fail 12 unwritable "${why:-cannot write $FILE}"
    fi
fi

# -- measure --------------------------------------------------------------------------------------
case $(date +%N) in *N*|'') fmt=+%s ;; *) fmt=+%s.%N ;; esac   # busybox without nanoseconds
shared=
# a segment someone removed from /dev/shm cannot be shared: read without it (right for offsets and
# frozen clocks; under a speed factor the reading then pivots on its own start)
if [ -n "$shm" ] && [ -e "/dev/shm$shm" ] && [ -e "/dev/shm/sem.faketime_sem_${shm#/faketime_shm_}" ]; then
    shared="/faketime_sem_${shm#/faketime_shm_} $shm"
fi
say shared "$([ -n "$shared" ] && echo 1 || echo 0)"
# The server's FAKETIME* variables (but the ones set here), its zone, then ours: a clean environment.
island_date() {
    set --
    while IFS= read -r kv; do
        case $kv in
            FAKETIME_SHARED=*|FAKETIME_NO_CACHE=*|FAKETIME_CACHE_DURATION=*) ;;
            FAKETIME=*|FAKETIME_*=*|TZ=*) set -- "$@" "$kv" ;;
        esac
    done <<ENV
$(server_env)
ENV
    if [ -n "$shared" ]; then set -- "$@" "FAKETIME_SHARED=$shared"; fi
    env -i PATH="$PATH" "$@" FAKETIME_NO_CACHE=1 LD_PRELOAD="$lib" date "$fmt"
}
calibration_date() {
    set --
    if [ -n "$shared" ]; then set -- "FAKETIME_SHARED=$shared"; fi
    env -i PATH="$PATH" "$@" FAKETIME='+0 x10' FAKETIME_DONT_RESET=1 FAKETIME_NO_CACHE=1 LD_PRELOAD="$lib" date "$fmt"
}
say file "$(head -n 1 -- "$FILE" 2>/dev/null)"
r0=$(date "$fmt")
island=$(island_date 2>/dev/null)
r1=$(date "$fmt")
cal=$(calibration_date 2>/dev/null)
r2=$(date "$fmt")
say real_before "$r0"
say island "$island"
say real_after "$r1"
say calibration "$cal"
say calibration_rate 10
say calibration_after "$r2"
exit 0
