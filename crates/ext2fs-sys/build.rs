//! Links libext2fs and libcom_err. The declarations are committed in `src/bindings.rs`
//! (generated against e2fsprogs 1.47.0) so that builds need no libclang; enable the
//! `buildtime-bindgen` feature to regenerate them from the installed headers.

fn main() {
    println!("cargo:rustc-link-lib=ext2fs");
    println!("cargo:rustc-link-lib=com_err");
    println!("cargo:rerun-if-changed=wrapper.h");
    #[cfg(feature = "buildtime-bindgen")]
    generate();
}

#[cfg(feature = "buildtime-bindgen")]
fn generate() {
    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        .allowlist_function("ext2fs_.*|initialize_ext2_error_table|error_message")
        .allowlist_var("unix_io_manager|EXT2_.*|EXT3_.*|EXT4_.*|LINUX_S_.*|IO_FLAG_.*|BMAP_.*|BLOCK_.*")
        .allowlist_type("ext2_.*|struct_io_.*|errcode_t|ext2fs_extent.*")
        .derive_default(true)
        .layout_tests(true)
        .generate()
        .expect("bindgen failed on wrapper.h (is libext2fs-dev installed?)");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("bindings.rs");
    bindings.write_to_file(&out).expect("write bindings");
    // Keep the committed copy in sync when regenerating on purpose.
    let committed = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bindings.rs");
    std::fs::copy(&out, committed).expect("update src/bindings.rs");
}
