//! AFL++ target: `stillepost_fuzz::stored` on each input (persistent mode).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        stillepost_fuzz::stored(data);
    });
}
