#compdef stillepost

autoload -U is-at-least

_stillepost() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_stillepost_commands" \
"*::: :->stillepost" \
&& ret=0
    case $state in
    (stillepost)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:stillepost-command-$line[1]:"
        case $line[1] in
            (configure)
_arguments "${_arguments_options[@]}" : \
'*--cluster=[Members'\'' control endpoints (their --coord-bind), in ring order, comma-separated; or a source the coordinator asks at every configure (and, in monitor mode, every --resolve-interval), the ring then in the order of the members'\'' names (--name)]:HOST:PORT,...|SOURCE:_default' \
'--msgbytelen=[Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments]:BYTES:_default' \
'--msg-len=[Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments]:BYTES:_default' \
'--msgcount=[Messages sent around the ring per tour]:N:_default' \
'--count=[Messages sent around the ring per tour]:N:_default' \
'--forward-immediately=[Forward each message as soon as it arrives (true), or wait until all msgcount messages have arrived and then send them (false)]:BOOL:(true false)' \
'--window=[Messages the origin keeps in flight\: a number, or \`all\` (every msgcount message at once, the original tool'\''s behaviour). Default\: all, unless that is more than a 4 MiB receive buffer holds (large messages); then as many as it holds. 1 is ping-pong around the ring. Must be all with --forward-immediately false]:N|all:_default' \
'--member-timeout=[How long the origin waits for the next message before it ends a tour and reports what is missing, in milliseconds]:MS:_default' \
'--warmup=[The first N messages travel like the others but are not recorded (warm caches, settled clocks)]:N:_default' \
'--rate=[Open loop\: the origin sends this many messages per second on a fixed schedule (within the window) instead of as fast as the window allows. Tour latency is then also measured from each message'\''s scheduled send time, which counts the time a message waited for a stalled sender (coordinated omission); both are reported. Fractions are allowed\: 0.5 sends one message every 2 s]:MSGS_PER_S:_default' \
'--max-datagram=[Largest datagram a message travels in, the 64-byte header included (at most 65507)\: a longer message is split into fragments of at most this size, which members forward as they arrive. Default\: what the smallest route MTU on the ring carries (members report theirs), so that no link IP-fragments a datagram]:BYTES:_default' \
'--dscp=[DSCP every member marks its datagrams with, to measure a QoS class\: 0 to 63, or a name (ef, af11 to af43, cs0 to cs7, be). The IPv4 TOS and IPv6 traffic class are dscp × 4]:DSCP:_default' \
'--max-buffer-memory=[Most memory a member may set aside for the tour'\''s buffers (receive and send pools and its socket receive buffer), bytes; configure refuses a tour that needs more, with the numbers]:BYTES:_default' \
'--placement=[Where the members of a host run their data-plane threads, chosen at configure\: \`together\` on one core (a wake-up on the same core costs less than one across cores), \`spread\` over the host'\''s cores (members with messages to move work at once), \`auto\` from the tour'\''s shape\: together for one message in flight (window 1, one datagram per message), spread for more. Spinning members always get a core each; members started with --cpu keep theirs. configure and every result say which placement was chosen and why]:PLACEMENT:((auto\:"From the tour'\''s shape\: together for one message in flight (window 1, one datagram per message), spread for more"
together\:"Every member of a host on one core"
spread\:"A host'\''s members over its cores (leaving the lowest to the control plane when there is one to spare)"))' \
'--timeout=[How long configuring may take (reaching every member), in seconds]:S:_default' \
'--ring-size=[Split the members into rings of at most N (in the order given, or of their names for a source, so a ring per rack or zone when names sort that way), configured and run in parallel\: \`run\` runs every ring at once and reports each ring'\''s tour; \`status\` and the metrics (label \`ring\`) name the ring]:N:_default' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--force[Take the members over even while another coordinator holds them. A member belongs to the coordinator that configured it while a tour of its is armed and for 60 s after its last configure or tour; other coordinators'\'' configures are refused, naming it. The coordinator that loses them is told at its next tour]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(stillepost)
_arguments "${_arguments_options[@]}" : \
'--raw=[Write every message'\''s timestamps per member, hop latencies, residences and tour latency to this file\: CSV, or JSON lines when it ends in .jsonl (docs/reports.md)]:PATH:_files' \
'--interval=[Show the tour'\''s latency per period of this length (by the origin'\''s send time), p50 and p99 per period\: 100ms, 1s, ... \`report --format hlog --interval\` writes the periods as an HdrHistogram interval log]:DURATION:_default' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--accept-loss[Exit 0 for a tour that lost messages or timed out (its result says so either way); without it such a tour exits 6, so scripts notice]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(run)
_arguments "${_arguments_options[@]}" : \
'--raw=[Write every message'\''s timestamps per member, hop latencies, residences and tour latency to this file\: CSV, or JSON lines when it ends in .jsonl (docs/reports.md)]:PATH:_files' \
'--interval=[Show the tour'\''s latency per period of this length (by the origin'\''s send time), p50 and p99 per period\: 100ms, 1s, ... \`report --format hlog --interval\` writes the periods as an HdrHistogram interval log]:DURATION:_default' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--accept-loss[Exit 0 for a tour that lost messages or timed out (its result says so either way); without it such a tour exits 6, so scripts notice]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(cancel)
_arguments "${_arguments_options[@]}" : \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
'::tour -- The tour'\''s id (16 hex digits, or a unique prefix); without it, the tour running now:_default' \
&& ret=0
;;
(wait)
_arguments "${_arguments_options[@]}" : \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--accept-loss[Exit 0 for a tour that lost messages or timed out (its result says so either way); without it such a tour exits 6, so scripts notice]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
'::tour -- The tour'\''s id (16 hex digits, or a unique prefix); without it, the tour running now:_default' \
&& ret=0
;;
(echo-members)
_arguments "${_arguments_options[@]}" : \
'--count=[Probes per target]:N:_default' \
'--interval=[From one round of probes to the next, in milliseconds]:MS:_default' \
'--timeout=[How long to wait for each answer, in milliseconds]:MS:_default' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--from-client[Send the probes from this client instead of from the coordinator (the default, as the original does\: it reaches the members where a client behind a port-forward or a bastion cannot)]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(ping-systems)
_arguments "${_arguments_options[@]}" : \
'--count=[Probes per target]:N:_default' \
'--interval=[From one round of probes to the next, in milliseconds]:MS:_default' \
'--timeout=[How long to wait for each answer, in milliseconds]:MS:_default' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--from-client[Send the probes from this client instead of from the coordinator (the default, as the original does\: it reaches the members where a client behind a port-forward or a bastion cannot)]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
':shell -- The shell to complete for. Install, for example\: `stillepost completions bash > /etc/bash_completion.d/stillepost`; zsh\: into a directory of $fpath as `_stillepost`; fish\: `~/.config/fish/completions/stillepost.fish`:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
'--out-dir=[Write a page for the program and one for each of its subcommands (\`stillepost.1\`, \`stillepost-run.1\`, ...) into DIR instead of printing the program'\''s page (roff) on stdout. Read a page with \`man -l stillepost.1\`]:DIR:_files' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(local)
_arguments "${_arguments_options[@]}" : \
'--members=[Members in the ring]:N:_default' \
'--msgbytelen=[Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments]:BYTES:_default' \
'--msg-len=[Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments]:BYTES:_default' \
'--msgcount=[Messages sent around the ring per tour]:N:_default' \
'--count=[Messages sent around the ring per tour]:N:_default' \
'--forward-immediately=[Forward each message as soon as it arrives (true), or wait until all msgcount messages have arrived and then send them (false)]:BOOL:(true false)' \
'--window=[Messages the origin keeps in flight\: a number, or \`all\` (every msgcount message at once, the original tool'\''s behaviour). Default\: all, unless that is more than a 4 MiB receive buffer holds (large messages); then as many as it holds. 1 is ping-pong around the ring. Must be all with --forward-immediately false]:N|all:_default' \
'--member-timeout=[How long the origin waits for the next message before it ends a tour and reports what is missing, in milliseconds]:MS:_default' \
'--warmup=[The first N messages travel like the others but are not recorded (warm caches, settled clocks)]:N:_default' \
'--rate=[Open loop\: the origin sends this many messages per second on a fixed schedule (within the window) instead of as fast as the window allows. Tour latency is then also measured from each message'\''s scheduled send time, which counts the time a message waited for a stalled sender (coordinated omission); both are reported. Fractions are allowed\: 0.5 sends one message every 2 s]:MSGS_PER_S:_default' \
'--max-datagram=[Largest datagram a message travels in, the 64-byte header included (at most 65507)\: a longer message is split into fragments of at most this size, which members forward as they arrive. Default\: what the smallest route MTU on the ring carries (members report theirs), so that no link IP-fragments a datagram]:BYTES:_default' \
'--dscp=[DSCP every member marks its datagrams with, to measure a QoS class\: 0 to 63, or a name (ef, af11 to af43, cs0 to cs7, be). The IPv4 TOS and IPv6 traffic class are dscp × 4]:DSCP:_default' \
'--max-buffer-memory=[Most memory a member may set aside for the tour'\''s buffers (receive and send pools and its socket receive buffer), bytes; configure refuses a tour that needs more, with the numbers]:BYTES:_default' \
'--placement=[Where the members of a host run their data-plane threads, chosen at configure\: \`together\` on one core (a wake-up on the same core costs less than one across cores), \`spread\` over the host'\''s cores (members with messages to move work at once), \`auto\` from the tour'\''s shape\: together for one message in flight (window 1, one datagram per message), spread for more. Spinning members always get a core each; members started with --cpu keep theirs. configure and every result say which placement was chosen and why]:PLACEMENT:((auto\:"From the tour'\''s shape\: together for one message in flight (window 1, one datagram per message), spread for more"
together\:"Every member of a host on one core"
spread\:"A host'\''s members over its cores (leaving the lowest to the control plane when there is one to spare)"))' \
'--tours=[Tours to run]:K:_default' \
'--raw=[Write every message'\''s timestamps per member, hop latencies, residences and tour latency to this file\: CSV, or JSON lines when it ends in .jsonl (docs/reports.md)]:PATH:_files' \
'--interval=[Show the tour'\''s latency per period of this length (by the origin'\''s send time), p50 and p99 per period\: 100ms, 1s, ... \`report --format hlog --interval\` writes the periods as an HdrHistogram interval log]:DURATION:_default' \
'--backend=[Data-plane backend of every member]:BACKEND:((auto\:"io_uring, or the syscall backend (with one log line saying why) when io_uring cannot start; with --poll spin the syscall backend, which answers a spinning poll sooner (about 1 µs per hop on loopback, docs/architecture.md)"
uring\:"io_uring only\: refuse to start without it"
syscall\:"recvmmsg/sendmmsg batches"))' \
'--poll=[How members'\'' data-plane threads wait. \`spin\` needs a core per member; on a host with fewer cores \`local\` runs in block mode and says so]:POLL:((block\:"Sleep in the kernel until a datagram arrives; cores can be shared"
spin\:"Busy-poll on a core of its own\: lowest latency, one core fully used"))' \
'*--cpus=[Cores for the members'\'' data-plane threads, one per member in ring order (a single value applies to all), kept whatever the tour. Default\: placed at configure as --placement says]:N,N,...:_default' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--accept-loss[Exit 0 for a tour that lost messages or timed out (its result says so either way); without it such a tour exits 6, so scripts notice]' \
'--zerocopy[Forward with io_uring zero-copy sends (see \`stillepostd member --help\`)]' \
'--no-offload[Send and receive every datagram on its own, without UDP GSO and GRO (see \`stillepostd member --help\`)]' \
'--no-auth[No ring key\: members neither challenge each other nor tag their datagrams (docs/wire-format.md), to measure what authentication costs. For this loopback ring only; a configure of other members always carries a key]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(report)
_arguments "${_arguments_options[@]}" : \
'--format=[Output format \[default\: hgrm; json under --json\]]:FORMAT:((text\:"The text report \`stillepost run\` prints"
raw\:"Every message'\''s timestamps as CSV (a tour run with --raw or --interval)"
raw-jsonl\:"The same as JSON lines"
hgrm\:"HdrHistogram percentile distribution (outputPercentileDistribution), one per histogram"
hlog\:"HdrHistogram interval log, one tagged histogram per line (base64 V2+DEFLATE)"
json\:"The whole result, histograms included (docs/reports.md)"
csv\:"One row per histogram per percentile step"
svg\:"Percentile plot (latency against percentile on a log scale of 1/(1-percentile), as HdrHistogram plots are drawn), one labelled line per histogram\: tour, each hop, each member'\''s residence"
png\:"The same plot as a PNG image; written to stdout only when that is not a terminal"))' \
'--out=[Write to this file instead of stdout]:PATH:_files' \
'--unit=[hgrm, svg and png\: the unit latencies are printed or plotted in]:UNIT:((ns\:"Nanoseconds"
us\:"Microseconds (HdrHistogram'\''s plotter'\''s usual unit)"
ms\:"Milliseconds"))' \
'--interval=[hlog\: one interval per period of this length (by the origin'\''s send time), for a tour run with --raw or --interval]:DURATION:_default' \
'--hop=[hgrm\: the latency histogram of hop I (from member I to the next)]:I:_default' \
'--residence=[hgrm\: member M'\''s residence histogram (arrival to forward)]:M:_default' \
'(--out)--out-dir=[hgrm\: every histogram of the tour, each into its own file in DIR named after what it holds (<tour-id>-tour.hgrm, <tour-id>-hop-0-1.hgrm, <tour-id>-residence-1.hgrm, ...); the files written are listed on stdout]:DIR:_files' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--log-y[svg and png\: a log-scaled latency axis, so that p50 stays readable when the max is hundreds of times larger]' \
'--tour[hgrm\: the tour'\''s latency histogram (the default\: an hgrm file holds one histogram, as HdrHistogram'\''s plotters and parsers read it)]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':tour -- The tour\: its id (16 hex digits, or a unique prefix), or `latest`:_default' \
&& ret=0
;;
(tours)
_arguments "${_arguments_options[@]}" : \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--monitor[List monitor tours too (the coordinator keeps its newest in memory)]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(pin)
_arguments "${_arguments_options[@]}" : \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'--unpin[Unpin it instead]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help]' \
'--help[Print help]' \
':tour -- The tour\: its 16-hex-digit id, or `latest`:_default' \
&& ret=0
;;
(tune)
_arguments "${_arguments_options[@]}" : \
'--msgbytelen=[Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments]:BYTES:_default' \
'--msg-len=[Message length in bytes, header (64 B) included; at most 67108864 (64 MiB). A message longer than one datagram (--max-datagram, default 65507 B) travels as fragments]:BYTES:_default' \
'--msgcount=[Messages sent around the ring per tour]:N:_default' \
'--count=[Messages sent around the ring per tour]:N:_default' \
'--forward-immediately=[Forward each message as soon as it arrives (true), or wait until all msgcount messages have arrived and then send them (false)]:BOOL:(true false)' \
'--window=[Messages the origin keeps in flight\: a number, or \`all\` (every msgcount message at once, the original tool'\''s behaviour). Default\: all, unless that is more than a 4 MiB receive buffer holds (large messages); then as many as it holds. 1 is ping-pong around the ring. Must be all with --forward-immediately false]:N|all:_default' \
'--member-timeout=[How long the origin waits for the next message before it ends a tour and reports what is missing, in milliseconds]:MS:_default' \
'--warmup=[The first N messages travel like the others but are not recorded (warm caches, settled clocks)]:N:_default' \
'--rate=[Open loop\: the origin sends this many messages per second on a fixed schedule (within the window) instead of as fast as the window allows. Tour latency is then also measured from each message'\''s scheduled send time, which counts the time a message waited for a stalled sender (coordinated omission); both are reported. Fractions are allowed\: 0.5 sends one message every 2 s]:MSGS_PER_S:_default' \
'--max-datagram=[Largest datagram a message travels in, the 64-byte header included (at most 65507)\: a longer message is split into fragments of at most this size, which members forward as they arrive. Default\: what the smallest route MTU on the ring carries (members report theirs), so that no link IP-fragments a datagram]:BYTES:_default' \
'--dscp=[DSCP every member marks its datagrams with, to measure a QoS class\: 0 to 63, or a name (ef, af11 to af43, cs0 to cs7, be). The IPv4 TOS and IPv6 traffic class are dscp × 4]:DSCP:_default' \
'--max-buffer-memory=[Most memory a member may set aside for the tour'\''s buffers (receive and send pools and its socket receive buffer), bytes; configure refuses a tour that needs more, with the numbers]:BYTES:_default' \
'--placement=[Where the members of a host run their data-plane threads, chosen at configure\: \`together\` on one core (a wake-up on the same core costs less than one across cores), \`spread\` over the host'\''s cores (members with messages to move work at once), \`auto\` from the tour'\''s shape\: together for one message in flight (window 1, one datagram per message), spread for more. Spinning members always get a core each; members started with --cpu keep theirs. configure and every result say which placement was chosen and why]:PLACEMENT:((auto\:"From the tour'\''s shape\: together for one message in flight (window 1, one datagram per message), spread for more"
together\:"Every member of a host on one core"
spread\:"A host'\''s members over its cores (leaving the lowest to the control plane when there is one to spare)"))' \
'--mtu=[MTU of the network between the members (9000 for jumbo frames). Default\: the smallest MTU of this host'\''s interfaces other than loopback]:BYTES:_default' \
'--proc-sys-root=[Read sysctls below this directory instead of /proc/sys (testing)]:PROC_SYS_ROOT:_files' \
'--sys-root=[Read /sys below this directory instead (testing)]:SYS_ROOT:_files' \
'--coordinator=[The coordinator'\''s client endpoint, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, and \[tls\] ca (docs/security.md); other keys a daemon'\''s file holds are ignored. Flags win over it]:PATH:_files' \
'--token-file=[File holding the coordinator'\''s token (one line; chmod 600), the one it was started with. Else the STILLEPOST_TOKEN environment variable, else the config file. \`local\` and \`tune\` need none]:PATH:_files' \
'--tls-ca=[Reach the coordinator over TLS, trusting only these CA certificates (PEM). The coordinator'\''s certificate must name the host or IP address of --coordinator]:PATH:_files' \
'(--emit-sysctl-conf)--apply[Set every sysctl marked CHANGE (needs root; some are read-only in a network namespace or a container\: set those on the host)]' \
'--emit-sysctl-conf[Print an /etc/sysctl.d file with the changes instead (latency-only ones commented)]' \
'--assume-netns[Behave as if inside a network namespace (testing)]' \
'--json[Print one JSON document on stdout instead of text]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_stillepost__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:stillepost-help-command-$line[1]:"
        case $line[1] in
            (configure)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(stillepost)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(cancel)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(wait)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(echo-members)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ping-systems)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(local)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(report)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(tours)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(pin)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(tune)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_stillepost_commands] )) ||
_stillepost_commands() {
    local commands; commands=(
'configure:Configure the ring\: its members (in ring order, the first is the origin) and the tours it runs' \
'stillepost:Run one tour around the configured ring and print its result. Ctrl-C (or SIGTERM) cancels the tour and prints what it measured (exit 130); a second Ctrl-C leaves at once' \
'run:Run one tour around the configured ring and print its result. Ctrl-C (or SIGTERM) cancels the tour and prints what it measured (exit 130); a second Ctrl-C leaves at once' \
'cancel:End the running tour early\: its partial result is kept, marked \`cancelled\`' \
'wait:Wait for a running tour (the one named, or whichever runs) and print its result, as \`run\` would have\: reattach after leaving a \`run\`' \
'echo-members:UDP echoes to each member'\''s peer socket, answered by its data plane\: round trips with min/avg/max/mdev, as ping gives them. Sent by the coordinator unless --from-client' \
'ping-systems:ICMP echo requests to each member host, like ping. Sent by the coordinator unless --from-client' \
'status:Show the ring'\''s configuration and every member'\''s state' \
'completions:Print shell completions for stillepost (bash, zsh, fish, elvish, powershell)' \
'man:Print stillepost'\''s man page (roff), or write one page per subcommand with --out-dir' \
'local:Run a coordinator and a ring of members inside this process on 127.0.0.1 (free ports are chosen automatically), run tours and print their results' \
'report:Export a finished tour'\''s histograms in HdrHistogram'\''s formats, as JSON or CSV, or plot them (SVG, PNG)' \
'tours:List the finished tours the coordinator holds, oldest first\: id, start time, ring, outcome, loss and tour latency p50/p99. Any unique prefix of an id names its tour wherever a tour id is taken. Monitor tours (the coordinator'\''s --monitor-interval) are left out unless --monitor' \
'pin:Keep a finished tour'\''s result on the coordinator whatever its --keep-tours and --keep-days say (or, with --unpin, let it go again)' \
'tune:Check this host'\''s kernel settings for a tour of the given message size and window\: each as \`current → recommended (reason)\`; docs/tuning.md explains them. Needs no coordinator' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'stillepost commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__cancel_commands] )) ||
_stillepost__subcmd__cancel_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost cancel commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__completions_commands] )) ||
_stillepost__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost completions commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__configure_commands] )) ||
_stillepost__subcmd__configure_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost configure commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__echo-members_commands] )) ||
_stillepost__subcmd__echo-members_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost echo-members commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help_commands] )) ||
_stillepost__subcmd__help_commands() {
    local commands; commands=(
'configure:Configure the ring\: its members (in ring order, the first is the origin) and the tours it runs' \
'stillepost:Run one tour around the configured ring and print its result. Ctrl-C (or SIGTERM) cancels the tour and prints what it measured (exit 130); a second Ctrl-C leaves at once' \
'cancel:End the running tour early\: its partial result is kept, marked \`cancelled\`' \
'wait:Wait for a running tour (the one named, or whichever runs) and print its result, as \`run\` would have\: reattach after leaving a \`run\`' \
'echo-members:UDP echoes to each member'\''s peer socket, answered by its data plane\: round trips with min/avg/max/mdev, as ping gives them. Sent by the coordinator unless --from-client' \
'ping-systems:ICMP echo requests to each member host, like ping. Sent by the coordinator unless --from-client' \
'status:Show the ring'\''s configuration and every member'\''s state' \
'completions:Print shell completions for stillepost (bash, zsh, fish, elvish, powershell)' \
'man:Print stillepost'\''s man page (roff), or write one page per subcommand with --out-dir' \
'local:Run a coordinator and a ring of members inside this process on 127.0.0.1 (free ports are chosen automatically), run tours and print their results' \
'report:Export a finished tour'\''s histograms in HdrHistogram'\''s formats, as JSON or CSV, or plot them (SVG, PNG)' \
'tours:List the finished tours the coordinator holds, oldest first\: id, start time, ring, outcome, loss and tour latency p50/p99. Any unique prefix of an id names its tour wherever a tour id is taken. Monitor tours (the coordinator'\''s --monitor-interval) are left out unless --monitor' \
'pin:Keep a finished tour'\''s result on the coordinator whatever its --keep-tours and --keep-days say (or, with --unpin, let it go again)' \
'tune:Check this host'\''s kernel settings for a tour of the given message size and window\: each as \`current → recommended (reason)\`; docs/tuning.md explains them. Needs no coordinator' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'stillepost help commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__cancel_commands] )) ||
_stillepost__subcmd__help__subcmd__cancel_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help cancel commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__completions_commands] )) ||
_stillepost__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help completions commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__configure_commands] )) ||
_stillepost__subcmd__help__subcmd__configure_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help configure commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__echo-members_commands] )) ||
_stillepost__subcmd__help__subcmd__echo-members_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help echo-members commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__help_commands] )) ||
_stillepost__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help help commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__local_commands] )) ||
_stillepost__subcmd__help__subcmd__local_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help local commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__man_commands] )) ||
_stillepost__subcmd__help__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help man commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__pin_commands] )) ||
_stillepost__subcmd__help__subcmd__pin_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help pin commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__ping-systems_commands] )) ||
_stillepost__subcmd__help__subcmd__ping-systems_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help ping-systems commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__report_commands] )) ||
_stillepost__subcmd__help__subcmd__report_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help report commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__status_commands] )) ||
_stillepost__subcmd__help__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help status commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__stillepost_commands] )) ||
_stillepost__subcmd__help__subcmd__stillepost_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help stillepost commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__tours_commands] )) ||
_stillepost__subcmd__help__subcmd__tours_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help tours commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__tune_commands] )) ||
_stillepost__subcmd__help__subcmd__tune_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help tune commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__help__subcmd__wait_commands] )) ||
_stillepost__subcmd__help__subcmd__wait_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost help wait commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__local_commands] )) ||
_stillepost__subcmd__local_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost local commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__man_commands] )) ||
_stillepost__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost man commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__pin_commands] )) ||
_stillepost__subcmd__pin_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost pin commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__ping-systems_commands] )) ||
_stillepost__subcmd__ping-systems_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost ping-systems commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__report_commands] )) ||
_stillepost__subcmd__report_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost report commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__status_commands] )) ||
_stillepost__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost status commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__stillepost_commands] )) ||
_stillepost__subcmd__stillepost_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost stillepost commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__tours_commands] )) ||
_stillepost__subcmd__tours_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost tours commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__tune_commands] )) ||
_stillepost__subcmd__tune_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost tune commands' commands "$@"
}
(( $+functions[_stillepost__subcmd__wait_commands] )) ||
_stillepost__subcmd__wait_commands() {
    local commands; commands=()
    _describe -t commands 'stillepost wait commands' commands "$@"
}

if [ "$funcstack[1]" = "_stillepost" ]; then
    _stillepost "$@"
else
    compdef _stillepost stillepost
fi
