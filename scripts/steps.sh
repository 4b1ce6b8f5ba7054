#!/usr/bin/env bash
# Runs a plan of Makefile steps with a heartbeat: a line when each step starts and ends, with the
# elapsed time of the step and of the whole run and the step's CPU time (wall time far above CPU
# time means other work competed for the cores), a line every HEARTBEAT seconds (default 60)
# naming what is still running, and one summary line at the end. `make test` is its main user.
#
#   scripts/steps.sh [STEP | bg:STEP | wait:STEP]...
#
#   STEP       runs `make STEP` in the foreground, its output as it comes.
#   bg:STEP    starts `make STEP` in the background (output in target/logs/STEP.log), so that it
#              shares the two cores with the foreground steps that follow.
#   wait:STEP  waits for the background STEP: prints its scripts' report lines ("asan: ...") or,
#              if it failed, the end of its log.
#
# The first failing step ends the run (background steps still running are stopped) with a
# non-zero status.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MAKE=${MAKE:-make}
[ $# -gt 0 ] || { echo "usage: scripts/steps.sh [STEP | bg:STEP | wait:STEP]..." >&2; exit 2; }
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
# Seconds of CPU (user + system) in the children line of a `times` output file.
cpu_of() { tail -n 1 "$1" | awk '{ for (i = 1; i <= 2; i++) { split($i, t, /m|s/); s += t[1] * 60 + t[2] } printf "%d", s }'; }

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
            # A background step that has finished but was not waited for yet is not running.
            [ -e "$logs/.${label%(background)}.end" ] && continue
            list+="${list:+, }$label $(dur $((now - start)))"
        done <"$state"
        [ -n "$list" ] && say "… still running: $list"
    done
}
write_state() {
    local b
    {
        [ -n "$current" ] && echo "$current $current_start"
        for b in "${!bg_pid[@]}"; do echo "$b(background) ${bg_start[$b]}"; done
    } >"$state.tmp"
    mv -f "$state.tmp" "$state"
}
heartbeat &
hb_pid=$!

stop_all() {
    local b
    kill "$hb_pid" 2>/dev/null
    for b in "${!bg_pid[@]}"; do
        # Each background step runs in its own process group (set -m below): stop the group.
        kill -- "-${bg_pid[$b]}" 2>/dev/null
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
    longest=$(sort -t' ' -k2 -nr "$logs/.steps-times" | head -n 3 | awk '{
        printf "%s%s ", (NR > 1 ? ", " : ""), $1
        if ($2 >= 60) printf "%dm%02ds", $2 / 60, $2 % 60; else printf "%ds", $2 }')
    # CPU time of every step (the children this shell waited for) and the machine's load, to
    # read the wall time against: on a shared machine other work slows every step.
    local cpu load
    # `times` in this shell (in a pipe or $(...) it would report a subshell's, empty, children).
    times >"$logs/.times"
    cpu=$(tail -n 1 "$logs/.times" | awk '{
        for (i = 1; i <= 2; i++) { split($i, t, /m|s/); sum += t[1] * 60 + t[2] }
        printf "%dm%02ds", sum / 60, sum % 60 }')
    load=$(cut -d' ' -f3 /proc/loadavg 2>/dev/null || echo '?')
    say "make test: all ${#done_steps[@]} steps passed in $(dur "$total") (longest: $longest;" \
        "CPU time $cpu on $(nproc 2>/dev/null || echo '?') cores; 15-minute load average $load)"
    rm -f "$logs"/.*.end "$logs"/.*.times "$logs"/.times*
}
: >"$logs/.steps-times"

for item in "$@"; do
    case "$item" in
    bg:*)
        name=${item#bg:}
        say "▶ $name (background; log $logs/$name.log)"
        rm -f "$logs/.$name.end"
        set -m
        (
            "$MAKE" --no-print-directory "$name" >"$logs/$name.log" 2>&1
            rc=$?
            times >"$logs/.$name.times"
            date +%s >"$logs/.$name.end"
            exit $rc
        ) &
        bg_pid[$name]=$!
        set +m
        bg_start[$name]=$(date +%s)
        write_state
        ;;
    wait:*)
        name=${item#wait:}
        [ -n "${bg_pid[$name]:-}" ] || { say "steps.sh: $name was not started in the background"; exit 2; }
        say "… waiting for $name"
        wait "${bg_pid[$name]}"
        rc=$?
        end=$(cat "$logs/.$name.end" 2>/dev/null || date +%s)
        secs=$(( end - bg_start[$name] ))
        unset "bg_pid[$name]"
        write_state
        if (( rc != 0 )); then
            say "── last 80 lines of $logs/$name.log"
            tail -n 80 "$logs/$name.log"
            fail "$name" "$secs"
        fi
        done_steps+=("$name")
        echo "$name $secs" >>"$logs/.steps-times"
        # The lines in which its scripts report what they did ("asan: ...", "fuzz-smoke: ...").
        grep -E '^[a-z][a-z-]*: ' "$logs/$name.log" | grep -v '^make' | head -n 24 | sed 's/^/    /'
        say "✓ $name (background) $(dur "$secs") (CPU $(dur "$(cpu_of "$logs/.$name.times")"))"
        ;;
    *)
        name=$item
        say "▶ $name"
        current=$name
        current_start=$(date +%s)
        write_state
        times >"$logs/.times-before"
        "$MAKE" --no-print-directory "$name"
        rc=$?
        times >"$logs/.times-after"
        secs=$(( $(date +%s) - current_start ))
        current=""
        write_state
        (( rc == 0 )) || fail "$name" "$secs"
        done_steps+=("$name")
        echo "$name $secs" >>"$logs/.steps-times"
        say "✓ $name $(dur "$secs") (CPU $(dur $(( $(cpu_of "$logs/.times-after") - $(cpu_of "$logs/.times-before") ))))"
        ;;
    esac
done
for b in "${!bg_pid[@]}"; do say "steps.sh: background step $b was never waited for"; exit 2; done
summary_line
