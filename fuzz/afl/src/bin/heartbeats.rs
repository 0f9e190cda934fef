//! AFL++ target: `stillepost_fuzz::heartbeats` on each input (persistent mode).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        stillepost_fuzz::heartbeats(data);
    });
}
