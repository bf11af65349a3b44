#!/bin/sh
# The guest agent. Reads one command per console line:
#   run <id> <shell command>   run it in the foreground
#   bg <id> <shell command>    run it in the background
#   quit                       power off
# Every output line of job <id> (stdout and stderr merged) is printed as
# "@@<id>| <line>" as soon as it is produced, and its exit status as
# "@@<id>$ <status>" when it ends.
set -m 2>/dev/null || echo "guest-agent: no job control"
stty -echo -isig -tostop 2>/dev/null

job() {
    st=/tmp/.agent-status.$1
    { sh -c "$2" </dev/null 2>&1; echo "$?" >"$st"; } |
        while IFS= read -r l || [ -n "$l" ]; do printf '@@%s| %s\n' "$1" "$l"; done
    printf '@@%s$ %s\n' "$1" "$(cat "$st" 2>/dev/null || echo 255)"
    rm -f "$st"
}

echo "@@READY"
while IFS= read -r line; do
    case "$line" in
    "run "* | "bg "*)
        verb=${line%% *} rest=${line#* }
        id=${rest%% *} cmd=${rest#* }
        if [ "$verb" = run ]; then job "$id" "$cmd"; else job "$id" "$cmd" & fi
        ;;
    quit) sync; poweroff -f ;;
    "") ;;
    *) echo "@@ERR unknown agent command: $line" ;;
    esac
done
poweroff -f
