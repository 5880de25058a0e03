// Re-embed migrations when a new migration folder appears.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
