//! Loads a configuration and prints the warnings or the errors.
use std::collections::HashMap;

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| ".rr.yaml".to_owned());
    let opts = coyote_config::LoadOptions {
        env: std::env::vars().collect::<HashMap<_, _>>(),
        overrides: std::env::args().skip(2).collect(),
        ..Default::default()
    };
    match coyote_config::Config::load(&path, &opts) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                println!("warning: {w}");
            }
            println!("ok");
        }
        Err(e) => {
            println!("error:\n{e}");
            std::process::exit(2);
        }
    }
}
