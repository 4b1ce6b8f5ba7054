#!/usr/bin/env bash
# Runs a plan of Makefile steps with a heartbeat: a line when each step starts and ends, with the
# elapsed time of the step and of the whole run, a line every HEARTBEAT seconds (default 60)
# naming what is still running, and one summary line at the end. `make test` is its main user.
#
#   scripts/steps.sh [STEP | &STEP | =STEP]...
#
#   STEP    runs `make STEP` in the foreground, its output as it comes.
#   &STEP   starts `make STEP` in the background (output in target/logs/STEP.log), so that it
#           shares the two cores with the foreground steps that follow.
#   =STEP   waits for the background STEP; its log is printed if it failed.
#
# The first failing step ends the run (background steps still running are stopped) with a
# non-zero status.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MAKE=${MAKE:-make}
HEARTBEAT=${HEARTBEAT:-60}
logs=target/logs
mkdir -p "$logs"
t0=$(date +%s)

clock() { # m:ss since the start of the run
    local s=$(( $(date +%s) - t0 ))
    printf '%d:%02d' $((s / 60)) $((s % 60))
}
dur() { # a duration in seconds as 1m05s / 42s
    if (( $1 >= 60 )); then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi
}
say() { printf '[mml %6s] %s\n' "$(clock)" "$*"; }

declare -A bg_pid=() bg_start=()
done_steps=()
current=""
current_start=0

# The heartbeat: a subshell that prints what is running every HEARTBEAT seconds. It learns the
# running foreground step and the background steps from a state file of "label start-epoch" lines.
state=$logs/.steps-state
: >"$state"
heartbeat() {
    local now label start list
    while sleep "$HEARTBEAT"; do
        now=$(date +%s)
        list=""
        while read -r label start; do
            list+="${list:+, }$label $(dur $((now - start)))"
        done <"$state"
        [ -n "$list" ] && say "… still running: $list"
    done
}
write_state() {
    {
        [ -n "$current" ] && echo "$current $current_start"
        for name in "${!bg_pid[@]}"; do echo "$name(background) ${bg_start[$name]}"; done
    } >"$state.tmp"
    mv -f "$state.tmp" "$state"
}
heartbeat &
hb_pid=$!

stop_all() {
    kill "$hb_pid" 2>/dev/null
    for name in "${!bg_pid[@]}"; do
        # Each background step runs in its own process group (set -m below): stop the group.
        kill -- "-${bg_pid[$name]}" 2>/dev/null
    done
    rm -f "$state" "$state.tmp"
}
trap stop_all EXIT
trap 'say "interrupted"; exit 130' INT TERM

fail() { # name, seconds
    say "✗ $1 FAILED after $(dur "$2")"
    say "make test: FAILED at $1 after $(dur $(( $(date +%s) - t0 ))) (passed: ${done_steps[*]:-none})"
    exit 1
}

summary_line() {
    local total=$(( $(date +%s) - t0 ))
    local longest
    longest=$(sort -t' ' -k2 -nr "$logs/.steps-times" | head -n 3 |
        awk '{ printf "%s%s %dm%02ds", (NR > 1 ? ", " : ""), $1, $2 / 60, $2 % 60 }')
    say "make test: all ${#done_steps[@]} steps passed in $(dur "$total") (longest: $longest)"
}
: >"$logs/.steps-times"

for item in "$@"; do
    case "$item" in
    '&'*)
        name=${item#&}
        say "▶ $name (background; log $logs/$name.log)"
        set -m
        "$MAKE" --no-print-directory "$name" >"$logs/$name.log" 2>&1 &
        bg_pid[$name]=$!
        set +m
        bg_start[$name]=$(date +%s)
        write_state
        ;;
    '='*)
        name=${item#=}
        [ -n "${bg_pid[$name]:-}" ] || { say "steps.sh: $name was not started in the background"; exit 2; }
        say "… waiting for $name"
        wait "${bg_pid[$name]}"
        rc=$?
        secs=$(( $(date +%s) - bg_start[$name] ))
        unset "bg_pid[$name]"
        write_state
        if (( rc != 0 )); then
            say "── last 80 lines of $logs/$name.log"
            tail -n 80 "$logs/$name.log"
            fail "$name" "$secs"
        fi
        done_steps+=("$name")
        echo "$name $secs" >>"$logs/.steps-times"
        say "✓ $name (background) $(dur "$secs")"
        ;;
    *)
        name=$item
        say "▶ $name"
        current=$name
        current_start=$(date +%s)
        write_state
        "$MAKE" --no-print-directory "$name"
        rc=$?
        secs=$(( $(date +%s) - current_start ))
        current=""
        write_state
        (( rc == 0 )) || fail "$name" "$secs"
        done_steps+=("$name")
        echo "$name $secs" >>"$logs/.steps-times"
        say "✓ $name $(dur "$secs")"
        ;;
    esac
done
for name in "${!bg_pid[@]}"; do say "steps.sh: background step $name was never waited for"; exit 2; done
summary_line
