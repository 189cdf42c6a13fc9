//! The committed SDL is the contract clients build against: CI fails when the served schema
//! drifts from `docs/schema.graphql`. Regenerate with
//! `cargo run -p hookmetry -- schema > docs/schema.graphql`.

#[test]
fn committed_sdl_matches_the_served_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/schema.graphql");
    let committed = std::fs::read_to_string(path).expect("docs/schema.graphql exists");
    let served = hookmetry_api::sdl();
    if committed != served {
        let first = committed.lines().zip(served.lines()).position(|(a, b)| a != b);
        panic!(
            "docs/schema.graphql is stale (first differing line: {:?}); regenerate it with `cargo run -p hookmetry -- schema > docs/schema.graphql`",
            first.map(|i| i + 1)
        );
    }
}
