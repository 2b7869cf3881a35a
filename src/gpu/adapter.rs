//! Adapter enumeration and choice (`--device auto|gpu|cpu|N`, WGPU_BACKEND,
//! WGPU_ADAPTER_NAME).

use std::str::FromStr;

use crate::error::{CrestError, Result};

/// Which compute device to use, as given on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceChoice {
    /// Prefer a discrete, then integrated, then virtual GPU; fall back to a CPU adapter.
    Auto,
    /// A hardware GPU only; error if none.
    Gpu,
    /// A CPU adapter (lavapipe, llvmpipe, WARP) only.
    Cpu,
    /// The N-th adapter as listed by `crest devices`.
    Index(usize),
    /// No wgpu at all: the plain-Rust CPU twins of every kernel.
    CpuReference,
}

impl FromStr for DeviceChoice {
    type Err = CrestError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "gpu" => Ok(DeviceChoice::Gpu),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cpu-reference" => Ok(DeviceChoice::CpuReference),
            n => n.parse::<usize>().map(DeviceChoice::Index).map_err(|_| {
                CrestError::option(
                    "--device",
                    format!(
                    "--device '{n}': expected auto, gpu, cpu, cpu-reference or an adapter index"
                ),
                )
            }),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Gpu => write!(f, "gpu"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Index(n) => write!(f, "{n}"),
            DeviceChoice::CpuReference => write!(f, "cpu-reference"),
        }
    }
}

/// One adapter as `crest devices` shows it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSummary {
    /// Index usable with `--device N`.
    pub index: usize,
    /// Adapter name.
    pub name: String,
    /// Backend (Vulkan, Metal, Dx12, Gl).
    pub backend: String,
    /// Device type (DiscreteGpu, IntegratedGpu, VirtualGpu, Cpu, Other).
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// Largest storage-buffer binding, bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, bytes.
    pub max_buffer_size: u64,
    /// Storage buffers per shader stage.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Workgroup shared memory, bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Invocations per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Whether timestamp queries are available.
    pub timestamps: bool,
    /// Whether subgroup operations are available.
    pub subgroups: bool,
    /// Whether shader f16 is available.
    pub shader_f16: bool,
}

/// The wgpu instance crest uses, over `backends` unless WGPU_BACKEND overrides them.
pub(crate) fn instance_for(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::from_env().unwrap_or(backends);
    // Validation layers are slow and noisy on CPU drivers; keep wgpu's own validation.
    desc.flags = wgpu::InstanceFlags::empty().with_env();
    wgpu::Instance::new(desc)
}

/// The instance for choosing an adapter: the primary backends (Vulkan, Metal,
/// DX12), or GL when they have no adapter at all (GL is tried last because
/// probing it is slow and noisy on headless machines). WGPU_BACKEND overrides.
pub(crate) fn instance() -> wgpu::Instance {
    let primary = instance_for(wgpu::Backends::PRIMARY);
    if std::env::var_os("WGPU_BACKEND").is_some() || !adapters(&primary).is_empty() {
        return primary;
    }
    instance_for(wgpu::Backends::all())
}

/// All adapters, in a stable order (the order `--device N` refers to).
pub(crate) fn adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    let mut list = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
    // Stable order: by backend, then name, so that indices do not depend on driver enumeration order.
    list.sort_by_key(|a| {
        let i = a.get_info();
        (backend_rank(i.backend), i.name.clone(), i.device)
    });
    list
}

fn backend_rank(b: wgpu::Backend) -> u8 {
    match b {
        wgpu::Backend::Vulkan => 0,
        wgpu::Backend::Metal => 1,
        wgpu::Backend::Dx12 => 2,
        wgpu::Backend::Gl => 3,
        _ => 4,
    }
}

fn type_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

fn is_gpu(t: wgpu::DeviceType) -> bool {
    matches!(
        t,
        wgpu::DeviceType::DiscreteGpu
            | wgpu::DeviceType::IntegratedGpu
            | wgpu::DeviceType::VirtualGpu
    )
}

