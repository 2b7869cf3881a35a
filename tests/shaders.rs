//! Every WGSL shader crest compiles parses and validates with naga, with no
//! optional capability (so it runs on Vulkan, Metal, DX12 and GL alike).

#[test]
fn every_shader_validates_with_naga_and_no_capabilities() {
    let shaders = crest::ops::all_shaders();
    assert!(
        shaders.len() >= 8,
        "expected every kernel family, got {}",
        shaders.len()
    );
    for (name, src) in shaders {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: parse error:\n{}", e.emit_to_string(src)));
        let mut v = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        );
        v.validate(&module)
            .unwrap_or_else(|e| panic!("{name}: validation error:\n{}", e.emit_to_string(src)));
        let entries: Vec<_> = module.entry_points.iter().map(|e| e.name.clone()).collect();
        assert!(!entries.is_empty(), "{name}: no entry point");
    }
}

#[test]
fn every_shader_file_is_used() {
    // A .wgsl file in shaders/ that no kernel includes would be dead code.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let all: String = crest::ops::all_shaders().iter().map(|(_, s)| *s).collect();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap()
            .to_string();
        assert!(
            all.contains(&first),
            "{} is not compiled by any kernel",
            path.display()
        );
    }
}
