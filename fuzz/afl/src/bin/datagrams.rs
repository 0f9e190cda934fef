//! AFL++ target: `stillepost_fuzz::datagrams` on each input (persistent mode).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        stillepost_fuzz::datagrams(data);
    });
}
