// `sqlx::migrate!` embeds the migrations when this crate compiles; without this, an edited or added
// migration would not rebuild it, and a build would carry the old ones.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
