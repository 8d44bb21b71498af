//! `coyote`: the binary (the built-in plugins; see the library for
//! building a server with plugins of your own).

fn main() -> std::process::ExitCode {
    coyote::main_with(coyote::builtin())
}
