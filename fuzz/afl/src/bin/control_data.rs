//! AFL++ target: `stillepost_fuzz::control_data` on each input (persistent mode).

fn main() {
    afl::fuzz!(|data: &[u8]| {
        stillepost_fuzz::control_data(data);
    });
}
