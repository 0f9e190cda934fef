# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_stillepostd_global_optspecs
    string join \n h/help V/version
end

function __fish_stillepostd_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_stillepostd_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_stillepostd_using_subcommand
    set -l cmd (__fish_stillepostd_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c stillepostd -n "__fish_stillepostd_needs_command" -s h -l help -d 'Print help'
complete -c stillepostd -n "__fish_stillepostd_needs_command" -s V -l version -d 'Print version'
complete -c stillepostd -n "__fish_stillepostd_needs_command" -f -a "completions" -d 'Print shell completions for stillepostd (bash, zsh, fish, elvish, powershell)'
complete -c stillepostd -n "__fish_stillepostd_needs_command" -f -a "man" -d 'Print stillepostd\'s man page (roff), or write one page per role with --out-dir'
complete -c stillepostd -n "__fish_stillepostd_needs_command" -f -a "coordinator" -d 'Drive a ring: take `stillepost` client requests, configure members, run tours'
complete -c stillepostd -n "__fish_stillepostd_needs_command" -f -a "member" -d 'Take part in a ring: a control endpoint for the coordinator and a UDP peer socket that forwards tour messages'
complete -c stillepostd -n "__fish_stillepostd_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand completions" -s h -l help -d 'Print help'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand man" -l out-dir -d 'Write a page for the program and one for each of its subcommands (`stillepost.1`, `stillepost-run.1`, ...) into DIR instead of printing the program\'s page (roff) on stdout. Read a page with `man -l stillepost.1`' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand man" -s h -l help -d 'Print help'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l client-bind -d 'Address the client API (gRPC) listens on, host:port' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l data-dir -d 'Directory where every tour\'s result is kept (one file per tour, written atomically); results survive a restart. Default: $XDG_STATE_HOME/stillepost or ~/.local/state/stillepost' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l keep-tours -d 'Keep the newest N results on disk (pruned at start and after every tour; pinned ones, `stillepost pin`, always stay). 0 keeps all' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l keep-days -d 'Keep results for D days (pinned ones always stay). 0 keeps them for ever' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l monitor-interval -d 'Monitor mode: run a short tour of the configured ring about every DURATION (e.g. 10s; each interval varies at random by ±10 % so rings do not synchronise). Monitor tours feed the metrics (--metrics-bind) and `stillepost status`; they are kept in memory, not in the data directory. A `stillepost run` waits for the monitor tour in progress, then runs' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l monitor-count -d 'Messages per monitor tour (at most the ring\'s --msgcount), one in flight; the ring\'s other tour settings apply' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l health-interval -d 'How often the coordinator checks that every member answers (each check has this as its deadline). A member that stops answering is marked down; one that comes back restarted is configured into the ring again by the coordinator' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l metrics-bind -d 'Serve Prometheus metrics at http://HOST:PORT/metrics, and /healthz and /readyz (docs/monitoring.md). A port alone binds loopback (127.0.0.1:PORT); give an address to let a Prometheus on another host scrape it' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l cluster -d 'Configure this ring at start, with the tour of a `stillepost configure` given no tour flag: a source (dns:NAME:PORT, dns:NAME, file:PATH, discover[:GROUP:PORT]) or a list of members\' control endpoints, as `stillepost configure --cluster` takes them. Tried every 5 s until it works (members may start later); a client\'s configure replaces it. With --monitor-interval, monitoring then starts by itself' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l ring-size -d 'With --cluster: split the members (in the order of their names for a source) into rings of at most N, configured and run in parallel, each with its own results; status and metrics (label `ring`) name the ring' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l dns-server -d 'Resolve `--cluster dns:` sources with this DNS server (IP, or IP:PORT; port 53 by default) instead of the host\'s resolver configuration (/etc/resolv.conf)' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l resolve-interval -d 'In monitor mode, ask the ring\'s source (file:, dns:, discover) for its members this often (default 30s), and configure the ring again when they changed (logging who joined and who left)' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l config -d 'TOML file with any of: token_file, token, insecure, psk_file, and [tls] cert, key, ca (docs/security.md). Flags win over it; relative paths are relative to the file' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l token-file -d 'File holding the shared token (one line; chmod 600) that every call to this daemon must carry, and that a coordinator sends to its members: the coordinator, its members and the client use the same one. Else the STILLEPOST_TOKEN environment variable, else the config file. Without a token (or, on a member, client certificates required with --tls-ca), only a loopback address may be listened on' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l tls-cert -d 'This daemon\'s certificate (PEM, leaf first): it then serves gRPC over TLS. It must name the host or IP address callers dial. A coordinator also presents it to members that require client certificates' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l tls-key -d 'The private key of --tls-cert (PEM; chmod 600)' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l tls-ca -d 'CA certificates (PEM). On a coordinator: reach members over TLS, trusting only these. On a member: require every caller to present a client certificate signed by them (mTLS), so that only the coordinator gets in' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l psk-file -d 'Members only: a file holding a pre-shared secret (at least 16 bytes; chmod 600), the same on every member of the ring. It is mixed into every configuration\'s ring key, so that challenges and tour datagrams pass only between members that hold it, even for someone who learned the ring key from the control plane' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -l insecure -d 'Listen on a non-loopback address without a token: anyone who reaches the port can configure and read the ring (docs/security.md)'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand coordinator" -s h -l help -d 'Print help'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l coord-bind -d 'Address the control API (gRPC) for the coordinator listens on, host:port' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l config -d 'TOML file with any of: token_file, token, insecure, psk_file, and [tls] cert, key, ca (docs/security.md). Flags win over it; relative paths are relative to the file' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l token-file -d 'File holding the shared token (one line; chmod 600) that every call to this daemon must carry, and that a coordinator sends to its members: the coordinator, its members and the client use the same one. Else the STILLEPOST_TOKEN environment variable, else the config file. Without a token (or, on a member, client certificates required with --tls-ca), only a loopback address may be listened on' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l tls-cert -d 'This daemon\'s certificate (PEM, leaf first): it then serves gRPC over TLS. It must name the host or IP address callers dial. A coordinator also presents it to members that require client certificates' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l tls-key -d 'The private key of --tls-cert (PEM; chmod 600)' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l tls-ca -d 'CA certificates (PEM). On a coordinator: reach members over TLS, trusting only these. On a member: require every caller to present a client certificate signed by them (mTLS), so that only the coordinator gets in' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l psk-file -d 'Members only: a file holding a pre-shared secret (at least 16 bytes; chmod 600), the same on every member of the ring. It is mixed into every configuration\'s ring key, so that challenges and tour datagrams pass only between members that hold it, even for someone who learned the ring key from the control plane' -r -F
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l name -d 'This member\'s name in metrics and status (default: the host\'s name; the coordinator adds the control endpoint to names that are not unique in a ring)' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l announce -d 'Announce this member on a UDP multicast group every second (its control port, address and name, tagged with the token), so that `configure --cluster discover` finds it; it says it leaves when it stops. The group defaults to 239.255.83.80:7090; heartbeats stay on the local link (hop limit 1)' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l metrics-bind -d 'Serve Prometheus metrics of this member\'s data plane at http://HOST:PORT/metrics, and /healthz and /readyz. A port alone binds loopback (127.0.0.1:PORT)' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l peer-bind -d 'Address of the UDP peer socket that receives and forwards tour messages. Binding a wildcard address (0.0.0.0) advertises the address the coordinator reached this member at, never 0.0.0.0' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l advertise -d 'Peer endpoint to advertise to the ring instead (behind NAT, or on hosts with several addresses)' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l backend -d 'Data-plane backend' -r -f -a "auto\t'io_uring, or the syscall backend (with one log line saying why) when io_uring cannot start; with --poll spin the syscall backend, which answers a spinning poll sooner (about 1 µs per hop on loopback, docs/architecture.md)'
uring\t'io_uring only: refuse to start without it'
syscall\t'recvmmsg/sendmmsg batches'"
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l poll -d 'How the data-plane thread waits for datagrams. `spin` needs a core of its own' -r -f -a "block\t'Sleep in the kernel until a datagram arrives; cores can be shared'
spin\t'Busy-poll on a core of its own: lowest latency, one core fully used'"
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l cpu -d 'Core to pin the data-plane thread to, for good: configures leave it there. Default: it starts on the last core of this host, and every configure places it as the ring\'s --placement says (members of one host together on a core for one message in flight, spread over the cores for more; spinning members a core each)' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l fault-buffers -d 'Testing aid: use this many receive buffers' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l fault-clock-shift-ns -d 'Testing aid: shift this member\'s clock by this many ns, as if it ran on another host (the coordinator then probes its clock offset)' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l fault-origin-stall -d 'Testing aid (origin): after sending message SEQ (from 0), stop sending for MS milliseconds, as a descheduled sender would' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l fault-rcvbuf -d 'Testing aid: give the peer socket this receive buffer, whatever the tour needs' -r
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l insecure -d 'Listen on a non-loopback address without a token: anyone who reaches the port can configure and read the ring (docs/security.md)'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l zerocopy -d 'Forward with io_uring zero-copy sends straight out of the receive buffers (registered as a fixed buffer). Pays only for large datagrams leaving through a real NIC; on loopback and veth the kernel copies anyway (docs/architecture.md)'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l no-offload -d 'Send and receive every datagram on its own. By default a message of several datagrams goes out with UDP GSO (one send carries up to 64 of them, UDP_SEGMENT) and comes in with UDP GRO where the kernel offers them; a member falls back to plain sends by itself when the kernel refuses GSO (docs/architecture.md)'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l fault-drop-data -d 'Testing aid: silently discard every tour datagram this member receives'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l fault-refuse-uring -d 'Testing aid: make io_uring set-up fail as if the kernel refused it'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -l fault-refuse-gso -d 'Testing aid: make the kernel refuse every GSO send (EINVAL), so that the member falls back to plain sends'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand member" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand help; and not __fish_seen_subcommand_from completions man coordinator member help" -f -a "completions" -d 'Print shell completions for stillepostd (bash, zsh, fish, elvish, powershell)'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand help; and not __fish_seen_subcommand_from completions man coordinator member help" -f -a "man" -d 'Print stillepostd\'s man page (roff), or write one page per role with --out-dir'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand help; and not __fish_seen_subcommand_from completions man coordinator member help" -f -a "coordinator" -d 'Drive a ring: take `stillepost` client requests, configure members, run tours'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand help; and not __fish_seen_subcommand_from completions man coordinator member help" -f -a "member" -d 'Take part in a ring: a control endpoint for the coordinator and a UDP peer socket that forwards tour messages'
complete -c stillepostd -n "__fish_stillepostd_using_subcommand help; and not __fish_seen_subcommand_from completions man coordinator member help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