/// Pick an adapter for `choice`. Returns the adapter and a notice to print (if any).
pub(crate) fn choose(
    instance: &wgpu::Instance,
    choice: &DeviceChoice,
) -> Result<(wgpu::Adapter, Option<String>)> {
    let mut list = adapters(instance);
    if list.is_empty() {
        return Err(CrestError::NoAdapter(
            "wgpu found no adapter on any backend; install a Vulkan driver \
             (on Debian/Ubuntu: apt-get install mesa-vulkan-drivers libvulkan1) \
             or use --device cpu-reference"
                .into(),
        ));
    }
    if let Ok(wanted) = std::env::var("WGPU_ADAPTER_NAME") {
        let wanted_lc = wanted.to_lowercase();
        list.retain(|a| a.get_info().name.to_lowercase().contains(&wanted_lc));
        if list.is_empty() {
            return Err(CrestError::NoAdapter(format!(
                "no adapter name contains WGPU_ADAPTER_NAME='{wanted}' (see `crest devices`)"
            )));
        }
    }
    let n = list.len();
    match choice {
        DeviceChoice::Index(i) => {
            if *i >= n {
                return Err(CrestError::NoAdapter(format!(
                    "--device {i}: only {n} adapter(s) (0..{}) — see `crest devices`",
                    n - 1
                )));
            }
            Ok((list.swap_remove(*i), None))
        }
        DeviceChoice::Gpu | DeviceChoice::Auto => {
            let best = (0..n)
                .filter(|&i| is_gpu(list[i].get_info().device_type))
                .min_by_key(|&i| {
                    let info = list[i].get_info();
                    (type_rank(info.device_type), backend_rank(info.backend))
                });
            match (best, choice) {
                (Some(i), _) => Ok((list.swap_remove(i), None)),
                (None, DeviceChoice::Gpu) => Err(CrestError::NoAdapter(
                    "--device gpu: no hardware GPU adapter (use --device cpu or auto)".into(),
                )),
                _ => {
                    let (adapter, _) = choose(instance, &DeviceChoice::Cpu)?;
                    let name = adapter.get_info().name;
                    Ok((
                        adapter,
                        Some(format!(
                            "crest: no GPU found, running on CPU adapter '{name}' (slow)"
                        )),
                    ))
                }
            }
        }
        DeviceChoice::Cpu => {
            let best = (0..n)
                .filter(|&i| !is_gpu(list[i].get_info().device_type))
                .min_by_key(|&i| {
                    let info = list[i].get_info();
                    (type_rank(info.device_type), backend_rank(info.backend))
                });
            match best {
                Some(i) => Ok((list.swap_remove(i), None)),
                None => Err(CrestError::NoAdapter(
                    "--device cpu: no CPU adapter (install mesa-vulkan-drivers for lavapipe)"
                        .into(),
                )),
            }
        }
        DeviceChoice::CpuReference => Err(CrestError::Invalid(
            "cpu-reference uses no wgpu adapter".into(),
        )),
    }
}

/// Summaries of every adapter, for `crest devices`.
pub fn describe_adapters() -> Vec<AdapterSummary> {
    let instance = instance();
    adapters(&instance)
        .iter()
        .enumerate()
        .map(|(index, a)| summarize(index, a))
        .collect()
}

pub(crate) fn summarize(index: usize, a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let l = a.limits();
    let f = a.features();
    AdapterSummary {
        index,
        name: info.name,
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
        max_buffer_size: l.max_buffer_size,
        max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
        max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
        max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
        max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        timestamps: f.contains(wgpu::Features::TIMESTAMP_QUERY),
        subgroups: f.contains(wgpu::Features::SUBGROUP),
        shader_f16: f.contains(wgpu::Features::SHADER_F16),
    }
}

/// Bound the threads of Mesa's CPU adapter (llvmpipe/lavapipe reads
/// `LP_NUM_THREADS` when the device is created; by default it starts one
/// per core) to `threads`, so that `crest map -t N` behaves on a shared
/// node. A value the user already set is kept. Call before the device is
/// opened, while crest runs one thread.
pub fn bound_cpu_adapter_threads(threads: usize) {
    if std::env::var_os("LP_NUM_THREADS").is_none() {
        std::env::set_var("LP_NUM_THREADS", threads.max(1).to_string());
    }
}
