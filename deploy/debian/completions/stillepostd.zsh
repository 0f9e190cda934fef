#compdef stillepostd

autoload -U is-at-least

_stillepostd() {
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
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_stillepostd_commands" \
"*::: :->stillepostd" \
&& ret=0
    case $state in
    (stillepostd)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:stillepostd-command-$line[1]:"
        case $line[1] in
            (completions)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':shell -- The shell to complete for. Install, for example\: `stillepost completions bash > /etc/bash_completion.d/stillepost`; zsh\: into a directory of $fpath as `_stillepost`; fish\: `~/.config/fish/completions/stillepost.fish`:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
'--out-dir=[Write a page for the program and one for each of its subcommands (\`stillepost.1\`, \`stillepost-run.1\`, ...) into DIR instead of printing the program'\''s page (roff) on stdout. Read a page with \`man -l stillepost.1\`]:DIR:_files' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(coordinator)
_arguments "${_arguments_options[@]}" : \
'--client-bind=[Address the client API (gRPC) listens on, host\:port]:HOST:PORT:_default' \
'--data-dir=[Directory where every tour'\''s result is kept (one file per tour, written atomically); results survive a restart. Default\: \$XDG_STATE_HOME/stillepost or ~/.local/state/stillepost]:DIR:_files' \
'--keep-tours=[Keep the newest N results on disk (pruned at start and after every tour; pinned ones, \`stillepost pin\`, always stay). 0 keeps all]:N:_default' \
'--keep-days=[Keep results for D days (pinned ones always stay). 0 keeps them for ever]:D:_default' \
'--monitor-interval=[Monitor mode\: run a short tour of the configured ring about every DURATION (e.g. 10s; each interval varies at random by ±10 % so rings do not synchronise). Monitor tours feed the metrics (--metrics-bind) and \`stillepost status\`; they are kept in memory, not in the data directory. A \`stillepost run\` waits for the monitor tour in progress, then runs]:DURATION:_default' \
'--monitor-count=[Messages per monitor tour (at most the ring'\''s --msgcount), one in flight; the ring'\''s other tour settings apply]:N:_default' \
'--health-interval=[How often the coordinator checks that every member answers (each check has this as its deadline). A member that stops answering is marked down; one that comes back restarted is configured into the ring again by the coordinator]:DURATION:_default' \
'--metrics-bind=[Serve Prometheus metrics at http\://HOST\:PORT/metrics, and /healthz and /readyz (docs/monitoring.md). A port alone binds loopback (127.0.0.1\:PORT); give an address to let a Prometheus on another host scrape it]:HOST:PORT|PORT:_default' \
'*--cluster=[Configure this ring at start, with the tour of a \`stillepost configure\` given no tour flag\: a source (dns\:NAME\:PORT, dns\:NAME, file\:PATH, discover\[\:GROUP\:PORT\]) or a list of members'\'' control endpoints, as \`stillepost configure --cluster\` takes them. Tried every 5 s until it works (members may start later); a client'\''s configure replaces it. With --monitor-interval, monitoring then starts by itself]:SOURCE|HOST:PORT,...:_default' \
'--ring-size=[With --cluster\: split the members (in the order of their names for a source) into rings of at most N, configured and run in parallel, each with its own results; status and metrics (label \`ring\`) name the ring]:N:_default' \
'--dns-server=[Resolve \`--cluster dns\:\` sources with this DNS server (IP, or IP\:PORT; port 53 by default) instead of the host'\''s resolver configuration (/etc/resolv.conf)]:IP[:PORT]:_default' \
'--resolve-interval=[In monitor mode, ask the ring'\''s source (file\:, dns\:, discover) for its members this often (default 30s), and configure the ring again when they changed (logging who joined and who left)]:DURATION:_default' \
'--config=[TOML file with any of\: token_file, token, insecure, psk_file, and \[tls\] cert, key, ca (docs/security.md). Flags win over it; relative paths are relative to the file]:PATH:_files' \
'--token-file=[File holding the shared token (one line; chmod 600) that every call to this daemon must carry, and that a coordinator sends to its members\: the coordinator, its members and the client use the same one. Else the STILLEPOST_TOKEN environment variable, else the config file. Without a token (or, on a member, client certificates required with --tls-ca), only a loopback address may be listened on]:PATH:_files' \
'--tls-cert=[This daemon'\''s certificate (PEM, leaf first)\: it then serves gRPC over TLS. It must name the host or IP address callers dial. A coordinator also presents it to members that require client certificates]:PATH:_files' \
'--tls-key=[The private key of --tls-cert (PEM; chmod 600)]:PATH:_files' \
'--tls-ca=[CA certificates (PEM). On a coordinator\: reach members over TLS, trusting only these. On a member\: require every caller to present a client certificate signed by them (mTLS), so that only the coordinator gets in]:PATH:_files' \
'--psk-file=[Members only\: a file holding a pre-shared secret (at least 16 bytes; chmod 600), the same on every member of the ring. It is mixed into every configuration'\''s ring key, so that challenges and tour datagrams pass only between members that hold it, even for someone who learned the ring key from the control plane]:PATH:_files' \
'--insecure[Listen on a non-loopback address without a token\: anyone who reaches the port can configure and read the ring (docs/security.md)]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(member)
_arguments "${_arguments_options[@]}" : \
'--coord-bind=[Address the control API (gRPC) for the coordinator listens on, host\:port]:HOST:PORT:_default' \
'--config=[TOML file with any of\: token_file, token, insecure, psk_file, and \[tls\] cert, key, ca (docs/security.md). Flags win over it; relative paths are relative to the file]:PATH:_files' \
'--token-file=[File holding the shared token (one line; chmod 600) that every call to this daemon must carry, and that a coordinator sends to its members\: the coordinator, its members and the client use the same one. Else the STILLEPOST_TOKEN environment variable, else the config file. Without a token (or, on a member, client certificates required with --tls-ca), only a loopback address may be listened on]:PATH:_files' \
'--tls-cert=[This daemon'\''s certificate (PEM, leaf first)\: it then serves gRPC over TLS. It must name the host or IP address callers dial. A coordinator also presents it to members that require client certificates]:PATH:_files' \
'--tls-key=[The private key of --tls-cert (PEM; chmod 600)]:PATH:_files' \
'--tls-ca=[CA certificates (PEM). On a coordinator\: reach members over TLS, trusting only these. On a member\: require every caller to present a client certificate signed by them (mTLS), so that only the coordinator gets in]:PATH:_files' \
'--psk-file=[Members only\: a file holding a pre-shared secret (at least 16 bytes; chmod 600), the same on every member of the ring. It is mixed into every configuration'\''s ring key, so that challenges and tour datagrams pass only between members that hold it, even for someone who learned the ring key from the control plane]:PATH:_files' \
'--name=[This member'\''s name in metrics and status (default\: the host'\''s name; the coordinator adds the control endpoint to names that are not unique in a ring)]:NAME:_default' \
'--announce=[Announce this member on a UDP multicast group every second (its control port, address and name, tagged with the token), so that \`configure --cluster discover\` finds it; it says it leaves when it stops. The group defaults to 239.255.83.80\:7090; heartbeats stay on the local link (hop limit 1)]::GROUP:PORT:_default' \
'--metrics-bind=[Serve Prometheus metrics of this member'\''s data plane at http\://HOST\:PORT/metrics, and /healthz and /readyz. A port alone binds loopback (127.0.0.1\:PORT)]:HOST:PORT|PORT:_default' \
'--peer-bind=[Address of the UDP peer socket that receives and forwards tour messages. Binding a wildcard address (0.0.0.0) advertises the address the coordinator reached this member at, never 0.0.0.0]:HOST:PORT:_default' \
'--advertise=[Peer endpoint to advertise to the ring instead (behind NAT, or on hosts with several addresses)]:IP:PORT:_default' \
'--backend=[Data-plane backend]:BACKEND:((auto\:"io_uring, or the syscall backend (with one log line saying why) when io_uring cannot start; with --poll spin the syscall backend, which answers a spinning poll sooner (about 1 µs per hop on loopback, docs/architecture.md)"
uring\:"io_uring only\: refuse to start without it"
syscall\:"recvmmsg/sendmmsg batches"))' \
'--poll=[How the data-plane thread waits for datagrams. \`spin\` needs a core of its own]:POLL:((block\:"Sleep in the kernel until a datagram arrives; cores can be shared"
spin\:"Busy-poll on a core of its own\: lowest latency, one core fully used"))' \
'--cpu=[Core to pin the data-plane thread to, for good\: configures leave it there. Default\: it starts on the last core of this host, and every configure places it as the ring'\''s --placement says (members of one host together on a core for one message in flight, spread over the cores for more; spinning members a core each)]:N:_default' \
'--fault-buffers=[Testing aid\: use this many receive buffers]:FAULT_BUFFERS:_default' \
'--fault-clock-shift-ns=[Testing aid\: shift this member'\''s clock by this many ns, as if it ran on another host (the coordinator then probes its clock offset)]:FAULT_CLOCK_SHIFT_NS:_default' \
'--fault-origin-stall=[Testing aid (origin)\: after sending message SEQ (from 0), stop sending for MS milliseconds, as a descheduled sender would]:SEQ:MS:_default' \
'--fault-rcvbuf=[Testing aid\: give the peer socket this receive buffer, whatever the tour needs]:BYTES:_default' \
'--insecure[Listen on a non-loopback address without a token\: anyone who reaches the port can configure and read the ring (docs/security.md)]' \
'--zerocopy[Forward with io_uring zero-copy sends straight out of the receive buffers (registered as a fixed buffer). Pays only for large datagrams leaving through a real NIC; on loopback and veth the kernel copies anyway (docs/architecture.md)]' \
'--no-offload[Send and receive every datagram on its own. By default a message of several datagrams goes out with UDP GSO (one send carries up to 64 of them, UDP_SEGMENT) and comes in with UDP GRO where the kernel offers them; a member falls back to plain sends by itself when the kernel refuses GSO (docs/architecture.md)]' \
'--fault-drop-data[Testing aid\: silently discard every tour datagram this member receives]' \
'--fault-refuse-uring[Testing aid\: make io_uring set-up fail as if the kernel refused it]' \
'--fault-refuse-gso[Testing aid\: make the kernel refuse every GSO send (EINVAL), so that the member falls back to plain sends]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_stillepostd__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:stillepostd-help-command-$line[1]:"
        case $line[1] in
            (completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(coordinator)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(member)
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

(( $+functions[_stillepostd_commands] )) ||
_stillepostd_commands() {
    local commands; commands=(
'completions:Print shell completions for stillepostd (bash, zsh, fish, elvish, powershell)' \
'man:Print stillepostd'\''s man page (roff), or write one page per role with --out-dir' \
'coordinator:Drive a ring\: take \`stillepost\` client requests, configure members, run tours' \
'member:Take part in a ring\: a control endpoint for the coordinator and a UDP peer socket that forwards tour messages' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'stillepostd commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__completions_commands] )) ||
_stillepostd__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd completions commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__coordinator_commands] )) ||
_stillepostd__subcmd__coordinator_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd coordinator commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__help_commands] )) ||
_stillepostd__subcmd__help_commands() {
    local commands; commands=(
'completions:Print shell completions for stillepostd (bash, zsh, fish, elvish, powershell)' \
'man:Print stillepostd'\''s man page (roff), or write one page per role with --out-dir' \
'coordinator:Drive a ring\: take \`stillepost\` client requests, configure members, run tours' \
'member:Take part in a ring\: a control endpoint for the coordinator and a UDP peer socket that forwards tour messages' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'stillepostd help commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__help__subcmd__completions_commands] )) ||
_stillepostd__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd help completions commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__help__subcmd__coordinator_commands] )) ||
_stillepostd__subcmd__help__subcmd__coordinator_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd help coordinator commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__help__subcmd__help_commands] )) ||
_stillepostd__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd help help commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__help__subcmd__man_commands] )) ||
_stillepostd__subcmd__help__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd help man commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__help__subcmd__member_commands] )) ||
_stillepostd__subcmd__help__subcmd__member_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd help member commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__man_commands] )) ||
_stillepostd__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd man commands' commands "$@"
}
(( $+functions[_stillepostd__subcmd__member_commands] )) ||
_stillepostd__subcmd__member_commands() {
    local commands; commands=()
    _describe -t commands 'stillepostd member commands' commands "$@"
}

if [ "$funcstack[1]" = "_stillepostd" ]; then
    _stillepostd "$@"
else
    compdef _stillepostd stillepostd
fi
