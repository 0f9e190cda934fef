//! AFL++ target: `stillepost_fuzz::reassembly` on each input (persistent mode).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        stillepost_fuzz::reassembly(data);
    });
}
