// Rebuild when a migration (of either backend) is added or changed, so the binary never ships without it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations-postgres");
}
