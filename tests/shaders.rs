//! Every WGSL shader crest compiles parses and validates with naga, with no
//! optional capability (so it runs on Vulkan, Metal, DX12 and GL alike), and
//! naga translates every one, variants included, to SPIR-V, MSL, HLSL and
//! GLSL (GLES 3.1 compute): what wgpu does on Vulkan, Metal, DX12 and GL, so
//! that a shader no one here can run on a Mac or Windows still compiles
//! there.

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

#[test]
fn every_shader_translates_to_spirv_msl_hlsl_and_glsl() {
    use naga::back::{glsl, hlsl, msl, spv};
    let mut translated = 0;
    for (name, src) in crest::ops::all_shaders() {
        let module = naga::front::wgsl::parse_str(src)
            .unwrap_or_else(|e| panic!("{name}: parse error:\n{}", e.emit_to_string(src)));
        let info = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::empty(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: validation error:\n{}", e.emit_to_string(src)));
        let words = spv::write_vec(&module, &info, &spv::Options::default(), None)
            .unwrap_or_else(|e| panic!("{name}: SPIR-V: {e}"));
        assert_eq!(words.first(), Some(&0x0723_0203), "{name}: SPIR-V magic");
        let (metal, _) = msl::write_string(
            &module,
            &info,
            &msl::Options::default(),
            &msl::PipelineOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{name}: MSL: {e}"));
        assert!(metal.contains("kernel void"), "{name}: no MSL kernel");
        let mut hl = String::new();
        let hopts = hlsl::Options::default();
        let hpipe = hlsl::PipelineOptions::default();
        hlsl::Writer::new(&mut hl, &hopts, &hpipe)
            .write(&module, &info, None)
            .unwrap_or_else(|e| panic!("{name}: HLSL: {e}"));
        assert!(hl.contains("[numthreads("), "{name}: no HLSL kernel");
        for ep in &module.entry_points {
            let mut gl = String::new();
            let gopts = glsl::Options::default();
            let gpipe = glsl::PipelineOptions {
                shader_stage: ep.stage,
                entry_point: ep.name.clone(),
                multiview: None,
            };
            glsl::Writer::new(
                &mut gl,
                &module,
                &info,
                &gopts,
                &gpipe,
                naga::proc::BoundsCheckPolicies::default(),
            )
            .and_then(|mut w| w.write())
            .unwrap_or_else(|e| panic!("{name}/{}: GLSL: {e}", ep.name));
            assert!(
                gl.contains("layout(local_size_x"),
                "{name}/{}: no GLSL compute",
                ep.name
            );
        }
        translated += 1;
    }
    assert!(translated >= 30, "{translated} shaders translated");
}
