# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_stillepost_global_optspecs
    string join \n coordinator= config= token-file= tls-ca= json h/help V/version
end

function __fish_stillepost_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_stillepost_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_stillepost_using_subcommand
    set -l cmd (__fish_stillepost_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c stillepost -n "__fish_stillepost_needs_command" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_needs_command" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_needs_command" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_needs_command" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_needs_command" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stillepost -n "__fish_stillepost_needs_command" -s V -l version -d 'Print version'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "configure" -d 'Configure the ring: its members (in ring order, the first is the origin) and the tours it runs'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "stillepost" -d 'Run one tour around the configured ring and print its result. Ctrl-C (or SIGTERM) cancels the tour and prints what it measured (exit 130); a second Ctrl-C leaves at once'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "run" -d 'Run one tour around the configured ring and print its result. Ctrl-C (or SIGTERM) cancels the tour and prints what it measured (exit 130); a second Ctrl-C leaves at once'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "cancel" -d 'End the running tour early: its partial result is kept, marked `cancelled`'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "wait" -d 'Wait for a running tour (the one named, or whichever runs) and print its result, as `run` would have: reattach after leaving a `run`'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "echo-members" -d 'UDP echoes to each member\'s peer socket, answered by its data plane: round trips with min/avg/max/mdev, as ping gives them. Sent by the coordinator unless --from-client'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "ping-systems" -d 'ICMP echo requests to each member host, like ping. Sent by the coordinator unless --from-client'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "status" -d 'Show the ring\'s configuration and every member\'s state'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "completions" -d 'Print shell completions for stillepost (bash, zsh, fish, elvish, powershell)'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "man" -d 'Print stillepost\'s man page (roff), or write one page per subcommand with --out-dir'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "local" -d 'Run a coordinator and a ring of members inside this process on 127.0.0.1 (free ports are chosen automatically), run tours and print their results'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "report" -d 'Export a finished tour\'s histograms in HdrHistogram\'s formats, as JSON or CSV, or plot them (SVG, PNG)'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "tours" -d 'List the finished tours the coordinator holds, oldest first: id, start time, ring, outcome, loss and tour latency p50/p99. Any unique prefix of an id names its tour wherever a tour id is taken. Monitor tours (the coordinator\'s --monitor-interval) are left out unless --monitor'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "pin" -d 'Keep a finished tour\'s result on the coordinator whatever its --keep-tours and --keep-days say (or, with --unpin, let it go again)'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "tune" -d 'Check this host\'s kernel settings for a tour of the given message size and window: each as `current → recommended (reason)`; docs/tuning.md explains them. Needs no coordinator'
complete -c stillepost -n "__fish_stillepost_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l cluster -d 'Members\' control endpoints (their --coord-bind), in ring order, comma-separated; or a source the coordinator asks at every configure (and, in monitor mode, every --resolve-interval), the ring then in the order of the members\' names (--name)' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l msgbytelen -l msg-len -d 'Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l msgcount -l count -d 'Messages sent around the ring per tour' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l forward-immediately -d 'Forward each message as soon as it arrives (true), or wait until all msgcount messages have arrived and then send them (false)' -r -f -a "true\t''
false\t''"
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l window -d 'Messages the origin keeps in flight: a number, or `all` (every msgcount message at once, the original tool\'s behaviour). Default: all, unless that is more than a 4 MiB receive buffer holds (large messages); then as many as it holds. 1 is ping-pong around the ring. Must be all with --forward-immediately false' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l member-timeout -d 'How long the origin waits for the next message before it ends a tour and reports what is missing, in milliseconds' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l warmup -d 'The first N messages travel like the others but are not recorded (warm caches, settled clocks)' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l rate -d 'Open loop: the origin sends this many messages per second on a fixed schedule (within the window) instead of as fast as the window allows. Tour latency is then also measured from each message\'s scheduled send time, which counts the time a message waited for a stalled sender (coordinated omission); both are reported. Fractions are allowed: 0.5 sends one message every 2 s' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l max-datagram -d 'Largest datagram a message travels in, the 64-byte header included (at most 65507): a longer message is split into fragments of at most this size, which members forward as they arrive. Default: what the smallest route MTU on the ring carries (members report theirs), so that no link IP-fragments a datagram' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l dscp -d 'DSCP every member marks its datagrams with, to measure a QoS class: 0 to 63, or a name (ef, af11 to af43, cs0 to cs7, be). The IPv4 TOS and IPv6 traffic class are dscp × 4' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l max-buffer-memory -d 'Most memory a member may set aside for the tour\'s buffers (receive and send pools and its socket receive buffer), bytes; configure refuses a tour that needs more, with the numbers' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l placement -d 'Where the members of a host run their data-plane threads, chosen at configure: `together` on one core (a wake-up on the same core costs less than one across cores), `spread` over the host\'s cores (members with messages to move work at once), `auto` from the tour\'s shape: together for one message in flight (window 1, one datagram per message), spread for more. Spinning members always get a core each; members started with --cpu keep theirs. configure and every result say which placement was chosen and why' -r -f -a "auto\t'From the tour\'s shape: together for one message in flight (window 1, one datagram per message), spread for more'
together\t'Every member of a host on one core'
spread\t'A host\'s members over its cores (leaving the lowest to the control plane when there is one to spare)'"
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l timeout -d 'How long configuring may take (reaching every member), in seconds' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l ring-size -d 'Split the members into rings of at most N (in the order given, or of their names for a source, so a ring per rack or zone when names sort that way), configured and run in parallel: `run` runs every ring at once and reports each ring\'s tour; `status` and the metrics (label `ring`) name the ring' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l force -d 'Take the members over even while another coordinator holds them. A member belongs to the coordinator that configured it while a tour of its is armed and for 60 s after its last configure or tour; other coordinators\' configures are refused, naming it. The coordinator that loses them is told at its next tour'
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand configure" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -l raw -d 'Write every message\'s timestamps per member, hop latencies, residences and tour latency to this file: CSV, or JSON lines when it ends in .jsonl (docs/reports.md)' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -l interval -d 'Show the tour\'s latency per period of this length (by the origin\'s send time), p50 and p99 per period: 100ms, 1s, ... `report --format hlog --interval` writes the periods as an HdrHistogram interval log' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -l accept-loss -d 'Exit 0 for a tour that lost messages or timed out (its result says so either way); without it such a tour exits 6, so scripts notice'
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand stillepost" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -l raw -d 'Write every message\'s timestamps per member, hop latencies, residences and tour latency to this file: CSV, or JSON lines when it ends in .jsonl (docs/reports.md)' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -l interval -d 'Show the tour\'s latency per period of this length (by the origin\'s send time), p50 and p99 per period: 100ms, 1s, ... `report --format hlog --interval` writes the periods as an HdrHistogram interval log' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -l accept-loss -d 'Exit 0 for a tour that lost messages or timed out (its result says so either way); without it such a tour exits 6, so scripts notice'
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand run" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand cancel" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand cancel" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand cancel" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand cancel" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand cancel" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand cancel" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand wait" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand wait" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand wait" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand wait" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand wait" -l accept-loss -d 'Exit 0 for a tour that lost messages or timed out (its result says so either way); without it such a tour exits 6, so scripts notice'
complete -c stillepost -n "__fish_stillepost_using_subcommand wait" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand wait" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l count -d 'Probes per target' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l interval -d 'From one round of probes to the next, in milliseconds' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l timeout -d 'How long to wait for each answer, in milliseconds' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l from-client -d 'Send the probes from this client instead of from the coordinator (the default, as the original does: it reaches the members where a client behind a port-forward or a bastion cannot)'
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand echo-members" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l count -d 'Probes per target' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l interval -d 'From one round of probes to the next, in milliseconds' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l timeout -d 'How long to wait for each answer, in milliseconds' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l from-client -d 'Send the probes from this client instead of from the coordinator (the default, as the original does: it reaches the members where a client behind a port-forward or a bastion cannot)'
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand ping-systems" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand status" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand status" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand status" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand status" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand status" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand status" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand completions" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand completions" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand completions" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand completions" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand completions" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand completions" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand man" -l out-dir -d 'Write a page for the program and one for each of its subcommands (`stillepost.1`, `stillepost-run.1`, ...) into DIR instead of printing the program\'s page (roff) on stdout. Read a page with `man -l stillepost.1`' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand man" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand man" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand man" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand man" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand man" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand man" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l members -d 'Members in the ring' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l msgbytelen -l msg-len -d 'Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l msgcount -l count -d 'Messages sent around the ring per tour' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l forward-immediately -d 'Forward each message as soon as it arrives (true), or wait until all msgcount messages have arrived and then send them (false)' -r -f -a "true\t''
false\t''"
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l window -d 'Messages the origin keeps in flight: a number, or `all` (every msgcount message at once, the original tool\'s behaviour). Default: all, unless that is more than a 4 MiB receive buffer holds (large messages); then as many as it holds. 1 is ping-pong around the ring. Must be all with --forward-immediately false' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l member-timeout -d 'How long the origin waits for the next message before it ends a tour and reports what is missing, in milliseconds' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l warmup -d 'The first N messages travel like the others but are not recorded (warm caches, settled clocks)' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l rate -d 'Open loop: the origin sends this many messages per second on a fixed schedule (within the window) instead of as fast as the window allows. Tour latency is then also measured from each message\'s scheduled send time, which counts the time a message waited for a stalled sender (coordinated omission); both are reported. Fractions are allowed: 0.5 sends one message every 2 s' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l max-datagram -d 'Largest datagram a message travels in, the 64-byte header included (at most 65507): a longer message is split into fragments of at most this size, which members forward as they arrive. Default: what the smallest route MTU on the ring carries (members report theirs), so that no link IP-fragments a datagram' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l dscp -d 'DSCP every member marks its datagrams with, to measure a QoS class: 0 to 63, or a name (ef, af11 to af43, cs0 to cs7, be). The IPv4 TOS and IPv6 traffic class are dscp × 4' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l max-buffer-memory -d 'Most memory a member may set aside for the tour\'s buffers (receive and send pools and its socket receive buffer), bytes; configure refuses a tour that needs more, with the numbers' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l placement -d 'Where the members of a host run their data-plane threads, chosen at configure: `together` on one core (a wake-up on the same core costs less than one across cores), `spread` over the host\'s cores (members with messages to move work at once), `auto` from the tour\'s shape: together for one message in flight (window 1, one datagram per message), spread for more. Spinning members always get a core each; members started with --cpu keep theirs. configure and every result say which placement was chosen and why' -r -f -a "auto\t'From the tour\'s shape: together for one message in flight (window 1, one datagram per message), spread for more'
together\t'Every member of a host on one core'
spread\t'A host\'s members over its cores (leaving the lowest to the control plane when there is one to spare)'"
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l tours -d 'Tours to run' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l raw -d 'Write every message\'s timestamps per member, hop latencies, residences and tour latency to this file: CSV, or JSON lines when it ends in .jsonl (docs/reports.md)' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l interval -d 'Show the tour\'s latency per period of this length (by the origin\'s send time), p50 and p99 per period: 100ms, 1s, ... `report --format hlog --interval` writes the periods as an HdrHistogram interval log' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l backend -d 'Data-plane backend of every member' -r -f -a "auto\t'io_uring, or the syscall backend (with one log line saying why) when io_uring cannot start; with --poll spin the syscall backend, which answers a spinning poll sooner (about 1 µs per hop on loopback, docs/architecture.md)'
uring\t'io_uring only: refuse to start without it'
syscall\t'recvmmsg/sendmmsg batches'"
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l poll -d 'How members\' data-plane threads wait. `spin` needs a core per member; on a host with fewer cores `local` runs in block mode and says so' -r -f -a "block\t'Sleep in the kernel until a datagram arrives; cores can be shared'
spin\t'Busy-poll on a core of its own: lowest latency, one core fully used'"
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l cpus -d 'Cores for the members\' data-plane threads, one per member in ring order (a single value applies to all), kept whatever the tour. Default: placed at configure as --placement says' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l accept-loss -d 'Exit 0 for a tour that lost messages or timed out (its result says so either way); without it such a tour exits 6, so scripts notice'
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l zerocopy -d 'Forward with io_uring zero-copy sends (see `stillepostd member --help`)'
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l no-offload -d 'Send and receive every datagram on its own, without UDP GSO and GRO (see `stillepostd member --help`)'
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l no-auth -d 'No ring key: members neither challenge each other nor tag their datagrams (docs/wire-format.md), to measure what authentication costs. For this loopback ring only; a configure of other members always carries a key'
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand local" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l format -d 'Output format [default: hgrm; json under --json]' -r -f -a "text\t'The text report `stillepost run` prints'
raw\t'Every message\'s timestamps as CSV (a tour run with --raw or --interval)'
raw-jsonl\t'The same as JSON lines'
hgrm\t'HdrHistogram percentile distribution (outputPercentileDistribution), one per histogram'
hlog\t'HdrHistogram interval log, one tagged histogram per line (base64 V2+DEFLATE)'
json\t'The whole result, histograms included (docs/reports.md)'
csv\t'One row per histogram per percentile step'
svg\t'Percentile plot (latency against percentile on a log scale of 1/(1-percentile), as HdrHistogram plots are drawn), one labelled line per histogram: tour, each hop, each member\'s residence'
png\t'The same plot as a PNG image; written to stdout only when that is not a terminal'"
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l out -d 'Write to this file instead of stdout' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l unit -d 'hgrm, svg and png: the unit latencies are printed or plotted in' -r -f -a "ns\t'Nanoseconds'
us\t'Microseconds (HdrHistogram\'s plotter\'s usual unit)'
ms\t'Milliseconds'"
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l interval -d 'hlog: one interval per period of this length (by the origin\'s send time), for a tour run with --raw or --interval' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l hop -d 'hgrm: the latency histogram of hop I (from member I to the next)' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l residence -d 'hgrm: member M\'s residence histogram (arrival to forward)' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l out-dir -d 'hgrm: every histogram of the tour, each into its own file in DIR named after what it holds (<tour-id>-tour.hgrm, <tour-id>-hop-0-1.hgrm, <tour-id>-residence-1.hgrm, ...); the files written are listed on stdout' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l log-y -d 'svg and png: a log-scaled latency axis, so that p50 stays readable when the max is hundreds of times larger'
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l tour -d 'hgrm: the tour\'s latency histogram (the default: an hgrm file holds one histogram, as HdrHistogram\'s plotters and parsers read it)'
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand report" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stillepost -n "__fish_stillepost_using_subcommand tours" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tours" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand tours" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand tours" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand tours" -l monitor -d 'List monitor tours too (the coordinator keeps its newest in memory)'
complete -c stillepost -n "__fish_stillepost_using_subcommand tours" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand tours" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand pin" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand pin" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand pin" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand pin" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand pin" -l unpin -d 'Unpin it instead'
complete -c stillepost -n "__fish_stillepost_using_subcommand pin" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand pin" -s h -l help -d 'Print help'
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l msgbytelen -l msg-len -d 'Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l msgcount -l count -d 'Messages sent around the ring per tour' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l forward-immediately -d 'Forward each message as soon as it arrives (true), or wait until all msgcount messages have arrived and then send them (false)' -r -f -a "true\t''
false\t''"
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l window -d 'Messages the origin keeps in flight: a number, or `all` (every msgcount message at once, the original tool\'s behaviour). Default: all, unless that is more than a 4 MiB receive buffer holds (large messages); then as many as it holds. 1 is ping-pong around the ring. Must be all with --forward-immediately false' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l member-timeout -d 'How long the origin waits for the next message before it ends a tour and reports what is missing, in milliseconds' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l warmup -d 'The first N messages travel like the others but are not recorded (warm caches, settled clocks)' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l rate -d 'Open loop: the origin sends this many messages per second on a fixed schedule (within the window) instead of as fast as the window allows. Tour latency is then also measured from each message\'s scheduled send time, which counts the time a message waited for a stalled sender (coordinated omission); both are reported. Fractions are allowed: 0.5 sends one message every 2 s' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l max-datagram -d 'Largest datagram a message travels in, the 64-byte header included (at most 65507): a longer message is split into fragments of at most this size, which members forward as they arrive. Default: what the smallest route MTU on the ring carries (members report theirs), so that no link IP-fragments a datagram' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l dscp -d 'DSCP every member marks its datagrams with, to measure a QoS class: 0 to 63, or a name (ef, af11 to af43, cs0 to cs7, be). The IPv4 TOS and IPv6 traffic class are dscp × 4' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l max-buffer-memory -d 'Most memory a member may set aside for the tour\'s buffers (receive and send pools and its socket receive buffer), bytes; configure refuses a tour that needs more, with the numbers' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l placement -d 'Where the members of a host run their data-plane threads, chosen at configure: `together` on one core (a wake-up on the same core costs less than one across cores), `spread` over the host\'s cores (members with messages to move work at once), `auto` from the tour\'s shape: together for one message in flight (window 1, one datagram per message), spread for more. Spinning members always get a core each; members started with --cpu keep theirs. configure and every result say which placement was chosen and why' -r -f -a "auto\t'From the tour\'s shape: together for one message in flight (window 1, one datagram per message), spread for more'
together\t'Every member of a host on one core'
spread\t'A host\'s members over its cores (leaving the lowest to the control plane when there is one to spare)'"
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l mtu -d 'MTU of the network between the members (9000 for jumbo frames). Default: the smallest MTU of this host\'s interfaces other than loopback' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l proc-sys-root -d 'Read sysctls below this directory instead of /proc/sys (testing)' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l sys-root -d 'Read /sys below this directory instead (testing)' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l coordinator -d 'The coordinator\'s client endpoint, host:port' -r
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l config -d 'TOML file with any of: token_file, token, and [tls] ca (docs/security.md); other keys a daemon\'s file holds are ignored. Flags win over it' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l token-file -d 'File holding the coordinator\'s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. `local` and `tune` need none' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l tls-ca -d 'Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator\'s certificate must name the host or IP address of --coordinator' -r -F
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l apply -d 'Set every sysctl marked CHANGE (needs root; some are read-only in a network namespace or a container: set those on the host)'
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l emit-sysctl-conf -d 'Print an /etc/sysctl.d file with the changes instead (latency-only ones commented)'
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l assume-netns -d 'Behave as if inside a network namespace (testing)'
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -l json -d 'Print one JSON document on stdout instead of text'
complete -c stillepost -n "__fish_stillepost_using_subcommand tune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "configure" -d 'Configure the ring: its members (in ring order, the first is the origin) and the tours it runs'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "stillepost" -d 'Run one tour around the configured ring and print its result. Ctrl-C (or SIGTERM) cancels the tour and prints what it measured (exit 130); a second Ctrl-C leaves at once'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "cancel" -d 'End the running tour early: its partial result is kept, marked `cancelled`'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "wait" -d 'Wait for a running tour (the one named, or whichever runs) and print its result, as `run` would have: reattach after leaving a `run`'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "echo-members" -d 'UDP echoes to each member\'s peer socket, answered by its data plane: round trips with min/avg/max/mdev, as ping gives them. Sent by the coordinator unless --from-client'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "ping-systems" -d 'ICMP echo requests to each member host, like ping. Sent by the coordinator unless --from-client'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "status" -d 'Show the ring\'s configuration and every member\'s state'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "completions" -d 'Print shell completions for stillepost (bash, zsh, fish, elvish, powershell)'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "man" -d 'Print stillepost\'s man page (roff), or write one page per subcommand with --out-dir'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "local" -d 'Run a coordinator and a ring of members inside this process on 127.0.0.1 (free ports are chosen automatically), run tours and print their results'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "report" -d 'Export a finished tour\'s histograms in HdrHistogram\'s formats, as JSON or CSV, or plot them (SVG, PNG)'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "tours" -d 'List the finished tours the coordinator holds, oldest first: id, start time, ring, outcome, loss and tour latency p50/p99. Any unique prefix of an id names its tour wherever a tour id is taken. Monitor tours (the coordinator\'s --monitor-interval) are left out unless --monitor'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "pin" -d 'Keep a finished tour\'s result on the coordinator whatever its --keep-tours and --keep-days say (or, with --unpin, let it go again)'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "tune" -d 'Check this host\'s kernel settings for a tour of the given message size and window: each as `current → recommended (reason)`; docs/tuning.md explains them. Needs no coordinator'
complete -c stillepost -n "__fish_stillepost_using_subcommand help; and not __fish_seen_subcommand_from configure stillepost cancel wait echo-members ping-systems status completions man local report tours pin tune help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
