//! `sqlx::migrate!` embeds the migrations when this crate compiles, and cargo does not know it read
//! them: without this, a migration added later is missing from every incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
