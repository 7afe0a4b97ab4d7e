// Rebuild when a migration is added or changed, so the binary never ships without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
