//! The standard library: the chip profiles of `examples/profiles/`, compiled
//! into the binary, so `import "std/brainscales2"` works from a model file
//! anywhere and names the profiles of the binary's own version. Those files
//! stay the source of truth; this module only embeds them.

/// The import paths that name the standard library start with this.
pub const PREFIX: &str = "std/";

/// Each library file's name (after `std/`) and text.
pub const FILES: &[(&str, &str)] = &[
    ("aihwkit", include_str!("../../examples/profiles/aihwkit.anl")),
    ("brainscales2", include_str!("../../examples/profiles/brainscales2.anl")),
    ("lightmatter", include_str!("../../examples/profiles/lightmatter.anl")),
];

/// The name after `std/` when an import path names the standard library.
pub fn name(import: &str) -> Option<&str> {
    import.strip_prefix(PREFIX)
}

/// The text of the library file `name`.
pub fn source(name: &str) -> Option<&'static str> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, text)| *text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_profile_file_of_the_examples_is_in_the_library() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/profiles");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("examples/profiles")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "anl"))
            .map(|p| p.file_stem().expect("a name").to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let embedded: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn only_paths_under_std_name_the_library() {
        assert_eq!(name("std/aihwkit"), Some("aihwkit"));
        assert_eq!(name("profiles/aihwkit.anl"), None);
        assert!(source("lightmatter").is_some_and(|t| t.contains("profile lightmatter")));
        assert_eq!(source("nvidia"), None);
    }
}
