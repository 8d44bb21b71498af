//! `coyote`: the binary (the built-in plugins; see the library for
//! building a server with plugins of your own).

fn main() -> std::process::ExitCode {
    #[cfg(feature = "count-allocs")]
    let host = coyote::builtin().with(coyote::allocs::AllocsPlugin);
    #[cfg(not(feature = "count-allocs"))]
    let host = coyote::builtin();
    coyote::main_with(host)
}
